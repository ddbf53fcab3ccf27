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
        retrieval=RETRIEVAL_K,
    output:
        fill("local_plan"),
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
        dataset=db_entry,
        k=lambda wc: int(wc.k),
        shards=lambda wc: fill("local_shards", dataset=wc.dataset, etag=wc.etag),
        todo=lambda wc: fill("local_todo", dataset=wc.dataset, etag=wc.etag),
        shard_size=config["extraction"]["shard_size"],
    script:
        "../scripts/local_plan.py"


rule local_shard:
    input:
        ready=database_ready,
        todo=fill("local_todo_file"),
    output:
        fill("local_shard"),
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
        dataset=db_entry,
        device=config["device"],
    script:
        "../scripts/local_shard.py"


rule local_database:
    input:
        ready=database_ready,
        retrieval=RETRIEVAL_K,
        plan=fill("local_plan"),
        shards=planned_shard_files,
    output:
        fill("local_database"),
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
        dataset=db_entry,
        k=lambda wc: int(wc.k),
        shards=lambda wc: fill("local_shards", dataset=wc.dataset, etag=wc.etag),
        device=config["device"],
    script:
        "../scripts/local_database.py"


rule local_queries:
    input:
        ready=split_ready,
    output:
        fill("local_queries"),
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
        dataset=split_entry,
        device=config["device"],
    script:
        "../scripts/local_queries.py"
