# Query-set builder: photos of a bounding box (Flickr, or a local folder) -> indoor/outdoor ->
# day/night -> near-duplicates -> reviewer corrections -> geotag check -> a query split in the
# standard layout (<root>/images/test/queries_<split>), benchmarked like any other split.
# Every stage writes a table keyed by photo_id (results/<ds>/builder/<split>/<stage>.parquet):
# a stage lists the photos that reached it, with keep/reason, so the funnel is auditable.


rule builder_collection:
    input:
        ready=database_ready,
    output:
        "resources/{dataset}/builder/{split}/collection/collection.json",
    log:
        "logs/builder/{dataset}/{split}/collection.log",
    benchmark:
        "benchmarks/builder/{dataset}/{split}/collection.tsv"
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        city=lambda wc: synth_city_conf(wc.dataset),
        collection=lambda wc: canonical(build_source(wc)["collection"]),
        seed=config["seed"],
    script:
        "../workflow/scripts/builder_collection.py"


rule builder_trainset:
    input:
        ready=database_ready,
    output:
        "resources/{dataset}/builder/train/collection.json",
    log:
        "logs/builder/{dataset}/trainset.log",
    benchmark:
        "benchmarks/builder/{dataset}/trainset.tsv"
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=60,
    params:
        city=lambda wc: synth_city_conf(wc.dataset),
        daynight=lambda wc: builder_train_conf(wc.dataset, "daynight"),
        indoor=lambda wc: builder_train_conf(wc.dataset, "indoor"),
        seed=config["seed"],
    script:
        "../workflow/scripts/builder_trainset.py"


rule builder_train:
    input:
        trainset="resources/{dataset}/builder/train/collection.json",
    output:
        "results/{dataset}/builder/models/{task}.pt",
    log:
        "logs/builder/{dataset}/train_{task}.log",
    benchmark:
        "benchmarks/builder/{dataset}/train_{task}.tsv"
    wildcard_constraints:
        task="daynight|indoor",
    conda:
        ENV
    threads: 2
    resources:
        mem_mb=6000,
        runtime=60,
        gpu=0,
    params:
        train=lambda wc: builder_train_conf(wc.dataset, wc.task),
        seed=config["seed"],
        device=config["device"],
    script:
        "../workflow/scripts/builder_train.py"


rule builder_fetch:
    input:
        collection=collection_input,
        ready=database_ready,
    output:
        "results/{dataset}/builder/{split}/photos.parquet",
    log:
        "logs/builder/{dataset}/{split}/fetch.log",
    benchmark:
        "benchmarks/builder/{dataset}/{split}/fetch.tsv"
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=240,
    params:
        source=lambda wc: canonical(build_source(wc)),
        dataset=lambda wc: ds_db_entry(wc.dataset),
    script:
        "../workflow/scripts/builder_fetch.py"


rule builder_indoor:
    input:
        photos="results/{dataset}/builder/{split}/photos.parquet",
        model=builder_model("indoor"),
    output:
        "results/{dataset}/builder/{split}/indoor.parquet",
    log:
        "logs/builder/{dataset}/{split}/indoor.log",
    benchmark:
        "benchmarks/builder/{dataset}/{split}/indoor.tsv"
    conda:
        ENV
    threads: 2
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        conf=lambda wc: canonical(build_conf(wc.dataset, wc.split)["indoor"]),
        device=config["device"],
    script:
        "../workflow/scripts/builder_indoor.py"


rule builder_daynight:
    input:
        photos="results/{dataset}/builder/{split}/photos.parquet",
        previous="results/{dataset}/builder/{split}/indoor.parquet",
        model=builder_model("daynight"),
    output:
        "results/{dataset}/builder/{split}/daynight.parquet",
    log:
        "logs/builder/{dataset}/{split}/daynight.log",
    benchmark:
        "benchmarks/builder/{dataset}/{split}/daynight.tsv"
    conda:
        ENV
    threads: 2
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        conf=lambda wc: canonical(build_conf(wc.dataset, wc.split)["daynight"]),
        device=config["device"],
    script:
        "../workflow/scripts/builder_daynight.py"


rule builder_dedup:
    input:
        photos="results/{dataset}/builder/{split}/photos.parquet",
        previous="results/{dataset}/builder/{split}/daynight.parquet",
        database=lambda wc: f"results/{wc.dataset}/global/{first_gtag(wc.dataset)}/database.h5",
    output:
        table="results/{dataset}/builder/{split}/dedup.parquet",
        clusters="results/{dataset}/builder/{split}/clusters.csv",
    log:
        "logs/builder/{dataset}/{split}/dedup.log",
    benchmark:
        "benchmarks/builder/{dataset}/{split}/dedup.tsv"
    conda:
        ENV
    threads: 2
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        conf=lambda wc: canonical(build_conf(wc.dataset, wc.split)["dedup"]),
        gconf=lambda wc: GLOBAL[first_gtag(wc.dataset)],
        device=config["device"],
    script:
        "../workflow/scripts/builder_dedup.py"


