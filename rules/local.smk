# Local features, cached per image and extractor preset. Database images are extracted only when
# they are a candidate (top rerank.k) of some retrieval file, and only once, into an append-only
# store of immutable shards (results/<ds>/local/<etag>/db/<digest>.h5) shared by every split,
# descriptor and method of the extractor. Per retrieval file: a plan (checkpoint) cuts the
# candidates no shard holds yet into chunks of extraction.shard_size images, one local_shard job
# per chunk extracts them (in parallel on a cluster; one writer per file), and local_database
# writes the index of HDF5 external links. Adding a split, a global descriptor or a deeper K
# extracts only the new candidates and leaves every other job's files untouched.


checkpoint local_plan:
    input:
        ready=database_ready,
        retrieval=f"results/{{dataset}}/{{split}}/retrieval/{{gtag}}-K{K}.h5",
    output:
        "results/{dataset}/local/{etag}/plan/{split}/{gtag}-K{k}.json",
    log:
        "logs/local/{dataset}/{etag}/plan/{split}/{gtag}-K{k}.log",
    benchmark:
        "benchmarks/local/{dataset}/{etag}/plan/{split}/{gtag}-K{k}.tsv"
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=20,
    params:
        conf=lambda wc: EXTRACTOR[wc.etag],
        dataset=lambda wc: ds_db_entry(wc.dataset),
        k=lambda wc: int(wc.k),
        shards=lambda wc: f"results/{wc.dataset}/local/{wc.etag}/db",
        todo=lambda wc: f"results/{wc.dataset}/local/{wc.etag}/todo",
        shard_size=config["extraction"]["shard_size"],
    script:
        "../workflow/scripts/local_plan.py"


rule local_shard:
    input:
        ready=database_ready,
        todo="results/{dataset}/local/{etag}/todo/{digest}.txt",
    output:
        "results/{dataset}/local/{etag}/db/{digest}.h5",
    log:
        "logs/local/{dataset}/{etag}/db/{digest}.log",
    benchmark:
        "benchmarks/local/{dataset}/{etag}/db/{digest}.tsv"
    wildcard_constraints:
        digest="[0-9a-f]{16}",
    conda:
        ENV
    threads: 2
    resources:
        mem_mb=6000,
        runtime=120,
        gpu=gpu_extractor,
    params:
        conf=lambda wc: EXTRACTOR[wc.etag],
        dataset=lambda wc: ds_db_entry(wc.dataset),
        device=config["device"],
    script:
        "../workflow/scripts/local_shard.py"


rule local_database:
    input:
        ready=database_ready,
        retrieval=f"results/{{dataset}}/{{split}}/retrieval/{{gtag}}-K{K}.h5",
        plan="results/{dataset}/local/{etag}/plan/{split}/{gtag}-K{k}.json",
        shards=planned_shard_files,
    output:
        "results/{dataset}/local/{etag}/database/{split}/{gtag}-K{k}.h5",
    log:
        "logs/local/{dataset}/{etag}/database/{split}/{gtag}-K{k}.log",
    benchmark:
        "benchmarks/local/{dataset}/{etag}/database/{split}/{gtag}-K{k}.tsv"
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        conf=lambda wc: EXTRACTOR[wc.etag],
        dataset=lambda wc: ds_db_entry(wc.dataset),
        k=lambda wc: int(wc.k),
        shards=lambda wc: f"results/{wc.dataset}/local/{wc.etag}/db",
        device=config["device"],
    script:
        "../workflow/scripts/local_database.py"


rule local_queries:
    input:
        ready=split_ready,
    output:
        "results/{dataset}/local/{etag}/queries_{split}.h5",
    log:
        "logs/local/{dataset}/{etag}/queries_{split}.log",
    benchmark:
        "benchmarks/local/{dataset}/{etag}/queries_{split}.tsv"
    conda:
        ENV
    threads: 2
    resources:
        mem_mb=6000,
        runtime=60,
        gpu=gpu_extractor,
    params:
        conf=lambda wc: EXTRACTOR[wc.etag],
        dataset=lambda wc: ds_split_entry(wc.dataset, wc.split),
        device=config["device"],
    script:
        "../workflow/scripts/local_queries.py"
