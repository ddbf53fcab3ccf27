# Aggregate tables, summary plots; `snakemake --report results/report.html` collects them.


rule tables:
    input:
        recall=RECALL_FILES,
        sweep=SWEEP_FILES,
        rerank=RERANK_FILES,
        features=sorted(
            {
                f"results/{r['dataset']}/local/{r['extractor']}/database.h5"
                for r in RUNS
            }
        ),
    output:
        recall_csv=report(
            "results/tables/recall.csv", category="Tables", caption="../report/recall.rst"
        ),
        recall_md="results/tables/recall.md",
        latency_csv=report(
            "results/tables/latency.csv", category="Tables", caption="../report/latency.rst"
        ),
        latency_md="results/tables/latency.md",
        sweep_csv="results/tables/recall_vs_k.csv",
    params:
        runs=RUNS,
        k=K,
        config=config,
    log:
        "logs/report/tables.log",
    benchmark:
        "benchmarks/report/tables.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        ENV
    script:
        "../workflow/scripts/tables.py"


rule plots:
    input:
        recall="results/tables/recall.csv",
        latency="results/tables/latency.csv",
        sweep="results/tables/recall_vs_k.csv",
    output:
        time=report(
            "results/plots/recall_vs_time.png",
            category="Plots",
            caption="../report/recall_vs_time.rst",
        ),
        k=report(
            "results/plots/recall_vs_k.png",
            category="Plots",
            caption="../report/recall_vs_k.rst",
        ),
    log:
        "logs/report/plots.log",
    benchmark:
        "benchmarks/report/plots.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        ENV
    script:
        "../workflow/scripts/plots.py"
