# Two entry points on a fresh machine: `make run` (set up, then the main job) and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: setup data test-debs run test test-fast lint doctest wheel-check asan onednn3-check gpu-check

setup: $(VENV)/.installed data

$(VENV)/.installed: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $@

# From Debian: Fashion-MNIST, the embedded default dataset, and oneDNN with a C++ compiler for
# the CPU kernels (hpobench/onednn.py; without them training falls back to XLA's, ~2x slower).
DEBS := dataset-fashion-mnist libdnnl-dev g++
APT = dpkg -s $(1) >/dev/null 2>&1 || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq $(1); }
data:
	@$(call APT,$(DEBS))

# For the tests only: headless Chromium renders the scope's report.html (tests/test_report.py).
TEST_DEBS := chromium
test-debs:
	@$(call APT,$(TEST_DEBS))

# The main job: decide what to tune for the ResNet on Fashion-MNIST (8.3 min measured on a fresh clone, 2-core
# AVX2 AMD EPYC, 2026-12-08, set-up included: a new venv from pip's cache, the dataset and every program built
# from empty; before the probe trained whole programs, results/probe_units/: 9.3 min on an AVX-512 Xeon, 9.9 to
# 12.8 min on AVX2 EPYCs).
run: setup
	$(BIN)/hpobench scope resnet/fashion_mnist --budget 0.6 --n-low 30 --resolution 7 --out runs/scope

# What the tests need beyond the main job's set-up, so that no test skips for a missing package
# (tests/test_tiers.py checks it): Syne Tune (the `peers` extra: tests/test_mf_functions.py checks the peers'
# harness; ~0.8 GB installed, most of it XGBoost's NCCL) and torch (the `bench` extra: the PyTorch example,
# tests/test_examples.py). torch's CPU build comes first from PyTorch's index (~0.2 GB, where PyPI's
# Linux wheel pulls gigabytes of CUDA libraries); where that index is out of reach, PyPI's build comes instead.
TORCH := torch==2.13.0
$(VENV)/.tests: $(VENV)/.installed
	-$(BIN)/pip install -q --no-deps --retries 1 --timeout 30 --index-url https://download.pytorch.org/whl/cpu $(TORCH)
	$(BIN)/pip install -q -e '.[test,peers,bench]'
	touch $@

# Every test, the slow tier included, a test file per worker on up to 4 cores (pytest-xdist; a file's tests
# share its fixtures, so no worker builds another's).
test: setup test-debs $(VENV)/.tests
	$(BIN)/pytest -q -n auto --maxprocesses 4 --dist loadfile

# The inner loop (target: under 2 minutes on one core): the tests without the `slow` mark, i.e. no compiling,
# training, subprocesses, Dask clusters, scope job or study harness (tests/test_tiers.py checks the marks).
test-fast: setup $(VENV)/.tests
	$(BIN)/pytest -q -m "not slow"

lint: setup
	$(BIN)/ruff check .

# Every module's docstring examples (part of `make test` too).
doctest: setup
	$(BIN)/pytest -q tests/test_docstrings.py

# The wheel in a clean venv, used from outside the checkout (needs no setup: it installs its own).
wheel-check:
	PY=$(PY) .ci/wheel-check

# The CPU kernels under AddressSanitizer: their tests and a 16-process stress (half on AVX2 code).
ASAN_RUN = HPOBENCH_ONEDNN_SANITIZE=address ASAN_OPTIONS=detect_leaks=0 \
	LD_PRELOAD="$$(gcc -print-file-name=libasan.so) $$(gcc -print-file-name=libstdc++.so.6)"
asan: setup
	$(ASAN_RUN) $(BIN)/pytest -q -p no:cacheprovider tests/test_onednn.py
	$(BIN)/python -m hpobench.experiments.studies.stress --processes 16 --asan

# The kernels against oneDNN 3.x (PyPI's GNU-OpenMP build) instead of the system's 2.x.
ONEDNN3 := .onednn3
onednn3-check: setup
	@test -d $(ONEDNN3)/lib || { $(BIN)/pip download -q --no-deps -d $(ONEDNN3)/whl \
	  onednn-cpu-gomp==2023.2.0 onednn-devel-cpu-gomp==2023.2.0 && \
	  for w in $(ONEDNN3)/whl/*.whl; do $(BIN)/python -m zipfile -e $$w $(ONEDNN3)/whl/x; done && \
	  cp -r $(ONEDNN3)/whl/x/*.data/data/include $(ONEDNN3)/whl/x/*.data/data/lib $(ONEDNN3)/; }
	HPOBENCH_ONEDNN_ROOT=$(CURDIR)/$(ONEDNN3) $(BIN)/pytest -q -p no:cacheprovider tests/test_onednn.py

# Where a GPU exists: parity with the CPU, throughput, a grid cell (< 5 min); without one it says so.
gpu-check: setup
	$(BIN)/python -m hpobench.experiments.studies.gpu_check --out gpu_check.json
