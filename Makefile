# Two commands do all the set-up on a fresh machine with Python 3.11:
#   make run    installs the locked environment and runs the reference pipeline
#   make test   installs the locked environment and runs the tests
PYTHON ?= python3.11
VENV ?= .venv
UV_VERSION = 0.13.8
UV = $(VENV)/bin/uv
BIN = $(VENV)/bin

export OMP_NUM_THREADS ?= 1

.PHONY: setup run test lint bench compile clean

$(UV):
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(VENV)/.synced: requirements/lock.txt pyproject.toml | $(UV)
	VIRTUAL_ENV=$(VENV) $(UV) pip sync --python $(BIN)/python requirements/lock.txt
	VIRTUAL_ENV=$(VENV) $(UV) pip install --python $(BIN)/python --no-deps -e .
	touch $@

setup: $(VENV)/.synced

run: setup
	$(BIN)/kfp-governance run

test: setup
	$(BIN)/python -m pytest

lint: setup
	$(BIN)/ruff check .

bench: setup
	$(BIN)/python benchmarks/validation.py

compile: setup
	$(BIN)/kfp-governance compile --output training.yaml

clean:
	rm -rf $(VENV)
