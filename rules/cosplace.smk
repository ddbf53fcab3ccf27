# CosPlace training: the global preset 'cosplace-trained' (vgrerank.globaldesc.registry) names
# the checkpoint cosplace_train writes, so listing it in `global:` trains it first. The training
# city is SynthCity with another seed than the test city, rendered by day, dusk and night
# (config key cosplace_train; or any folder of '@UTM' images with cosplace_train.folder).
# Helpers (cosplace_gtags, cosplace_train_conf, ...) are at the end of rules/common.smk.


rule cosplace_trainset:
    output:
        COSPLACE_TRAINSET,
    log:
        "logs/cosplace/trainset.log",
    benchmark:
        "benchmarks/cosplace/trainset.tsv"
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=60,
    params:
        city=lambda wc: canonical({**COSPLACE["city"], "seed": cosplace_city_seed()}),
        headings=COSPLACE["headings"],
        conditions=COSPLACE["conditions"],
        size=COSPLACE["image_size"],
        supersample=COSPLACE["supersample"],
    script:
        "../workflow/scripts/cosplace_train.py"


rule cosplace_train:
    input:
        trainset=[] if COSPLACE["folder"] else COSPLACE_TRAINSET,
    output:
        model=TRAINED_COSPLACE,
        summary=TRAINED_COSPLACE[: -len(".pth")] + ".json",
    log:
        "logs/cosplace/train.log",
    benchmark:
        "benchmarks/cosplace/train.tsv"
    conda:
        ENV
    threads: 2
    resources:
        mem_mb=6000,
        runtime=120,
        gpu=1,
    params:
        conf=cosplace_train_conf(),
        root=cosplace_root(),
        device=config["device"],
    script:
        "../workflow/scripts/cosplace_train.py"
