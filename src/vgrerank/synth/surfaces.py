"""Texture coordinates into the city atlas for every pixel of a rendered view (walls: face
``u``, height ``v``; ground: the exact ground-plane intersection; sky: azimuth/elevation), flat
top/bottom faces, and the bilinear atlas lookup through OpenCV's fixed-point maps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from . import conditions as cnd
from .camera import Camera
from .city import City
from .raycast import Hits, Rays, Runs

NORMALS = np.array([[0.0, -1.0], [1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]], np.float32)


def fixed_maps(mapx: np.ndarray, mapy: np.ndarray):
    """Float pixel maps -> OpenCV's fixed-point maps (CV_16SC2 integer parts, CV_16UC1 1/32
    fractions), rounded as ``cv2.remap`` rounds float maps. A uint8 ``cv2.remap`` with these is
    integer arithmetic, bit-exact on every SIMD level (with float maps it is not)."""
    if mapx.dtype == mapy.dtype == np.float32 and mapx.shape == mapy.shape:
        # the same conversion in OpenCV (faster): float -> int rounding is exact on any SIMD
        # level (tests/test_synth_determinism.py checks it)
        return cv2.convertMaps(mapx, mapy, cv2.CV_16SC2)
    shape = np.broadcast_shapes(mapx.shape, mapy.shape)
    fixed = []
    for m in (mapx, mapy):  # each may be a broadcastable row or column
        a = np.multiply(m, m.dtype.type(32))
        np.maximum(a, -2048.0, out=a)
        np.minimum(a, 1024000.0, out=a)
        fixed.append(np.rint(a, out=a).astype(np.int32))
    ax, ay = fixed
    m1 = np.empty((*shape, 2), np.int16)
    m1[..., 0] = ax >> 5
    m1[..., 1] = ay >> 5
    return m1, (((ay & 31) << 5) | (ax & 31)).astype(np.uint16)


def nearest_map(mapx: np.ndarray, mapy: np.ndarray) -> np.ndarray:
    """Float pixel maps -> CV_16SC2 map of the nearest pixels (``cv2.remap`` rounding)."""
    if mapx.dtype == mapy.dtype == np.float32 and mapx.shape == mapy.shape:
        return cv2.convertMaps(mapx, mapy, cv2.CV_16SC2, nninterpolation=True)[0]
    m1 = np.empty((*mapx.shape, 2), np.int16)
    m1[..., 0] = np.rint(np.clip(mapx, -64, 32000))
    m1[..., 1] = np.rint(np.clip(mapy, -64, 32000))
    return m1


@dataclass
class Walls:
    """Texture maps (mapx, mapy, [Wc, Hc] atlas pixels; sky columns filled, sky and ground rows
    not yet) and the wall terms lighting needs: face normals ``nrm`` [K, Wc, 2], camera depth
    table ``tl_t``, metres below the camera ``w``, side-wall mask ``side`` and the flat (top /
    bottom face) pixels ``flat_px`` (flat indices)."""

    mapx: np.ndarray
    mapy: np.ndarray
    nrm: np.ndarray
    tl_t: np.ndarray
    w: np.ndarray
    side: np.ndarray
    flat_px: np.ndarray


def wall_maps(city: City, cond: dict, camera: Camera, boxes, r: Rays, hits: Hits, runs):
    K, ht, hb, h, f = hits.K, hits.ht, hits.hb, r.h, r.f
    expand, table = runs.expand, runs.table
    atlas = city.atlas
    tL = ht / r.L[None, :]  # camera depth of the wall hit
    fc4 = hits.face.astype(np.int64)
    item = boxes.items[hb, fc4]
    ppm = city.item_ppm[item].astype(np.float64)
    nrm = NORMALS[fc4]  # [K, Wc, 2]
    cosi = np.abs(nrm[..., 0] * r.dxs + nrm[..., 1] * r.dys).clip(0.2, 1)
    tpp = ppm * tL / (f * cosi)
    # rint(log2(tpp)) clipped to 0..3, by exact comparisons with 2 ** (k + 0.5)
    r2 = math.sqrt(2.0)
    lev = (tpp > r2).astype(np.int32) + (tpp > 2 * r2) + (tpp > 4 * r2)
    sc = np.ldexp(1.0, -lev)
    iw, ih = atlas.size[item, 0], atlas.size[item, 1]
    mx_w = atlas.x0[item, lev] + (np.clip(hits.u * ppm, 0.0, iw - 1.0) + 0.5) * sc - 0.5
    lo_w = atlas.y0[item, lev] + 0.5 * sc - 0.5
    hi_w = lo_w + (ih - 1.0) * sc
    c0_w = lo_w + sc * ppm * (hits.z1 - h)
    d1_w = sc * ppm * tL
    # sky: per-column azimuth
    sky = city.sky_items[cond["condition"]][cond["sky"]]
    sw = float(atlas.size[sky][0])
    az = (camera.heading_deg + cnd.atan_det(r.xc) * (180.0 / math.pi)) % 360.0
    mx_s = atlas.x0[sky, 0] + np.clip(az / 360.0 * sw, 0.0, sw - 1.0)

    tl_t = table(tL, 0.0, 0.0)
    w = r.yr[None, :] * expand(tl_t)  # metres below the camera at the wall
    side = (w >= expand(table(h - hits.z1 - 1e-6, np.inf, np.inf))) & (
        w <= expand(table(h - hits.z0 + 1e-6, -np.inf, -np.inf))
    )
    is_hit = runs.lab < K
    flat_px = np.flatnonzero(is_hit & ~side)  # tops and bottoms of boxes: flat colour
    mapx = expand(table(mx_w, 0.0, mx_s))
    mapy = expand(table(d1_w, 0.0, 0.0))
    mapy *= r.yr[None, :]
    mapy += expand(table(c0_w, 0.0, 0.0))
    np.clip(mapy, expand(table(lo_w, 0.0, 0.0)), expand(table(hi_w, 0.0, 0.0)), out=mapy)
    return Walls(mapx, mapy, nrm, tl_t, w, side, flat_px)


def sky_rows(city: City, cond: dict, r: Rays, runs: Runs, mapy: np.ndarray):
    """Fill the sky pixels' per-pixel elevation into ``mapy`` -> sky mask of the rows above
    the horizon [Wc, rh] (None when there are none)."""
    rh = r.rh
    sky_m = runs.lab[:, :rh] == runs.KS if rh > 0 else None
    if sky_m is not None and sky_m.any():
        atlas = city.atlas
        sky = city.sky_items[cond["condition"]][cond["sky"]]
        sh_ = float(atlas.size[sky][1])
        L32 = r.L.astype(np.float32)
        el = cnd.atan_det(-r.yr[None, :rh] / L32[:, None]) * np.float32(180.0 / math.pi)
        sy = np.clip((1.0 - el / np.float32(90.0)) * np.float32(sh_), 0.0, sh_ - 1.0)
        sy += atlas.y0[sky, 0]
        np.copyto(mapy[:, :rh], sy, where=sky_m)
    return sky_m


@dataclass
class Ground:
    """Ground pixels of the rows below the horizon: mask ``m`` [Wc, Hc - rh], ``inv`` = 1 /
    row slope [1, Hc - rh], and their light-map grid coordinates ``gmx, gmy``."""

    m: np.ndarray
    inv: np.ndarray
    gmx: np.ndarray
    gmy: np.ndarray


def ground_rows(city: City, r: Rays, runs: Runs, mapx: np.ndarray, mapy: np.ndarray):
    """Fill the ground pixels' exact ground-plane texture coordinates into ``mapx, mapy`` ->
    :class:`Ground` (None when no pixel sees the ground)."""
    rh, Hc = r.rh, r.Hc
    grd_m = runs.lab[:, rh:] == runs.KG if rh < Hc else None
    if grd_m is None or not grd_m.any():
        return None
    atlas, h, f, ox, oy, L, dh = city.atlas, r.h, r.f, r.ox, r.oy, r.L, r.dh
    inv = (1.0 / r.yr[rh:]).astype(np.float32)[None, :]
    gppm = city.ground_ppm
    gx0, gy1 = city.ground_origin
    gi = city.ground_item
    gw, gh = (float(v) for v in atlas.size[gi])
    ax = (h * L * dh[:, 0]).astype(np.float32)[:, None]
    ay = (h * L * dh[:, 1]).astype(np.float32)[:, None]
    tpp2 = (gppm * h / f) ** 2 * inv * inv * np.maximum(L.astype(np.float32)[:, None] * inv, 1.0)
    glev = (tpp2 > 2.0).astype(np.int8)
    glev += tpp2 > 8.0
    glev += tpp2 > 32.0
    gs = np.take(np.array([1.0, 0.5, 0.25, 0.125], np.float32), glev)
    tx = np.clip((ax * np.float32(gppm)) * inv + np.float32((ox - gx0) * gppm), 0, gw - 1)
    tx += 0.5
    tx *= gs
    tx += np.take(atlas.x0[gi] - 0.5, glev)
    np.copyto(mapx[:, rh:], tx, where=grd_m)
    ty = np.clip(np.float32((gy1 - oy) * gppm) - (ay * np.float32(gppm)) * inv, 0, gh - 1)
    ty += 0.5
    ty *= gs
    ty += np.take(atlas.y0[gi] - 0.5, glev)
    np.copyto(mapy[:, rh:], ty, where=grd_m)
    x0m, y0m, _, _ = cnd._grid(city)
    gmx = (ax * np.float32(1 / cnd.GRID)) * inv + np.float32((ox - x0m) / cnd.GRID - 0.5)
    gmy = (ay * np.float32(1 / cnd.GRID)) * inv + np.float32((oy - y0m) / cnd.GRID - 0.5)
    return Ground(grd_m, inv, gmx, gmy)


@dataclass
class Flat:
    """The flat (top / bottom face) pixels, few, done per pixel: flat indices ``px``, ``box``,
    ``top`` (a top face), face height ``zf``, world point ``x, y`` and camera ``depth``."""

    px: np.ndarray
    box: np.ndarray
    top: np.ndarray
    zf: np.ndarray
    x: np.ndarray
    y: np.ndarray
    depth: np.ndarray


def flat_pixels(boxes, r: Rays, hits: Hits, runs: Runs, flat_px: np.ndarray) -> Flat:
    h, Hc = r.h, r.Hc
    fc_col = flat_px // Hc
    fr = flat_px % Hc
    fk = runs.flat_lab[flat_px].astype(np.intp)
    f_box = hits.hb[fk, fc_col]
    f_t = hits.ht[fk, fc_col]
    f_L = r.L[fc_col]
    f_ry = r.yr[fr]
    f_z = h - f_ry * f_t / f_L
    bz0, bz1 = boxes.xyz[f_box, 4], boxes.xyz[f_box, 5]
    f_top = f_z > bz1
    f_zf = np.where(f_top, bz1, bz0)
    f_tf = (h - f_zf) * f_L / np.where(f_ry == 0, 1e-6, f_ry)
    f_px = r.ox + f_tf * r.dh[fc_col, 0]
    f_py = r.oy + f_tf * r.dh[fc_col, 1]
    f_depth = np.abs(f_tf) / f_L
    return Flat(flat_px, f_box, f_top, f_zf, f_px, f_py, f_depth)


def sample_atlas(city: City, boxes, walls: Walls, flat: Flat, emissive: bool):
    """Albedo [Wc, Hc, 3] uint8 and emission ids [Wc, Hc] uint8 (None unless ``emissive``),
    flat pixels painted in."""
    atlas, mapx, mapy = city.atlas, walls.mapx, walls.mapy
    rgb = cv2.remap(atlas.rgb, *fixed_maps(mapx, mapy), cv2.INTER_LINEAR)  # [Wc, Hc, 3]
    em = (
        cv2.remap(atlas.emit, nearest_map(mapx, mapy), None, cv2.INTER_NEAREST)
        if emissive
        else None
    )
    if len(flat.px):
        rgb.reshape(-1, 3)[flat.px] = boxes.flat[flat.box]
        if em is not None:
            em.ravel()[flat.px] = np.where(flat.top, 0, boxes.flat_emit[flat.box])
    return rgb, em
