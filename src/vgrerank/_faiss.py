"""Import faiss without its loader noise.

``faiss/loader.py`` tries the AVX512-SPR, AVX512 and AVX2 builds in turn and logs every failed
attempt (``Could not load library with AVX512 support due to: ModuleNotFoundError(...)``) at
INFO through the ``faiss.loader`` logger, which :func:`vgrerank.logs.logged` sends to every
job log. Raising that logger to WARNING before the first import keeps the logs to what matters.
"""

from __future__ import annotations

import logging


def import_faiss():
    """The ``faiss`` module, imported with its loader's INFO messages silenced."""
    logging.getLogger("faiss.loader").setLevel(logging.WARNING)
    import faiss

    return faiss
