# Local features, cached per image and extractor preset: database images only when they are a
# candidate in some query's top-K; shared by every method that uses the extractor.


rule local_database:
    input:
        ready=dataset_ready,
        retrieval=lambda wc: retrieval_files(wc.dataset),
    output:
        "results/{dataset}/local/{etag}/database.h5",
    log:
        "logs/local/{dataset}/{etag}/database.log",
    benchmark:
        "benchmarks/local/{dataset}/{etag}/database.tsv"
    conda:
        ENV
    threads: 2
    resources:
        mem_mb=6000,
        runtime=120,
    params:
        conf=lambda wc: EXTRACTOR[wc.etag],
        dataset=lambda wc: DATASETS[wc.dataset],
        k=K,
        device=config["device"],
    script:
        "../workflow/scripts/local_database.py"


rule local_queries:
    input:
        ready=dataset_ready,
    output:
        "results/{dataset}/local/{etag}/queries_{split}.h5",
    log:
        "logs/local/{dataset}/{etag}/queries_{split}.log",
    benchmark:
        "benchmarks/local/{dataset}/{etag}/queries_{split}.tsv"
    conda:
        ENV
    threads: 2
    resources:
        mem_mb=6000,
        runtime=60,
    params:
        conf=lambda wc: EXTRACTOR[wc.etag],
        dataset=lambda wc: DATASETS[wc.dataset],
        device=config["device"],
    script:
        "../workflow/scripts/local_queries.py"
