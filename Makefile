# The two commands of the README's Quick start: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test services bench train eval lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# Reinstall only when the project definition changed.
$(VENV)/.stamp-run: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.stamp-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[dev]'
	touch $@ $(VENV)/.stamp-run

run: $(VENV)/.stamp-run
	$(BIN)/goodstanding demo

services:
	bash scripts/services.sh

test: $(VENV)/.stamp-dev services
	$(BIN)/python -m pytest -q -p no:cacheprovider

bench: $(VENV)/.stamp-dev
	$(BIN)/python bench/run.py

# Retrain the offline detectors from ../shared/datasets (fixed seed); writes detect/data/.
train: $(VENV)/.stamp-dev
	$(BIN)/python scripts/train_detectors.py

# The issue-18 table on the source-held-out validation, per layer and per source, from the
# shipped weights; rewrites the report section of docs/detectors.md.
eval: $(VENV)/.stamp-dev
	$(BIN)/python scripts/eval_detectors.py --write docs/detectors.md

lint: $(VENV)/.stamp-dev
	$(BIN)/ruff check src tests bench

clean:
	rm -rf $(VENV) build dist src/*.egg-info
