"""vg-rerank: visual geo-localization benchmark with local-feature re-ranking."""

__version__ = "0.1.0"
