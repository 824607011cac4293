# Two commands for a new user:  make run  (service on the shipped data)  and  make test.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench bench-growth clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/hotspots serve

test: $(STAMP)
	$(BIN)/python -m pytest -q -n 2 --dist loadfile

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python bench/run.py --pages --load

# The README's growth figure (writes about 2.3 GB of synthetic CSV under bench/.cache/ once).
bench-growth: $(STAMP)
	$(BIN)/python bench/run.py --no-sample --sizes 100k,1m,10m --growth-figure docs/growth.png

clean:
	rm -rf $(VENV) var
