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

import math

import cv2
import numpy as np

from . import conditions as cnd
from .camera import Camera, pitch_matrix
from .city import BUILDING, City, dynamic_boxes
from .textures import LAMP_ID, SHOP_IDS, SIGN_IDS, WINDOW_IDS

K_MAX = 6
FAR_BUILDING_M = 260.0
FAR_PROP_M = 90.0
NORMALS = np.array([[0.0, -1.0], [1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]], np.float32)
FACE_TOP, FACE_BOTTOM, FACE_GROUND, FACE_SKY = 4, 5, -2, -3


def _mat3(a, b) -> list:
    """3x3 product in Python floats, fixed summation order (BLAS kernels differ per CPU)."""
    return [[a[i][0] * b[0][j] + a[i][1] * b[1][j] + a[i][2] * b[2][j] for j in range(3)]
            for i in range(3)]  # fmt: skip


def _canvas(camera: Camera):
    """Level-camera canvas (width, height, cx, cy) covering the pitched view, and the inverse
    warp (output pixel -> canvas pixel) as nested lists."""
    W, H, f = camera.width, camera.height, camera.f
    cx, cy = (W - 1) / 2, (H - 1) / 2
    if abs(camera.pitch_deg) < 1e-9:
        return W, H, cx, cy, None
    Rp = pitch_matrix(camera.pitch_deg).tolist()
    xs = np.linspace(0, W - 1, 9)
    ys = np.linspace(0, H - 1, 9)
    border = np.array(
        [(x, y) for x in xs for y in (0, H - 1)] + [(x, y) for y in ys for x in (0, W - 1)], float
    )
    rx, ry = (border[:, 0] - cx) / f, (border[:, 1] - cy) / f  # pitched camera rays (rx, ry, 1)
    # Rp^T applied to each ray: level camera rays
    lev = [rx * Rp[0][j] + ry * Rp[1][j] + Rp[2][j] for j in range(3)]
    p = np.stack([lev[0] / lev[2] * f, lev[1] / lev[2] * f], axis=1)
    x0, y0 = np.floor(p.min(axis=0)) - 2
    x1, y1 = np.ceil(p.max(axis=0)) + 2
    Wc, Hc = int(x1 - x0) + 1, int(y1 - y0) + 1
    cxc, cyc = float(-x0), float(-y0)
    # output pixel -> canvas pixel: K0 Rp^T K^-1 (Rp is a rotation)
    K0 = [[f, 0.0, cxc], [0.0, f, cyc], [0.0, 0.0, 1.0]]
    RpT = [[Rp[j][i] for j in range(3)] for i in range(3)]
    Kinv = [[1 / f, 0.0, -cx / f], [0.0, 1 / f, -cy / f], [0.0, 0.0, 1.0]]
    return Wc, Hc, cxc, cyc, _mat3(_mat3(K0, RpT), Kinv)


def _fixed_maps(mapx: np.ndarray, mapy: np.ndarray):
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


def _nearest_map(mapx: np.ndarray, mapy: np.ndarray) -> np.ndarray:
    """Float pixel maps -> CV_16SC2 map of the nearest pixels (``cv2.remap`` rounding)."""
    if mapx.dtype == mapy.dtype == np.float32 and mapx.shape == mapy.shape:
        return cv2.convertMaps(mapx, mapy, cv2.CV_16SC2, nninterpolation=True)[0]
    m1 = np.empty((*mapx.shape, 2), np.int16)
    m1[..., 0] = np.rint(np.clip(mapx, -64, 32000))
    m1[..., 1] = np.rint(np.clip(mapy, -64, 32000))
    return m1


