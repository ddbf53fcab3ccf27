"""Datasets: readers, positives and the registry of known datasets."""

from .base import Dataset, ImageSet
from .check import check_dataset, configured_splits
from .formats import FORMATS, DatasetFormat, database_view, get_format
from .names import ImageInfo, format_name, parse_name
from .positives import positives_within
from .registry import PUBLIC, load_dataset

__all__ = [
    "FORMATS",
    "Dataset",
    "DatasetFormat",
    "ImageInfo",
    "ImageSet",
    "PUBLIC",
    "check_dataset",
    "configured_splits",
    "database_view",
    "format_name",
    "get_format",
    "load_dataset",
    "parse_name",
    "positives_within",
]
