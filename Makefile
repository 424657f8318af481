# The two commands of the README: `make run` and `make test`.
# Both build .venv from requirements.lock when it is missing or older than the
# lock, then install this project into it (editable); a second call with
# nothing changed does no set-up work.
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
LOCK_STAMP := $(VENV)/.lock-installed
PROJECT_STAMP := $(VENV)/.project-installed
SAMPLE_DIR := build/sample
SAMPLE_IMAGES ?= 300
RUN_DIR := build/run
PYTEST_ARGS ?=

.PHONY: run test bench venv clean

venv: $(PROJECT_STAMP)

$(LOCK_STAMP): requirements.lock
	@rm -rf $(VENV)
	@py=$$(scripts/find-python) || exit 1; \
	  echo "Creating $(VENV) with $$py and installing requirements.lock (about 3 GB, a few minutes the first time)"; \
	  "$$py" -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check "$$(grep '^pip==' requirements.lock)"
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -r requirements.lock
	@$(BIN)/python -m pip check
	@touch $@

$(PROJECT_STAMP): $(LOCK_STAMP) pyproject.toml
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	@touch $@

$(SAMPLE_DIR)/.complete: $(PROJECT_STAMP)
	@rm -rf $(SAMPLE_DIR)
	$(BIN)/odweights sample-data $(SAMPLE_DIR) --images $(SAMPLE_IMAGES) --seed 0
	@touch $@

run: $(SAMPLE_DIR)/.complete
	$(BIN)/odweights run --voc-dir $(SAMPLE_DIR)/VOCdevkit --output-dir $(RUN_DIR)

test: $(PROJECT_STAMP)
	$(BIN)/python -m pytest -n 2 --dist loadfile $(PYTEST_ARGS)

bench: $(PROJECT_STAMP)
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf build