def _cull(boxes, camera: Camera, fwd: np.ndarray, half_fov: float):
    b = boxes.xyz
    cx, cy = camera.x, camera.y
    dx = np.maximum(np.maximum(b[:, 0] - cx, cx - b[:, 1]), 0)
    dy = np.maximum(np.maximum(b[:, 2] - cy, cy - b[:, 3]), 0)
    dist = np.sqrt(dx * dx + dy * dy)
    far = np.where(boxes.kind == BUILDING, FAR_BUILDING_M, FAR_PROP_M)
    keep = dist < far
    # any corner in front of the (widened) view wedge
    cs = math.cos(min(half_fov + 0.05, math.pi / 2 - 1e-3))
    ang_ok = np.zeros(len(b), bool)
    for xi, yi in ((0, 2), (0, 3), (1, 2), (1, 3)):
        vx, vy = b[:, xi] - cx, b[:, yi] - cy
        n = np.sqrt(vx * vx + vy * vy) + 1e-9
        ang_ok |= (
            (vx * fwd[0] + vy * fwd[1]) / n > -0.2
            if cs <= 0
            else (vx * fwd[0] + vy * fwd[1]) / n > cs - 0.6
        )
    inside = (dx == 0) & (dy == 0)
    return np.nonzero(keep & (ang_ok | inside))[0]


