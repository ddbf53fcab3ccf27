"""Sharded, parallel extraction of database local features on top of the append-only store.

Three steps, one Snakemake job each (workflow/rules/local.smk), so a cluster extracts shards in parallel
and no two jobs ever write one file:

1. :func:`plan_database` (one job per retrieval file) lists the candidates that no complete shard
   of the extractor holds yet and cuts them, in name order, into chunks of ``shard_size`` images.
   Each chunk is named by a digest of the extractor conf and its image names and written as a
   *to-do list* ``local/<etag>/todo/<digest>.txt`` (once: an existing list is never rewritten, so
   its modification time, which Snakemake compares, stays put). The plan JSON lists the chunks.
2. :func:`extract_shard` (one job per chunk) writes the shard ``local/<etag>/db/<digest>.h5``
   (same layout as every shard, see :mod:`vgrerank.io.local_h5`), skipping images that a shard
   finished in the meantime already holds (two plans made at the same time may overlap).
3. :func:`vgrerank.io.local_h5.update_database` (the index job) links every candidate to its
   shard; it extracts, under the shard-folder lock, only what no shard holds (nothing, normally).

Shards are content-addressed and immutable, so an index never sees a shard change under it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from ..errors import ConfigError, DataError
from ..io.atomic import atomic_path
from ..io.local_h5 import extract_features, key, list_shards, shard_digest, write_features
from ..io.provenance import provenance_json

PLAN_VERSION = 1


def read_todo(path: str | Path) -> list[str]:
    """Image names of a to-do list (one per line), with a clear error if it is unusable."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot read the shard's to-do list ({exc})") from None
    names = [x for x in lines if x.strip()]
    if not names:
        raise DataError(f"{path}: empty to-do list (make the plan again: delete it and rerun)")
    return names


def plan_database(
    conf: dict,
    names: list[str],
    shard_dir: str | Path,
    todo_dir: str | Path,
    plan_path: str | Path,
    shard_size: int,
    log: Callable[[str], None] = print,
) -> dict:
    """Write the plan ``plan_path`` (JSON) for the candidates ``names`` and the to-do list of each
    new chunk; return the plan: ``candidates``, ``have`` (already in a shard), ``shard_size`` and
    ``chunks`` (``[{"digest", "n"}]``, the shards still to extract, in order)."""
    if int(shard_size) < 1:
        raise ConfigError(f"extraction.shard_size: expected a positive integer, got {shard_size!r}")
    if not names:
        raise DataError(f"{plan_path}: no candidate images to plan")
    shard_size = int(shard_size)
    have = list_shards(shard_dir, conf, log)
    missing = sorted(n for n in set(names) if key(n) not in have)
    log(
        f"{len(names) - len(missing)} of {len(names)} candidates already extracted "
        f"({len(set(have.values()))} shard(s) in {shard_dir}); {len(missing)} to extract in "
        f"{-(-len(missing) // shard_size)} shard(s) of at most {shard_size}"
    )
    chunks = []
    todo_dir = Path(todo_dir)
    for s in range(0, len(missing), shard_size):
        part = missing[s : s + shard_size]
        digest = shard_digest(conf, part)
        todo = todo_dir / f"{digest}.txt"
        if not todo.is_file() or read_todo(todo) != part:
            with atomic_path(todo) as tmp:
                tmp.write_text("\n".join(part) + "\n", encoding="utf-8")
        chunks.append({"digest": digest, "n": len(part)})
    plan = {
        "version": PLAN_VERSION,
        "tag": conf.get("tag", ""),
        "candidates": len(names),
        "have": len(names) - len(missing),
        "shard_size": shard_size,
        "chunks": chunks,
        "provenance": json.loads(provenance_json(conf)),
    }
    with atomic_path(plan_path) as tmp:
        tmp.write_text(json.dumps(plan, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return plan


def read_plan(path: str | Path) -> dict:
    """A plan written by :func:`plan_database` (DataError naming the file if it is not one)."""
    path = Path(path)
    try:
        plan = json.loads(path.read_text(encoding="utf-8"))
        chunks = [(str(c["digest"]), int(c["n"])) for c in plan["chunks"]]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DataError(f"{path}: not an extraction plan ({exc!r})") from None
    if plan.get("version") != PLAN_VERSION:
        raise DataError(f"{path}: plan version {plan.get('version')!r}, expected {PLAN_VERSION}")
    bad = [d for d, _ in chunks if len(d) != 16 or set(d) - set("0123456789abcdef")]
    if bad:
        raise DataError(f"{path}: malformed shard digest {bad[0]!r}")
    return plan


def planned_shards(plan: dict) -> list[str]:
    """Digests of the shards a plan asks for, in order."""
    return [c["digest"] for c in plan["chunks"]]


def extract_shard(
    get_extractor: Callable[[], Callable],
    conf: dict,
    root: str | Path,
    todo: str | Path,
    shard: str | Path,
    desc: str = "",
    log: Callable[[str], None] = print,
) -> dict:
    """Write ``shard`` with the features of the images listed in ``todo`` that no other complete
    shard in its folder holds (``get_extractor()`` is called only if one is left). Returns
    ``listed`` and ``extracted``."""
    todo, shard = Path(todo), Path(shard)
    names = read_todo(todo)
    if shard_digest(conf, names) != shard.stem:
        raise DataError(
            f"{todo}: its image list does not hash to {shard.stem!r} with extractor "
            f"{conf.get('tag', '?')!r} (edited by hand, or another conf?)"
        )
    have = {k for k, p in list_shards(shard.parent, conf, log).items() if p != shard}
    left = [n for n in names if key(n) not in have]
    log(f"{todo}: {len(names)} listed, {len(names) - len(left)} already in another shard")
    if left:
        extract_features(get_extractor(), conf, Path(root), left, shard, desc=desc)
    else:
        write_features(shard, [], conf)
    return {"listed": len(names), "extracted": len(left)}
