# crisislake: `make run` (sample pipeline end to end) and `make test` are all a newcomer needs.
.DEFAULT_GOAL := help
SHELL := /bin/bash
PYTHON_BIN ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export PYTHONPATH := $(CURDIR)/lib

.PHONY: help setup services services-stop run serve report models test lint bench chaos audit build submit clean

help: ## list the targets
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  %-15s %s\n", $$1, $$2}'

$(STAMP): requirements-dev.txt setup.py
	bash scripts/install_system_deps.sh
	$(PYTHON_BIN) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements-dev.txt
	$(PY) -m pip install -q --no-deps -e .
	$(PY) -m crisislake.session
	touch $(STAMP)

setup: $(STAMP) ## virtualenv, Python deps, Java/PostgreSQL if missing, JVM packages (cached)

services: setup ## start local PostgreSQL and moto (S3/EMR/Redshift Data API) on 127.0.0.1
	$(PY) scripts/devservices.py start

services-stop: ## stop the local services
	$(PY) scripts/devservices.py stop

run: services ## run the whole pipeline locally on data/sample/ into ./lake and load PostgreSQL
	@test -s .services/pseudonym.key || (mkdir -p .services && $(PY) -c "import secrets; print(secrets.token_hex(32))" > .services/pseudonym.key)
	WAREHOUSE_PSEUDONYM_KEY=$$(cat .services/pseudonym.key) \
	CRISISLAKE_WAREHOUSE__POSTGRES_URL=$$($(PY) -c "import sys; sys.path.insert(0,'scripts'); import devservices; print(devservices.postgres_url())") \
	  $(PY) -m crisislake.cli pipeline --sample data/sample

serve: services ## after `make run`: the HTTP API on 127.0.0.1:8000 as read-only/reviewer roles (docs at /docs)
	CRISISLAKE_WAREHOUSE__POSTGRES_URL=$$($(PY) -c "import sys; sys.path.insert(0,'scripts'); import devservices; print(devservices.postgres_url())") \
	  $(PY) -m crisislake.cli serve --setup

report: services ## after `make run`: write report.html (one offline file: charts, incident map, freshness)
	CRISISLAKE_WAREHOUSE__POSTGRES_URL=$$($(PY) -c "import sys; sys.path.insert(0,'scripts'); import devservices; print(devservices.postgres_url())") \
	  $(PY) -m crisislake.cli report --output report.html

models: setup ## train the default classifiers into lake/models (reads ../shared/data when present)
	$(PY) -m crisislake.cli train --task all

test: services ## run the test suite (starts PostgreSQL and moto first)
	$(PY) -m pytest -q tests

lint: setup ## ruff, and the import layers of .importlinter (cli/pipeline > areas > foundation)
	$(VENV)/bin/ruff check lib jobs tests bench scripts
	$(VENV)/bin/lint-imports

bench: services ## benchmarks: print throughput and memory figures (slow, not a test)
	$(PY) bench/run_all.py

chaos: services ## kill jobs at random points, rerun, count rows lost/doubled (CHAOS_POINTS=20 CHAOS_JOBS=a,b): bench/results/reliability.md
	$(PY) bench/chaos.py

audit: setup ## pip-audit the virtualenv: fails on a known vulnerability (AUDIT_STRICT=1: also on an unchecked package)
	$(PY) scripts/audit.py

build: setup ## build dist/: package zip, jobs, bootstrap, config, stamped with the git version
	$(PY) -m crisislake.cli emr build

submit: build ## run the pipeline on a transient EMR cluster (CRISISLAKE_LAKE_ROOT=s3://..., SUBMIT_ARGS=...)
	$(PY) -m crisislake.cli emr submit --env aws $(SUBMIT_ARGS)

clean: ## remove the local lake, build outputs and service state
	-$(PY) scripts/devservices.py stop
	rm -rf lake dist build .services spark-warehouse .pytest_cache
