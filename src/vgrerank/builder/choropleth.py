"""Choropleth of the kept queries: how many fall in each neighbourhood polygon of a user GeoJSON,
or, without one, in each cell of a square grid (``cell_m`` metres, built in the UTM zone of the
queries' mean position, then reprojected to WGS84).

Counts table (:func:`choropleth`, also written as CSV): ``region`` (polygon or cell number, in
file / grid order), ``name`` (the ``name_column`` value, else the GeoJSON's ``name`` property,
else 'polygon <region>'; cells are named by their south-west UTM corner), ``count``; then two
summary rows: region -1 'outside' (queries in no polygon; always 0 in grid mode) and region -2
'no position' (queries without a finite latitude/longitude). The counts sum to the number of
input rows. A point on a shared border, or in overlapping polygons, counts once, for the polygon
listed first.

The PNG is written atomically with no version metadata, so the same input gives the same bytes
with the same matplotlib/geopandas versions.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import geopandas as gpd  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import utm  # noqa: E402
from shapely.geometry import box  # noqa: E402

from ..errors import DataError  # noqa: E402
from ..io.atomic import atomic_path  # noqa: E402
from .stages import build_default  # noqa: E402

WGS84 = "EPSG:4326"
POLYGON_TYPES = ("Polygon", "MultiPolygon")
MAX_GRID_CELLS = 250_000
OUTSIDE, NO_POSITION = -1, -2


@dataclass
class ChoroplethResult:
    """Counts table (module docstring), polygons with a ``count`` column (WGS84), and totals."""

    counts: pd.DataFrame
    regions: gpd.GeoDataFrame
    outside: int
    no_position: int
    ignored_features: int = 0


# --- regions --------------------------------------------------------------------------------


def _names(gdf: gpd.GeoDataFrame, path: Path, name_column: str | None) -> list[str]:
    if name_column is not None:
        if name_column not in gdf.columns:
            props = [c for c in gdf.columns if c != "geometry"]
            raise DataError(f"{path}: no property {name_column!r} (properties: {props})")
        return [str(v) for v in gdf[name_column]]
    if "name" in gdf.columns:
        return [
            str(v) if isinstance(v, str) and v else f"polygon {k}"
            for k, v in enumerate(gdf["name"])
        ]
    return [f"polygon {k}" for k in range(len(gdf))]


def read_polygons(
    path: str | os.PathLike, name_column: str | None = None
) -> tuple[gpd.GeoDataFrame, int]:
    """Polygon features of a GeoJSON (or any OGR vector file) in WGS84 as (regions, number of
    non-polygon features ignored); regions have ``region``, ``name``, ``geometry``."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: polygon file not found")
    try:
        gdf = gpd.read_file(path)
    except Exception as exc:  # pyogrio / fiona errors: unreadable, not a vector file
        raise DataError(f"{path}: unreadable polygon file ({exc})") from exc
    gdf = gdf[gdf.geometry.notna() & ~gdf.geometry.is_empty]
    is_poly = gdf.geometry.geom_type.isin(POLYGON_TYPES)
    if not is_poly.any():
        types = sorted(set(gdf.geometry.geom_type)) or ["no features"]
        raise DataError(
            f"{path}: no Polygon/MultiPolygon features to count queries in (found: {types})"
        )
    gdf = gdf[is_poly].reset_index(drop=True)
    gdf = gdf.set_crs(WGS84) if gdf.crs is None else gdf.to_crs(WGS84)
    regions = gpd.GeoDataFrame(
        {"region": np.arange(len(gdf)), "name": _names(gdf, path, name_column)},
        geometry=gdf.geometry.to_numpy(),
        crs=WGS84,
    )
    return regions, int((~is_poly).sum())


def utm_epsg(lat: float, lon: float) -> int:
    """EPSG code of the WGS84 UTM zone containing (lat, lon)."""
    zone = utm.latlon_to_zone_number(lat, lon)
    return (32600 if lat >= 0 else 32700) + zone


