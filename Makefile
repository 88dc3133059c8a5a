# mirrordb developer tasks. `make test` builds the virtual environment and runs every test.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin

.PHONY: test bench clean

$(VENV): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(VENV)

test: $(VENV)
	$(BIN)/python -m pytest -n 2 -q tests

bench: $(VENV)
	$(BIN)/python bench/engine_bench.py

clean:
	rm -rf $(VENV) build src/*.egg-info
