import copy

import pytest

from vgrerank.config import load_config, validate_config
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
