# FAISS top-K retrieval of database images for each query of a split.


rule retrieve:
    input:
        database=fill("global_database"),
        queries=fill("global_queries"),
    output:
        fill("retrieval"),
    log:
        "logs/retrieve/{dataset}/{split}/{gtag}-K{k}.log",
    benchmark:
        "benchmarks/retrieve/{dataset}/{split}/{gtag}-K{k}.tsv"
    conda:
        ENV
    threads: 2
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        k=lambda wc: int(wc.k),
        opts=config["retrieval"],
        device=config["device"],
    script:
        "../scripts/retrieve.py"
