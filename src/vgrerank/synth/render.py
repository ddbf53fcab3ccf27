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


def _canvas(camera: Camera):
    """Level-camera canvas (width, height, cx, cy) covering the pitched view, and the warp."""
    W, H, f = camera.width, camera.height, camera.f
    K = camera.K
    if abs(camera.pitch_deg) < 1e-9:
        return W, H, K[0, 2], K[1, 2], None
    Rp = pitch_matrix(camera.pitch_deg)
    xs = np.linspace(0, W - 1, 9)
    ys = np.linspace(0, H - 1, 9)
    border = np.array(
        [(x, y) for x in xs for y in (0, H - 1)] + [(x, y) for y in ys for x in (0, W - 1)], float
    )
    rays = np.c_[border, np.ones(len(border))] @ np.linalg.inv(K).T  # pitched camera rays
    lev = rays @ Rp  # Rp^T applied to each row vector: level camera rays
    p = lev[:, :2] / lev[:, 2:3] * f
    x0, y0 = np.floor(p.min(axis=0)) - 2
    x1, y1 = np.ceil(p.max(axis=0)) + 2
    Wc, Hc = int(x1 - x0) + 1, int(y1 - y0) + 1
    cxc, cyc = -x0, -y0
    K0 = np.array([[f, 0, cxc], [0, f, cyc], [0, 0, 1.0]])
    Hwarp = K @ Rp @ np.linalg.inv(K0)
    return Wc, Hc, cxc, cyc, Hwarp


