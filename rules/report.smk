# Aggregate tables, summary plots; `snakemake --report results/report.html` collects them.


rule tables:
    input:
        recall=RECALL_FILES,
        queries=QUERY_FILES,
        sweep=SWEEP_FILES,
        rerank=RERANK_FILES,
        features=sorted({r["db_features"] for r in RUNS}),
    output:
        recall_csv=report(
            "results/tables/recall.csv",
            category="Tables",
            caption="../report/recall.rst",
        ),
        recall_md="results/tables/recall.md",
        paired_csv=report(
            "results/tables/paired.csv",
            category="Tables",
            caption="../report/paired.rst",
        ),
        paired_md="results/tables/paired.md",
        claims_md=report(
            "results/tables/claims.md",
            category="Tables",
            caption="../report/claims.rst",
        ),
        latency_csv=report(
            "results/tables/latency.csv",
            category="Tables",
            caption="../report/latency.rst",
        ),
        latency_md="results/tables/latency.md",
        sweep_csv="results/tables/recall_vs_k.csv",
    log:
        "logs/report/tables.log",
    benchmark:
        "benchmarks/report/tables.tsv"
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        runs=RUNS,
        config=canonical(config),
        methods=METHOD,
        seed=config["seed"],
        num_boot=NUM_BOOT,
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
        severity=report(
            "results/plots/recall_vs_severity.png",
            category="Plots",
            caption="../report/recall_vs_severity.rst",
        ),
    log:
        "logs/report/plots.log",
    benchmark:
        "benchmarks/report/plots.tsv"
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        severity=severity_levels(),
    script:
        "../workflow/scripts/plots.py"


rule figures:
    input:
        unpack(figure_inputs),
    output:
        report(
            directory("results/figures/{dataset}/{split}/{gtag}-K{k}"),
            patterns=["{name}.png"],
            category="Figures",
            subcategory="{dataset} {split}",
            caption="../report/figures.rst",
        ),
    log:
        "logs/report/figures/{dataset}/{split}/{gtag}-K{k}.log",
    benchmark:
        "benchmarks/report/figures/{dataset}/{split}/{gtag}-K{k}.tsv"
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        dataset=lambda wc: ds_split_entry(wc.dataset, wc.split),
        runs=lambda wc: runs_of(wc.dataset, wc.split, wc.gtag),
        methods=METHOD,
        num_queries=config["report"].get("num_queries", 4),
        failures_only=config["report"].get("failures_only", False),
    script:
        "../workflow/scripts/figures.py"
