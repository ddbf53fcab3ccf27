"""The builder's stages as data (``vgrerank.builder.stages``): every stage has its rule, script
and truth scorer; the paths, the funnel and the truth rows follow the list; defaults come from
the config schema only; one indoor keep rule; one loopback-server helper."""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from workflow_run import REPO, RULES

from vgrerank.builder import choropleth, dedup, filters, geotag, stages, trainset, truth
from vgrerank.builder.stages import SOURCE, STAGES
from vgrerank.config import SCHEMA_PATH, schema_default
from vgrerank.errors import DataError

BUILDER_SMK = RULES / "builder.smk"
BUILDER_SRC = REPO / "src" / "vgrerank" / "builder"


def _rules() -> dict[str, str]:
    """Rule name -> its block of rules/builder.smk."""
    text = BUILDER_SMK.read_text()
    heads = list(re.finditer(r"^rule (\w+):$", text, re.M))
    ends = [m.start() for m in heads[1:]] + [len(text)]
    return {m.group(1): text[m.start() : e] for m, e in zip(heads, ends, strict=True)}


def test_every_stage_has_its_rule_and_script():
    rules = _rules()
    for st in (SOURCE, *STAGES):
        block = rules.get(st.rule)
        assert block is not None, f"rules/builder.smk has no rule {st.rule}"
        assert f'stage_table("{st.name}")' in block.split("log:")[0].split("output:")[1], st
        assert f'stage_log("{st.name}")' in block and f'stage_benchmark("{st.name}")' in block
        # scripts are named relative to the rule file (workflow/rules/ -> workflow/scripts/)
        script = st.script.removeprefix("workflow/")
        assert f'"../{script}"' in block, f"{st.rule}: script is not {st.script}"
        assert (REPO / st.script).is_file(), st.script
        inputs = block.split("output:")[0]
        if st is STAGES[0]:  # the first filter reads the downloaded photos
            assert 'photos=stage_table("fetch")' in inputs, st.rule
        elif st is not SOURCE:  # a filter reads the kept photos of the stage before it
            assert f'previous=previous_table("{st.name}")' in inputs, st.rule
        if st.conf and st.name != "corrections":  # the corrections' key names its CSV
            # its params: the stage's conf, or keys of it
            reads = (f'stage_conf("{st.name}")', f'build_conf(wc)["{st.conf}"]')
            assert any(r in block for r in reads), st.rule
    # the report, the truth and the query set read what the list says, not literal paths
    for rule in ("builder_report", "builder_truth"):
        assert "stages=stage_tables()" in rules[rule]
    assert "parquet" not in BUILDER_SMK.read_text().split("rule builder_collection:")[1]


def test_stage_paths_and_order():
    assert [s.name for s in STAGES] == ["indoor", "daynight", "dedup", "corrections", "geotag"]
    assert stages.previous("indoor") is SOURCE and stages.previous("geotag").name == "corrections"
    assert stages.stage_table("daynight", "ds", "sp") == "results/ds/builder/sp/daynight.parquet"
    assert stages.previous_table("geotag", "ds", "sp") == "results/ds/builder/sp/corrected.parquet"
    assert stages.stage_table("fetch") == "results/{dataset}/builder/{split}/photos.parquet"
    assert stages.stage_log("corrections", "d", "s") == "logs/builder/d/s/corrections.log"
    assert stages.stage_tables("d", "s")[-1] == "results/d/builder/s/geotag.parquet"
    with pytest.raises(KeyError, match="no builder stage 'nope'"):
        stages.stage("nope")
    with pytest.raises(KeyError, match="reads no earlier stage"):
        stages.previous("fetch")


def test_trained_stages_are_the_training_tasks():
    assert sorted(stages.model_stages()) == sorted(trainset.TASKS)
    assert 'task="|".join(model_stages())' in _rules()["builder_train"]


