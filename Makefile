# catalog-motion developer targets. `make demo` and `make test` work on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
# torch first, as a CPU build: installed later as a dependency it would pull a multi-GB CUDA build.
TORCH_SPEC ?= torch==2.13.0
OUT ?= out/demo
STAMP := $(VENV)/.installed

.PHONY: venv demo sample test lint test-deps bench qc-heldout qc-heldout2 serve deploy worker bench-scale soak clean gpu-check

venv: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q "$(TORCH_SPEC)"
	$(BIN)/pip install -q -c constraints.txt -e '.[diffusion,dask,ray,test]'
	touch $(STAMP)

sample: venv
	$(BIN)/python scripts/draw_sample_catalog.py samples/catalog

demo: sample
	$(BIN)/catalog-motion run --catalog samples/catalog/catalog.csv --out $(OUT)

# System packages the tests need (headless Chromium for playback and UI tests).
test-deps:
	bash scripts/install_test_deps.sh

# The import contract (pyproject.toml [tool.importlinter]) and ruff's lint and format rules, in seconds.
lint: venv
	$(BIN)/lint-imports
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: lint test-deps
	PREFECT_SERVER_ANALYTICS_ENABLED=false $(BIN)/python -m pytest -q -p no:cacheprovider --durations=25 $(PYTEST_ARGS)

bench: venv sample
	$(BIN)/python -m benchmarks.run_all

# Every diffusion engine at real size with random weights on one CUDA GPU (scripts/gpu_check.py, docs/ENGINES.md):
# s/clip per preset, peak memory, share outside denoising, non-generative share. Without CUDA: says so, exits 0.
gpu-check: venv
	$(BIN)/python scripts/gpu_check.py $(GPU_CHECK_ARGS)

# The QC gate on its held-out set (benchmarks/heldout/, docs/QUALITY.md): clips made by code of their own, at
# the presets' real sizes, scored with the packaged thresholds (benchmarks/results/qc_heldout.json).
qc-heldout: venv
	$(BIN)/python -m benchmarks.heldout

# Held-out set v2 (benchmarks/heldout2/): blind, never seen while tuning; photos cached in out/heldout2-cache/
# (benchmarks/results/qc_heldout2.json and .md).
qc-heldout2: venv
	$(BIN)/python -m benchmarks.heldout2 --validate
	$(BIN)/python -m benchmarks.heldout2

# Soak (benchmarks/soak.py, docs/RELIABILITY.md): nights of a mixed catalog (good, broken and hostile rows, now and
# then a wholly broken one) through the real flow, S3 behind a fault proxy, runs and workers SIGKILLed and resumed,
# for SOAK_MINUTES (default 30). Items lost, duplicates, orphans and `latest` regressions must be 0 (else exit 1);
# running totals and one line per pass: benchmarks/results/soak.json.
SOAK_MINUTES ?= 30
soak: venv
	PREFECT_SERVER_ANALYTICS_ENABLED=false $(BIN)/python -m benchmarks.soak --minutes $(SOAK_MINUTES)

# Local operations (docs/OPERATIONS.md): Prefect server on :4200 with SQLite under .prefect/, work pool,
# `gpu` concurrency limit, deployments from prefect.yaml, automations.yaml, and a worker (Ctrl-C stops).
CATALOG ?= samples/catalog/catalog.csv
NIGHTLY_OUT ?= out/nightly
serve: venv sample
	$(BIN)/catalog-motion serve --catalog $(CATALOG) --out $(NIGHTLY_OUT)

# Against a running server (PREFECT_API_URL): re-deploy after editing prefect.yaml / automations.yaml.
deploy: venv
	$(BIN)/catalog-motion ops setup --catalog $(CATALOG) --out $(NIGHTLY_OUT)

worker: venv
	CATALOG_MOTION_ROOT=$(CURDIR) $(BIN)/prefect worker start --pool catalog-motion-local --type process

# The 30,000-item scale run against a real local server (benchmarks/results/scale.json).
bench-scale: venv
	$(BIN)/python -m benchmarks.bench_scale

clean:
	rm -rf out .pytest_cache benchmarks/results/*.tmp
