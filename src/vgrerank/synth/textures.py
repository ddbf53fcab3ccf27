"""Procedural textures: facades (windows, shops, signs with text, posters), props, skies.

Textures are sRGB uint8 albedo plus an ``emit`` uint8 map of *emission ids* that the night
renderer turns into light: ``1..199`` windows, ``200..219`` shop windows, ``220..249`` signs,
``255`` lamp heads, ``0`` nothing.
"""

from __future__ import annotations

import string

import cv2
import numpy as np

WINDOW_IDS = (1, 200)
SHOP_IDS = (200, 220)
SIGN_IDS = (220, 250)
LAMP_ID = 255

BASES = [
    (196, 180, 150),  # beige plaster
    (214, 210, 198),  # off-white
    (150, 150, 148),  # concrete
    (150, 80, 60),  # brick red
    (120, 92, 70),  # brown
    (176, 160, 130),  # sand
    (170, 185, 190),  # pale blue-grey
    (200, 170, 160),  # salmon
    (95, 100, 105),  # dark grey
    (230, 222, 200),  # cream
]
MATERIALS = ("plaster", "brick", "panel", "tile", "glass")
FONTS = (
    cv2.FONT_HERSHEY_SIMPLEX,
    cv2.FONT_HERSHEY_DUPLEX,
    cv2.FONT_HERSHEY_COMPLEX,
    cv2.FONT_HERSHEY_TRIPLEX,
)


def _taps(n_src: int, n_dst: int, cubic: bool):
    """Source indices and weights [taps, n_dst] of OpenCV's resize (pixel centres aligned,
    border replicated; bicubic with A = -0.75 or bilinear), from exact float64 arithmetic."""
    x = (np.arange(n_dst) + 0.5) * (n_src / n_dst) - 0.5
    i0 = np.floor(x)
    t = x - i0
    i0 = i0.astype(np.int64)
    if cubic:
        A = -0.75
        s = 1.0 - t
        w1 = ((A + 2) * t - (A + 3)) * t * t + 1
        w2 = ((A + 2) * s - (A + 3)) * s * s + 1
        u = t + 1
        w0 = ((A * u - 5 * A) * u + 8 * A) * u - 4 * A
        ws = [w0, w1, w2, 1.0 - w0 - w1 - w2]
        offs = (-1, 0, 1, 2)
    else:
        ws, offs = [1.0 - t, t], (0, 1)
    idx = [np.clip(i0 + o, 0, n_src - 1) for o in offs]
    return idx, [w.astype(np.float32) for w in ws]


def resize_det(img: np.ndarray, w: int, h: int, cubic: bool = True) -> np.ndarray:
    """``cv2.resize(img, (w, h), INTER_CUBIC / INTER_LINEAR)`` of a float32 [H, W] or [H, W, C]
    image as separable float32 numpy passes with a fixed summation order: the same bits on any
    CPU (OpenCV's float resize differs between SIMD levels)."""
    img = np.asarray(img, np.float32)
    ix, wx = _taps(img.shape[1], w, cubic)
    iy, wy = _taps(img.shape[0], h, cubic)
    ext = (slice(None),) + (None,) * (img.ndim - 2)
    tmp = img[:, ix[0]] * wx[0][ext]
    for i, wt in zip(ix[1:], wx[1:], strict=True):
        tmp += img[:, i] * wt[ext]
    ext = (slice(None), None) + (None,) * (img.ndim - 2)
    out = tmp[iy[0]] * wy[0][ext]
    for i, wt in zip(iy[1:], wy[1:], strict=True):
        out += tmp[i] * wt[ext]
    return out


def noise(rng: np.random.Generator, h: int, w: int, cell: float) -> np.ndarray:
    """Smooth value noise in [0, 1] with feature size ``cell`` pixels."""
    gh, gw = max(2, int(h / cell) + 2), max(2, int(w / cell) + 2)
    g = rng.random((gh, gw), dtype=np.float32)
    return resize_det(g, w, h).clip(0, 1)


