# Weekly campaign reports — convenience targets for Linux/macOS.
# Each target runs dev.py (one implementation); on Windows run `python dev.py TASK` directly.
.DEFAULT_GOAL := help
PYTHON ?= python3
OUT ?= reports

.PHONY: help setup demo test lab bench bench-clean check clean

## Show this help
help:
	@awk 'BEGIN{FS=":"} /^## /{doc=substr($$0,4); next} /^[a-z][a-z-]*:/{if(doc){printf "  make %-12s %s\n",$$1,doc}; doc=""}' $(MAKEFILE_LIST)

## Create .venv with this machine's python3 and install everything (idempotent)
setup:
	@$(PYTHON) dev.py setup

## Run the weekly batch on the bundled sample data and print where the digest is
demo:
	@$(PYTHON) dev.py demo --out "$(OUT)"

## Run the test suite
test:
	@$(PYTHON) dev.py test

## Start JupyterLab with the project's kernel (notebooks/)
lab:
	@$(PYTHON) dev.py lab -- $(LAB_ARGS)

## Benchmark the batch against the naive papermill+nbconvert loop and the no-kernel floor
bench:
	@$(PYTHON) dev.py bench

## Benchmark reading + cleaning 1,000,000 survey rows
bench-clean:
	@$(PYTHON) dev.py bench-clean

## Read and clean the sample inputs only, and print the rejects summary
check:
	@$(PYTHON) dev.py check

## Remove generated reports and caches (keeps .venv)
clean:
	@$(PYTHON) dev.py clean --out "$(OUT)"