def _slab(x0, x1, y0, y1, ddx, ddy):
    """Entry / exit distance, entry through an x face, and validity of rays (unit directions
    ``(ddx, ddy)``, no zero) against box footprints relative to the ray origin."""
    with np.errstate(divide="ignore", invalid="ignore"):
        ta, tb = x0 / ddx, x1 / ddx
        txmin, txmax = np.minimum(ta, tb), np.maximum(ta, tb)
        ta, tb = y0 / ddy, y1 / ddy
        tymin, tymax = np.minimum(ta, tb), np.maximum(ta, tb)
    tin = np.maximum(txmin, tymin)
    tout = np.minimum(txmax, tymax)
    facex = txmin > tymin
    valid = (tout > tin) & (tin > 0.05)
    tin = np.where(valid, tin, np.inf)
    return tin, tout, facex, valid


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
    from .city import Boxes

    boxes = Boxes.concat([city.boxes, dyn])
    f = camera.f
    Wc, Hc, cxc, cyc, Minv = _canvas(camera)
    R0 = camera.R0
    right, fwd = R0[0, :2], R0[2, :2]
    xc = ((np.arange(Wc) - cxc) / f).astype(np.float64)
    L = np.sqrt(1 + xc * xc)
    dh = (fwd[None, :] + xc[:, None] * right[None, :]) / L[:, None]  # [Wc, 2] unit
    ox, oy, h = camera.x, camera.y, camera.z
    half = math.atan(max(abs(xc[0]), abs(xc[-1])))
    sel = _cull(boxes, camera, fwd, half)
    b = boxes.xyz[sel]
    nb = len(sel)

    # ---- per-column slab intersections ------------------------------------------------------
    if nb:
        ddx = np.where(np.abs(dh[:, 0]) < 1e-12, 1e-12, dh[:, 0])[:, None]
        ddy = np.where(np.abs(dh[:, 1]) < 1e-12, 1e-12, dh[:, 1])[:, None]
        # select the K nearest hits per column in float32, then redo those in float64
        bb32 = (b - np.array([ox, ox, oy, oy, 0, 0])).astype(np.float32)
        tin, _, _, valid = _slab(
            bb32[None, :, 0], bb32[None, :, 1], bb32[None, :, 2], bb32[None, :, 3],
            ddx.astype(np.float32), ddy.astype(np.float32),
        )  # fmt: skip
        K = int(min(K_MAX, nb, max(1, valid.sum(axis=1).max())))
        if K < nb:
            # unique keys (distance bits, box): the K nearest are one set for any algorithm
            # (numpy's SIMD selection may order ties differently)
            key = tin.astype(np.float32, copy=False).view(np.int32).astype(np.int64) << 20
            key |= np.arange(nb, dtype=np.int64)[None, :]
            idx = np.argpartition(key, K - 1, axis=1)[:, :K]
        else:
            idx = np.broadcast_to(np.arange(nb), (Wc, nb)).copy()
        bk = b[idx]  # [Wc, K, 6]
        tk, tout, facex, _ = _slab(
            bk[..., 0] - ox, bk[..., 1] - ox, bk[..., 2] - oy, bk[..., 3] - oy, ddx, ddy
        )
        order = np.argsort(tk, axis=1, kind="stable")
        idx = np.take_along_axis(idx, order, axis=1)
        ht = np.take_along_axis(tk, order, axis=1).T  # [K, Wc]
        hto = np.take_along_axis(tout, order, axis=1).T
        hfx = np.take_along_axis(facex, order, axis=1).T
        hloc = idx.T  # local box index
    else:
        K = 1
        ht = np.full((1, Wc), np.inf)
        hto = ht.copy()
        hfx = np.zeros((1, Wc), bool)
        hloc = np.zeros((1, Wc), np.int64)
    hval = np.isfinite(ht)
    ht = np.where(hval, ht, 1e9)
    hto = np.where(hval, hto, 1e9)
    hb = sel[hloc] if nb else np.zeros_like(hloc)
    dxs, dys = dh[:, 0][None, :], dh[:, 1][None, :]
    face = np.where(hfx, np.where(dxs > 0, 3, 1), np.where(dys > 0, 0, 2)).astype(np.int8)
    hx, hy = ox + ht * dxs, oy + ht * dys
    bb = boxes.xyz[hb]  # [K, Wc, 6]
    u = np.select(
        [face == 0, face == 1, face == 2],
        [hx - bb[..., 0], hy - bb[..., 2], bb[..., 1] - hx],
        bb[..., 3] - hy,
    )
    z0, z1 = bb[..., 4], bb[..., 5]
    Lr = L[None, :]
    ytop = (h - z1) * Lr / np.where(z1 < h, hto, ht)
    ybot = (h - z0) * Lr / np.where(z0 > h, hto, ht)
    rtop = np.where(hval, np.ceil(cyc + f * ytop), Hc + 1).clip(-1, Hc + 1).astype(np.int32)
    rbot = np.where(hval, np.floor(cyc + f * ybot), -2).clip(-2, Hc + 1).astype(np.int32)
    # ---- per-pixel buffers, column-major ("T-space": [Wc, Hc], each image column contiguous) --
    # A column's pixels form a few runs of one label (hit k, ground K, sky K+1); everything that
    # is constant along a wall's column segment lives in a [K + 2, Wc] table and is expanded
    # with np.repeat over the runs; row-dependent terms are affine in the row's ray slope.
    KG, KS = K, K + 1
    yr = ((np.arange(Hc) - cyc) / f).astype(np.float32)
    rh = Hc - int(np.count_nonzero(yr > 1e-6))  # first ground row
    # runs: split every column at all interval ends and the horizon; each piece gets the
    # nearest hit covering it (painting far to near), else ground / sky
    bounds = np.concatenate(
        [
            np.clip(rtop, 0, Hc).T,
            np.clip(rbot + 1, 0, Hc).T,
            np.broadcast_to(np.array([0, rh, Hc], np.int32), (Wc, 3)),
        ],
        axis=1,
    )
    bounds.sort(axis=1)
    seg0, seg_len = bounds[:, :-1], np.diff(bounds, axis=1)
    cover = (seg0[:, :, None] >= rtop.T[:, None, :]) & (seg0[:, :, None] <= rbot.T[:, None, :])
    seg_lab = np.where(cover.any(axis=2), cover.argmax(axis=2), np.where(seg0 >= rh, KG, KS))
    keep = seg_len > 0
    run_col = np.nonzero(keep)[0]
    run_lab = seg_lab[keep].astype(np.intp)
    run_len = seg_len[keep]
    n = Wc * Hc
    flat_lab = np.repeat(run_lab.astype(np.int8), run_len)
    lab = flat_lab.reshape(Wc, Hc)

    def expand(tab: np.ndarray) -> np.ndarray:
        return np.repeat(tab[run_lab, run_col], run_len).reshape(Wc, Hc)

    def table(walls, ground, sky, dtype=np.float32) -> np.ndarray:
        t = np.empty((K + 2, Wc), dtype)
        t[:K], t[KG], t[KS] = walls, ground, sky
        return t

    atlas = city.atlas
    L32 = L.astype(np.float32)
    tL = ht / L[None, :]  # camera depth of the wall hit
    fc4 = face.astype(np.int64)
    item = boxes.items[hb, fc4]
    ppm = city.item_ppm[item].astype(np.float64)
    nrm = NORMALS[fc4]  # [K, Wc, 2]
    cosi = np.abs(nrm[..., 0] * dxs + nrm[..., 1] * dys).clip(0.2, 1)
    tpp = ppm * tL / (f * cosi)
    # rint(log2(tpp)) clipped to 0..3, by exact comparisons with 2 ** (k + 0.5)
    r2 = math.sqrt(2.0)
    lev = (tpp > r2).astype(np.int32) + (tpp > 2 * r2) + (tpp > 4 * r2)
    sc = np.ldexp(1.0, -lev)
    iw, ih = atlas.size[item, 0], atlas.size[item, 1]
    mx_w = atlas.x0[item, lev] + (np.clip(u * ppm, 0.0, iw - 1.0) + 0.5) * sc - 0.5
    lo_w = atlas.y0[item, lev] + 0.5 * sc - 0.5
    hi_w = lo_w + (ih - 1.0) * sc
    c0_w = lo_w + sc * ppm * (z1 - h)
    d1_w = sc * ppm * tL
    # sky: per-column azimuth, per-pixel elevation
    sky = city.sky_items[cond["condition"]][cond["sky"]]
    sw, sh_ = (float(v) for v in atlas.size[sky])
    az = (camera.heading_deg + cnd.atan_det(xc) * (180.0 / math.pi)) % 360.0
    mx_s = atlas.x0[sky, 0] + np.clip(az / 360.0 * sw, 0.0, sw - 1.0)

    tl_t = table(tL, 0.0, 0.0)
    w = yr[None, :] * expand(tl_t)  # metres below the camera at the wall
    side = (w >= expand(table(h - z1 - 1e-6, np.inf, np.inf))) & (
        w <= expand(table(h - z0 + 1e-6, -np.inf, -np.inf))
    )
    is_hit = lab < K
    flat_px = np.flatnonzero(is_hit & ~side)  # tops and bottoms of boxes: flat colour
    mapx = expand(table(mx_w, 0.0, mx_s))
    mapy = expand(table(d1_w, 0.0, 0.0))
    mapy *= yr[None, :]
    mapy += expand(table(c0_w, 0.0, 0.0))
    np.clip(mapy, expand(table(lo_w, 0.0, 0.0)), expand(table(hi_w, 0.0, 0.0)), out=mapy)
    sky_m = lab[:, :rh] == KS if rh > 0 else None
    grd_m = lab[:, rh:] == KG if rh < Hc else None
    if sky_m is not None and sky_m.any():
        el = cnd.atan_det(-yr[None, :rh] / L32[:, None]) * np.float32(180.0 / math.pi)
        sy = np.clip((1.0 - el / np.float32(90.0)) * np.float32(sh_), 0.0, sh_ - 1.0)
        sy += atlas.y0[sky, 0]
        np.copyto(mapy[:, :rh], sy, where=sky_m)
    has_grd = grd_m is not None and grd_m.any()
    if has_grd:
        inv = (1.0 / yr[rh:]).astype(np.float32)[None, :]
        gppm = city.ground_ppm
        gx0, gy1 = city.ground_origin
        gi = city.ground_item
        gw, gh = (float(v) for v in atlas.size[gi])
        ax = (h * L * dh[:, 0]).astype(np.float32)[:, None]
        ay = (h * L * dh[:, 1]).astype(np.float32)[:, None]
        tpp2 = (gppm * h / f) ** 2 * inv * inv * np.maximum(L32[:, None] * inv, 1.0)
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
    rgb = cv2.remap(atlas.rgb, *_fixed_maps(mapx, mapy), cv2.INTER_LINEAR)  # [Wc, Hc, 3]
    add, mul = _emission_tables(cond)
    emissive = bool(mul.any() or add.any())
    em = (
        cv2.remap(atlas.emit, _nearest_map(mapx, mapy), None, cv2.INTER_NEAREST)
        if emissive
        else None
    )

    # ---- flat (top / bottom) pixels: few, done per pixel ------------------------------------
    fc_col = flat_px // Hc
    fr = flat_px % Hc
    fk = flat_lab[flat_px].astype(np.intp)
    f_box = hb[fk, fc_col]
    f_t = ht[fk, fc_col]
    f_L = L[fc_col]
    f_ry = yr[fr]
    f_z = h - f_ry * f_t / f_L
    bz0, bz1 = boxes.xyz[f_box, 4], boxes.xyz[f_box, 5]
    f_top = f_z > bz1
    f_zf = np.where(f_top, bz1, bz0)
    f_tf = (h - f_zf) * f_L / np.where(f_ry == 0, 1e-6, f_ry)
    f_px = ox + f_tf * dh[fc_col, 0]
    f_py = oy + f_tf * dh[fc_col, 1]
    f_depth = np.abs(f_tf) / f_L
    if len(flat_px):
        rgb.reshape(n, 3)[flat_px] = boxes.flat[f_box]
        if em is not None:
            em.ravel()[flat_px] = np.where(f_top, 0, boxes.flat_emit[f_box])

    # ---- lighting ---------------------------------------------------------------------------
    kind = cond["condition"]
    a_sun = math.radians(cond["sun_azimuth_deg"])
    e_sun = math.radians(cond["sun_elevation_deg"])
    sun_h = np.array([math.sin(a_sun), math.cos(a_sun)]) * math.cos(e_sun)
    sun = float(cond["sun"])
    lamps = float(cond["lamps"])
    wpx = ox + ht * dxs + 0.3 * nrm[..., 0]  # wall points, 0.3 m off the face
    wpy = oy + ht * dys + 0.3 * nrm[..., 1]
    if has_grd:
        x0m, y0m, _, _ = cnd._grid(city)
        gmx = (ax * np.float32(1 / cnd.GRID)) * inv + np.float32((ox - x0m) / cnd.GRID - 0.5)
        gmy = (ay * np.float32(1 / cnd.GRID)) * inv + np.float32((oy - y0m) / cnd.GRID - 0.5)

    def ground_sample(m):
        return cnd.bilinear(m, gmx, gmy)

    ambient = float(cond["ambient"])
    aw = expand(table(np.float32(0.8), 1.0, 1.0))
    if len(flat_px):
        aw.ravel()[flat_px] = 1.0
    sunf = lampf = None
    if sun > 0:
        # the shadow map is only needed around the visible surface points
        seen = np.zeros((K + 2, Wc), bool)
        seen[run_lab, run_col] = True
        seen = seen[:K]
        x0m, y0m, nxm, nym = cnd._grid(city)
        px_all = [(wpx[seen] - x0m) / cnd.GRID - 0.5, (f_px - x0m) / cnd.GRID - 0.5]
        py_all = [(wpy[seen] - y0m) / cnd.GRID - 0.5, (f_py - y0m) / cnd.GRID - 0.5]
        if has_grd:
            gc = np.flatnonzero(grd_m.any(axis=1))
            far = grd_m[gc].argmax(axis=1)
            px_all += [gmx[gc, far], gmx[gc, -1]]
            py_all += [gmy[gc, far], gmy[gc, -1]]
        px_all, py_all = np.concatenate(px_all), np.concatenate(py_all)
        if len(px_all):
            wi0 = int(np.clip(np.floor(px_all.min()) - 1, 0, nxm - 1))
            wi1 = int(np.clip(np.floor(px_all.max()) + 3, wi0 + 1, nxm))
            wj0 = int(np.clip(np.floor(py_all.min()) - 1, 0, nym - 1))
            wj1 = int(np.clip(np.floor(py_all.max()) + 3, wj0 + 1, nym))
        else:
            wi0, wi1, wj0, wj1 = 0, 1, 0, 1
        S = cnd.shadow_window(
            city, cond["sun_azimuth_deg"], cond["sun_elevation_deg"], (wi0, wi1, wj0, wj1)
        )
        org = (wi0, wj0)
        lam = np.maximum(0.0, nrm[..., 0] * sun_h[0] + nrm[..., 1] * sun_h[1])
        shw = cnd.sample_map(city, S, wpx.ravel(), wpy.ravel(), org).reshape(K, Wc)
        sunf = np.clip(expand(table((h - shw) * 4.0 + 0.5, 0.0, 0.0)) - 4.0 * w, 0.0, 1.0)
        sunf *= expand(table(sun * lam, 0.0, 0.0))
        sin_e = math.sin(e_sun)
        if has_grd:
            vis = cnd.bilinear(S, gmx - np.float32(wi0), gmy - np.float32(wj0))
            vis = np.clip(vis * np.float32(-4.0) + np.float32(0.5), 0.0, 1.0)
            np.copyto(sunf[:, rh:], vis * np.float32(sun * sin_e), where=grd_m)
        if len(flat_px):
            sh = cnd.sample_map(city, S, f_px, f_py, org)
            vis = np.clip((f_zf - sh) * 4.0 + 0.5, 0.0, 1.0)
            sunf.ravel()[flat_px] = np.where(f_top, sun * sin_e * vis, 0.0)
    if lamps > 0:
        M = cnd.lamp_map(city)
        lmw = cnd.sample_map(city, M, wpx.ravel(), wpy.ravel()).reshape(K, Wc)
        zf = w * np.float32(0.4)
        zf += np.float32((5.0 - h) * 0.4)
        np.minimum(zf, 0.0, out=zf)
        lampf = cnd.exp_det(zf)
        lampf *= expand(table(lamps * 0.6 * lmw, 0.0, 0.0))
        if has_grd:
            np.copyto(lampf[:, rh:], ground_sample(M) * np.float32(lamps * 0.6), where=grd_m)
        if len(flat_px):
            lm = cnd.sample_map(city, M, f_px, f_py)
            zfac = np.where(f_zf > 5.0, cnd.exp_det(-(f_zf - 5.0) / 2.5), 1.0)
            lampf.ravel()[flat_px] = np.where(f_top, lamps * 0.6 * lm * zfac, 0.0)
    # distance and haze transmittance
    G = np.sqrt(L32[:, None] ** 2 + yr[None, :] ** 2)  # ray length per unit camera depth
    depth = expand(tl_t)
    if has_grd:
        np.copyto(depth[:, rh:], np.broadcast_to(h * inv, grd_m.shape), where=grd_m)
    if len(flat_px):
        depth.ravel()[flat_px] = f_depth
    fog = float(cond["fog_m"])
    T = depth * G
    T *= np.float32(-(1 / 2500.0 + (1 / fog if fog > 0 else 0.0)))
    T = cnd.exp_det(T)
    if sky_m is not None and fog > 0:
        np.copyto(T[:, :rh], 0.0, where=sky_m)
    haze = np.array(cnd.FOG_COLOR[kind], np.float32) * (ambient / 0.35 if kind != "day" else 1.0)
    sky_gain = {"day": 1.25, "dusk": 0.9, "night": 0.4 + 4 * ambient}[kind]
    # rad_c = alb_c * (amb_c * aw + sun_c * sunf + lamp_c * lampf + mul[em]) * T
    #         + add_c[em] * T + haze_c * (1 - T)
    aw *= T
    if sunf is not None:
        sunf *= T
    if lampf is not None:
        lampf *= T
    if emissive:
        mT = cv2.LUT(em, mul.reshape(256, 1))
        mT *= T
    omT = 1.0 - T
    skyT = T[:, :rh] * np.float32(sky_gain) if sky_m is not None else None
    planes = [cnd.srgb_to_linear_img(p) for p in cv2.split(rgb)]
    amb_col = np.array(cnd.AMBIENT_COLOR[kind], np.float32) * ambient
    sun_col = np.array(cnd.SUN_COLOR[kind], np.float32)
    lamp_col = np.array(cnd.LAMP_COLOR, np.float32)
    rad = []
    for ch in range(3):
        lt = aw * amb_col[ch]
        if sunf is not None:
            lt += sunf * sun_col[ch]
        if lampf is not None:
            lt += lampf * lamp_col[ch]
        if emissive:
            lt += mT
        if skyT is not None:
            np.copyto(lt[:, :rh], skyT, where=sky_m)
        lt *= planes[ch]
        lt += omT * haze[ch]
        if emissive:
            a = cv2.LUT(em, add[:, ch].reshape(256, 1).copy())
            a *= T
            lt += a
        rad.append(lt)
    imgT = cnd.camera_response_planes(rad, cond, rng)  # [Wc, Hc, 3]
    img = cv2.transpose(imgT)
    if Minv is not None:
        img = cv2.remap(img, *_warp_maps(Minv, camera.width, camera.height), cv2.INTER_LINEAR)
    if not return_geometry:
        return img

    # ---- geometry buffers ---------------------------------------------------------------------
    g_box = expand(table(hb, -1, -1, np.int32))
    g_face = expand(table(face, FACE_GROUND, FACE_SKY, np.int8))
    g_u = expand(table(u, 0.0, 0.0))
    zz = h - (yr[None, :] * expand(table(ht, 0.0, 0.0, np.float64))) / L[:, None]
    g_v = np.where(side, zz - expand(table(z0, 0.0, 0.0, np.float64)), 0.0).astype(np.float32)
    g_depth = depth.copy()
    if sky_m is not None:
        np.copyto(g_depth[:, :rh], np.float32(1e4) / G[:, :rh], where=sky_m)
    if len(flat_px):
        g_face.ravel()[flat_px] = np.where(f_top, FACE_TOP, FACE_BOTTOM)
        g_u.ravel()[flat_px] = 0.0
    geo = {
        "box": g_box.T.copy(),
        "face": g_face.T.copy(),
        "u": g_u.T.copy(),
        "v": g_v.T.copy(),
        "depth": g_depth.T.copy(),
    }
    if Minv is not None:
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
            out[k] = np.where(
                smooth, warp(geo[k], cv2.INTER_LINEAR), warp(geo[k], cv2.INTER_NEAREST)
            )
        geo = out
    geo["boxes"] = boxes
    geo["condition"] = cond
    return img, geo