def _cull(boxes, camera: Camera, fwd: np.ndarray, half_fov: float):
    b = boxes.xyz
    cx, cy = camera.x, camera.y
    dx = np.maximum(np.maximum(b[:, 0] - cx, cx - b[:, 1]), 0)
    dy = np.maximum(np.maximum(b[:, 2] - cy, cy - b[:, 3]), 0)
    dist = np.hypot(dx, dy)
    far = np.where(boxes.kind == BUILDING, FAR_BUILDING_M, FAR_PROP_M)
    keep = dist < far
    # any corner in front of the (widened) view wedge
    cs = np.cos(min(half_fov + 0.05, math.pi / 2 - 1e-3))
    ang_ok = np.zeros(len(b), bool)
    for xi, yi in ((0, 2), (0, 3), (1, 2), (1, 3)):
        vx, vy = b[:, xi] - cx, b[:, yi] - cy
        n = np.hypot(vx, vy) + 1e-9
        ang_ok |= (
            (vx * fwd[0] + vy * fwd[1]) / n > -0.2
            if cs <= 0
            else (vx * fwd[0] + vy * fwd[1]) / n > cs - 0.6
        )
    inside = (dx == 0) & (dy == 0)
    return np.nonzero(keep & (ang_ok | inside))[0]


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
    Wc, Hc, cxc, cyc, Hwarp = _canvas(camera)
    R0 = camera.R0
    right, fwd = R0[0, :2], R0[2, :2]
    xc = ((np.arange(Wc) - cxc) / f).astype(np.float64)
    L = np.sqrt(1 + xc**2)
    dh = (fwd[None, :] + xc[:, None] * right[None, :]) / L[:, None]  # [Wc, 2] unit
    ox, oy, h = camera.x, camera.y, camera.z
    half = math.atan(max(abs(xc[0]), abs(xc[-1])))
    sel = _cull(boxes, camera, fwd, half)
    b = boxes.xyz[sel]
    nb = len(sel)

    # ---- per-column slab intersections ------------------------------------------------------
    if nb:
        with np.errstate(divide="ignore", invalid="ignore"):
            ddx = np.where(np.abs(dh[:, 0]) < 1e-12, 1e-12, dh[:, 0])[:, None]
            ddy = np.where(np.abs(dh[:, 1]) < 1e-12, 1e-12, dh[:, 1])[:, None]
            ta, tb = (b[None, :, 0] - ox) / ddx, (b[None, :, 1] - ox) / ddx
            txmin, txmax = np.minimum(ta, tb), np.maximum(ta, tb)
            ta, tb = (b[None, :, 2] - oy) / ddy, (b[None, :, 3] - oy) / ddy
            tymin, tymax = np.minimum(ta, tb), np.maximum(ta, tb)
        tin = np.maximum(txmin, tymin)
        tout = np.minimum(txmax, tymax)
        facex = txmin > tymin
        valid = (tout > tin) & (tin > 0.05)
        tin = np.where(valid, tin, np.inf)
        K = int(min(K_MAX, nb, max(1, valid.sum(axis=1).max())))
        if K < nb:
            idx = np.argpartition(tin, K - 1, axis=1)[:, :K]
        else:
            idx = np.broadcast_to(np.arange(nb), (Wc, nb)).copy()
        tk = np.take_along_axis(tin, idx, axis=1)
        order = np.argsort(tk, axis=1)
        idx = np.take_along_axis(idx, order, axis=1)
        ht = np.take_along_axis(tk, order, axis=1).T  # [K, Wc]
        hto = np.take_along_axis(tout, idx, axis=1).T
        hfx = np.take_along_axis(facex, idx, axis=1).T
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
    label = np.full((Hc, Wc), -1, np.int8)
    rows = np.arange(Hc, dtype=np.int32)[:, None]
    for k in range(K - 1, -1, -1):
        np.putmask(label, (rows >= rtop[k]) & (rows <= rbot[k]), k)

    # ---- per-pixel geometry -----------------------------------------------------------------
    n = Hc * Wc
    lab = label.ravel()
    yr = ((np.arange(Hc) - cyc) / f).astype(np.float32)
    pix_r = np.repeat(np.arange(Hc, dtype=np.int32), Wc)
    pix_c = np.tile(np.arange(Wc, dtype=np.int32), Hc)
    mapx = np.zeros(n, np.float32)
    mapy = np.zeros(n, np.float32)
    px_x = np.zeros(n, np.float32)  # world x, y, z of the surface point (for lighting)
    px_y = np.zeros(n, np.float32)
    px_z = np.zeros(n, np.float32)
    dist = np.full(n, 1e4, np.float32)
    g_box = np.full(n, -1, np.int32)
    g_face = np.full(n, FACE_SKY, np.int8)
    g_u = np.zeros(n, np.float32)
    g_v = np.zeros(n, np.float32)
    lambert = np.zeros(n, np.float32)
    flat_emit = np.zeros(n, np.uint8)
    is_flat = np.zeros(n, bool)
    atlas = city.atlas

    bp = np.nonzero(lab >= 0)[0]
    if len(bp):
        c = pix_c[bp]
        kk = lab[bp].astype(np.int64) * Wc + c
        t = ht.ravel()[kk]
        box = hb.ravel()[kk]
        fc = face.ravel()[kk]
        ry = yr[pix_r[bp]]
        Lc = L[c]
        z = h - ry * t / Lc
        bz0, bz1 = boxes.xyz[box, 4], boxes.xyz[box, 5]
        side = (z >= bz0 - 1e-6) & (z <= bz1 + 1e-6)
        uu = u.ravel()[kk]
        # walls
        s_idx = bp[side]
        item = boxes.items[box[side], fc[side]]
        ppm = city.item_ppm[item]
        zs = z[side]
        tx = uu[side] * ppm
        ty = (bz1[side] - zs) * ppm
        nrm = NORMALS[fc[side]]
        dcol = dh[c[side]]
        cosi = np.abs(nrm[:, 0] * dcol[:, 0] + nrm[:, 1] * dcol[:, 1]).clip(0.2, 1)
        depth = t[side] / Lc[side]
        tpp = ppm * depth / (f * cosi)
        lev = np.clip(np.rint(np.log2(np.maximum(tpp, 1e-6))), 0, 3).astype(np.int32)
        mapx[s_idx], mapy[s_idx] = atlas.coords(item, tx, ty, lev)
        px_x[s_idx] = (ox + t[side] * dcol[:, 0] + 0.3 * nrm[:, 0]).astype(np.float32)
        px_y[s_idx] = (oy + t[side] * dcol[:, 1] + 0.3 * nrm[:, 1]).astype(np.float32)
        px_z[s_idx] = zs
        dist[s_idx] = t[side] * np.sqrt(Lc[side] ** 2 + ry[side] ** 2) / Lc[side]
        g_box[s_idx], g_face[s_idx] = box[side], fc[side]
        g_u[s_idx], g_v[s_idx] = uu[side], zs - bz0[side]
        lambert[s_idx] = -1.0 - fc[side]  # marker: wall with face f (resolved with the sun below)
        # tops and bottoms: flat colour
        fl = ~side
        f_idx = bp[fl]
        top = z[fl] > bz1[fl]
        zf = np.where(top, bz1[fl], bz0[fl])
        tf = (h - zf) * Lc[fl] / np.where(ry[fl] == 0, 1e-6, ry[fl])
        dcol = dh[c[fl]]
        px_x[f_idx] = ox + tf * dcol[:, 0]
        px_y[f_idx] = oy + tf * dcol[:, 1]
        px_z[f_idx] = zf
        dist[f_idx] = np.abs(tf) * np.sqrt(Lc[fl] ** 2 + ry[fl] ** 2) / Lc[fl]
        g_box[f_idx] = box[fl]
        g_face[f_idx] = np.where(top, FACE_TOP, FACE_BOTTOM)
        lambert[f_idx] = np.where(top, 2.0, 0.0)  # marker: horizontal face facing up / down
        is_flat[f_idx] = True
        flat_emit[f_idx] = np.where(top, 0, boxes.flat_emit[box[fl]])

    rest = np.nonzero(lab < 0)[0]
    ry = yr[pix_r[rest]]
    c = pix_c[rest]
    grd = ry > 1e-6
    g_idx = rest[grd]
    if len(g_idx):
        Lc = L[c[grd]]
        tg = h * Lc / ry[grd]
        dcol = dh[c[grd]]
        gx = ox + tg * dcol[:, 0]
        gy = oy + tg * dcol[:, 1]
        gppm = city.ground_ppm
        gx0, gy1 = city.ground_origin
        depth = tg / Lc
        tpp = gppm * depth / f * np.sqrt(np.maximum(tg / h, 1.0))
        lev = np.clip(np.rint(np.log2(np.maximum(tpp, 1e-6))), 0, 3).astype(np.int32)
        item = np.full(len(g_idx), city.ground_item)
        mapx[g_idx], mapy[g_idx] = atlas.coords(item, (gx - gx0) * gppm, (gy1 - gy) * gppm, lev)
        px_x[g_idx], px_y[g_idx] = gx, gy
        dist[g_idx] = tg * np.sqrt(Lc**2 + ry[grd] ** 2) / Lc
        g_face[g_idx] = FACE_GROUND
        lambert[g_idx] = 2.0
    s_idx = rest[~grd]
    if len(s_idx):
        az = (camera.heading_deg + np.degrees(np.arctan(xc[c[~grd]]))) % 360.0
        el = np.degrees(np.arctan2(-ry[~grd], L[c[~grd]]))
        sky = city.sky_items[cond["condition"]][cond["sky"]]
        sw, sh = atlas.size[sky]
        item = np.full(len(s_idx), sky)
        mapx[s_idx], mapy[s_idx] = atlas.coords(item, az / 360.0 * sw, (1 - el / 90.0) * sh, 0)

    shape = (Hc, Wc)
    rgb = cv2.remap(atlas.rgb, mapx.reshape(shape), mapy.reshape(shape), cv2.INTER_LINEAR)
    emit = cv2.remap(
        atlas.emit, mapx.reshape(shape), mapy.reshape(shape), cv2.INTER_NEAREST
    ).ravel()
    rgb = rgb.reshape(n, 3)
    if is_flat.any():
        fi = np.nonzero(is_flat)[0]
        rgb[fi] = boxes.flat[g_box[fi]]
        emit[fi] = flat_emit[fi]
    rad = _shade(city, cond, camera, rgb, emit, lambert, px_x, px_y, px_z, dist, s_idx)
    img = cnd.camera_response(rad.reshape(Hc, Wc, 3), cond, rng)
    if Hwarp is not None:
        img = cv2.warpPerspective(img, Hwarp, (camera.width, camera.height), flags=cv2.INTER_LINEAR)
    if not return_geometry:
        return img
    geo = {
        "box": g_box.reshape(shape),
        "face": g_face.reshape(shape),
        "u": g_u.reshape(shape),
        "v": g_v.reshape(shape),
        "depth": (dist / np.sqrt(1 + xc[pix_c] ** 2 + yr[pix_r] ** 2))
        .astype(np.float32)
        .reshape(shape),
    }
    if Hwarp is not None:
        size = (camera.width, camera.height)

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


