# The two commands of the quick start: `make up` (run the service) and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install up test unit lint typecheck check export clean

$(STAMP): pyproject.toml scripts/system-deps.sh
	scripts/system-deps.sh $(PYTHON)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## Run the whole stack on 127.0.0.1 (Ctrl-C stops it).
up: $(STAMP)
	$(PY) -m devstack up

## Run every test: unit, integration (real servers) and end to end.
test: $(STAMP)
	$(PY) -m pytest

unit: $(STAMP)
	$(PY) -m pytest tests/unit

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(STAMP)
	$(VENV)/bin/mypy .

check: lint typecheck test

## Export the MesoNet detector to ONNX (see README for the options).
export: $(STAMP)
	$(PY) -m model_repository.export --help

clean:
	rm -rf .local .mypy_cache .ruff_cache .pytest_cache
