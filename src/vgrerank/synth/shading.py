"""Lighting of a rendered view: emission tables, sun (shadow-mapped over the cells a view
samples), street lamps, haze transmittance and the linear radiance planes.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from . import conditions as cnd
from .city import City
from .raycast import Hits, Rays, Runs
from .surfaces import Flat, Ground, Walls
from .textures import LAMP_ID, SHOP_IDS, SIGN_IDS, WINDOW_IDS


def emission_tables(cond: dict):
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


def _light_window(city: City, wpx, wpy, seen, flat: Flat, ground: Ground | None):
    """Shadow-map grid window (i0, i1, j0, j1) around the visible surface points."""
    x0m, y0m, nxm, nym = cnd._grid(city)
    px_all = [(wpx[seen] - x0m) / cnd.GRID - 0.5, (flat.x - x0m) / cnd.GRID - 0.5]
    py_all = [(wpy[seen] - y0m) / cnd.GRID - 0.5, (flat.y - y0m) / cnd.GRID - 0.5]
    if ground is not None:
        gc = np.flatnonzero(ground.m.any(axis=1))
        far = ground.m[gc].argmax(axis=1)
        px_all += [ground.gmx[gc, far], ground.gmx[gc, -1]]
        py_all += [ground.gmy[gc, far], ground.gmy[gc, -1]]
    px_all, py_all = np.concatenate(px_all), np.concatenate(py_all)
    if not len(px_all):
        return 0, 1, 0, 1
    wi0 = int(np.clip(np.floor(px_all.min()) - 1, 0, nxm - 1))
    wi1 = int(np.clip(np.floor(px_all.max()) + 3, wi0 + 1, nxm))
    wj0 = int(np.clip(np.floor(py_all.min()) - 1, 0, nym - 1))
    wj1 = int(np.clip(np.floor(py_all.max()) + 3, wj0 + 1, nym))
    return wi0, wi1, wj0, wj1


def _sunlight(city, cond, r: Rays, runs: Runs, walls: Walls, ground, flat: Flat, wpx, wpy):
    """Direct sun factor [Wc, Hc] (Lambert times shadow-map visibility)."""
    K, Wc, h, rh = runs.K, runs.Wc, r.h, r.rh
    nrm = walls.nrm
    sun = float(cond["sun"])
    a_sun = math.radians(cond["sun_azimuth_deg"])
    e_sun = math.radians(cond["sun_elevation_deg"])
    sun_h = np.array([math.sin(a_sun), math.cos(a_sun)]) * math.cos(e_sun)
    # the shadow map is only needed around the visible surface points
    seen = np.zeros((K + 2, Wc), bool)
    seen[runs.run_lab, runs.run_col] = True
    seen = seen[:K]
    wi0, wi1, wj0, wj1 = _light_window(city, wpx, wpy, seen, flat, ground)
    S = cnd.shadow_window(
        city, cond["sun_azimuth_deg"], cond["sun_elevation_deg"], (wi0, wi1, wj0, wj1)
    )
    org = (wi0, wj0)
    lam = np.maximum(0.0, nrm[..., 0] * sun_h[0] + nrm[..., 1] * sun_h[1])
    shw = cnd.sample_map(city, S, wpx.ravel(), wpy.ravel(), org).reshape(K, Wc)
    sunf = np.clip(
        runs.expand(runs.table((h - shw) * 4.0 + 0.5, 0.0, 0.0)) - 4.0 * walls.w, 0.0, 1.0
    )
    sunf *= runs.expand(runs.table(sun * lam, 0.0, 0.0))
    sin_e = math.sin(e_sun)
    if ground is not None:
        vis = cnd.bilinear(S, ground.gmx - np.float32(wi0), ground.gmy - np.float32(wj0))
        vis = np.clip(vis * np.float32(-4.0) + np.float32(0.5), 0.0, 1.0)
        np.copyto(sunf[:, rh:], vis * np.float32(sun * sin_e), where=ground.m)
    if len(flat.px):
        sh = cnd.sample_map(city, S, flat.x, flat.y, org)
        vis = np.clip((flat.zf - sh) * 4.0 + 0.5, 0.0, 1.0)
        sunf.ravel()[flat.px] = np.where(flat.top, sun * sin_e * vis, 0.0)
    return sunf


def _lamplight(city, cond, r: Rays, runs: Runs, walls: Walls, ground, flat: Flat, wpx, wpy):
    """Street-lamp factor [Wc, Hc] (lamp map, falling off above 5 m)."""
    K, Wc, h, rh = runs.K, runs.Wc, r.h, r.rh
    lamps = float(cond["lamps"])
    M = cnd.lamp_map(city)
    lmw = cnd.sample_map(city, M, wpx.ravel(), wpy.ravel()).reshape(K, Wc)
    zf = walls.w * np.float32(0.4)
    zf += np.float32((5.0 - h) * 0.4)
    np.minimum(zf, 0.0, out=zf)
    lampf = cnd.exp_det(zf)
    lampf *= runs.expand(runs.table(lamps * 0.6 * lmw, 0.0, 0.0))
    if ground is not None:
        g = cnd.bilinear(M, ground.gmx, ground.gmy)
        np.copyto(lampf[:, rh:], g * np.float32(lamps * 0.6), where=ground.m)
    if len(flat.px):
        lm = cnd.sample_map(city, M, flat.x, flat.y)
        zfac = np.where(flat.zf > 5.0, cnd.exp_det(-(flat.zf - 5.0) / 2.5), 1.0)
        lampf.ravel()[flat.px] = np.where(flat.top, lamps * 0.6 * lm * zfac, 0.0)
    return lampf


def lighting(city, cond, r: Rays, hits: Hits, runs: Runs, walls: Walls, ground, flat):
    """(ambient weight, sun factor or None, lamp factor or None), each [Wc, Hc]."""
    nrm = walls.nrm
    wpx = r.ox + hits.ht * r.dxs + 0.3 * nrm[..., 0]  # wall points, 0.3 m off the face
    wpy = r.oy + hits.ht * r.dys + 0.3 * nrm[..., 1]
    aw = runs.expand(runs.table(np.float32(0.8), 1.0, 1.0))
    if len(flat.px):
        aw.ravel()[flat.px] = 1.0
    sunf = lampf = None
    if float(cond["sun"]) > 0:
        sunf = _sunlight(city, cond, r, runs, walls, ground, flat, wpx, wpy)
    if float(cond["lamps"]) > 0:
        lampf = _lamplight(city, cond, r, runs, walls, ground, flat, wpx, wpy)
    return aw, sunf, lampf


def transmittance(cond, r: Rays, runs: Runs, walls: Walls, ground, flat: Flat, sky_m):
    """Camera depth [Wc, Hc], ray length per unit depth ``G`` and haze transmittance ``T``."""
    rh = r.rh
    G = np.sqrt(r.L.astype(np.float32)[:, None] ** 2 + r.yr[None, :] ** 2)
    depth = runs.expand(walls.tl_t)
    if ground is not None:
        np.copyto(depth[:, rh:], np.broadcast_to(r.h * ground.inv, ground.m.shape), where=ground.m)
    if len(flat.px):
        depth.ravel()[flat.px] = flat.depth
    fog = float(cond["fog_m"])
    T = depth * G
    T *= np.float32(-(1 / 2500.0 + (1 / fog if fog > 0 else 0.0)))
    T = cnd.exp_det(T)
    if sky_m is not None and fog > 0:
        np.copyto(T[:, :rh], 0.0, where=sky_m)
    return depth, G, T


def radiance(cond, rgb, em, add, mul, T, light, sky_m, rh: int) -> list[np.ndarray]:
    """Linear radiance planes [Wc, Hc] x 3:

    rad_c = alb_c * (amb_c * aw + sun_c * sunf + lamp_c * lampf + mul[em]) * T
            + add_c[em] * T + haze_c * (1 - T)
    """
    aw, sunf, lampf = light
    kind = cond["condition"]
    ambient = float(cond["ambient"])
    haze = np.array(cnd.FOG_COLOR[kind], np.float32) * (ambient / 0.35 if kind != "day" else 1.0)
    sky_gain = {"day": 1.25, "dusk": 0.9, "night": 0.4 + 4 * ambient}[kind]
    aw *= T
    if sunf is not None:
        sunf *= T
    if lampf is not None:
        lampf *= T
    emissive = em is not None
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
    return rad
