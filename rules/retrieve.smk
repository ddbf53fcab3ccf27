# FAISS top-K retrieval of database images for each query of a split.


rule retrieve:
    input:
        database="results/{dataset}/global/{gtag}/database.h5",
        queries="results/{dataset}/global/{gtag}/queries_{split}.h5",
    output:
        "results/{dataset}/{split}/retrieval/{gtag}-K{k}.h5",
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
        "../workflow/scripts/retrieve.py"
