# nanowire-hil: two-command quick start (make demo, make test) plus bench and lint.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
DEMO_OUT ?= results/demo
# Benchmark data: ../shared/data beside the checkout unless NWHIL_DATA is set.
NWHIL_DATA ?= $(abspath ../shared/data)
export NWHIL_DATA
export MPLBACKEND ?= Agg
# Install torch first, pinned: here that takes the CPU wheel on disk; a looser range would pull
# a multi-GB CUDA build.
TORCH_PIN := torch==2.13.0

.PHONY: install demo test test-fast bench lint docs clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet $(TORCH_PIN)
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/nwhil demo -o $(DEMO_OUT)

test: $(STAMP)
	$(PY) -m pytest -n 2 --dist loadgroup -q

test-fast: $(STAMP)
	$(PY) -m pytest -n 2 -q -m "not slow"

bench: $(STAMP)
	$(VENV)/bin/nwhil bench

lint: $(STAMP)
	$(VENV)/bin/ruff check .

# Docs: the project's docs extra on top of the install above (torch already pinned), then Sphinx
# with warnings as errors. Autodoc only: no example is executed.
DOCS_STAMP := $(VENV)/.installed-docs

$(DOCS_STAMP): $(STAMP) pyproject.toml
	$(PY) -m pip install --quiet -e '.[docs]'
	touch $(DOCS_STAMP)

docs: $(DOCS_STAMP)
	$(VENV)/bin/sphinx-build -E -W --keep-going -b html docs docs/_build/html
	@echo "docs: $(abspath docs/_build/html/index.html)"

clean:
	rm -rf $(VENV) results .pytest_cache build *.egg-info
