"""Street-level ray casting of the box city.

Walls are vertical and the level camera has no roll, so each image column is one horizontal ray:
it is intersected (2-D slab test, vectorised over columns x boxes) with every box footprint; the
``K`` nearest hits per column are kept. A hit box covers one contiguous interval of rows (its
side wall between ``z0`` and ``z1`` at the entry distance, plus its top/bottom face up to the exit
distance); rows are painted far to near, the rest is ground (below the horizon) or sky. Every
pixel then gets texture coordinates into the city atlas (walls: face ``u``, height ``v``; ground:
the exact ground-plane intersection; sky: azimuth/elevation) and one ``cv2.remap`` samples them
bilinearly from the right mip level. A pitched camera is rendered level on a larger canvas and
warped by the exact rotation homography ``K R_pitch K0^-1``.

The steps live in sibling modules: :mod:`.raycast` (canvas rays, nearest hits, runs of a
column), :mod:`.surfaces` (texture coordinates, flat faces, atlas lookup) and :mod:`.shading`
(emission, sun and lamp light, haze, radiance); this module chains them and builds the
geometry buffers.

Speed: per-pixel buffers are built column-major from per-(hit, column) tables expanded over each
column's runs (``np.repeat``) plus per-row terms; lighting and the camera response work on
float32 colour planes; shadow maps are computed only over the cells a view samples.

Determinism: an image is the same bits on every CPU, whatever SIMD level numpy and OpenCV
dispatch to. Floats go only through exactly rounded operations (+ - * / sqrt, min/max, rint);
exp/arctan are :func:`.conditions.exp_det` / :func:`.conditions.atan_det`, light maps are
sampled by :func:`.conditions.bilinear`, ties in the nearest-hit selection are broken by box
index, and OpenCV only remaps uint8 images through fixed-point maps (integer arithmetic; the
pitch warp too). ``tests/test_synth_determinism.py`` renders with restricted SIMD and compares.
"""

from __future__ import annotations

import cv2
import numpy as np

from . import conditions as cnd
from .camera import Camera
from .city import Boxes, City, dynamic_boxes
from .raycast import Hits, Rays, Runs, level_rays, nearest_hits
from .shading import emission_tables, lighting, radiance, transmittance
from .surfaces import (
    Flat,
    Walls,
    fixed_maps,
    flat_pixels,
    ground_rows,
    sample_atlas,
    sky_rows,
    wall_maps,
)

FACE_TOP, FACE_BOTTOM, FACE_GROUND, FACE_SKY = 4, 5, -2, -3


def render(
    city: City,
    camera: Camera,
    condition: dict | None = None,
    rng: np.random.Generator | None = None,
    return_geometry: bool = False,
):
    """Render ``camera``'s view of ``city`` under ``condition`` -> RGB uint8 [H, W, 3].

    ``condition``: see :mod:`.conditions`; missing parameters are drawn from ``rng`` (default
    ``np.random.default_rng(0)``). With ``return_geometry`` also returns a dict of per-pixel
    buffers ``box`` (index into ``geometry['boxes']``, -1 none), ``face`` (0..3 walls S/E/N/W,
    4 top, 5 bottom, -2 ground, -3 sky), ``u``, ``v`` (wall coordinates, metres), ``depth``
    (camera z, metres), and ``condition`` (the resolved parameters).
    """
    rng = np.random.default_rng(0) if rng is None else rng
    cond = cnd.resolve(condition, rng, {k: len(v) for k, v in city.sky_items.items()})
    dyn = dynamic_boxes(city, cond["traffic"], cond["people"], cond["traffic_seed"])
    boxes = Boxes.concat([city.boxes, dyn])
    r = level_rays(camera)
    hits = nearest_hits(boxes, camera, r)
    runs = Runs(r, hits)
    walls = wall_maps(city, cond, camera, boxes, r, hits, runs)
    sky_m = sky_rows(city, cond, r, runs, walls.mapy)
    ground = ground_rows(city, r, runs, walls.mapx, walls.mapy)
    flat = flat_pixels(boxes, r, hits, runs, walls.flat_px)
    add, mul = emission_tables(cond)
    rgb, em = sample_atlas(city, boxes, walls, flat, bool(mul.any() or add.any()))
    light = lighting(city, cond, r, hits, runs, walls, ground, flat)
    depth, G, T = transmittance(cond, r, runs, walls, ground, flat, sky_m)
    rad = radiance(cond, rgb, em, add, mul, T, light, sky_m, r.rh)
    imgT = cnd.camera_response_planes(rad, cond, rng)  # [Wc, Hc, 3]
    img = cv2.transpose(imgT)
    if r.Minv is not None:
        img = cv2.remap(img, *_warp_maps(r.Minv, camera.width, camera.height), cv2.INTER_LINEAR)
    if not return_geometry:
        return img
    geo = _geometry(r, hits, runs, walls, flat, depth, G, sky_m)
    if r.Minv is not None:
        geo = _warp_geometry(geo, r.Minv, camera)
    geo["boxes"] = boxes
    geo["condition"] = cond
    return img, geo


