# The two commands of the README: `make run` and `make test`.
# Both build .venv from the lock file of the TFX stack when it is missing, older
# than the lock or built for the other stack, then install this project into it
# (editable); a second call with nothing changed does no set-up work.
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin

# The TFX stack (docs/platforms.md): tfx-1.16 (Python 3.10) or tfx-1.21
# (Python 3.11-3.13, glibc >= 2.39). scripts/pick-stack picks it for this
# machine and says which and why; `make test STACK=tfx-1.21` chooses it.
STACK_GOALS := venv run test bench train-impact cross-stack-digests
ifneq ($(filter $(STACK_GOALS),$(or $(MAKECMDGOALS),venv)),)
override STACK := $(shell scripts/pick-stack $(STACK))
ifeq ($(STACK),)
$(error no TFX stack can be set up on this machine: see the message above)
endif
endif
ifeq ($(STACK),tfx-1.21)
LOCK := requirements-tfx-1.21.lock
LOCK_STAMP := $(VENV)/.lock-installed-tfx-1.21
else
LOCK := requirements.lock
LOCK_STAMP := $(VENV)/.lock-installed
endif
PROJECT_STAMP := $(VENV)/.project-installed
SAMPLE_DIR := build/sample
SAMPLE_IMAGES ?= 300
RUN_DIR := build/run
PYTEST_ARGS ?=

.PHONY: run test bench train-impact cross-stack-digests venv clean docs lint tools-venv

venv: $(PROJECT_STAMP)

$(LOCK_STAMP): $(LOCK)
	@rm -rf $(VENV)
	@py=$$(scripts/find-python $(STACK)) || exit 1; \
	  echo "Creating $(VENV) with $$py and installing $(LOCK) (about 3 GB, a few minutes the first time)"; \
	  "$$py" -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check "$$(grep '^pip==' $(LOCK))"
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -r $(LOCK)
	@$(BIN)/python -m pip check
	@touch $@

$(PROJECT_STAMP): $(LOCK_STAMP) pyproject.toml
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	@touch $@

# The TF Object Detection API and what it imports (requirements-odapi.lock,
# pinned for TF 2.16, the tfx-1.16 stack): for the OD API tests and
# `make train-impact` only, installed with --no-deps on top of the stack;
# `make run` never installs it. See docs/training.md.
ODAPI_STAMP := $(VENV)/.odapi-installed
ODAPI_FOR_TESTS := $(if $(filter tfx-1.21,$(STACK)),,$(ODAPI_STAMP))

$(ODAPI_STAMP): requirements-odapi.lock $(PROJECT_STAMP)
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -r requirements-odapi.lock
	@touch $@

$(SAMPLE_DIR)/.complete: $(PROJECT_STAMP)
	@rm -rf $(SAMPLE_DIR)
	$(BIN)/odweights sample-data $(SAMPLE_DIR) --images $(SAMPLE_IMAGES) --seed 0
	@touch $@

run: $(SAMPLE_DIR)/.complete
	$(BIN)/odweights run --voc-dir $(SAMPLE_DIR)/VOCdevkit --output-dir $(RUN_DIR)

# scripts/ensure-chromium: Debian's chromium for the HTML report's browser test
# (installed once with apt-get; without apt, the test skips and says why).
test: $(PROJECT_STAMP) $(ODAPI_FOR_TESTS)
	@scripts/ensure-chromium
	$(BIN)/python -m pytest -n 2 --dist loadfile $(PYTEST_ARGS)

bench: $(PROJECT_STAMP)
	$(BIN)/python benchmarks/run.py

# Records this stack's export digests for tests/test_cross_stack_bytes.py; run it
# on both stacks after a change to what the export writes (docs/platforms.md).
cross-stack-digests: $(PROJECT_STAMP)
	$(BIN)/python tests/test_cross_stack_bytes.py --write $(ARGS)

# The OD API trains the same SSD on five exports of the sample data (about 45
# to 90 min on 2 cores); results in benchmarks/results/training-impact/.
train-impact: $(ODAPI_STAMP)
	$(BIN)/python benchmarks/training_impact.py $(TRAIN_IMPACT_ARGS)

# make docs / make lint: MkDocs and Ruff in their own .venv-tools, from
# requirements-tools.lock (resolved on Python 3.10), independent of the TFX
# stack in .venv. See docs/contributing.md.
TOOLS_VENV := .venv-tools
TOOLS_STAMP := $(TOOLS_VENV)/.lock-installed

tools-venv: $(TOOLS_STAMP)

$(TOOLS_STAMP): requirements-tools.lock
	@rm -rf $(TOOLS_VENV)
	@py=$$(scripts/find-python) || exit 1; "$$py" -m venv $(TOOLS_VENV)
	@$(TOOLS_VENV)/bin/python -m pip install --quiet --disable-pip-version-check --no-deps -r requirements-tools.lock
	@$(TOOLS_VENV)/bin/python -m pip check
	@touch $@

# NO_MKDOCS_2_WARNING silences Material's banner about MkDocs 2.0 (the lock pins MkDocs 1.6).
docs: $(TOOLS_STAMP)
	NO_MKDOCS_2_WARNING=1 $(TOOLS_VENV)/bin/mkdocs build --strict

lint: $(TOOLS_STAMP)
	$(TOOLS_VENV)/bin/ruff check .
	$(TOOLS_VENV)/bin/ruff format --check .

clean:
	rm -rf build
