"""vgrerank.plan without Snakemake: runs, targets, path templates, per-job dataset views."""

import copy
import re

import pytest
import yaml
from workflow_run import REPO, RULES

from vgrerank.config import merge_config, validate_config
from vgrerank.errors import ConfigError
from vgrerank.local.registry import get_preset
from vgrerank.plan import PATHS, Plan, fill, learned, path


def plan_of(config: dict) -> Plan:
    return Plan(validate_config(copy.deepcopy(config)))


def test_fill_keeps_unfilled_fields_as_wildcards():
    assert fill("retrieval", k=100) == "results/{dataset}/{split}/retrieval/{gtag}-K100.h5"
    assert path("local_queries", dataset="c", etag="e", split="night") == (
        "results/c/local/e/queries_night.h5"
    )
    with pytest.raises(KeyError, match="no field method"):
        fill("retrieval", method="x")
    with pytest.raises(KeyError, match="no value for gtag"):
        path("global_database", dataset="c")


def test_every_template_uses_the_workflows_wildcards_only():
    smk = (RULES / "common.smk").read_text()
    constrained = set(re.findall(r"^    (\w+)=r\"", smk, flags=re.M))
    # rule-local wildcards (constrained in their rules)
    local = {"digest", "task", "key", "name"}
    for name, template in PATHS.items():
        fields = set(re.findall(r"\{(\w+)\}", template))
        assert fields <= constrained | local, (name, fields - constrained - local)


def test_rules_name_no_result_path_of_their_own():
    """Artifact paths come from vgrerank.plan.PATHS: a rule file that spells one out would
    drift from the targets the plan lists (logs and benchmarks are per rule, not artifacts)."""
    for smk in sorted(RULES.glob("*.smk")):
        for i, line in enumerate(smk.read_text().splitlines(), 1):
            assert not re.search(r"[\"'](results|resources)/", line), f"{smk.name}:{i}: {line}"


def test_runs_and_targets_of_the_test_config(tiny_config):
    plan = plan_of(tiny_config)
    assert (plan.k, plan.rk) == (8, 5)
    assert plan.splits("tinycity") == ["day", "night"]
    assert len(plan.runs) == 2 * 1 * 2  # splits x descriptors x methods
    run = plan.runs[0]
    assert run.parquet == (f"results/tinycity/day/rerank/{run.gdesc}-K5/{run.method}.parquet")
    assert run.db_features.endswith(f"/database/day/{run.gdesc}-K5.h5")
    targets = plan.targets()
    assert "results/tables/recall.csv" in targets and "results/plots/recall_vs_k.png" in targets
    assert [f for f in targets if f.startswith("results/figures/")] == [
        f"results/figures/tinycity/{s}/{run.gdesc}-K5" for s in ("day", "night")
    ]
    # one recall, one per-query and one sweep file per run, plus the retrieval rows
    assert len(plan.recall_files()) == len(plan.query_files()) == 2 + len(plan.runs)
    assert len(plan.sweep_files()) == len(plan.runs)
    assert plan.severity_levels() == [["tinycity", "night", 0.05]]
    tiny_config["report"]["figures"] = False
    assert plan_of(tiny_config).figures() == []


def test_database_view_is_blind_to_splits_and_methods(tiny_config):
    """Adding a split or a method never changes the params of database-level jobs, and adding a
    split never changes another split's view."""
    plan = plan_of(tiny_config)
    more = copy.deepcopy(tiny_config)
    ds = more["datasets"]["tinycity"]
    ds["splits"].append("dusk")
    ds["synth"]["queries"]["dusk"] = {"condition": "dusk", "n": 3}
    more["methods"].append("sift+mnn+count")
    plan2 = plan_of(more)
    assert plan2.db_entry("tinycity") == plan.db_entry("tinycity")
    assert plan.db_entry("tinycity")["splits"] == []
    assert "queries" not in plan.db_entry("tinycity")["synth"]
    assert plan2.split_entry("tinycity", "night") == plan.split_entry("tinycity", "night")
    assert plan2.split_entry("tinycity", "dusk")["splits"] == ["dusk"]
    assert plan2.synth_split_conf("tinycity", "dusk")["queries"] == {
        "dusk": {"condition": "dusk", "n": 3}
    }
    assert len(plan2.runs) == 3 * 3
    # the completion files: generated datasets wait for their render
    assert plan.split_ready("tinycity", "night") == [
        "resources/tinycity/database.json",
        "resources/tinycity/queries_night.json",
    ]


def test_key_order_does_not_change_a_view(tiny_config):
    plan = plan_of(tiny_config)
    shuffled = copy.deepcopy(tiny_config)
    synth = shuffled["datasets"]["tinycity"]["synth"]
    shuffled["datasets"]["tinycity"]["synth"] = dict(reversed(list(synth.items())))
    view = plan_of(shuffled).db_entry("tinycity")
    assert view == plan.db_entry("tinycity")
    assert list(view["synth"]) == sorted(view["synth"])


def test_run_datasets_selects_what_runs(tiny_config):
    two = copy.deepcopy(tiny_config)
    two["datasets"]["other"] = copy.deepcopy(two["datasets"]["tinycity"])
    assert set(plan_of(two).datasets) == {"tinycity"}
    two.pop("run_datasets")
    assert set(plan_of(two).datasets) == {"tinycity", "other"}
    assert len(plan_of(two).runs) == 2 * len(plan_of(tiny_config).runs)


def test_gpu_requests_follow_the_weights():
    assert learned("extractor", get_preset("extractor", "aliked"))
    assert not learned("extractor", get_preset("extractor", "sift"))
    assert learned("matcher", get_preset("matcher", "lightglue"))
    assert not learned("matcher", get_preset("matcher", "mnn"))
    assert not learned("global", {"type": "vlad", "local": "rootsift-dense"})
    assert learned("global", {"type": "vlad", "local": "aliked"})


def test_builder_and_cosplace_answers():
    config = yaml.safe_load((REPO / "config" / "builder.yaml").read_text())
    base = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    plan = plan_of(merge_config(base, config))
    ds = next(d for d in plan.datasets if plan.built_splits(d))
    split = plan.built_splits(ds)[0]
    assert split in plan.splits(ds)
    assert plan.split_ready(ds, split)[-1] == f"resources/{ds}/built_{split}.json"
    assert plan.split_entry(ds, split)["splits"] == {split: f"images/test/queries_{split}"}
    assert plan.builder_model(ds, split, "indoor") == f"results/{ds}/builder/models/indoor.pt"
    reports = plan.builder_reports()
    assert f"results/{ds}/builder/{split}/funnel.md" in reports
    assert plan.corrections_file(ds, split).endswith(f"{ds}_{split}.csv")
    # a training city with the test city's seed is refused
    cfg = copy.deepcopy(base)
    cfg["cosplace_train"] = {"city_seed": 0}
    with pytest.raises(ConfigError, match="city_seed"):
        plan_of(cfg).cosplace_city_seed()
    assert plan_of(base).cosplace_city_seed() == 7919
