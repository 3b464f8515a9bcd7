# Weekly campaign reports — convenience targets for Linux/macOS.
# On Windows use the commands in README.md ("Windows") directly.
.DEFAULT_GOAL := help
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
OUT ?= reports

.PHONY: help setup demo test lab bench bench-clean check clean

## Show this help
help:
	@awk 'BEGIN{FS=":"} /^## /{doc=substr($$0,4); next} /^[a-z][a-z-]*:/{if(doc){printf "  make %-12s %s\n",$$1,doc}; doc=""}' $(MAKEFILE_LIST)

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (canvass)" >/dev/null
	$(PY) -m canvass.fonts --install
	@touch $(STAMP)

## Create .venv with this machine's python3 and install everything (idempotent)
setup: $(STAMP)

## Run the weekly batch on the bundled sample data and print where the digest is
demo: setup
	$(PY) run_reports.py --data data/sample --out $(OUT) --week 2023-W37

## Run the test suite
test: setup
	$(PY) -m pytest -n 2 --dist loadgroup

## Start JupyterLab with the project's kernel (notebooks/)
lab: setup
	JUPYTER_PREFER_ENV_PATH=1 $(VENV)/bin/jupyter lab notebooks/ $(if $(filter 0,$(shell id -u)),--allow-root,) $(LAB_ARGS)

## Benchmark the batch against the naive papermill+nbconvert loop and the no-kernel floor
bench: setup
	$(PY) benchmarks/bench_batch.py

## Benchmark reading + cleaning 1,000,000 survey rows
bench-clean: setup
	$(PY) benchmarks/bench_clean.py

## Read and clean the sample inputs only, and print the rejects summary
check: setup
	$(PY) run_reports.py --data data/sample --check

## Remove generated reports and caches (keeps .venv)
clean:
	rm -rf $(OUT)/* .cache .pytest_cache
