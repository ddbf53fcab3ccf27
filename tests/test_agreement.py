"""The README check that ends ``make demo`` (vgrerank.report.agreement)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from vgrerank.errors import DataError
from vgrerank.report.agreement import compare, main, readme_cells

README = """# x

<!-- recall-table: city -->
| Method | day (40 q, ceiling R@20 97.5) R@1 | R@5 | night (80 q) R@1 |
|---|---|---|---|
| retrieval | 80.0 [67.5, 92.5] | 87.5 [77.5, 97.5] | 13.8 [6.2, 21.2] |
| sift+mnn | 97.5 [92.5, 100.0] | 97.5 [92.5, 100.0] | 23.8 [15.0, 33.8] |

after
"""


def _csv(path: Path, rows: list[tuple]) -> Path:
    cols = ["dataset", "split", "method", "R@1", "R@5"]
    pd.DataFrame(rows, columns=cols).to_csv(path, index=False)
    return path


def test_cells_compare_same_inside_outside_missing(tmp_path, capsys):
    (tmp_path / "README.md").write_text(README)
    dataset, cells = readme_cells(tmp_path / "README.md")
    assert dataset == "city" and len(cells) == 6
    assert [(c.split, c.n) for c in cells[:3]] == [("day", 1), ("day", 5), ("night", 1)]
    rows = [
        ("city", "day", "retrieval", 0.8, 0.875),
        ("city", "night", "retrieval", 0.15, 0.5),
        ("city", "day", "sift+mnn", 0.9, 0.975),  # R@1 90.0: below 92.5
        ("other", "night", "sift+mnn", 0.238, 0.5),  # another dataset: not this table's
    ]
    csv = _csv(tmp_path / "recall.csv", rows)
    got = [s for _, _, s in compare(tmp_path / "README.md", csv)]
    assert got == ["same", "same", "inside", "OUTSIDE", "same", "MISSING"]
    assert main([str(tmp_path / "README.md"), str(csv)]) == 1
    out = capsys.readouterr().out
    assert "OUTSIDE  day      R@1   sift+mnn: 90.0 (README 97.5 [92.5, 100.0])" in out
    assert out.strip().endswith("2 outside or missing: your run DISAGREES")
    good = _csv(tmp_path / "good.csv", [r for r in rows if r[2] == "retrieval"])
    (tmp_path / "R2.md").write_text("\n".join(README.splitlines()[:6]) + "\n")
    assert main([str(tmp_path / "R2.md"), str(good)]) == 0


def test_errors_name_the_file(tmp_path):
    bad = tmp_path / "README.md"
    bad.write_text("# no table\n")
    with pytest.raises(DataError, match=r"README.md: no '<!-- recall-table"):
        readme_cells(bad)
    bad.write_text(README.replace("13.8 [6.2, 21.2]", "13.8"))
    with pytest.raises(DataError, match=r"README.md: cell '13.8' of 'retrieval'"):
        readme_cells(bad)
    assert main([str(bad), str(tmp_path / "none.csv")]) == 2


def test_the_project_readme_has_a_checkable_table():
    readme = Path(__file__).resolve().parents[1] / "README.md"
    dataset, cells = readme_cells(readme)
    assert dataset == "synthcity"
    assert {"retrieval", "chance"} <= {c.method for c in cells}
    assert {c.split for c in cells} == {"day", "night"}
    assert all(c.lo <= c.value <= c.hi for c in cells)
