"""File formats, atomic writes and provenance."""

from .atomic import atomic_path

__all__ = ["atomic_path"]
