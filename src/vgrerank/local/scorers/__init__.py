"""Local-feature scorers."""

from __future__ import annotations

from dataclasses import dataclass

from ..base import Score

# reasons a pair admits no geometric model (score 0, counted by the re-ranking stage)
TOO_FEW_MATCHES = "too few matches"
COLLINEAR = "collinear or coincident points"
NO_MODEL = "no model found"


@dataclass
class DegenerateScore(Score):
    """Score 0 for a pair whose matches admit no model (``reason`` says why). Legitimate for
    unrelated images; the re-ranking output counts these pairs so that a run where most pairs
    are degenerate is visible."""

    reason: str = ""
