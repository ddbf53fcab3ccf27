"""The Flickr source end to end: credentials from the environment, search, download, the photo
table (:func:`fetch_flickr`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import pandas as pd

from ...errors import ConfigError, DataError, VGError
from ..table import PHOTO_COLUMNS, write_table
from .client import ENV_KEY, ENV_SECRET, Client, make_api
from .download import download
from .polite import Polite, Scrubber
from .search import check_bbox, search_bbox

log = logging.getLogger(__name__)


def credentials() -> tuple[str, str]:
    """(key, secret) from ``FLICKR_API_KEY`` / ``FLICKR_API_SECRET``; ConfigError if unset."""
    key, secret = os.environ.get(ENV_KEY, ""), os.environ.get(ENV_SECRET, "")
    missing = [name for name, v in ((ENV_KEY, key), (ENV_SECRET, secret)) if not v.strip()]
    if missing:
        raise ConfigError(
            f"Flickr credentials missing: set the environment variable(s) {', '.join(missing)} "
            f"(https://www.flickr.com/services/apps/create/)"
        )
    return key.strip(), secret.strip()


def fetch_flickr(
    bbox: Sequence[float],
    t0,
    t1,
    out_dir: str | os.PathLike,
    table_path: str | os.PathLike,
    *,
    rest_url: str | None = None,
    rps: float | None = 1.0,
    licenses: Iterable[int | str] | None = None,
    size: str = "l",
    retries: int = 5,
    timeout: float = 30.0,
    backoff: float = 1.0,
    progress: bool = True,
    **search_kw,
) -> pd.DataFrame:
    """Search ``bbox`` x [t0, t1], download to ``out_dir`` and write the photo table
    (``path`` relative to the table's folder) to ``table_path``; returns the table.

    ``search_kw`` go to :func:`search_bbox` (cap, per_page, min_tile_deg, min_window_s).
    DataError when the search finds nothing or no photo could be downloaded; no message, log
    line or file holds the key or secret.
    """
    key, secret = credentials()
    scrub = Scrubber([key, secret])
    polite = Polite(rps=rps, retries=retries, timeout=timeout, backoff=backoff, scrub=scrub)
    try:
        client = Client(make_api(key, secret, rest_url=rest_url), polite)
        search_kw.update(licenses=licenses, size=size, progress=progress)
        photos = search_bbox(client, bbox, t0, t1, **search_kw)
        if not photos:
            lic = "" if licenses is None else f" with licence(s) {sorted(map(str, licenses))}"
            raise DataError(
                f"Flickr search found no geotagged photos in bbox {list(check_bbox(bbox))} "
                f"taken between {t0} and {t1}{lic}"
            )
        return _download_table(photos, Path(out_dir), Path(table_path), size, polite, progress)
    except VGError as exc:
        if scrub(exc) == str(exc):
            raise
        raise type(exc)(scrub(exc)) from None
    except Exception as exc:  # anything unforeseen: never let the key or secret through
        raise DataError(f"Flickr fetch failed: {type(exc).__name__}: {scrub(exc)}") from None


def _download_table(photos, out_dir: Path, table_path: Path, size, polite, progress):
    rows = download(
        photos, out_dir, size=size, root=table_path.parent, progress=progress, polite=polite
    )
    if not any(r["keep"] for r in rows):
        reasons = sorted({r["reason"] for r in rows})[:3]
        raise DataError(f"{out_dir}: none of {len(rows)} Flickr photos downloaded ({reasons})")
    df = pd.DataFrame(rows, columns=list(PHOTO_COLUMNS))
    write_table(df, table_path)
    log.info("flickr: wrote %s (%d photos, %d kept)", table_path, len(df), int(df["keep"].sum()))
    return df
