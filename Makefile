# Every target works on a fresh clone: `setup` installs all that a new machine needs.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# The native fake-quant kernel is built inside the venv, so a clone never depends on, or
# writes to, a shared cache in the home folder. A value set by the caller wins.
export TORCH_EXTENSIONS_DIR ?= $(CURDIR)/$(VENV)/torch_extensions
KERNEL_STAMP := $(TORCH_EXTENSIONS_DIR)/.quantplan-built

.PHONY: setup test lint demo bench clean

setup: $(STAMP) $(KERNEL_STAMP)

# torch is pinned here (not in pyproject.toml) so pip takes the CPU wheel on disk
# instead of resolving a multi-GB CUDA build; users keep the open range torch>=2.8.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[test,rich]'
	touch $(STAMP)

# Build the native fake-quant kernel now rather than on first use; without a C++ compiler
# this only logs a warning, and the ATen kernels are used instead.
$(KERNEL_STAMP): $(STAMP) quantplan/runtime/numerics/native/fake_quant.cpp
	$(PY) -c 'from quantplan.runtime.numerics.native import fixed_fake_quant_kernel as build; build()'
	mkdir -p $(TORCH_EXTENSIONS_DIR)
	touch $@

# pytest exits 5 when it collects nothing; that must fail CI, so it is mapped to 1.
test: setup
	$(PY) -m pytest -q -p no:cacheprovider tests; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests"; exit 1; fi; exit $$rc

lint: setup
	$(VENV)/bin/ruff check quantplan tests benchmarks examples
	$(VENV)/bin/ruff format --check quantplan tests benchmarks examples

demo: setup
	$(VENV)/bin/quantplan demo --output demo-out

COREAI_VENV := benchmarks/.venv-coreai

# coreai-opt is only a point of comparison, so it goes into its own environment and never into
# quantplan's. torch is pinned so pip takes the CPU wheel. A failed install is ignored (the `-`):
# run_all.py then says in RESULTS.md that the prepare comparison did not run.
$(COREAI_VENV)/.installed:
	-$(PYTHON) -m venv $(COREAI_VENV) && \
	$(COREAI_VENV)/bin/pip install --quiet torch==2.13.0 coreai-opt && \
	$(COREAI_VENV)/bin/pip install --quiet -e '.[demo]' && \
	touch $@

bench: setup $(COREAI_VENV)/.installed
	OMP_WAIT_POLICY=PASSIVE $(PY) benchmarks/run_all.py

clean:
	rm -rf $(VENV) demo-out build dist *.egg-info
