# Re-rank each split's top-K with one method (matching + scoring on cached features).


rule rerank:
    input:
        unpack(method_features),
        retrieval=RETRIEVAL_K,
    output:
        fill("rerank"),
    log:
        "logs/rerank/{dataset}/{split}/{gtag}-K{k}/{method}.log",
    benchmark:
        "benchmarks/rerank/{dataset}/{split}/{gtag}-K{k}/{method}.tsv"
    conda:
        ENV
    threads: 2
    resources:
        mem_mb=6000,
        runtime=240,
        gpu=gpu_method,
    params:
        method=lambda wc: METHOD[wc.method],
        k=lambda wc: int(wc.k),
        seed=config["seed"],
        device=config["device"],
    script:
        "../scripts/rerank.py"
