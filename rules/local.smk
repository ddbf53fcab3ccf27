# Local features, cached per image and extractor preset. Database images are extracted only when
# they are a candidate (top rerank.k) of some retrieval file, and only once: each job appends the
# candidates not yet extracted as a new immutable shard (results/<ds>/local/<etag>/db/, shared by
# every split, descriptor and method of the extractor) and writes its own index of HDF5 external
# links, so adding a split, a global descriptor or a deeper K extracts only the new candidates
# and leaves every other job's files untouched.


rule local_database:
    input:
        ready=database_ready,
        retrieval=f"results/{{dataset}}/{{split}}/retrieval/{{gtag}}-K{K}.h5",
    output:
        "results/{dataset}/local/{etag}/database/{split}/{gtag}-K{k}.h5",
    log:
        "logs/local/{dataset}/{etag}/database/{split}/{gtag}-K{k}.log",
    benchmark:
        "benchmarks/local/{dataset}/{etag}/database/{split}/{gtag}-K{k}.tsv"
    conda:
        ENV
    threads: 2
    resources:
        mem_mb=6000,
        runtime=120,
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
    params:
        conf=lambda wc: EXTRACTOR[wc.etag],
        dataset=lambda wc: ds_split_entry(wc.dataset, wc.split),
        device=config["device"],
    script:
        "../workflow/scripts/local_queries.py"