def _geometry(r: Rays, hits: Hits, runs: Runs, walls: Walls, flat: Flat, depth, G, sky_m):
    """Per-pixel geometry buffers of the level canvas, [Hc, Wc] (see :func:`render`)."""
    expand, table, rh = runs.expand, runs.table, r.rh
    g_box = expand(table(hits.hb, -1, -1, np.int32))
    g_face = expand(table(hits.face, FACE_GROUND, FACE_SKY, np.int8))
    g_u = expand(table(hits.u, 0.0, 0.0))
    zz = r.h - (r.yr[None, :] * expand(table(hits.ht, 0.0, 0.0, np.float64))) / r.L[:, None]
    g_v = np.where(walls.side, zz - expand(table(hits.z0, 0.0, 0.0, np.float64)), 0.0)
    g_v = g_v.astype(np.float32)
    g_depth = depth.copy()
    if sky_m is not None:
        np.copyto(g_depth[:, :rh], np.float32(1e4) / G[:, :rh], where=sky_m)
    if len(flat.px):
        g_face.ravel()[flat.px] = np.where(flat.top, FACE_TOP, FACE_BOTTOM)
        g_u.ravel()[flat.px] = 0.0
    return {
        "box": g_box.T.copy(),
        "face": g_face.T.copy(),
        "u": g_u.T.copy(),
        "v": g_v.T.copy(),
        "depth": g_depth.T.copy(),
    }


def _warp_geometry(geo: dict, Minv: list, camera: Camera) -> dict:
    """Geometry buffers of the level canvas -> of the pitched camera: ids nearest, continuous
    values bilinear where all four source texels lie on one face, else nearest."""
    size = (camera.width, camera.height)
    Hwarp = np.linalg.inv(np.array(Minv))

    def warp(a, interp):
        return cv2.warpPerspective(
            a.astype(np.float32),
            Hwarp,
            size,
            flags=interp,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=-9,
        )

    ids = geo["box"].astype(np.float32) * 8 + geo["face"]
    ids_nn, ids_lin = warp(ids, cv2.INTER_NEAREST), warp(ids, cv2.INTER_LINEAR)
    smooth = np.abs(ids_nn - ids_lin) < 1e-3  # all four source texels on one face
    out = {"box": warp(geo["box"], cv2.INTER_NEAREST).astype(np.int32)}
    out["face"] = warp(geo["face"], cv2.INTER_NEAREST).astype(np.int8)
    for k in ("u", "v", "depth"):
        out[k] = np.where(smooth, warp(geo[k], cv2.INTER_LINEAR), warp(geo[k], cv2.INTER_NEAREST))
    return out


def _warp_maps(Minv: list, W: int, H: int):
    """Fixed-point remap maps of the homography ``Minv`` (output pixel -> canvas pixel) for a
    ``W`` x ``H`` output, computed with exactly rounded float64 operations."""
    u = np.arange(W, dtype=np.float64)[None, :]
    v = np.arange(H, dtype=np.float64)[:, None]
    # a row of Minv whose u coefficient is 0 (Y and Z of a pure pitch) stays one column
    X, Y, Z = ((m[0] * u if m[0] else 0.0) + (m[1] * v + m[2]) for m in Minv)
    return fixed_maps(X / Z, Y / Z)
