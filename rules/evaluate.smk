# Recall@N per split: the retrieval baseline (+ chance level) and each re-ranking method.


rule evaluate_retrieval:
    input:
        ready=dataset_ready,
        retrieval="results/{dataset}/{split}/retrieval/{gtag}-K{k}.h5",
    output:
        "results/{dataset}/{split}/recall/{gtag}-K{k}/retrieval.csv",
    log:
        "logs/evaluate/{dataset}/{split}/{gtag}-K{k}/retrieval.log",
    benchmark:
        "benchmarks/evaluate/{dataset}/{split}/{gtag}-K{k}/retrieval.tsv"
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        dataset=lambda wc: DATASETS[wc.dataset],
        ns=config["evaluation"]["ns"],
    script:
        "../workflow/scripts/evaluate.py"


rule evaluate_method:
    input:
        ready=dataset_ready,
        retrieval="results/{dataset}/{split}/retrieval/{gtag}-K{k}.h5",
        rerank="results/{dataset}/{split}/rerank/{gtag}-K{k}/{method}.parquet",
    output:
        recall="results/{dataset}/{split}/recall/{gtag}-K{k}/{method}.csv",
        sweep="results/{dataset}/{split}/recall/{gtag}-K{k}/{method}.sweep.csv",
    log:
        "logs/evaluate/{dataset}/{split}/{gtag}-K{k}/{method}.log",
    benchmark:
        "benchmarks/evaluate/{dataset}/{split}/{gtag}-K{k}/{method}.tsv"
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        dataset=lambda wc: DATASETS[wc.dataset],
        ns=config["evaluation"]["ns"],
        k_sweep=config["evaluation"]["k_sweep"],
    script:
        "../workflow/scripts/evaluate.py"
