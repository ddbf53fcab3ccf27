"""The table of dataset formats (issue 16 part 4): ``vgrerank.datasets.formats`` is the one file
that compares a dataset entry's ``format`` with a format name."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from vgrerank.config import SCHEMA_PATH
from vgrerank.datasets import FORMATS, database_view, get_format
from vgrerank.errors import ConfigError

SRC = Path(__file__).resolve().parents[1] / "src" / "vgrerank"
TABLE = SRC / "datasets" / "formats.py"
_NAME = r"""['"](?:vg|manifest|frames)['"]"""
# ``x == "vg"``, ``"vg" != x``, ``x in ("vg", "frames")``, ``case "vg":``
FORMAT_COMPARISON = re.compile(
    rf"(?:==|!=)\s*{_NAME}|{_NAME}\s*(?:==|!=)|\bin\s*[(\[{{][^)\]}}]*{_NAME}|\bcase\s+{_NAME}"
)


def _comparisons(path: Path) -> list[str]:
    return [
        f"{path.name}:{i}: {line.strip()}"
        for i, line in enumerate(path.read_text().splitlines(), start=1)
        if FORMAT_COMPARISON.search(line)
    ]


def test_only_the_table_compares_format_names():
    found = [hit for p in sorted(SRC.rglob("*.py")) if p != TABLE for hit in _comparisons(p)]
    assert not found, f"look the format up in vgrerank.datasets.formats instead: {found}"


@pytest.mark.parametrize(
    "line",
    [
        'if fmt == "vg":',
        "if ds['format'] != 'vg':",
        'if "manifest" == fmt:',
        'if ds["format"] in ("vg", "frames") and "root" not in ds:',
        '    case "frames":',
    ],
)
def test_the_check_can_fail(tmp_path, line):
    f = tmp_path / "mod.py"
    f.write_text(f"x = 1\n{line}\n")
    assert _comparisons(f) == [f"mod.py:2: {line.strip()}"]


def test_the_check_ignores_keys_and_literals(tmp_path):
    f = tmp_path / "mod.py"
    f.write_text('d = {"format": "vg"}\nif "manifest" not in ds:\n    p = conf["manifest"]\n')
    assert _comparisons(f) == []


def test_the_table_has_the_formats_of_the_schema():
    schema = yaml.safe_load(SCHEMA_PATH.read_text())
    entry = schema["properties"]["datasets"]["additionalProperties"]["properties"]
    assert entry["format"]["enum"] == list(FORMATS)
    for fmt in FORMATS.values():  # every key the table names is a config key
        assert set(fmt.required) | set(fmt.options) | {fmt.source_key} <= set(entry)


def test_get_format_default_and_unknown():
    assert get_format({}).name == "vg"
    assert get_format({"format": "frames"}) is FORMATS["frames"]
    with pytest.raises(ConfigError) as exc:
        get_format({"format": "csv"}, "mine")
    assert str(exc.value) == "datasets.mine.format: 'csv' is not one of vg, manifest, frames"
    with pytest.raises(ConfigError, match=r"^format: 'csv' is not one of vg, manifest, frames$"):
        get_format({"format": "csv"})


def test_database_view():
    vg = {"format": "vg", "root": "r", "splits": ["night"], "threshold_m": 25}
    assert database_view(vg) == {"format": "vg", "root": "r", "splits": [], "threshold_m": 25}
    assert vg["splits"] == ["night"]  # the entry itself is left alone
    assert database_view({"root": "r"}) == {"root": "r", "splits": []}  # default format vg
    for entry in ({"format": "manifest", "manifest": "m.csv"}, {"format": "frames", "root": "r"}):
        view = database_view(entry)
        assert view == entry and view is not entry
