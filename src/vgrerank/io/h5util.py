"""Opening result HDF5 files with errors that name the file."""

from __future__ import annotations

from pathlib import Path

import h5py

from ..errors import DataError


def open_h5(path: str | Path, what: str) -> h5py.File:
    """Open ``path`` read-only; :class:`DataError` naming the file when it is missing or not
    HDF5 (``what`` says which kind of file was expected, e.g. 'retrieval')."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: {what} file not found")
    try:
        return h5py.File(path, "r")
    except OSError as exc:
        raise DataError(f"{path}: not a readable HDF5 file ({exc})") from exc