def _grid_index(east: np.ndarray, north: np.ndarray, cell_m: float):
    ix, iy = np.floor(east / cell_m).astype(np.int64), np.floor(north / cell_m).astype(np.int64)
    return ix, iy


def grid_regions(
    lat: np.ndarray, lon: np.ndarray, cell_m: float
) -> tuple[gpd.GeoDataFrame, np.ndarray]:
    """Square cells of ``cell_m`` metres covering the points (finite lat/lon only), aligned to
    multiples of ``cell_m`` in the UTM zone of their mean position, as WGS84 regions (row-major
    from the south-west), and each point's region number."""
    if not cell_m > 0:
        raise DataError(f"choropleth: cell_m={cell_m} must be > 0")
    epsg = utm_epsg(float(np.mean(lat)), float(np.mean(lon)))
    pts = gpd.GeoSeries(gpd.points_from_xy(lon, lat), crs=WGS84).to_crs(epsg)
    ix, iy = _grid_index(pts.x.to_numpy(), pts.y.to_numpy(), cell_m)
    x0, y0 = ix.min(), iy.min()
    nx, ny = int(ix.max() - x0 + 1), int(iy.max() - y0 + 1)
    if nx * ny > MAX_GRID_CELLS:
        raise DataError(
            f"choropleth: a {cell_m:g} m grid over the queries needs {nx} x {ny} cells "
            f"(more than {MAX_GRID_CELLS}); use a larger cell size"
        )
    cx, cy = np.meshgrid(np.arange(nx) + x0, np.arange(ny) + y0)
    cx, cy = cx.reshape(-1), cy.reshape(-1)
    cells = [
        box(a * cell_m, b * cell_m, (a + 1) * cell_m, (b + 1) * cell_m)
        for a, b in zip(cx, cy, strict=True)
    ]
    names = [
        f"{a * cell_m:.0f}E {b * cell_m:.0f}N (EPSG:{epsg})" for a, b in zip(cx, cy, strict=True)
    ]
    regions = gpd.GeoDataFrame(
        {"region": np.arange(len(cells)), "name": names}, geometry=cells, crs=epsg
    ).to_crs(WGS84)
    return regions, (iy - y0) * nx + (ix - x0)


# --- counting -------------------------------------------------------------------------------


def _positions(rows: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    missing = [c for c in ("latitude", "longitude") if c not in rows.columns]
    if missing:
        raise DataError(f"choropleth: rows lack column(s) {missing}; have {list(rows.columns)}")
    lat = pd.to_numeric(rows["latitude"], errors="coerce").to_numpy(np.float64)
    lon = pd.to_numeric(rows["longitude"], errors="coerce").to_numpy(np.float64)
    ok = np.isfinite(lat) & np.isfinite(lon)
    return lat[ok], lon[ok], ok


def points_in_regions(lat: np.ndarray, lon: np.ndarray, regions: gpd.GeoDataFrame) -> np.ndarray:
    """Region number of each point (-1 outside every polygon); borders count as inside, and a
    point in several polygons goes to the first one."""
    out = np.full(len(lat), OUTSIDE, dtype=np.int64)
    if len(lat) == 0:
        return out
    pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy(lon, lat), crs=WGS84)
    hits = gpd.sjoin(pts, regions[["region", "geometry"]], how="inner", predicate="intersects")
    first = hits.groupby(level=0)["region"].min()
    out[first.index.to_numpy()] = first.to_numpy()
    return out


def _counts_table(regions: gpd.GeoDataFrame, assigned: np.ndarray, no_position: int):
    n = np.bincount(assigned[assigned >= 0], minlength=len(regions)) if len(regions) else []
    table = pd.DataFrame({"region": regions["region"].to_numpy(), "name": regions["name"]})
    table["count"] = np.asarray(n, dtype=np.int64)
    extra = pd.DataFrame(
        {
            "region": [OUTSIDE, NO_POSITION],
            "name": ["outside", "no position"],
            "count": [int((assigned == OUTSIDE).sum()), int(no_position)],
        }
    )
    out = pd.concat([table, extra], ignore_index=True)
    return out.astype({"region": "int64", "count": "int64"})