def _warp_maps(Minv: list, W: int, H: int):
    """Fixed-point remap maps of the homography ``Minv`` (output pixel -> canvas pixel) for a
    ``W`` x ``H`` output, computed with exactly rounded float64 operations."""
    u = np.arange(W, dtype=np.float64)[None, :]
    v = np.arange(H, dtype=np.float64)[:, None]
    # a row of Minv whose u coefficient is 0 (Y and Z of a pure pitch) stays one column
    X, Y, Z = ((m[0] * u if m[0] else 0.0) + (m[1] * v + m[2]) for m in Minv)
    return _fixed_maps(X / Z, Y / Z)


def _emission_tables(cond: dict):
    """Per emission id: additive linear RGB and albedo multiplier for this condition."""
    rng = np.random.default_rng(cond["window_seed"])
    add = np.zeros((256, 3), np.float32)
    mul = np.zeros(256, np.float32)
    if cond["lamps"] <= 0 and cond["lit_windows"] <= 0:
        return add, mul
    lit = rng.random(256)
    w0, w1 = WINDOW_IDS
    on = lit[w0:w1] < cond["lit_windows"]
    warm = np.array([1.0, 0.78, 0.5], np.float32) * rng.uniform(0.8, 1.2, (w1 - w0, 3)).astype(
        np.float32
    )
    add[w0:w1] = warm * (rng.uniform(0.05, 0.3, (w1 - w0, 1)) * on[:, None]).astype(np.float32)
    s0, s1 = SHOP_IDS
    on = lit[s0:s1] < 0.5 + cond["lit_windows"]
    add[s0:s1] = np.array([1.0, 0.95, 0.85], np.float32) * (0.08 * on[:, None]).astype(np.float32)
    mul[s0:s1] = 0.4 * on
    g0, g1 = SIGN_IDS
    on = lit[g0:g1] < 0.5 + cond["lit_windows"]
    mul[g0:g1] = rng.uniform(0.5, 1.5, g1 - g0) * on
    add[g0:g1] = 0.03 * on[:, None]
    if cond["lamps"] > 0:
        add[LAMP_ID] = np.array([1.0, 0.8, 0.55], np.float32) * 4.0 * cond["lamps"]
    return add, mul