rule builder_corrections:
    input:
        photos="results/{dataset}/builder/{split}/photos.parquet",
        previous="results/{dataset}/builder/{split}/dedup.parquet",
        corrections=existing_corrections,
    output:
        "results/{dataset}/builder/{split}/corrected.parquet",
    log:
        "logs/builder/{dataset}/{split}/corrections.log",
    benchmark:
        "benchmarks/builder/{dataset}/{split}/corrections.tsv"
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    script:
        "../workflow/scripts/builder_corrections.py"


rule builder_geotag:
    input:
        previous="results/{dataset}/builder/{split}/corrected.parquet",
        ready=database_ready,
    output:
        "results/{dataset}/builder/{split}/geotag.parquet",
    log:
        "logs/builder/{dataset}/{split}/geotag.log",
    benchmark:
        "benchmarks/builder/{dataset}/{split}/geotag.tsv"
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        dataset=lambda wc: ds_db_entry(wc.dataset),
        threshold_m=lambda wc: build_conf(wc.dataset, wc.split)["geotag"][
            "threshold_m"
        ]
        or DATASETS[wc.dataset].get("threshold_m", 25),
    script:
        "../workflow/scripts/builder_geotag.py"


rule builder_queryset:
    input:
        photos="results/{dataset}/builder/{split}/photos.parquet",
        corrected="results/{dataset}/builder/{split}/corrected.parquet",
        previous="results/{dataset}/builder/{split}/geotag.parquet",
        ready=database_ready,
    output:
        "resources/{dataset}/built_{split}.json",
    log:
        "logs/builder/{dataset}/{split}/queryset.log",
    benchmark:
        "benchmarks/builder/{dataset}/{split}/queryset.tsv"
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=20,
    params:
        dataset=lambda wc: ds_db_entry(wc.dataset),
    script:
        "../workflow/scripts/builder_queryset.py"


rule builder_report:
    input:
        photos="results/{dataset}/builder/{split}/photos.parquet",
        stages=expand(
            "results/{{dataset}}/builder/{{split}}/{stage}.parquet",
            stage=["indoor", "daynight", "dedup", "corrected", "geotag"],
        ),
        built="resources/{dataset}/built_{split}.json",
        collection=collection_input,
    output:
        funnel_csv="results/{dataset}/builder/{split}/funnel.csv",
        funnel_md=report(
            "results/{dataset}/builder/{split}/funnel.md",
            category="Query-set builder",
            caption="../report/builder_funnel.rst",
        ),
        map=report(
            "results/{dataset}/builder/{split}/map.png",
            category="Query-set builder",
            caption="../report/builder_map.rst",
        ),
        counts="results/{dataset}/builder/{split}/map_counts.csv",
    log:
        "logs/builder/{dataset}/{split}/report.log",
    benchmark:
        "benchmarks/builder/{dataset}/{split}/report.tsv"
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        conf=lambda wc: canonical(build_conf(wc.dataset, wc.split)),
        synth=lambda wc: (
            synth_city_conf(wc.dataset) if "synth" in DATASETS[wc.dataset] else None
        ),
        dataset=lambda wc: ds_db_entry(wc.dataset),
    script:
        "../workflow/scripts/builder_report.py"


rule builder_truth:
    input:
        photos="results/{dataset}/builder/{split}/photos.parquet",
        stages=expand(
            "results/{{dataset}}/builder/{{split}}/{stage}.parquet",
            stage=["indoor", "daynight", "dedup", "corrected", "geotag"],
        ),
        clusters="results/{dataset}/builder/{split}/clusters.csv",
        collection=collection_input,
    output:
        csv="results/{dataset}/builder/{split}/truth.csv",
        md=report(
            "results/{dataset}/builder/{split}/truth.md",
            category="Query-set builder",
            caption="../report/builder_truth.rst",
        ),
    log:
        "logs/builder/{dataset}/{split}/truth.log",
    benchmark:
        "benchmarks/builder/{dataset}/{split}/truth.tsv"
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        conf=lambda wc: canonical(build_conf(wc.dataset, wc.split)),
        dataset=lambda wc: ds_db_entry(wc.dataset),
        threshold_m=lambda wc: DATASETS[wc.dataset].get("threshold_m", 25),
    script:
        "../workflow/scripts/builder_truth.py"
