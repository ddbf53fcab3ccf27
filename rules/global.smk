# Global descriptors: the database once per descriptor (fits VLAD's vocabulary), then each split.


rule global_database:
    input:
        ready=database_ready,
        weights=trained_weights,
    output:
        "results/{dataset}/global/{gtag}/database.h5",
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
        dataset=lambda wc: ds_db_entry(wc.dataset),
        seed=config["seed"],
        device=config["device"],
    script:
        "../workflow/scripts/global_database.py"


rule global_queries:
    input:
        ready=split_ready,
        database="results/{dataset}/global/{gtag}/database.h5",
    output:
        "results/{dataset}/global/{gtag}/queries_{split}.h5",
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
        dataset=lambda wc: ds_split_entry(wc.dataset, wc.split),
        device=config["device"],
    script:
        "../workflow/scripts/global_queries.py"
