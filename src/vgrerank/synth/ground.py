"""The ground texture: asphalt, lane markings, crosswalks, kerbs, paved sidewalks, fields.

The street grid is separable (lines ``x = i * P`` and ``y = j * P``), so zone masks are built from
1-D distance vectors by broadcasting. Row 0 of the texture is the north edge ``y1``.
"""

from __future__ import annotations

import cv2
import numpy as np

from .textures import noise

ASPHALT, SIDEWALK, BLOCK, FIELD, WHITE, YELLOW, CURB = range(7)
PALETTE = np.array(
    [
        [72, 72, 75],
        [165, 160, 152],
        [128, 122, 115],
        [105, 112, 82],
        [225, 225, 220],
        [225, 185, 60],
        [190, 188, 182],
    ],
    np.float32,
)


def _signed(v: np.ndarray, pitch: float, n_lines: int) -> np.ndarray:
    """Signed distance to the nearest of the lines 0, pitch, .., n_lines*pitch."""
    k = np.clip(np.round(v / pitch), 0, n_lines)
    return v - k * pitch


def ground_texture(rng: np.random.Generator, layout: dict, ppm: float):
    """Return (rgb uint8, x0, y1) for the rectangle ``layout['ground_extent']``."""
    x0, y0, x1, y1 = layout["ground_extent"]
    P, s, sw = layout["pitch"], layout["street_w"], layout["sidewalk"]
    bx, by = layout["blocks_x"], layout["blocks_y"]
    rh = s / 2 - sw
    gw, gh = int(np.ceil((x1 - x0) * ppm)), int(np.ceil((y1 - y0) * ppm))
    xs = (x0 + (np.arange(gw) + 0.5) / ppm).astype(np.float32)
    ys = (y1 - (np.arange(gh) + 0.5) / ppm).astype(np.float32)
    dx, dy = _signed(xs, P, bx), _signed(ys, P, by)
    adx, ady = np.abs(dx), np.abs(dy)
    in_x = (xs > -P + s / 2 - 1e-3) & (xs < (bx + 1) * P - s / 2)
    in_y = (ys > -P + s / 2 - 1e-3) & (ys < (by + 1) * P - s / 2)
    out = np.empty((gh, gw, 3), np.uint8)
    tex_fine = noise(rng, 256, 256, 3)
    tex_mid = noise(rng, 256, 256, 24)
    step = 512
    for r0 in range(0, gh, step):
        r1 = min(gh, r0 + step)
        Y, AY, INY = ys[r0:r1, None], ady[r0:r1, None], in_y[r0:r1, None]
        X, AX, INX = xs[None, :], adx[None, :], in_x[None, :]
        city = INX & INY
        road_v = (AX < rh) & INY
        road_h = (AY < rh) & INX
        walk_v = (AX < s / 2) & INY
        walk_h = (AY < s / 2) & INX
        cls = np.full((r1 - r0, gw), FIELD, np.uint8)
        cls[city] = BLOCK
        cls[walk_v | walk_h] = SIDEWALK
        road = road_v | road_h
        cls[road] = ASPHALT
        curb = ((np.abs(AX - rh) < 0.12) & INY) | ((np.abs(AY - rh) < 0.12) & INX)
        cls[curb & ~road] = CURB
        inter_v = AY < s / 2 + 0.5  # near an intersection, for a north-south street
        inter_h = AX < s / 2 + 0.5
        mark = np.zeros_like(road)
        # centre lines (dashed) and edge lines (solid)
        mark |= road_v & ~inter_v & (AX < 0.08) & ((Y % 6.0) < 3.0)
        mark |= road_h & ~inter_h & (AY < 0.08) & ((X % 6.0) < 3.0)
        mark |= road_v & ~inter_v & (np.abs(AX - (rh - 0.35)) < 0.07)
        mark |= road_h & ~inter_h & (np.abs(AY - (rh - 0.35)) < 0.07)
        # crosswalks and stop lines
        cw_v = road_v & (AY > rh + 0.6) & (AY < rh + 3.4) & ((X % 1.0) < 0.5) & (AX < rh - 0.3)
        cw_h = road_h & (AX > rh + 0.6) & (AX < rh + 3.4) & ((Y % 1.0) < 0.5) & (AY < rh - 0.3)
        stop_v = road_v & (np.abs(AY - (rh + 4.0)) < 0.2) & (AX < rh - 0.3)
        stop_h = road_h & (np.abs(AX - (rh + 4.0)) < 0.2) & (AY < rh - 0.3)
        cls[mark | cw_v | cw_h | stop_v | stop_h] = WHITE
        yel = road_v & ~inter_v & (np.abs(AX - 0.25) < 0.06) & ((Y % 40) < 20)
        cls[yel] = YELLOW
        rgb = PALETTE[cls]
        # paving tile grid on sidewalks
        tiles = ((X % 0.6) < 0.05) | ((Y % 0.6) < 0.05)
        rgb[(cls == SIDEWALK) & tiles] *= 0.82
        ri = (np.arange(r0, r1) % 256)[:, None]
        ci = (np.arange(gw) % 256)[None, :]
        shade = 0.8 + 0.3 * tex_fine[ri, ci] + 0.25 * (tex_mid[ri, ci] - 0.5)
        rgb *= shade[..., None]
        out[r0:r1] = rgb.clip(0, 255).astype(np.uint8)
    # asphalt patches, manholes, oil stains
    for _ in range(int((x1 - x0) * (y1 - y0) / 150)):
        cx, cy = rng.uniform(0, gw), rng.uniform(0, gh)
        wx, wy = xs[min(gw - 1, int(cx))], ys[min(gh - 1, int(cy))]
        on_road = (abs(_signed(wx, P, bx)) < rh - 0.5) or (abs(_signed(wy, P, by)) < rh - 0.5)
        if not on_road:
            continue
        r = rng.random()
        if r < 0.4:
            w2, h2 = rng.uniform(0.5, 3) * ppm, rng.uniform(0.5, 3) * ppm
            box = cv2.boxPoints(((cx, cy), (w2, h2), rng.uniform(0, 90))).astype(np.int32)
            col = PALETTE[ASPHALT] * rng.uniform(0.6, 1.2)
            cv2.fillConvexPoly(out, box, tuple(int(c) for c in col))
        elif r < 0.6:
            rad = int(0.35 * ppm)
            cv2.circle(out, (int(cx), int(cy)), rad, (55, 55, 58), -1)
            cv2.circle(out, (int(cx), int(cy)), rad, (120, 120, 118), 1)
            cv2.line(out, (int(cx) - rad, int(cy)), (int(cx) + rad, int(cy)), (110, 110, 110), 1)
        else:
            rad = int(rng.uniform(0.2, 0.8) * ppm)
            cv2.ellipse(out, ((cx, cy), (rad * 2, rad), rng.uniform(0, 180)), (50, 50, 52), -1)
    return out, x0, y1
