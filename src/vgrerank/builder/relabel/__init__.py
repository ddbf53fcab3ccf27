"""Manual geotag corrections of query photos: a local review page and the CSV it writes.

The study this reproduces fixed wrong geotags of night photos by comparing each photo with
street-level imagery and moving on once the right place was found. Here:

- :func:`serve` (:mod:`.app`) starts a local web page (standard library HTTP server, loopback
  only, offline SVG map) showing a query photo, its top database candidates and a draggable
  position marker; each decision rewrites one row of the corrections CSV,
- :func:`apply_corrections` (:mod:`.corrections`) applies that CSV to a photos table in the
  next workflow run: corrected positions, and rejected photos dropped with
  ``reason = 'rejected by reviewer'``.

Command line: ``python -m vgrerank.builder.relabel.app --photos photos.parquet --database-dir
DB --corrections corrections.csv [--candidates rerank.parquet] [--port-file F]``.
"""

from __future__ import annotations

from .corrections import (
    ACTIONS,
    COLUMNS,
    REJECT_REASON,
    Correction,
    apply_corrections,
    read_corrections,
    write_corrections,
)

__all__ = [
    "ACTIONS",
    "COLUMNS",
    "REJECT_REASON",
    "Correction",
    "apply_corrections",
    "read_corrections",
    "serve",
    "write_corrections",
]


def __getattr__(name: str):
    # lazy, so that ``python -m vgrerank.builder.relabel.app`` does not import app.py twice
    if name == "serve":
        from .app import serve

        return serve
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
