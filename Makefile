# The two commands: `make run` starts a one-node cluster, `make test` runs the whole suite.
# Both create .venv and build the Cython codec first, and both may be run any number of times.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.raftkv-installed
DATA_DIR ?= ./data
PORT ?= 2317

.PHONY: run test lint build clean soak cluster cluster-sharded

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip setuptools wheel cython

# Reinstall whenever the packaging or the Cython source changes.
$(STAMP): $(BIN)/python pyproject.toml setup.py raftkv/_resp.pyx raftkv/_entries.pyx raftkv/_slots.pyx raftkv/_frames.pyx
	$(BIN)/python -m pip install --quiet -e '.[test]'
	$(BIN)/python setup.py --quiet build_ext --inplace
	touch $(STAMP)

build: $(STAMP)

run: $(STAMP)
	$(BIN)/raftkv-server --host 127.0.0.1 --port $(PORT) --data-dir $(DATA_DIR)

# Three local nodes in the foreground (ports 2317-2319, data in ./data/<port>); Ctrl-C stops them.
cluster: $(STAMP)
	$(BIN)/python scripts/cluster.py

# Two shard groups of three nodes (ports 2317-2322, data in ./data/<port>), the 16384 slots shared
# between them, in the foreground; Ctrl-C stops them all.
cluster-sharded: $(STAMP)
	$(BIN)/python scripts/cluster_sharded.py

# ruff (lint, import order) and mypy (strict for raftkv/raft and raftkv/wire): part of make test.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

test: lint
	$(BIN)/python -m pytest

clean:
	rm -rf build raftkv/_resp.c raftkv/_resp*.so raftkv/_entries.c raftkv/_entries*.so raftkv/_slots.c raftkv/_slots*.so raftkv/_frames.c raftkv/_frames*.so *.egg-info $(VENV)

# A long run of the fault suite: SOAK_SECONDS more seconds of faults per cluster (3 and 5 nodes).
SOAK_SECONDS ?= 600
soak: $(STAMP)
	RAFTKV_SOAK_SECONDS=$(SOAK_SECONDS) $(BIN)/python -m pytest tests/fault -k stay_linearizable -s --timeout 0