def test_truth_scores_every_stage_in_list_order():
    assert list(truth.SCORERS) == [s.name for s in STAGES]
    ids = ["a", "b", "c", "d"]
    t = pd.DataFrame(
        {
            "true_lat": [35.68] * 4,
            "true_lon": [139.68] * 4,
            "condition": ["night", "day", "night", "night"],
            "indoor_level": [0, 8, 2, 7],
            "panoramic": [False, False, True, False],
            "burst": [-1, 1, 1, -1],
        },
        index=pd.Index(ids),
    )
    table = pd.DataFrame({"photo_id": ids, "keep": [True, True, False, False]})
    tables = {
        "geotag": table,  # given first: the rows still follow STAGES
        "dedup": table.assign(cluster=[0, 1, 1, 2]),
        "indoor": table,
        "daynight": table,
        "corrections": table,
    }
    scores = truth.score_stages(t, tables, db_utm=np.array([[380000.0, 3950000.0]]), zone=(54, "S"))
    assert scores["stage"].tolist() == ["indoor", "daynight", "dedup", "geotag"]
    row = scores.set_index("stage").loc["indoor"]
    # truly outdoor: a (level 0) only; c is panoramic, b and d indoor
    assert (row.positives, row.tp, row.fp) == (1, 1, 1)
    no_db = truth.score_stages(t, tables)  # no database: the geotag stage is not scored
    assert "geotag" not in no_db["stage"].tolist()
    with pytest.raises(DataError, match="no builder stage"):
        truth.score_stages(t, {"corrected": table})


def test_schema_default_reads_the_schema():
    raw = yaml.safe_load(SCHEMA_PATH.read_text())
    build = raw["$defs"]["build"]["properties"]
    assert (
        schema_default("datasets.*.build.*.daynight.night_threshold")
        == (build["daynight"]["properties"]["night_threshold"]["default"])
    )
    assert (
        stages.build_default("indoor.keep_levels")
        == build["indoor"]["properties"]["keep_levels"]["default"]
    )
    assert (
        schema_default("datasets.*.threshold_m")
        == (
            raw["properties"]["datasets"]["additionalProperties"]["properties"]["threshold_m"][
                "default"
            ]
        )
    )
    assert schema_default("seed") == raw["properties"]["seed"]["default"]
    keep = stages.build_default("daynight.keep")
    keep.append("day")  # a copy: the next caller still gets the schema's value
    assert (
        stages.build_default("daynight.keep") == build["daynight"]["properties"]["keep"]["default"]
    )
    with pytest.raises(KeyError, match="not a key"):
        schema_default("datasets.*.build.*.daynight.no_such_key")
    with pytest.raises(KeyError, match="no default"):
        schema_default("datasets.*.format")


def test_library_defaults_are_the_schema_defaults():
    def default(fn, name):
        return inspect.signature(fn).parameters[name].default

    b = stages.build_default
    assert default(filters.indoor_table, "keep_levels") == b("indoor.keep_levels")
    assert default(filters.indoor_keep, "drop_panoramic") == b("indoor.drop_panoramic")
    assert default(filters.daynight_table, "night_threshold") == b("daynight.night_threshold")
    assert default(filters.daynight_table, "threshold") == b("daynight.threshold")
    assert list(default(filters.daynight_table, "keep")) == b("daynight.keep")
    assert default(geotag.geotag_table, "threshold_m") == schema_default("datasets.*.threshold_m")
    assert default(truth.score_final, "threshold_m") == schema_default("datasets.*.threshold_m")
    assert default(choropleth.choropleth, "cell_m") == b("grid_m")
    d = dedup.DedupConfig()
    assert (d.max_distance_m, d.max_hash_distance, d.min_similarity) == (
        b("dedup.max_distance_m"),
        b("dedup.hash_distance"),
        b("dedup.descriptor_similarity"),
    )


# code names of build-conf keys where they differ from the schema's
ALIASES = {"max_hash_distance": "hash_distance", "min_similarity": "descriptor_similarity"}
ALIASES |= {"cell_m": "grid_m", "keep_conditions": "keep"}


def _schema_keys() -> set[str]:
    raw = yaml.safe_load(SCHEMA_PATH.read_text())
    out = {"threshold_m"}
    todo = [raw["$defs"]["build"]]
    while todo:
        node = todo.pop()
        for k, sub in (node.get("properties") or {}).items():
            if "default" in sub and not isinstance(sub.get("default"), dict):
                out.add(k)
            todo.append(sub)
    return out


