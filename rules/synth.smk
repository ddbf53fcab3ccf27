# SynthCity: render the embedded default dataset (database + query splits) from its config.


rule synth:
    output:
        "resources/{dataset}/meta.json",
    log:
        "logs/synth/{dataset}.log",
    benchmark:
        "benchmarks/synth/{dataset}.tsv"
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        conf=lambda wc: DATASETS[wc.dataset]["synth"],
        seed=config["seed"],
    script:
        "../workflow/scripts/synth.py"
