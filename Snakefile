# vg-rerank: visual geo-localization benchmark with local-feature re-ranking.
# Run: snakemake --cores all [--use-conda] [--configfile my.yaml]
from pathlib import Path

from snakemake.utils import min_version

min_version("8.0")


# defaults; --configfile files are merged over them (see run_datasets to run only yours)
configfile: str(Path(workflow.basedir) / "config" / "config.yaml")


report: "report/workflow.rst"


include: "rules/common.smk"
include: "rules/synth.smk"
include: "rules/global.smk"
include: "rules/cosplace.smk"
include: "rules/retrieve.smk"
include: "rules/local.smk"
include: "rules/rerank.smk"
include: "rules/evaluate.smk"
include: "rules/builder.smk"
include: "rules/report.smk"


rule all:
    default_target: True
    input:
        TABLES,
        PLOTS,
        FIGURES,
        BUILDER_REPORTS,
