# CosPlace training: the global presets 'cosplace-trained' and 'effnet-lite0-cosplace'
# (vgrerank.globaldesc.registry) name the checkpoints cosplace_train writes, so listing one in
# `global:` trains it first. Each training (config keys cosplace_train and cosplace_finetune)
# renders its own training city: SynthCity with another seed than the test city, by day, dusk and
# night, at its image size (or any folder of '@UTM' images with <key>.folder).
# What it trains and where: vgrerank.plan.Plan (cosplace_gtags, cosplace_train_conf, ...).


rule cosplace_trainset:
    output:
        fill("cosplace_trainset"),
    log:
        "logs/cosplace/{key}/trainset.log",
    benchmark:
        "benchmarks/cosplace/{key}/trainset.tsv"
    wildcard_constraints:
        key="|".join(COSPLACE_NAMES.values()),
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=60,
    params:
        city=lambda wc: canonical(
            {**config[wc.key]["city"], "seed": PLAN.cosplace_city_seed(wc.key)}
        ),
        headings=lambda wc: config[wc.key]["headings"],
        conditions=lambda wc: config[wc.key]["conditions"],
        size=lambda wc: config[wc.key]["image_size"],
        supersample=lambda wc: config[wc.key]["supersample"],
    script:
        "../scripts/cosplace_train.py"


rule cosplace_train:
    input:
        trainset=lambda wc: PLAN.cosplace_trainset_input(wc.name),
    output:
        model=fill("cosplace_model"),
        summary=fill("cosplace_summary"),
    log:
        "logs/cosplace/{name}/train.log",
    benchmark:
        "benchmarks/cosplace/{name}/train.tsv"
    wildcard_constraints:
        name="|".join(COSPLACE_NAMES),
    conda:
        ENV
    threads: 2
    resources:
        mem_mb=6000,
        runtime=120,
        gpu=1,
    params:
        conf=lambda wc: PLAN.cosplace_train_conf(COSPLACE_NAMES[wc.name]),
        root=lambda wc: PLAN.cosplace_root(COSPLACE_NAMES[wc.name]),
        device=config["device"],
    script:
        "../scripts/cosplace_train.py"
