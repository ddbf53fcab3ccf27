# SynthCity: render the embedded default dataset. The database and each query split are separate
# jobs (the city is a deterministic function of seed + city conf), so adding a split renders only
# that split and leaves the database and everything computed from it untouched.


rule synth_database:
    output:
        fill("synth_database"),
    log:
        "logs/synth/{dataset}/database.log",
    benchmark:
        "benchmarks/synth/{dataset}/database.tsv"
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        conf=lambda wc: PLAN.synth_city_conf(wc.dataset),
        seed=config["seed"],
    script:
        "../scripts/synth_database.py"


rule synth_queries:
    output:
        fill("synth_queries"),
    log:
        "logs/synth/{dataset}/queries_{split}.log",
    benchmark:
        "benchmarks/synth/{dataset}/queries_{split}.tsv"
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        conf=lambda wc: PLAN.synth_split_conf(wc.dataset, wc.split),
        seed=config["seed"],
    script:
        "../scripts/synth_queries.py"
