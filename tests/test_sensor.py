"""vgrerank.synth.sensor: night-camera effects on a rendered image."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from vgrerank.synth import sensor
from vgrerank.synth.conditions import PRESETS


def _scene(h: int = 96, w: int = 128) -> np.ndarray:
    """A dim street-like test image: smooth gradients, a few edges and one bright lamp."""
    y, x = np.mgrid[0:h, 0:w]
    img = np.zeros((h, w, 3), np.float64)
    img[...] = 40 + 30 * (x / w)[:, :, None]
    img[20:60, 20:50] = (90, 80, 70)  # a facade
    img[70:, :] = 25  # the road
    img[30:40, 80:110] = (150, 140, 120)  # a shop window
    img[8:12, 100:104] = 255  # the lamp
    return img.astype(np.uint8)


def _hf_energy(img: np.ndarray) -> float:
    g = img.astype(np.float64).mean(axis=2)
    return float(np.mean(np.diff(g, axis=0) ** 2) + np.mean(np.diff(g, axis=1) ** 2))


def _apply(img, rng_seed=0, transposed=False, **p):
    return sensor.apply(img, p, np.random.default_rng(rng_seed), transposed=transposed)


def test_effects_off_is_identity_and_draws_nothing():
    img = _scene()
    rng = np.random.default_rng(3)
    state = rng.bit_generator.state
    out = sensor.apply(img, {"condition": "night", **dict.fromkeys(sensor.KEYS, 0.0)}, rng)
    assert out is img
    assert rng.bit_generator.state == state
    # modifiers alone (grain, chroma, rows) switch nothing on
    out = _apply(img, noise_grain=1.0, chroma_noise=0.5, row_noise=0.1)
    assert np.array_equal(out, img)


def test_day_and_dusk_presets_are_off():
    for kind in ("day", "dusk"):
        p = sensor.params(PRESETS[kind])
        assert not sensor.active(p), kind
    assert sensor.active(sensor.params({k: 1.0 for k in sensor.KEYS}))


def test_deterministic_with_seed():
    img = _scene()
    p = {
        "light_pools": 0.5,
        "motion_blur_px": 2.5,
        "glare": 0.3,
        "iso_noise": 0.3,
        "noise_grain": 1.2,
        "chroma_noise": 0.3,
        "row_noise": 0.05,
        "equalize": 1.0,
        "jpeg_quality": 60,
    }
    a = _apply(img, 5, **p)
    b = _apply(img, 5, **p)
    c = _apply(img, 6, **p)
    assert a.dtype == np.uint8 and a.shape == img.shape
    assert hashlib.sha256(a.tobytes()).digest() == hashlib.sha256(b.tobytes()).digest()
    assert not np.array_equal(a, c)


def test_transposed_matches_upright_for_isotropic_effects():
    img = _scene()
    p = {"glare": 0.5, "equalize": 1.0, "grey": 1.0}
    up = _apply(img, **p)
    tr = _apply(np.ascontiguousarray(img.transpose(1, 0, 2)), transposed=True, **p)
    assert tr.shape == (img.shape[1], img.shape[0], 3)
    assert np.array_equal(tr.transpose(1, 0, 2), up)


def test_noise_raises_high_frequency_energy_and_grain_correlates_it():
    img = _scene()
    white = _apply(img, iso_noise=0.4)
    assert _hf_energy(white) > 2 * _hf_energy(img)
    grainy = _apply(img, iso_noise=0.4, noise_grain=1.5)
    assert _hf_energy(grainy) > _hf_energy(img)
    # same noise power per pixel, but correlated: less pixel-to-pixel difference
    flat = np.full((64, 64, 3), 60, np.uint8)
    w, g = _apply(flat, iso_noise=0.4), _apply(flat, iso_noise=0.4, noise_grain=1.5)
    assert abs(w.astype(float).std() - g.astype(float).std()) < 0.35 * w.astype(float).std()
    assert _hf_energy(g) < 0.5 * _hf_energy(w)
    # noise is stronger in the dark in relative terms and brighter areas are noisier in absolute
    # linear terms: the mean stays close
    assert abs(float(w.mean()) - 60) < 6


def test_row_noise_makes_rows_differ():
    flat = np.full((64, 64, 3), 80, np.uint8)
    out = _apply(flat, iso_noise=0.3, noise_grain=1.0, row_noise=2.0).astype(np.float64)
    rows = out.mean(axis=(1, 2))
    cols = out.mean(axis=(0, 2))
    assert rows.std() > 2 * cols.std()


def test_glare_brightens_around_the_lamp_only():
    img = _scene()
    out = _apply(img, glare=0.5).astype(np.int64)
    ref = img.astype(np.int64)
    near = (slice(2, 18), slice(94, 110))
    far = (slice(80, 96), slice(0, 30))
    assert (out[near] - ref[near]).mean() > 5
    assert np.abs(out[far] - ref[far]).max() <= 1
    assert (out >= ref - 1).all()  # glare only adds light


def test_motion_blur_smooths_edges_and_keeps_flat_areas():
    img = _scene()
    out = _apply(img, motion_blur_px=6.0)
    assert _hf_energy(out) < 0.8 * _hf_energy(img)
    assert np.abs(out[45:55, 30:40].astype(int) - img[45:55, 30:40].astype(int)).max() <= 1


def test_light_pools_change_local_brightness():
    img = np.full((96, 128, 3), 100, np.uint8)
    out = _apply(img, light_pools=1.0).astype(np.float64)
    assert out.std() > 10  # uniform light becomes pools of light and dark


def test_grey_and_equalize():
    img = _scene()
    grey = _apply(img, grey=1.0)
    assert np.array_equal(grey[..., 0], grey[..., 1]) and np.array_equal(grey[..., 0], grey[..., 2])
    eq = _apply(img, grey=1.0, equalize=1.0)
    assert eq.astype(float).std() > 1.3 * grey.astype(float).std()
    assert eq.max() >= 250 and eq.min() <= 5


def test_jpeg_is_lossy_and_stronger_at_low_quality():
    rng = np.random.default_rng(0)
    img = np.clip(_scene().astype(int) + rng.integers(-20, 21, (96, 128, 1)), 0, 255)
    img = img.astype(np.uint8)
    e90 = np.abs(_apply(img, jpeg_quality=90).astype(int) - img).mean()
    e30 = np.abs(_apply(img, jpeg_quality=30).astype(int) - img).mean()
    assert 0 < e90 < e30


@pytest.mark.parametrize("kind", ["day", "night"])
def test_render_day_unchanged_night_changed(kind):
    from vgrerank.synth import Camera, make_city, render
    from vgrerank.synth import conditions as cnd

    city = make_city({"blocks_x": 1, "blocks_y": 1, "width": 160, "height": 120}, seed=0)
    cam = Camera(0.0, 0.0, 2.5, 30.0, 0.0, 160, 120, 90.0)
    cond = {"condition": kind, "ambient": 0.35 if kind == "day" else 0.03}
    a = render(city, cam, cond, np.random.default_rng(1))
    off = {**cond, **dict.fromkeys(sensor.KEYS, 0.0)}
    b = render(city, cam, off, np.random.default_rng(1))
    if kind == "day":
        assert np.array_equal(a, b)
    else:
        assert not np.array_equal(a, b)
        # grey + equalised (the Gardens Point look) is an option, not the preset
        g = render(city, cam, {**cond, "grey": 1.0}, np.random.default_rng(1))
        assert np.array_equal(g[..., 0], g[..., 1]) and not np.array_equal(a[..., 0], a[..., 1])
    assert cnd.PRESETS["day"]["iso_noise"] == 0
