"""Each re-ranking type is described once, by its spec (``<kind>s/specs.py``): the class's
``default_conf``, the registry's type table and ``PARAMS`` come from it; listing and resolving
presets imports no torch; ``build_method`` gives device and seed only where the spec takes them."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

from vgrerank.errors import ConfigError
from vgrerank.local import registry


def _cls(kind: str, typ: str):
    module, cls = registry.KINDS[kind][1][typ].split(":")
    return getattr(importlib.import_module(f"vgrerank.local.{module}"), cls)


@pytest.mark.parametrize("kind", ["extractor", "matcher", "scorer"])
def test_default_conf_and_schema_come_from_the_spec(kind):
    specs = registry.SPECS[kind]
    assert set(registry.KINDS[kind][1]) == set(specs) == set(registry.PARAMS[kind])
    for typ, spec in specs.items():
        klass = _cls(kind, typ)
        assert klass.default_conf == spec.default_conf(), typ
        assert list(klass.default_conf) == list(spec.params), typ
        assert registry.PARAMS[kind][typ] == spec.schema(), typ
        assert klass.__module__.endswith(spec.cls.split(":")[0]), typ
        for key, p in spec.params.items():
            assert p.check(p.default) is None, f"{kind} {typ}.{key}: default fails its own check"


def test_default_conf_is_a_copy():
    spec = registry.SPECS["extractor"]["delg"]
    a = spec.default_conf()
    a["scales"].append(9.0)
    assert spec.default_conf()["scales"] != a["scales"]


def test_presets_resolve_without_torch():
    code = (
        "import sys; from vgrerank.local import registry as r\n"
        "for kind, (presets, _) in r.KINDS.items():\n"
        "    [r.get_preset(kind, n) for n in presets]\n"
        "r.parse_method('aliked+lightglue+magsac')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'kornia', 'cv2')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_build_method_device_and_seed_only_where_taken(monkeypatch):
    seen = {}

    def fake(kind):
        return lambda conf: seen.setdefault(kind, conf)

    for kind in ("extractor", "matcher", "scorer"):
        monkeypatch.setitem(registry._MAKE, kind, fake(kind))
    method = registry.parse_method("sift+mnn+magsac")
    built = registry.build_method(method, device="cpu", seed=3)
    assert set(built) == {"extractor", "matcher", "scorer"}
    assert "device" not in seen["extractor"]  # OpenCV SIFT takes no device
    assert seen["matcher"]["device"] == "cpu"
    assert seen["scorer"]["seed"] == 3 and "device" not in seen["scorer"]
    assert method["matcher"].get("device") is None  # the parsed method is left as it was
    seen.clear()
    only = registry.build_method(
        registry.parse_method("sift+mnn+pnv-ransac"), "cpu", None, ("scorer",)
    )
    assert set(only) == {"scorer"} and seen["scorer"]["device"] == "cpu"
    assert "seed" not in seen["scorer"]


def test_unknown_type_still_a_config_error():
    with pytest.raises(ConfigError, match="type 'nope'"):
        registry.get_preset("extractor", "x", {"x": {"type": "nope", "tag": "x"}})