def _literal_defaults(path: Path, keys: set[str]) -> list[str]:
    """Parameters and dataclass fields named like a schema key with a literal (non-None)
    default."""
    tree = ast.parse(path.read_text())
    found = []

    def literal(node) -> bool:
        return (
            isinstance(node, ast.Constant)
            and node.value is not None
            or (isinstance(node, ast.Tuple | ast.List) and all(literal(e) for e in node.elts))
        )

    for node in ast.walk(tree):
        pairs = []
        if isinstance(node, ast.FunctionDef):
            a = node.args
            pos = a.posonlyargs + a.args
            pairs += list(zip(pos[len(pos) - len(a.defaults) :], a.defaults, strict=True))
            pairs += [(k, d) for k, d in zip(a.kwonlyargs, a.kw_defaults, strict=True) if d]
            pairs = [(k.arg, d) for k, d in pairs]
        elif isinstance(node, ast.ClassDef):
            pairs = [
                (s.target.id, s.value)
                for s in node.body
                if isinstance(s, ast.AnnAssign) and isinstance(s.target, ast.Name) and s.value
            ]
        for name, d in pairs:
            if ALIASES.get(name, name) in keys and literal(d):
                found.append(f"{path.name}:{node.lineno} {name}={ast.unparse(d)}")
    return found


def test_no_literal_copy_of_a_schema_default():
    keys = _schema_keys()
    assert {"night_threshold", "keep_levels", "threshold_m", "hash_distance"} <= keys
    modules = sorted(BUILDER_SRC.glob("*.py"))  # the stage modules (not the subpackages)
    found = [f for p in modules for f in _literal_defaults(p, keys)]
    assert not found, f"read these defaults from the schema (stages.build_default): {found}"


def test_the_literal_check_can_fail(tmp_path):
    f = tmp_path / "m.py"
    f.write_text(
        "from dataclasses import dataclass\n"
        "def f(x, night_threshold=0.5, *, keep=('night',), cell_m: float = 100.0):\n    pass\n"
        "@dataclass\nclass C:\n    max_hash_distance: int = 10\n    other: int = 3\n"
    )
    found = _literal_defaults(f, _schema_keys())
    assert [x.split()[1] for x in found] == [
        "night_threshold=0.5",
        "keep=('night',)",
        "cell_m=100.0",
        "max_hash_distance=10",
    ]


def test_one_indoor_keep_rule():
    # the stage (predicted classes) and the truth (levels + panoramic flag) use the same rule
    levels = [str(i) for i in range(10)]
    t = pd.DataFrame({"indoor_level": range(10), "panoramic": [False] * 10})
    for keep_levels in (1, 6, 10):
        for drop in (True, False):
            pred = filters.indoor_keep(levels, keep_levels, drop)
            true = truth.truly_outdoor(t, keep_levels, drop).to_numpy()
            assert pred.tolist() == true.tolist() == [i < keep_levels for i in range(10)]
    assert filters.indoor_keep(["panoramic"], 6, True).tolist() == [False]
    assert filters.indoor_keep(["panoramic"], 6, False).tolist() == [True]
    pano = pd.DataFrame({"indoor_level": [0, 9], "panoramic": [True, True]})
    assert truth.truly_outdoor(pano, 6, True).tolist() == [False, False]
    assert truth.truly_outdoor(pano, 6, False).tolist() == [True, False]
    # no other module compares indoor levels with keep_levels itself
    for p in sorted(BUILDER_SRC.rglob("*.py")):
        src = p.read_text()
        if p.name != "filters.py":
            assert not re.search(r"<\s*keep_levels|keep_levels\s*>", src), p


def test_one_loopback_server_helper():
    # only loopback.py runs a server loop or opens sockets; the servers it runs import it
    src = REPO / "src" / "vgrerank"
    for p in sorted(src.rglob("*.py")):
        text = p.read_text()
        if p.name == "loopback.py":
            assert "serve_forever" in text
            continue
        rel = p.relative_to(src).as_posix()
        assert "serve_forever" not in text and "socket.socket(" not in text, rel
        if re.search(r"class \w+\((Threading)?HTTPServer\)", text):
            assert re.search(r"from \.\.loopback import .*LoopbackServer", text), rel
