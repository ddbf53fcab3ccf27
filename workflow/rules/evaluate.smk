# Recall@N per split: the retrieval baseline (+ chance level) and each re-ranking method.


rule evaluate_retrieval:
    input:
        ready=split_ready,
        retrieval=RETRIEVAL_K,
    output:
        recall=fill("recall_retrieval"),
        queries=fill("recall_retrieval_queries"),
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
        dataset=split_entry,
        ns=config["evaluation"]["ns"],
        seed=config["seed"],
        num_boot=NUM_BOOT,
    script:
        "../scripts/evaluate.py"


rule evaluate_method:
    input:
        ready=split_ready,
        retrieval=RETRIEVAL_K,
        rerank=fill("rerank"),
    output:
        recall=fill("recall_method"),
        sweep=fill("recall_method_sweep"),
        queries=fill("recall_method_queries"),
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
        dataset=split_entry,
        ns=config["evaluation"]["ns"],
        seed=config["seed"],
        num_boot=NUM_BOOT,
        k_sweep=config["evaluation"]["k_sweep"],
    script:
        "../scripts/evaluate.py"
