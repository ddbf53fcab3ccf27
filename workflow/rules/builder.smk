# Query-set builder: photos of a bounding box (Flickr, or a local folder) -> the filter stages of
# vgrerank.builder.stages.STAGES in order (indoor/outdoor -> day/night -> near-duplicates ->
# reviewer corrections -> geotag check) -> a query split in the standard layout
# (<root>/images/test/queries_<split>), benchmarked like any other split. Every stage writes a
# table keyed by photo_id (results/<ds>/builder/<split>/<table>.parquet) listing the photos that
# reached it, with keep/reason, so the funnel is auditable. Paths come from the stage list:
# adding a stage is an entry there, its rule here, its script and library function.
# (stage_conf and the other input/params functions: workflow/rules/common.smk)
from vgrerank.builder.stages import (
    STAGES,
    model_stages,
    previous_table,
    split_dir,
    stage_benchmark,
    stage_log,
    stage_table,
    stage_tables,
)


rule builder_collection:
    input:
        ready=database_ready,
    output:
        fill("builder_collection"),
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
        city=lambda wc: PLAN.synth_city_conf(wc.dataset),
        collection=lambda wc: build_conf(wc)["source"]["collection"],
        seed=config["seed"],
    script:
        "../scripts/builder_collection.py"


rule builder_trainset:
    input:
        ready=database_ready,
    output:
        fill("builder_trainset"),
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
        city=lambda wc: PLAN.synth_city_conf(wc.dataset),
        daynight=lambda wc: PLAN.builder_train_conf(wc.dataset, "daynight"),
        indoor=lambda wc: PLAN.builder_train_conf(wc.dataset, "indoor"),
        seed=config["seed"],
    script:
        "../scripts/builder_trainset.py"


rule builder_train:
    input:
        trainset=fill("builder_trainset"),
    output:
        fill("builder_model"),
    log:
        "logs/builder/{dataset}/train_{task}.log",
    benchmark:
        "benchmarks/builder/{dataset}/train_{task}.tsv"
    wildcard_constraints:
        task="|".join(model_stages()),
    conda:
        ENV
    threads: 2
    resources:
        mem_mb=6000,
        runtime=60,
        gpu=0,
    params:
        train=lambda wc: PLAN.builder_train_conf(wc.dataset, wc.task),
        seed=config["seed"],
        device=config["device"],
    script:
        "../scripts/builder_train.py"


rule builder_fetch:
    input:
        collection=collection_input,
        ready=database_ready,
    output:
        stage_table("fetch"),
    log:
        stage_log("fetch"),
    benchmark:
        stage_benchmark("fetch")
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=240,
    params:
        source=stage_conf("fetch"),
        dataset=db_entry,
    script:
        "../scripts/builder_fetch.py"


rule builder_indoor:
    input:
        photos=stage_table("fetch"),
        model=builder_model("indoor"),
    output:
        stage_table("indoor"),
    log:
        stage_log("indoor"),
    benchmark:
        stage_benchmark("indoor")
    conda:
        ENV
    threads: 2
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        conf=stage_conf("indoor"),
        device=config["device"],
    script:
        "../scripts/builder_indoor.py"


rule builder_daynight:
    input:
        photos=stage_table("fetch"),
        previous=previous_table("daynight"),
        model=builder_model("daynight"),
    output:
        stage_table("daynight"),
    log:
        stage_log("daynight"),
    benchmark:
        stage_benchmark("daynight")
    conda:
        ENV
    threads: 2
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        conf=stage_conf("daynight"),
        device=config["device"],
    script:
        "../scripts/builder_daynight.py"


rule builder_dedup:
    input:
        photos=stage_table("fetch"),
        previous=previous_table("dedup"),
        database=lambda wc: fill(
            "global_database", dataset=wc.dataset, gtag=PLAN.first_gtag(wc.dataset)
        ),
    output:
        table=stage_table("dedup"),
        clusters=f"{split_dir()}/clusters.csv",
    log:
        stage_log("dedup"),
    benchmark:
        stage_benchmark("dedup")
    conda:
        ENV
    threads: 2
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        conf=stage_conf("dedup"),
        gconf=lambda wc: GLOBAL[PLAN.first_gtag(wc.dataset)],
        device=config["device"],
    script:
        "../scripts/builder_dedup.py"


rule builder_corrections:
    input:
        photos=stage_table("fetch"),
        previous=previous_table("corrections"),
        corrections=existing_corrections,
    output:
        stage_table("corrections"),
    log:
        stage_log("corrections"),
    benchmark:
        stage_benchmark("corrections")
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    script:
        "../scripts/builder_corrections.py"


rule builder_geotag:
    input:
        previous=previous_table("geotag"),
        ready=database_ready,
    output:
        stage_table("geotag"),
    log:
        stage_log("geotag"),
    benchmark:
        stage_benchmark("geotag")
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        dataset=db_entry,
        threshold_m=lambda wc: build_conf(wc)["geotag"]["threshold_m"]
        or DATASETS[wc.dataset]["threshold_m"],
    script:
        "../scripts/builder_geotag.py"


rule builder_queryset:
    input:
        photos=stage_table("fetch"),
        corrected=stage_table("corrections"),
        previous=stage_table(STAGES[-1]),
        ready=database_ready,
    output:
        fill("built"),
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
        dataset=db_entry,
    script:
        "../scripts/builder_queryset.py"


rule builder_report:
    input:
        photos=stage_table("fetch"),
        stages=stage_tables(),
        built=fill("built"),
        collection=collection_input,
    output:
        funnel_csv=f"{split_dir()}/funnel.csv",
        funnel_md=report(
            f"{split_dir()}/funnel.md",
            category="Query-set builder",
            caption="../report/builder_funnel.rst",
        ),
        map=report(
            f"{split_dir()}/map.png",
            category="Query-set builder",
            caption="../report/builder_map.rst",
        ),
        counts=f"{split_dir()}/map_counts.csv",
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
        conf=build_conf,
        synth=lambda wc: (
            PLAN.synth_city_conf(wc.dataset)
            if "synth" in DATASETS[wc.dataset]
            else None
        ),
        dataset=db_entry,
    script:
        "../scripts/builder_report.py"


rule builder_truth:
    input:
        photos=stage_table("fetch"),
        stages=stage_tables(),
        clusters=f"{split_dir()}/clusters.csv",
        collection=collection_input,
    output:
        csv=f"{split_dir()}/truth.csv",
        md=report(
            f"{split_dir()}/truth.md",
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
        conf=build_conf,
        dataset=db_entry,
        threshold_m=lambda wc: DATASETS[wc.dataset]["threshold_m"],
    script:
        "../scripts/builder_truth.py"
