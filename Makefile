# The two set-up commands of the README: `make demo` and `make test`.
# Both create .venv on first use and build the cffi extensions into it (editable install).

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint typecheck pytest wheel-smoke dist docs native bench clean system-deps fuzz fuzz-deps

demo: $(STAMP)
	$(BIN)/python -m aionetmap demo

test: $(STAMP) lint typecheck pytest wheel-smoke

system-deps:
	./scripts/system-deps.sh

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q -U pip setuptools wheel

# Reinstall whenever packaging or native sources change, so the .so always matches the C.
$(STAMP): $(BIN)/python pyproject.toml setup.py $(wildcard aionetmap/_native/*.c aionetmap/_native/*.h aionetmap/_native/*.cdef aionetmap/_native/build_*.py) | system-deps
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $@

native: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP)
	$(BIN)/pytest

# Build the wheel and the sdist, install the wheel into a throwaway venv and use it from
# outside the source tree (scripts/wheel-smoke.sh).
wheel-smoke: $(STAMP)
	./scripts/wheel-smoke.sh $(BIN)/python

# The wheel and sdist users install, into dist/.
dist: $(STAMP)
	$(BIN)/python -m build --no-isolation --outdir dist .

# The documentation site (docs/*.md + the docstrings) into docs/_build/html; any Sphinx
# warning fails the build. The docs extra is installed into .venv on first use.
DOCS_STAMP := $(VENV)/.docs-installed

$(DOCS_STAMP): $(STAMP)
	$(BIN)/python -m pip install -q -e '.[test,docs]'
	touch $@

docs: $(DOCS_STAMP)
	$(BIN)/sphinx-build -b html -W --keep-going -q docs docs/_build/html
	@echo "docs/_build/html/index.html"

bench: $(STAMP)
	$(BIN)/python -m bench

# libFuzzer harnesses of the C side (fuzz/README.md), each run for FUZZ_SECONDS (default 30);
# not part of `make test`. `make fuzz-deps` (as root) installs clang and its runtime.
fuzz:
	$(MAKE) -C fuzz run

fuzz-deps:
	./scripts/system-deps.sh --fuzz

clean:
	rm -rf $(VENV) build dist *.egg-info docs/_build aionetmap/_native/*.so aionetmap/_native/_*.c
