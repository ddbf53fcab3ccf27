"""Known datasets and ``load_dataset``: a dataset is a config entry.

Config entry keys (validated by ``workflow/schemas/config.schema.yaml``)::

    format: vg | manifest | frames
    root: folder                      # vg, frames; manifest: defaults to the manifest's folder
    splits: [night] | {night: images/test/queries}     # vg: split -> query folder
                                      # ([] = the database only, no query split)
    manifest: path/to/manifest.csv    # manifest
    threshold_m: 25                   # positives: database images within this distance
    heading_deg: null                 # optional heading-aware positives
    synth: {...}                      # only for generated datasets (SynthCity), see vgrerank.synth

What each format requires, passes to its reader and allows (SynthCity, the query-set builder)
is its row of the table in :mod:`vgrerank.datasets.formats`.

``PUBLIC`` documents the public VG test sets in the layout produced by the public VG dataset
tools (gmberton/VPR-datasets-downloader): copy an entry into your config and set ``root`` to where
you put the data. Nothing is downloaded by vg-rerank.
"""

from __future__ import annotations

from pathlib import Path

from .base import Dataset
from .formats import get_format

PUBLIC: dict[str, dict] = {
    "tokyo247": {
        "format": "vg",
        "root": "data/tokyo247",
        "splits": {"all": "images/test/queries"},
        "obtain": "Tokyo 24/7 (Torii et al. 2015), request from the authors "
        "(http://www.ok.ctrl.titech.ac.jp/~torii/project/247/); format with "
        "VPR-datasets-downloader (format_tokyo247.py)",
    },
    "tokyo_night": {
        "format": "vg",
        "root": "data/tokyo247",
        "splits": {"night": "images/test/queries_night"},
        "obtain": "the night subset of Tokyo 24/7 queries (timestamp 18:00-05:00); put those "
        "query images in images/test/queries_night",
    },
    "svox_night": {
        "format": "vg",
        "root": "data/svox",
        "splits": ["night"],
        "obtain": "SVOX (Berton et al. 2021, Oxford RobotCar based), "
        "VPR-datasets-downloader format_svox.py; queries_night, queries_sun, queries_rain, "
        "queries_snow, queries_overcast",
    },
    "sf_xl_test": {
        "format": "vg",
        "root": "data/sf_xl/processed",
        "splits": {
            "v1": "images/test/queries_v1",
            "v2": "images/test/queries_v2",
            "night": "images/test/queries_night",
        },
        "obtain": "SF-XL test set (Berton et al. 2022, CosPlace), request via "
        "https://github.com/gmberton/CosPlace",
    },
    "pitts30k": {
        "format": "vg",
        "root": "data/pitts30k",
        "splits": {"queries": "images/test/queries"},
        "obtain": "Pittsburgh 250k (Torii et al. 2013), request from the authors; format with "
        "VPR-datasets-downloader format_pitts30k.py",
    },
}


def load_dataset(name: str, conf: dict, base_dir: str | Path = ".") -> Dataset:
    """Build the dataset ``name`` from its config entry (paths relative to ``base_dir``), with
    the reader of its format (:mod:`vgrerank.datasets.formats`)."""
    return get_format(conf, name).load(name, conf, Path(base_dir))
