# cronlane: the front door. `make demo` and `make test` work from a fresh clone: they create
# the virtual environments and install everything they need.

SHELL := /bin/bash
.DEFAULT_GOAL := help

# Lambda runs python3.13; so do we. pyenv's 3.13 is used when python3.13 is not on PATH.
# (A pyenv shim named python3.13 may exist without 3.13 being active: each candidate is run.)
PYTHON ?= $(shell for p in python3.13 $$HOME/.pyenv/versions/3.13*/bin/python3.13; do \
	"$$p" -c 'import sys; assert sys.version_info[:2] == (3, 13)' >/dev/null 2>&1 && { command -v "$$p"; break; }; \
	done)
VENV := .venv
BIN := $(VENV)/bin
# Tools that pin packages the project's own environment must not get (aws-facts: tooling pins)
# live in environments of their own.
SAM_VENV := .tools/sam
SAM := $(SAM_VENV)/bin/sam
SAM_CLI_VERSION := 1.170.0
CFN_LINT := $(SAM_VENV)/bin/cfn-lint
# checkov pins its own boto3 (aws-facts): a third environment.
CHECKOV_VENV := .tools/checkov
CHECKOV := $(CHECKOV_VENV)/bin/checkov
CHECKOV_VERSION := 3.3.30
export SAM_CLI_TELEMETRY := 0

.PHONY: help venv tools lint typecheck format validate build unit stack pytest test demo chaos bench clean

help:
	@echo "make demo   run daily-full-sync of the example app on the embedded default (moto, this machine)"
	@echo "make test   lint, type-check, sam validate --lint, cfn-lint, checkov, sam build, and every test"
	@echo "make build  sam build (the deployable artifacts in .aws-sam/)"
	@echo "make chaos  the chaos soak: 500 runs, >= 10,000 job executions, with faults (about 30 min)"
	@echo "make bench  cost, makespan, hand-off, dispatch scale, cold start, idle wake-ups (benchmarks/)"

$(BIN)/.installed: pyproject.toml
	@test -n "$(PYTHON)" || { echo "python3.13 not found (install it, or: make PYTHON=/path/to/python3.13)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[local,dev]"
	@touch $@

venv: $(BIN)/.installed

# A tool in a virtual environment of its own: $(call tool_venv,<directory>,<pip requirement>)
define tool_venv
	@test -n "$(PYTHON)" || { echo "python3.13 not found"; exit 1; }
	$(PYTHON) -m venv $(1)
	$(1)/bin/pip install --quiet --upgrade pip
	$(1)/bin/pip install --quiet "$(2)"
	@touch $@
endef

$(SAM_VENV)/.installed-$(SAM_CLI_VERSION):
	$(call tool_venv,$(SAM_VENV),aws-sam-cli==$(SAM_CLI_VERSION))

$(CHECKOV_VENV)/.installed-$(CHECKOV_VERSION):
	$(call tool_venv,$(CHECKOV_VENV),checkov==$(CHECKOV_VERSION))

tools: $(SAM_VENV)/.installed-$(SAM_CLI_VERSION) $(CHECKOV_VENV)/.installed-$(CHECKOV_VERSION)

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: venv
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

typecheck: venv
	$(BIN)/mypy layers/cronlane/cronlane layers/cronlane/jobs cli/cronlane_cli functions benchmarks

# The template's checks: SAM's own, cfn-lint, and checkov (every failed check is fixed or skipped
# in the resource's Metadata with a written reason; --skip-download: no network needed).
validate: tools
	$(SAM) validate --lint
	$(CFN_LINT) template.yaml
	$(CHECKOV) --file template.yaml --framework cloudformation --compact --quiet --skip-download

# sam build runs pip for python3.13/arm64; the project's venv puts python3.13 on PATH.
build: tools venv
	rm -rf .aws-sam
	PATH="$(CURDIR)/$(BIN):$$PATH" $(SAM) build

pytest: venv
	$(BIN)/pytest -q -n 2 --dist loadgroup

test: lint typecheck validate build pytest

demo: venv
	$(BIN)/cronlane local run daily-full-sync

# The chaos soak (tests/chaos/soak.py); its last line is the verdict. A smaller one runs in make test.
chaos: venv
	$(BIN)/python -m tests.chaos.soak --runs 500 --min-jobs 10000

# The benchmarks (benchmarks/README.md); the last line is the figures, each beside its target above it.
bench: venv
	$(BIN)/python -m benchmarks.run

clean:
	rm -rf $(VENV) .tools .aws-sam .cronlane .pytest_cache .mypy_cache .ruff_cache