def _col(c, k: float = 1.0) -> tuple[int, int, int]:
    return tuple(int(np.clip(v * k, 0, 255)) for v in c)


def _rand_text(rng: np.random.Generator, n: int) -> str:
    alphabet = string.ascii_uppercase + string.digits + "  &"
    return "".join(rng.choice(list(alphabet), size=n)).strip() or "A"


def _put_text(img, text, org, font, scale, color):
    """cv2.putText on a float image (putText needs uint8): draw on a uint8 patch and copy back."""
    (tw, th), base = cv2.getTextSize(text, font, scale, 1)
    x0, y0 = max(0, org[0] - 1), max(0, org[1] - th - 1)
    x1, y1 = min(img.shape[1], org[0] + tw + 2), min(img.shape[0], org[1] + base + 2)
    if x1 <= x0 or y1 <= y0:
        return
    patch = np.ascontiguousarray(img[y0:y1, x0:x1].clip(0, 255).astype(np.uint8))
    cv2.putText(patch, text, (org[0] - x0, org[1] - y0), font, scale, color, 1, cv2.LINE_AA)
    img[y0:y1, x0:x1] = patch


def building_style(rng: np.random.Generator) -> dict:
    mat = MATERIALS[rng.choice(len(MATERIALS), p=[0.35, 0.2, 0.2, 0.15, 0.1])]
    base = np.array(BASES[rng.integers(len(BASES))], np.float32) * rng.uniform(0.85, 1.1, 3)
    return {
        "material": mat,
        "base": base.clip(20, 245),
        "floor_h": rng.uniform(2.9, 3.6),
        "gf_h": rng.uniform(3.6, 4.6),
        "win_w": rng.uniform(0.8, 1.8),
        "win_h": rng.uniform(1.1, 2.0),
        "spacing": rng.uniform(1.9, 3.6),
        "mullion": int(rng.integers(4)),
        "frame": _col(rng.choice([40, 90, 200, 235]) * np.ones(3) * rng.uniform(0.8, 1.1, 3)),
        "glass": _col(np.array([50, 62, 78]) * rng.uniform(0.7, 1.3)),
        "balcony": rng.random() < 0.25,
        "ac": rng.random() < 0.4,
        "shops": rng.random() < 0.75,
        "band": rng.random() < 0.5,
    }


def _material(rng, st, h, w, ppm):
    base = st["base"]
    img = np.empty((h, w, 3), np.float32)
    low = noise(rng, h, w, 6 * ppm) - 0.5
    fine = rng.normal(0, 1, (h, w)).astype(np.float32)
    shade = 1 + 0.12 * low + 0.025 * fine
    img[:] = base
    img *= shade[..., None]
    mat = st["material"]
    if mat == "brick":
        rows = (np.arange(h) % max(2, int(0.3 * ppm)) == 0)[:, None]
        img[np.broadcast_to(rows, (h, w))] *= 1.18
        blk = noise(rng, h, w, 0.35 * ppm)
        img *= (0.9 + 0.2 * blk)[..., None]
    elif mat in ("panel", "glass"):
        pw, ph = rng.uniform(1.2, 3.0) * ppm, st["floor_h"] * ppm / rng.integers(1, 3)
        seam = ((np.arange(w) % int(pw)) < 1)[None, :] | ((np.arange(h) % int(ph)) < 1)[:, None]
        img[seam] *= 0.72
    elif mat == "tile":
        t = max(3, int(0.45 * ppm))
        seam = ((np.arange(w) % t) == 0)[None, :] | ((np.arange(h) % t) == 0)[:, None]
        img[seam] *= 0.86
    streak = noise(rng, h, w, 3 * ppm) * noise(rng, h, w, 0.7 * ppm)
    img *= (1 - 0.18 * streak * np.linspace(0.3, 1, h, dtype=np.float32)[:, None])[..., None]
    return img


