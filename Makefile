# Doppel: two commands on a fresh machine.
#   make demo   set up .venv, fetch the sample media, run the main job (out/demo/)
#   make test   set up .venv, fetch the sample media, run the test suite
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.doppel-installed
SAMPLES := samples/.complete
# CPU machines take the CPU build of torch that the registry mirror carries; CUDA machines the
# default (CUDA) build.
TORCH := $(shell command -v nvidia-smi >/dev/null 2>&1 && echo 'torch>=2.4' || echo 'torch==2.13.0')
PYTEST_ARGS ?=

.PHONY: all setup samples demo test lint bench clean plugin
all: test

setup: $(STAMP)

$(STAMP): pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --disable-pip-version-check '$(TORCH)'
	$(PIP) install -q --disable-pip-version-check -e '.[train,dev]'
	touch $@

samples: $(SAMPLES)

$(SAMPLES): $(STAMP) engine/samples.py
	$(PY) -m engine.cli.main samples --dest samples

demo: $(SAMPLES)
	$(PY) -m engine.cli.main demo --samples samples --out out/demo

test: $(SAMPLES)
	$(PY) -m ruff check engine trainers tests benchmarks tools
	$(PY) tools/run_pytest.py $(PYTEST_ARGS)

bench: $(SAMPLES)
	$(PY) benchmarks/extract.py

clean:
	rm -rf out build .pytest_cache .ruff_cache
