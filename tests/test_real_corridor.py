"""RootSIFT-VLAD retrieval on the real Corridor dataset (Milford 2013) from ../shared.

111 query and 111 reference frames (160x120) of the same corridor traversal; a query's positives
are the references within +-2 frames (``ground_truth_new.npy``: ``[query index, [ref indices]]``).
Reference measured with 64-word RootSIFT-VLAD: R@1 0.46, R@5 0.82; this implementation with the
``vlad-rootsift-64-tiny`` preset (step 4, patches 8/12/16 px) measured R@1 0.775, R@5 0.892.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vgrerank.globaldesc.extract import extract_database, extract_queries
from vgrerank.globaldesc.registry import get_global_preset
from vgrerank.retrieval import read_retrieval, retrieve

CORRIDOR = Path(__file__).parents[2] / "shared" / "data" / "real" / "corridor"

pytestmark = [
    pytest.mark.shared,
    pytest.mark.skipif(
        not (CORRIDOR / "ground_truth_new.npy").is_file(), reason="../shared corridor data absent"
    ),
]


def test_corridor_rootsift_vlad_recall(tmp_path):
    qnames = sorted(f"query/{p.name}" for p in (CORRIDOR / "query").glob("*.jpg"))
    rnames = sorted(f"ref/{p.name}" for p in (CORRIDOR / "ref").glob("*.jpg"))
    assert len(qnames) == 111 and len(rnames) == 111
    gt = np.load(CORRIDOR / "ground_truth_new.npy", allow_pickle=True)
    positives = {int(row[0]): set(int(j) for j in row[1]) for row in gt}

    conf = get_global_preset("vlad-rootsift-64-tiny")
    extract_database(conf, CORRIDOR, rnames, tmp_path / "db.h5", seed=0)
    extract_queries(conf, tmp_path / "db.h5", CORRIDOR, qnames, tmp_path / "q.h5")
    retrieve(tmp_path / "db.h5", tmp_path / "q.h5", tmp_path / "r.h5", k=5)
    r = read_retrieval(tmp_path / "r.h5")

    ref_index = {n: i for i, n in enumerate(rnames)}
    hits1, hits5 = [], []
    for qi, name in enumerate(r.query_names):
        q = qnames.index(name)
        ranked = [ref_index[r.db_names[j]] for j in r.indices[qi]]
        hits1.append(ranked[0] in positives[q])
        hits5.append(bool(set(ranked[:5]) & positives[q]))
    r1, r5 = float(np.mean(hits1)), float(np.mean(hits5))
    print(f"corridor rootsift-vlad-64: R@1 {r1:.3f} R@5 {r5:.3f}")
    assert r1 >= 0.4, r1
    assert r5 >= 0.75, r5