def _window(img, emit, rng, st, x0, y0, x1, y1, wid):
    glass = np.array(st["glass"], np.float32) * rng.uniform(0.8, 1.25)
    h = y1 - y0
    if h <= 1 or x1 - x0 <= 1:
        return
    grad = np.linspace(1.35, 0.75, h, dtype=np.float32)[:, None, None]
    img[y0:y1, x0:x1] = glass * grad
    r = rng.random()
    if r < 0.25:  # curtains
        cy = y0 + int(h * rng.uniform(0.3, 0.9))
        img[y0:cy, x0:x1] = np.array(_col(rng.uniform(120, 230, 3)), np.float32)
    elif r < 0.4:  # blinds
        img[y0:y1:3, x0:x1] *= 1.6
    emit[y0:y1, x0:x1] = wid
    fr = st["frame"]
    cv2.rectangle(img, (x0, y0), (x1 - 1, y1 - 1), fr, 1)
    m = st["mullion"]
    if m in (1, 3):
        cv2.line(img, ((x0 + x1) // 2, y0), ((x0 + x1) // 2, y1 - 1), fr, 1)
    if m in (2, 3):
        yy = y0 + h // 3
        cv2.line(img, (x0, yy), (x1 - 1, yy), fr, 1)
    cv2.rectangle(img, (x0 - 1, y1), (x1, y1 + 1), _col(st["base"], 1.25), -1)  # sill


def _shops(img, emit, rng, st, w, h, ppm, gf_px):
    x = 0
    while x < w - 2 * ppm:
        uw = int(rng.uniform(4, 9) * ppm)
        x1 = min(w, x + uw)
        if x1 - x < 2.5 * ppm:
            break
        top = h - gf_px
        sign_y0 = top + int(0.2 * ppm)
        sign_y1 = sign_y0 + int(rng.uniform(0.6, 1.0) * ppm)
        gx0, gx1 = x + int(0.3 * ppm), x1 - int(0.3 * ppm)
        gy0, gy1 = sign_y1 + int(0.25 * ppm), h - int(0.35 * ppm)
        # shop window + door
        img[gy0:gy1, gx0:gx1] = np.array(_col(rng.uniform(40, 110, 3)), np.float32)
        inside = rng.uniform(60, 220, (max(1, (gy1 - gy0) // 6), max(1, (gx1 - gx0) // 6), 3))
        inside = resize_det(inside, gx1 - gx0, gy1 - gy0, cubic=False)  # as before: bilinear
        img[gy0:gy1, gx0:gx1] = 0.6 * img[gy0:gy1, gx0:gx1] + 0.4 * inside
        emit[gy0:gy1, gx0:gx1] = rng.integers(*SHOP_IDS)
        dx = gx0 + int(rng.uniform(0.1, 0.6) * (gx1 - gx0 - ppm))
        cv2.rectangle(
            img, (dx, gy0), (dx + int(1.0 * ppm), h - 1), _col(rng.uniform(30, 150, 3)), -1
        )
        cv2.rectangle(img, (gx0, gy0), (gx1 - 1, gy1 - 1), (45, 45, 48), 2)
        # sign with text
        bg = _col(rng.uniform(20, 240, 3))
        fg = _col(255 - np.array(bg) + rng.uniform(-40, 40, 3))
        sx0 = x + int(rng.uniform(0.2, 0.6) * ppm)
        sx1 = x1 - int(rng.uniform(0.2, 0.6) * ppm)
        cv2.rectangle(img, (sx0, sign_y0), (sx1, sign_y1), bg, -1)
        emit[sign_y0 : sign_y1 + 1, sx0 : sx1 + 1] = rng.integers(*SIGN_IDS)
        sh = sign_y1 - sign_y0
        font = FONTS[rng.integers(len(FONTS))]
        scale = sh / 30.0
        n = max(2, int((sx1 - sx0) / (sh * 0.75)))
        text = _rand_text(rng, int(rng.integers(2, n + 1)))
        (tw, th), _ = cv2.getTextSize(text, font, scale, 1)
        tx = sx0 + max(1, (sx1 - sx0 - tw) // 2)
        _put_text(img, text, (tx, sign_y1 - max(1, (sh - th) // 2)), font, scale, fg)
        if rng.random() < 0.5:  # logo
            cv2.circle(img, (sx0 + sh // 2 + 1, (sign_y0 + sign_y1) // 2), sh // 3, fg, -1)
        if rng.random() < 0.35:  # awning stripes
            ay0, ay1 = sign_y1 + 1, sign_y1 + int(0.35 * ppm)
            c1, c2 = _col(rng.uniform(60, 240, 3)), (235, 235, 230)
            for k, xx in enumerate(range(gx0, gx1, max(2, ppm // 3))):
                cv2.rectangle(img, (xx, ay0), (xx + ppm // 3, ay1), c1 if k % 2 else c2, -1)
        x = x1


def _posters(img, rng, w, h, ppm):
    for _ in range(int(rng.integers(0, 3))):
        pw, ph = int(rng.uniform(0.5, 1.0) * ppm), int(rng.uniform(0.7, 1.3) * ppm)
        if w - pw - 2 <= 2:
            return
        x0 = int(rng.integers(1, w - pw - 1))
        y0 = h - int(rng.uniform(1.2, 2.6) * ppm)
        cv2.rectangle(img, (x0, y0), (x0 + pw, y0 + ph), _col(rng.uniform(30, 250, 3)), -1)
        for _ in range(3):
            c = _col(rng.uniform(0, 255, 3))
            p = (int(x0 + rng.uniform(0, pw)), int(y0 + rng.uniform(0, ph)))
            if rng.random() < 0.5:
                cv2.circle(img, p, int(rng.uniform(1, max(2, pw / 3))), c, -1)
            else:
                _put_text(img, _rand_text(rng, 3), p, FONTS[0], pw / 60, c)


def facade(
    rng: np.random.Generator, st: dict, length: float, height: float, ppm: float, shops: bool
):
    """One wall face: ``length`` x ``height`` metres at ``ppm`` texels per metre (top row = roof)."""
    ppm = int(round(ppm))
    w, h = max(2, round(length * ppm)), max(2, round(height * ppm))
    img = _material(rng, st, h, w, ppm)
    emit = np.zeros((h, w), np.uint8)
    gf = st["gf_h"]
    fh = st["floor_h"]
    nfl = int((height - gf - 0.6) // fh)
    glass_wall = st["material"] == "glass"
    ww = st["spacing"] * 0.85 if glass_wall else st["win_w"]
    wh = fh * 0.8 if glass_wall else st["win_h"]
    ncol = int((length - 1.0) // st["spacing"])
    if ncol > 0:
        start = (length - ncol * st["spacing"]) / 2 + st["spacing"] / 2
        for i in range(nfl):
            zb = gf + i * fh + (fh - wh) * (0.5 if glass_wall else 0.45)
            y1 = h - int(zb * ppm)
            y0 = y1 - int(wh * ppm)
            for j in range(ncol):
                cxm = start + j * st["spacing"]
                x0 = int((cxm - ww / 2) * ppm)
                x1 = int((cxm + ww / 2) * ppm)
                _window(img, emit, rng, st, x0, y0, x1, y1, int(rng.integers(*WINDOW_IDS)))
                if st["ac"] and not glass_wall and rng.random() < 0.15:
                    ax = x1 + 2
                    cv2.rectangle(
                        img,
                        (ax, y1 - int(0.6 * ppm)),
                        (ax + int(0.7 * ppm), y1),
                        (205, 205, 200),
                        -1,
                    )
                    cv2.circle(
                        img,
                        (ax + int(0.35 * ppm), y1 - int(0.3 * ppm)),
                        int(0.2 * ppm),
                        (90, 90, 90),
                        1,
                    )
            if st["balcony"] and not glass_wall:
                yb = h - int((gf + i * fh) * ppm)
                cv2.rectangle(img, (0, yb - int(1.0 * ppm)), (w - 1, yb), _col(st["base"], 0.55), 1)
                for xx in range(0, w, max(2, ppm // 4)):
                    cv2.line(img, (xx, yb - int(1.0 * ppm)), (xx, yb), _col(st["base"], 0.6), 1)
            if st["band"]:
                yb = h - int((gf + i * fh) * ppm)
                cv2.line(img, (0, yb), (w - 1, yb), _col(st["base"], 0.8), max(1, ppm // 8))
    gf_px = int(gf * ppm)
    if shops and length > 3:
        _shops(img, emit, rng, st, w, h, ppm, gf_px)
    else:
        # residential ground floor: door and small windows
        for _ in range(max(1, int(length // 7))):
            dx = int(rng.uniform(0.5, max(0.6, length - 1.8)) * ppm)
            cv2.rectangle(
                img,
                (dx, h - int(2.2 * ppm)),
                (dx + int(1.1 * ppm), h - 1),
                _col(rng.uniform(40, 140, 3)),
                -1,
            )
            cv2.rectangle(
                img,
                (dx - 2, h - int(2.4 * ppm)),
                (dx + int(1.1 * ppm) + 2, h - int(2.2 * ppm)),
                _col(st["base"], 0.6),
                -1,
            )
        _posters(img, rng, w, h, ppm)
    cv2.line(img, (0, h - gf_px), (w - 1, h - gf_px), _col(st["base"], 0.7), max(1, ppm // 6))
    cv2.rectangle(
        img, (0, 0), (w - 1, max(1, int(0.35 * ppm))), _col(st["base"], 0.75), -1
    )  # cornice
    cv2.rectangle(img, (0, h - max(1, int(0.3 * ppm))), (w - 1, h - 1), (90, 88, 85), -1)  # plinth
    if rng.random() < 0.5 and w > 4:  # drain pipe
        px = int(rng.integers(1, w - 2))
        cv2.line(img, (px, 0), (px, h - 1), _col(st["base"], 0.6), max(1, ppm // 10))
    return img.clip(0, 255).astype(np.uint8), emit


def plain(rng: np.random.Generator, color, length: float, height: float, ppm: float):
    w, h = max(2, round(length * ppm)), max(2, round(height * ppm))
    img = np.empty((h, w, 3), np.float32)
    img[:] = np.asarray(color, np.float32)
    img *= (0.9 + 0.2 * noise(rng, h, w, 4))[..., None]
    return img.clip(0, 255).astype(np.uint8)


def car_faces(rng: np.random.Generator, color, lx: float, ly: float, hz: float, ppm: float):
    """Four faces (S, E, N, W) of a car box whose long axis is x when ``lx > ly``."""
    color = np.asarray(color, np.float32)
    ppm = int(round(ppm))
    out = []
    for f, length in enumerate((lx, ly, lx, ly)):
        w, h = max(2, round(length * ppm)), max(2, round(hz * ppm))
        img = np.empty((h, w, 3), np.float32)
        img[:] = color
        img *= (0.95 + 0.1 * noise(rng, h, w, 6))[..., None]
        img[: int(0.12 * h)] *= 0.8
        long_side = length == max(lx, ly)
        wy0, wy1 = int(0.12 * h), int(0.45 * h)
        if long_side:
            cv2.rectangle(img, (int(0.2 * w), wy0), (int(0.8 * w), wy1), (35, 40, 48), -1)
            cv2.line(
                img, (int(0.5 * w), wy0), (int(0.5 * w), wy1), _col(color, 0.7), max(1, ppm // 8)
            )
            r = int(0.22 * h)
            for cx in (int(0.2 * w), int(0.8 * w)):
                cv2.circle(img, (cx, h - r // 2), r, (20, 20, 20), -1)
                cv2.circle(img, (cx, h - r // 2), r // 2, (150, 150, 150), -1)
            cv2.line(img, (0, int(0.6 * h)), (w - 1, int(0.6 * h)), _col(color, 0.6), 1)
        else:
            front = (f in (1, 2)) ^ (lx < ly)
            cv2.rectangle(img, (int(0.08 * w), wy0), (int(0.92 * w), wy1), (35, 40, 48), -1)
            lc = (235, 235, 215) if front else (190, 30, 25)
            for cx in (int(0.12 * w), int(0.78 * w)):
                cv2.rectangle(img, (cx, int(0.55 * h)), (cx + int(0.1 * w), int(0.68 * h)), lc, -1)
            cv2.rectangle(
                img,
                (int(0.38 * w), int(0.72 * h)),
                (int(0.62 * w), int(0.82 * h)),
                (230, 230, 230),
                -1,
            )
        out.append(img.clip(0, 255).astype(np.uint8))
    return out


def person_face(rng: np.random.Generator, length: float, ppm: float):
    ppm = int(round(ppm))
    h = round(1.75 * ppm)
    w = max(2, round(length * ppm))
    img = np.empty((h, w, 3), np.float32)
    img[: int(0.13 * h)] = (200, 160, 130) if rng.random() < 0.7 else (110, 80, 60)
    img[: int(0.05 * h)] = _col(rng.uniform(10, 80) * np.ones(3))
    img[int(0.13 * h) : int(0.5 * h)] = rng.uniform(20, 230, 3)
    img[int(0.5 * h) :] = rng.uniform(20, 110, 3)
    return img.astype(np.uint8)


def leaves(rng: np.random.Generator, length: float, height: float, ppm: float):
    w, h = max(2, round(length * ppm)), max(2, round(height * ppm))
    g = noise(rng, h, w, 0.4 * ppm) * 0.6 + noise(rng, h, w, 1.5 * ppm) * 0.4
    base = np.array([55, 85, 40], np.float32) * rng.uniform(0.8, 1.2, 3)
    img = base * (0.45 + 1.0 * g)[..., None]
    return img.clip(0, 255).astype(np.uint8)


def sky(rng: np.random.Generator, kind: str, w: int = 2048, h: int = 256) -> np.ndarray:
    """Cylindrical sky panorama: columns = azimuth 0..360 deg, rows = elevation 90..0 deg."""
    t = np.linspace(0, 1, h, dtype=np.float32)[:, None, None]  # 0 zenith, 1 horizon
    if kind == "day":
        top, hor = np.array([70, 120, 200], np.float32), np.array([185, 205, 225], np.float32)
    elif kind == "dusk":
        top, hor = np.array([40, 50, 110], np.float32), np.array([250, 150, 90], np.float32)
    else:
        top, hor = np.array([4, 5, 12], np.float32), np.array([30, 24, 30], np.float32)
    t07 = np.array([v**0.7 for v in t.ravel().tolist()], np.float32)[:, None, None]
    img = top + (hor - top) * t07
    img = np.broadcast_to(img, (h, w, 3)).copy()
    if kind != "night":
        c = noise(rng, h, w, 48) * 0.6 + noise(rng, h, w, 12) * 0.4
        cov = rng.uniform(0.35, 0.65)
        cl = np.clip((c - cov) * 3.5, 0, 1)[..., None]
        ccol = np.array([245, 245, 248] if kind == "day" else [230, 140, 120], np.float32)
        img = img * (1 - cl) + ccol * cl * (0.85 + 0.15 * noise(rng, h, w, 6)[..., None])
    return img.clip(0, 255).astype(np.uint8)
