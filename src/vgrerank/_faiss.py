"""Import faiss without its loader noise, and count its GPUs.

``faiss/loader.py`` tries the AVX512-SPR, AVX512 and AVX2 builds in turn and logs every failed
attempt (``Could not load library with AVX512 support due to: ModuleNotFoundError(...)``) at
INFO through the ``faiss.loader`` logger, which :func:`vgrerank.logs.logged` sends to every
job log. Raising that logger to WARNING before the first import keeps the logs to what matters.

``faiss-cpu`` and ``faiss-gpu`` install the same ``faiss`` module; only the GPU build has
``get_num_gpus() > 0`` (and only when a CUDA device is visible).
"""

from __future__ import annotations

import logging


def import_faiss():
    """The ``faiss`` module, imported with its loader's INFO messages silenced."""
    logging.getLogger("faiss.loader").setLevel(logging.WARNING)
    import faiss

    return faiss


def gpu_count(faiss=None) -> int:
    """GPUs faiss can use: 0 for the CPU build (no ``get_num_gpus`` or it returns 0)."""
    faiss = faiss if faiss is not None else import_faiss()
    get = getattr(faiss, "get_num_gpus", None)
    if get is None:
        return 0
    try:
        return int(get())
    except Exception:  # noqa: BLE001 - a broken CUDA runtime means no GPU here
        return 0
