# Re-rank each split's top-K with one method (matching + scoring on cached features).


def method_features(wc):
    etag = METHOD[wc.method]["extractor"]["tag"]
    return {
        "queries": f"results/{wc.dataset}/local/{etag}/queries_{wc.split}.h5",
        "database": f"results/{wc.dataset}/local/{etag}/database.h5",
    }


rule rerank:
    input:
        unpack(method_features),
        retrieval="results/{dataset}/{split}/retrieval/{gtag}-K{k}.h5",
    output:
        "results/{dataset}/{split}/rerank/{gtag}-K{k}/{method}.parquet",
    params:
        method=lambda wc: METHOD[wc.method],
        k=lambda wc: int(wc.k),
        seed=config["seed"],
        device=config["device"],
    log:
        "logs/rerank/{dataset}/{split}/{gtag}-K{k}/{method}.log",
    benchmark:
        "benchmarks/rerank/{dataset}/{split}/{gtag}-K{k}/{method}.tsv"
    threads: 2
    resources:
        mem_mb=6000,
        runtime=240,
    conda:
        ENV
    script:
        "../workflow/scripts/rerank.py"