def count_queries(
    rows: pd.DataFrame,
    geojson: str | os.PathLike | None = None,
    cell_m: float = build_default("grid_m"),
    name_column: str | None = None,
) -> ChoroplethResult:
    """Counts of ``rows`` (latitude, longitude) per polygon of ``geojson`` or per grid cell."""
    lat, lon, ok = _positions(rows)
    ignored = 0
    if geojson is not None:
        regions, ignored = read_polygons(geojson, name_column)
        assigned = points_in_regions(lat, lon, regions)
    elif len(lat):
        regions, assigned = grid_regions(lat, lon, cell_m)
    else:
        regions = gpd.GeoDataFrame({"region": [], "name": []}, geometry=[], crs=WGS84)
        assigned = np.zeros(0, dtype=np.int64)
    counts = _counts_table(regions, assigned, int((~ok).sum()))
    regions = regions.assign(count=counts["count"].to_numpy()[: len(regions)])
    return ChoroplethResult(
        counts=counts,
        regions=regions,
        outside=int((assigned == OUTSIDE).sum()),
        no_position=int((~ok).sum()),
        ignored_features=ignored,
    )


# --- outputs --------------------------------------------------------------------------------


def _title(result: ChoroplethResult, title: str | None) -> str:
    inside = int(result.counts.loc[result.counts["region"] >= 0, "count"].sum())
    text = title or "Kept queries"
    parts = [f"{inside} mapped"]
    if result.outside:
        parts.append(f"{result.outside} outside every polygon")
    if result.no_position:
        parts.append(f"{result.no_position} without position")
    return f"{text} ({', '.join(parts)})"


def plot_choropleth(
    result: ChoroplethResult,
    lat: np.ndarray,
    lon: np.ndarray,
    png: str | os.PathLike,
    title: str | None = None,
    dpi: int = 120,
) -> Path:
    """Draw the regions coloured by count and the query points; write ``png`` atomically."""
    png = Path(png)
    fig, ax = plt.subplots(figsize=(7.0, 7.0))
    if len(result.regions):
        vmax = max(1, int(result.regions["count"].max()))
        result.regions.plot(
            column="count",
            ax=ax,
            cmap="viridis",
            vmin=0,
            vmax=vmax,
            legend=True,
            edgecolor="0.25",
            linewidth=0.5,
            legend_kwds={"label": "kept queries", "shrink": 0.7},
        )
    if len(lat):
        ax.scatter(lon, lat, s=4, c="tab:red", linewidths=0, label="query")
    else:
        ax.text(0.5, 0.5, "no query to map", ha="center", va="center", transform=ax.transAxes)
    ax.set_xlabel("longitude")
    ax.set_ylabel("latitude")
    ax.set_title(_title(result, title), fontsize=10)
    with atomic_path(png) as tmp:
        fig.savefig(tmp, dpi=dpi, format="png", bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    return png


def write_counts(counts: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write the counts table as CSV (atomically)."""
    path = Path(path)
    with atomic_path(path) as tmp:
        counts.to_csv(tmp, index=False)
    return path


def choropleth(
    rows: pd.DataFrame,
    png: str | os.PathLike,
    csv: str | os.PathLike | None = None,
    geojson: str | os.PathLike | None = None,
    cell_m: float = build_default("grid_m"),
    name_column: str | None = None,
    title: str | None = None,
    dpi: int = 120,
) -> ChoroplethResult:
    """Map the kept queries ``rows`` (latitude, longitude): count them per polygon of
    ``geojson`` (or per ``cell_m`` grid cell without one), write ``png`` and, when given, the
    counts ``csv``; return the :class:`ChoroplethResult`."""
    result = count_queries(rows, geojson, cell_m, name_column)
    lat, lon, _ = _positions(rows)
    plot_choropleth(result, lat, lon, png, title, dpi)
    if csv is not None:
        write_counts(result.counts, csv)
    return result
