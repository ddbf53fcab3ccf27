import copy

import pytest

from vgrerank.config import load_config, merge_config, validate_config
from vgrerank.errors import ConfigError
from vgrerank.local.registry import get_preset, parse_method

GOOD = {
    "datasets": {
        "city": {"format": "vg", "root": "resources/city", "splits": ["night"], "synth": {}}
    },
    "global": ["vlad-rootsift-64"],
    "methods": ["sift+mnn+magsac"],
}


def test_defaults_are_filled():
    conf = validate_config(copy.deepcopy(GOOD))
    assert conf["retrieval"]["k"] == 100 and conf["seed"] == 0
    assert conf["evaluation"]["ns"] == [1, 5, 10, 20, 100]


@pytest.mark.parametrize(
    "mutate, key",
    [
        (lambda c: c["retrieval"].update(k=0), "retrieval.k"),
        (lambda c: c.update(methods=["sift+mnn"]), "methods.0"),
        (lambda c: c.update(methods=["sift+mnn+nosuchscorer"]), "methods[0]"),
        (lambda c: c.update(global_=1) or c.update({"bogus": 1}), "bogus"),
        (lambda c: c["datasets"]["city"].update(format="zip"), "datasets.city.format"),
        (lambda c: c["datasets"]["city"].pop("splits"), "datasets.city.splits"),
        (lambda c: c.update(global_=None) or c.update({"global": ["nope"]}), "global[0]"),
    ],
)
def test_invalid_config_names_the_key(mutate, key):
    conf = copy.deepcopy(GOOD)
    conf["retrieval"] = {}
    mutate(conf)
    conf.pop("global_", None)
    with pytest.raises(ConfigError) as err:
        validate_config(conf)
    assert key in str(err.value)


def test_load_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("datasets: [unclosed")
    with pytest.raises(ConfigError, match="bad.yaml: not valid YAML"):
        load_config(bad)


def test_method_tags_encode_parameters():
    m = parse_method("sift+mnn-ratio+magsac")
    assert m["tag"] == "sift-n4096+mnn-r0.9+magsac-3px"
    user = {"scorers": {"magsac5": {"base": "magsac", "threshold": 5.0}}}
    m2 = parse_method("sift+mnn+magsac5", user)
    assert m2["scorer"]["threshold"] == 5.0 and m2["scorer"]["method"] == "magsac"
    assert m2["tag"].startswith("sift-n4096+mnn+magsac5-")
    assert (
        parse_method(
            "sift+mnn+magsac5", {"scorers": {"magsac5": {"base": "magsac", "threshold": 6.0}}}
        )["tag"]
        != m2["tag"]
    )
    with pytest.raises(ConfigError, match="unknown extractor preset 'surf'"):
        get_preset("extractor", "surf")
    assert parse_method("aliked+lightglue+magsac")["matcher"]["features"] == "aliked"


# ------------------------------------------------------------------ preset parameter schemas
@pytest.mark.parametrize(
    "presets, where, key",
    [
        # misspelled keys used to be ignored: magsac5 ran at 3 px, sift2k extracted 4096
        ({"scorers": {"magsac5": {"base": "magsac", "threshhold": 5.0}}}, "magsac5", "threshhold"),
        (
            {"extractors": {"sift2k": {"base": "sift", "max_keypoint": 2000}}},
            "sift2k",
            "max_keypoint",
        ),
        ({"matchers": {"mnn9": {"base": "mnn", "ration": 0.9}}}, "mnn9", "ration"),
        ({"global": {"v32": {"base": "vlad-rootsift-64", "kk": 32}}}, "v32", "kk"),
    ],
)
def test_unknown_preset_parameter_is_named(presets, where, key):
    conf = copy.deepcopy(GOOD)
    conf["presets"] = presets
    with pytest.raises(ConfigError) as err:
        validate_config(conf)
    msg = str(err.value)
    assert where in msg and repr(key) in msg and "valid:" in msg
    kind = next(iter(presets))
    assert f"presets.{kind}.{where}" in msg