def _shade(city, cond, camera, rgb, emit, lambert, px, py, pz, dist, sky_idx):
    kind = cond["condition"]
    alb = cnd.srgb_to_linear(rgb)  # [n, 3]
    n = len(alb)
    a = math.radians(cond["sun_azimuth_deg"])
    e = math.radians(cond["sun_elevation_deg"])
    sun_h = np.array([math.sin(a), math.cos(a)], np.float32) * math.cos(e)
    lam = np.zeros(n, np.float32)
    wall = lambert < 0
    fidx = (-lambert[wall] - 1).astype(np.int64)
    lam[wall] = np.maximum(0.0, NORMALS[fidx] @ sun_h)
    lam[lambert == 2.0] = math.sin(e)
    sun = float(cond["sun"])
    light = np.empty((n, 3), np.float32)
    ambient = np.full(n, cond["ambient"], np.float32)
    ambient[wall] *= 0.8
    light[:] = ambient[:, None] * np.array(cnd.AMBIENT_COLOR[kind], np.float32)
    if sun > 0:
        S = cnd.shadow_map(city, cond["sun_azimuth_deg"], cond["sun_elevation_deg"])
        lit = np.nonzero(lam > 0)[0]
        sh = cnd.sample_map(city, S, px[lit], py[lit])
        vis = np.clip((pz[lit] - sh) * 4.0 + 0.5, 0.0, 1.0)
        light[lit] += (sun * lam[lit] * vis)[:, None] * np.array(cnd.SUN_COLOR[kind], np.float32)
    if cond["lamps"] > 0:
        surf = np.nonzero(lambert != 0)[0]  # walls, ground, tops
        lm = cnd.sample_map(city, cnd.lamp_map(city), px[surf], py[surf])
        zf = np.where(pz[surf] > 5.0, np.exp(-(pz[surf] - 5.0) / 2.5), 1.0)
        light[surf] += (cond["lamps"] * 0.6 * lm * zf)[:, None] * np.array(
            cnd.LAMP_COLOR, np.float32
        )
    rad = alb * light
    add, mul = _emission_tables(cond)
    if mul.any() or add.any():
        em = emit.astype(np.int64)
        nz = np.nonzero(em)[0]
        rad[nz] += add[em[nz]] + alb[nz] * mul[em[nz]][:, None]
    if len(sky_idx):
        sky_gain = {"day": 1.25, "dusk": 0.9, "night": 0.4 + 4 * cond["ambient"]}[kind]
        rad[sky_idx] = alb[sky_idx] * sky_gain
    haze = np.array(cnd.FOG_COLOR[kind], np.float32) * (
        cond["ambient"] / 0.35 if kind != "day" else 1.0
    )
    fog = float(cond["fog_m"])
    T = np.exp(-dist / 2500.0)
    if fog > 0:
        T = T * np.exp(-dist / fog)
        if len(sky_idx):
            T[sky_idx] = 0.0
    elif len(sky_idx):
        T[sky_idx] = 1.0
    rad = rad * T[:, None] + haze * (1 - T)[:, None]
    return rad
