# Aggregate tables, summary plots; `snakemake --report results/report.html` collects them.


rule tables:
    input:
        recall=PLAN.recall_files(),
        queries=PLAN.query_files(),
        sweep=PLAN.sweep_files(),
        rerank=PLAN.rerank_files(),
        features=PLAN.db_feature_files(),
    output:
        recall_csv=report(
            fill("table", name="recall.csv"),
            category="Tables",
            caption="../report/recall.rst",
        ),
        recall_md=fill("table", name="recall.md"),
        paired_csv=report(
            fill("table", name="paired.csv"),
            category="Tables",
            caption="../report/paired.rst",
        ),
        paired_md=fill("table", name="paired.md"),
        claims_md=report(
            fill("table", name="claims.md"),
            category="Tables",
            caption="../report/claims.rst",
        ),
        latency_csv=report(
            fill("table", name="latency.csv"),
            category="Tables",
            caption="../report/latency.rst",
        ),
        latency_md=fill("table", name="latency.md"),
        sweep_csv=fill("table", name="recall_vs_k.csv"),
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
        "../scripts/tables.py"


rule plots:
    input:
        recall=fill("table", name="recall.csv"),
        latency=fill("table", name="latency.csv"),
        sweep=fill("table", name="recall_vs_k.csv"),
    output:
        time=report(
            fill("plot", name="recall_vs_time"),
            category="Plots",
            caption="../report/recall_vs_time.rst",
        ),
        k=report(
            fill("plot", name="recall_vs_k"),
            category="Plots",
            caption="../report/recall_vs_k.rst",
        ),
        severity=report(
            fill("plot", name="recall_vs_severity"),
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
        severity=PLAN.severity_levels(),
    script:
        "../scripts/plots.py"


rule figures:
    input:
        unpack(figure_inputs),
    output:
        report(
            directory(fill("figures")),
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
        dataset=split_entry,
        runs=lambda wc: PLAN.runs_of(wc.dataset, wc.split, wc.gtag),
        methods=METHOD,
        num_queries=config["report"].get("num_queries", 4),
        failures_only=config["report"].get("failures_only", False),
    script:
        "../scripts/figures.py"
