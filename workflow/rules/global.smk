# Global descriptors: the database once per descriptor (fits VLAD's vocabulary), then each split.


rule global_database:
    input:
        ready=database_ready,
        weights=trained_weights,
    output:
        fill("global_database"),
    log:
        "logs/global/{dataset}/{gtag}/database.log",
    benchmark:
        "benchmarks/global/{dataset}/{gtag}/database.tsv"
    conda:
        ENV
    threads: 2
    resources:
        mem_mb=4000,
        runtime=60,
        gpu=gpu_global,
    params:
        conf=lambda wc: GLOBAL[wc.gtag],
        dataset=db_entry,
        seed=config["seed"],
        device=config["device"],
    script:
        "../scripts/global_database.py"


rule global_queries:
    input:
        ready=split_ready,
        database=fill("global_database"),
    output:
        fill("global_queries"),
    log:
        "logs/global/{dataset}/{gtag}/queries_{split}.log",
    benchmark:
        "benchmarks/global/{dataset}/{gtag}/queries_{split}.tsv"
    conda:
        ENV
    threads: 2
    resources:
        mem_mb=4000,
        runtime=60,
        gpu=gpu_global,
    params:
        conf=lambda wc: GLOBAL[wc.gtag],
        dataset=split_entry,
        device=config["device"],
    script:
        "../scripts/global_queries.py"
