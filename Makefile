# Two commands do all the set-up on a fresh machine: `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
UV := $(shell command -v uv 2>/dev/null || echo "$(PYTHON) -m uv")
STAMP := $(VENV)/.installed
export UV_COMPILE_BYTECODE := 1
export UV_LINK_MODE := copy

.PHONY: bootstrap demo test lock bench clean

bootstrap: $(STAMP)

$(STAMP): requirements/lock.txt pyproject.toml
	@command -v uv >/dev/null 2>&1 || $(PYTHON) -m uv --version >/dev/null 2>&1 || $(PYTHON) -m pip install -q uv
	@[ -x $(PY) ] || $(UV) venv -q --python $(PYTHON) $(VENV)
	$(UV) pip sync -q --python $(PY) requirements/lock.txt
	$(UV) pip install -q --python $(PY) --no-deps -e .
	@touch $@

demo: bootstrap
	$(PY) -m airflow_provider_markaestro.demo

test: bootstrap
	$(PY) -m pytest $(PYTEST_ARGS)

bench: bootstrap
	$(PY) bench/throughput.py
	$(PY) bench/upload.py

lock:
	$(UV) pip compile -q --python-version 3.11 requirements/lock.in -o requirements/lock.txt

clean:
	rm -rf $(VENV) build
