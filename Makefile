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
# The example application (a SAM app that uses the framework as a team's app would) and the
# framework's own fixture app (what its tests run on).
EXAMPLE := examples/nightly-sync
FIXTURE := tests/fixture_app
VERSION := $(shell sed -n 's/^__version__ = "\(.*\)"/\1/p' src/cronlane/__init__.py)
# The example's layer installs cronlane from these wheels (--no-index --find-links): the
# framework's wheel and its dependencies', for Lambda's arm64 and for this machine.
WHEELS := $(EXAMPLE)/wheels
LAMBDA_PLATFORM := --only-binary=:all: --platform manylinux2014_aarch64 --platform manylinux_2_28_aarch64 \
	--python-version 3.13 --implementation cp --abi cp313
# Tools that pin packages the project's own environment must not get (docs/aws-facts.md: tooling
# pins) live in environments of their own.
SAM_VENV := .tools/sam
SAM := $(CURDIR)/$(SAM_VENV)/bin/sam
SAM_CLI_VERSION := 1.170.0
CFN_LINT := $(CURDIR)/$(SAM_VENV)/bin/cfn-lint
# checkov pins its own boto3 (docs/aws-facts.md): a third environment.
CHECKOV_VENV := .tools/checkov
CHECKOV := $(CURDIR)/$(CHECKOV_VENV)/bin/checkov
CHECKOV_VERSION := 3.3.30
export SAM_CLI_TELEMETRY := 0

.PHONY: help venv wheels tools browser lint typecheck format validate build unit stack pytest test demo chaos bench scale clean

help:
	@echo "make demo    run daily-full-sync of the example app on the embedded default (moto, this machine)"
	@echo "make test    lint, type-check, sam validate --lint, cfn-lint, checkov, sam build, and every test"
	@echo "make wheels  the framework's wheel (and its dependencies') for the example's layer"
	@echo "make build   sam build of the example app (the deployable artifacts in $(EXAMPLE)/.aws-sam/)"
	@echo "make sam-local  sam local invoke of both functions against the local twin (root, Docker;"
	@echo "             in the example and in an app made by cronlane init)"
	@echo "make chaos   the chaos soak: 500 runs, >= 10,000 job executions, with faults (about 85 min here);"
	@echo "             make chaos PROFILE=aggressive: 150 runs with every fault far more often"
	@echo "make bench   cost, makespan, hand-off, dispatch scale, cold start, idle wake-ups (benchmarks/)"
	@echo "make scale   one simulated day of a million jobs against AWS's quotas (benchmarks/scale.py)"

$(BIN)/.installed: pyproject.toml
	@test -n "$(PYTHON)" || { echo "python3.13 not found (install it, or: make PYTHON=/path/to/python3.13)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[local,dev]"
	@touch $@

venv: $(BIN)/.installed

$(WHEELS)/.built-$(VERSION): $(BIN)/.installed pyproject.toml $(shell find src -name '*.py' -o -name '*.typed')
	rm -rf $(WHEELS) && mkdir -p $(WHEELS)
	$(BIN)/pip wheel --quiet --no-deps --wheel-dir $(WHEELS) . && rm -rf build
	$(BIN)/pip download --quiet --dest $(WHEELS) $(LAMBDA_PLATFORM) $(WHEELS)/cronlane-$(VERSION)-py3-none-any.whl
	$(BIN)/pip download --quiet --dest $(WHEELS) $(WHEELS)/cronlane-$(VERSION)-py3-none-any.whl
	@touch $@

wheels: $(WHEELS)/.built-$(VERSION)

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

# The browser the UI's tests and benchmark drive (Playwright, from the dev extras, drives it):
# Debian's Chromium, installed if it is not there (as root, or with sudo).
browser:
	@command -v chromium >/dev/null || { \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q chromium; }

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: venv
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

typecheck: venv
	$(BIN)/mypy src benchmarks $(EXAMPLE)/src $(FIXTURE)/src

# The templates' checks, the example's and the fixture app's: SAM's own, cfn-lint, and checkov
# (every failed check is fixed or skipped in the resource's Metadata with a written reason;
# --skip-download: no network needed).
validate: tools
	for app in $(EXAMPLE) $(FIXTURE); do \
		(cd $$app && $(SAM) validate --lint && $(CFN_LINT) template.yaml \
			&& $(CHECKOV) --file template.yaml --framework cloudformation --compact --quiet --skip-download) \
		|| exit 1; \
	done

# sam build runs pip for python3.13/arm64; the project's venv puts python3.13 on PATH. pip finds
# every package in the layer's wheels (PIP_NO_INDEX, PIP_FIND_LINKS): no package index needed.
build: tools venv wheels
	rm -rf $(EXAMPLE)/.aws-sam
	cd $(EXAMPLE) && PATH="$(CURDIR)/$(BIN):$$PATH" PIP_NO_INDEX=1 PIP_FIND_LINKS="$(CURDIR)/$(WHEELS)" $(SAM) build

# The init tests run cronlane init (with these wheels), sam validate, sam build, cfn-lint and checkov.
pytest: venv tools wheels browser
	CRONLANE_WHEELS="$(CURDIR)/$(WHEELS)" $(BIN)/pytest -q -n 2 --dist loadgroup

test: lint typecheck validate build sam-local pytest

# The example app's main job, run from the app's folder as a user runs it.
demo: venv
	cd $(EXAMPLE) && $(CURDIR)/$(BIN)/cronlane local run daily-full-sync

# The chaos soak (tests/chaos/soak.py); its last line is the verdict. A smaller one runs in make test.
PROFILE ?= default
chaos: venv
	PYTHONPATH=$(CURDIR)/$(FIXTURE)/src $(BIN)/python -m tests.chaos.soak --profile $(PROFILE)

# The benchmarks (benchmarks/README.md); the last line is the figures, each beside its target above it.
bench: venv browser wheels
	$(BIN)/python -m benchmarks.run

# One simulated day of a million jobs against AWS's quotas (benchmarks/scale.py); the last line is
# the figures, and it fails if a quota would throttle.
scale: venv
	$(BIN)/python -m benchmarks.scale

include sam-local.mk

clean:
	rm -rf $(VENV) .tools $(EXAMPLE)/.aws-sam $(WHEELS) .cronlane $(EXAMPLE)/.cronlane .pytest_cache .mypy_cache .ruff_cache
