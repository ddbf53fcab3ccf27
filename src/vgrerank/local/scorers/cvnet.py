"""CVNet's correlation verification score (Lee et al., "Correlation Verification for Image
Retrieval", CVPR 2022) on features of the extractor ``cvnet``
(:mod:`vgrerank.local.extractors.cvnet`).

The cached projected maps of the query and the candidate (scales 0.25, 0.5, 1) give the 9
cross-scale cosine correlations, resized to the scale-1 sizes and clamped at 0; the
``cv_learner`` (center-pivot 4-D convolutions) maps them to two logits and the verification
score is the softmax probability of class 1 (``CVNet_Rerank.extract_score_with_featuremap``).

The final score, by ``mix``:

* a number (the paper's re-ranking, ``mix_ratio`` 0.5 in the official test code): the global
  similarity (dot product of the two L2-normalised CVNet global descriptors, the features'
  float32 extra ``global`` written by the extractor: no second extraction) plus ``mix`` times
  the verification score;
* None: the verification score alone (in [0, 1]).

``depth`` (50 | 101) selects the weights; it must be that of the extractor (checked: the
features record it in the extra ``depth``). ``inliers`` / ``num_matches`` are the matcher's
pairs (a diagnostic the score does not use, :mod:`vgrerank.local.matchers.cvnet`). Weights: the same
``CVPR2022_CVNet_R{50,101}.pyth`` as the extractor (its ``cv_learner`` part is used here).
"""

from __future__ import annotations

import numpy as np
import torch

from ...errors import ConfigError, DataError
from ..base import Features, Score
from ..extractors.cvnet import cvnet_inputs, load_cvnet
from ..torchbase import TorchScorer
from .specs import SPECS


class CVNetScorer(TorchScorer):
    default_conf = SPECS["cvnet"].default_conf()

    def _build(self) -> torch.nn.Module:
        mix = self.conf["mix"]
        if mix is not None and not (isinstance(mix, int | float) and mix >= 0):
            raise ConfigError(f"cvnet.mix: expected None or a number >= 0, got {mix!r}")
        net = load_cvnet(self.conf["depth"], self.conf.get("weights"), self.conf.get("sha256"))
        del net.encoder_q, net.conv2ds  # the per-image part runs in the extractor
        return net

    def _inputs(self, f: Features):
        maps, glob, depth = cvnet_inputs(f)
        if depth != int(self.conf["depth"]):
            raise DataError(
                f"cvnet scorer (depth {self.conf['depth']}) got features of a CVNet-R{depth} "
                "extractor: use the same depth for both"
            )
        t = [torch.from_numpy(np.ascontiguousarray(m, np.float32))[None] for m in maps]
        return [m.to(self.device) for m in t], glob

    def verification(self, f0: Features, f1: Features) -> tuple[float, float]:
        """(verification probability, global similarity) of query ``f0`` and candidate ``f1``."""
        (q, g0), (k, g1) = self._inputs(f0), self._inputs(f1)
        with torch.inference_mode():
            p = float(self.net.verify(q, k)[0])
        return p, float(np.dot(g0.astype(np.float64), g1.astype(np.float64)))

    def score(self, kpts0, kpts1, f0: Features, f1: Features, matches=None) -> Score:
        p, sim = self.verification(f0, f1)
        if not np.isfinite(p):
            raise DataError(f"CVNet: non-finite verification score {p}")
        mix = self.conf["mix"]
        s = p if mix is None else sim + float(mix) * p
        return Score(s, len(kpts0), len(kpts0))
