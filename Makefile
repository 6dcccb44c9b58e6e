# catalog-motion developer targets. `make demo` and `make test` work on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
# torch first, as a CPU build: installed later as a dependency it would pull a multi-GB CUDA build.
TORCH_SPEC ?= torch==2.13.0
OUT ?= out/demo
STAMP := $(VENV)/.installed

.PHONY: venv demo sample test test-deps bench serve soak clean

venv: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q "$(TORCH_SPEC)"
	$(BIN)/pip install -q -c constraints.txt -e '.[diffusion,dask,test]'
	touch $(STAMP)

sample: venv
	$(BIN)/python scripts/draw_sample_catalog.py samples/catalog

demo: sample
	$(BIN)/catalog-motion run --catalog samples/catalog/catalog.csv --out $(OUT)

# System packages the tests need (headless Chromium for playback and UI tests).
test-deps:
	bash scripts/install_test_deps.sh

test: venv test-deps
	PREFECT_SERVER_ANALYTICS_ENABLED=false $(BIN)/python -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

bench: venv sample
	$(BIN)/python -m benchmarks.run_all

clean:
	rm -rf out .pytest_cache benchmarks/results/*.tmp
