# Recall@N per split: the retrieval baseline (+ chance level) and each re-ranking method.


rule evaluate_retrieval:
    input:
        ready=split_ready,
        retrieval=f"results/{{dataset}}/{{split}}/retrieval/{{gtag}}-K{K}.h5",
    output:
        recall="results/{dataset}/{split}/recall/{gtag}-K{k}/retrieval.csv",
        queries="results/{dataset}/{split}/recall/{gtag}-K{k}/retrieval.queries.csv",
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
        dataset=lambda wc: ds_split_entry(wc.dataset, wc.split),
        ns=config["evaluation"]["ns"],
        seed=config["seed"],
        num_boot=NUM_BOOT,
    script:
        "../workflow/scripts/evaluate.py"


rule evaluate_method:
    input:
        ready=split_ready,
        retrieval=f"results/{{dataset}}/{{split}}/retrieval/{{gtag}}-K{K}.h5",
        rerank="results/{dataset}/{split}/rerank/{gtag}-K{k}/{method}.parquet",
    output:
        recall="results/{dataset}/{split}/recall/{gtag}-K{k}/{method}.csv",
        sweep="results/{dataset}/{split}/recall/{gtag}-K{k}/{method}.sweep.csv",
        queries="results/{dataset}/{split}/recall/{gtag}-K{k}/{method}.queries.csv",
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
        dataset=lambda wc: ds_split_entry(wc.dataset, wc.split),
        ns=config["evaluation"]["ns"],
        seed=config["seed"],
        num_boot=NUM_BOOT,
        k_sweep=config["evaluation"]["k_sweep"],
    script:
        "../workflow/scripts/evaluate.py"