@pytest.mark.parametrize(
    "presets, key",
    [
        ({"scorers": {"m": {"base": "magsac", "threshold": -5.0}}}, "m.threshold"),
        ({"scorers": {"m": {"base": "magsac", "confidence": 1.5}}}, "m.confidence"),
        ({"scorers": {"m": {"base": "magsac", "method": "rho"}}}, "m.method"),
        ({"scorers": {"m": {"base": "count", "normalize": "yes"}}}, "m.normalize"),
        ({"extractors": {"e": {"base": "sift", "max_keypoints": 0}}}, "e.max_keypoints"),
        ({"extractors": {"e": {"base": "orb", "max_keypoints": 2.5}}}, "e.max_keypoints"),
        ({"extractors": {"e": {"base": "aliked", "model": "aliked-x"}}}, "e.model"),
        ({"matchers": {"r": {"base": "mnn", "ratio": 1.5}}}, "r.ratio"),
        ({"global": {"g": {"base": "vlad-rootsift-64", "k": 0}}}, "g.k"),
        ({"global": {"g": {"base": "cosplace-r18-512", "backbone": "vgg"}}}, "g.backbone"),
    ],
)
def test_invalid_preset_value_is_named(presets, key):
    conf = copy.deepcopy(GOOD)
    conf["presets"] = presets
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        validate_config(conf)


def test_valid_user_presets_still_resolve():
    user = {
        "scorers": {"magsac5": {"base": "magsac", "threshold": 5.0, "max_iters": 2000}},
        "extractors": {"sift2k": {"base": "sift", "max_keypoints": 2000, "resize_max": None}},
        "matchers": {"mnn8": {"base": "mnn", "ratio": 0.8}},
    }
    m = parse_method("sift2k+mnn8+magsac5", user)
    assert m["extractor"]["max_keypoints"] == 2000 and m["scorer"]["threshold"] == 5.0
    conf = copy.deepcopy(GOOD)
    conf["presets"] = user
    validate_config(conf)


def test_preset_schemas_cover_every_class_parameter():
    """The schemas in the registries list every key of each class's ``default_conf`` (a new
    parameter must be added there too, else configs using it would be rejected)."""
    import importlib

    from vgrerank.globaldesc import registry as greg
    from vgrerank.local import registry as lreg
    from vgrerank.local.scorers.geometric import METHODS

    pytest.importorskip("torch")
    for kind, (builtins, types) in lreg.KINDS.items():
        for typ, target in types.items():
            module, cls = target.split(":")
            klass = getattr(importlib.import_module(f"vgrerank.local.{module}"), cls)
            missing = set(klass.default_conf) - set(lreg.PARAMS[kind][typ])
            assert not missing, (kind, typ, missing)
        for name in builtins:  # every built-in preset passes its own schema
            get_preset(kind, name)
    for typ, target in greg.GLOBAL_TYPES.items():
        module, cls = target.split(":")
        klass = getattr(importlib.import_module(f"vgrerank.globaldesc.{module}"), cls)
        assert not set(klass.default_conf) - set(greg.PARAMS[typ]), typ
    assert set(lreg.GEOMETRIC_METHODS) == set(METHODS)


def test_merge_config_merges_like_snakemake():
    base = {"a": {"x": 1, "y": [1, 2]}, "b": 1}
    over = {"a": {"y": [3], "z": {"q": 1}}, "c": 2}
    merged = merge_config(base, over)
    assert merged == {"a": {"x": 1, "y": [3], "z": {"q": 1}}, "b": 1, "c": 2}
    assert base == {"a": {"x": 1, "y": [1, 2]}, "b": 1}  # inputs unchanged
    assert merge_config({"a": {"x": 1}}, {"a": 5}) == {"a": 5}
