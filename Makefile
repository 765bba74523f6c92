# The two commands a newcomer needs: `make run` and `make test`.
# Needs only Python 3.11 and make: uv is bootstrapped into .tools/, the locked
# dependencies into .venv/. No toolchain or browser is ever downloaded.

PYTHON ?= python3
UV_VERSION := 0.13.9
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
PYTEST_ARGS ?=

export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)

.PHONY: help install run worker beat feature test lifecycle test-fast lint format typecheck check-imports graphql-schema check rename clean

.DEFAULT_GOAL := help

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-14s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"

$(BIN)/.installed: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --python "$$($(PYTHON) -c 'import sys; print(sys.executable)')"
	touch $@

install: $(BIN)/.installed ## Create .venv with exactly the locked dependencies

STANDIN_PORT ?= 9497

# run, worker and beat go through scripts/dev.py: it reads .env (the environment wins over it) and
# says in one line what is missing (a database that does not answer, a broker that is not there).
run: install ## Migrate, create the dev superuser, serve with hot reload on 127.0.0.1:8000 (+ a stand-in Accent-Auth)
	@# Without ACCENT_AUTH_URL the stand-in Accent-Auth serves beside the app (docs/accent-auth.md) and
	@# stops with it; STANDIN=0 keeps token authentication off (the embedded default).
	$(BIN)/python scripts/dev.py run --host $(HOST) --port $(PORT) --standin-port $(STANDIN_PORT) $(if $(filter 0,$(STANDIN)),--no-standin)

worker: install ## Run a Celery worker (refuses to start without a real CELERY_BROKER_URL)
	$(BIN)/python scripts/dev.py worker

beat: install ## Run the Celery beat scheduler (the periodic tasks; needs a real CELERY_BROKER_URL)
	$(BIN)/python scripts/dev.py beat

feature: install ## Generate a feature app: make feature NAME=invoices (docs/new-feature.md)
	@test -n "$(NAME)" || (echo "usage: make feature NAME=<app_name>" && exit 2)
	$(BIN)/python manage.py startfeature "$(NAME)"

test: install ## Run the test suite (embedded default unless service URLs are set)
	$(BIN)/pytest $(PYTEST_ARGS)

lifecycle: install ## Clone, rename to billing and run the renamed service's whole suite (docs/development.md)
	scripts/lifecycle.sh billing

test-fast: install ## The suite without the tests that start processes (servers, workers, browser): under a minute
	$(BIN)/pytest -m "not process" $(PYTEST_ARGS)

lint: install ## ruff lint and format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install ## Fix what ruff can fix
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

typecheck: install ## mypy --strict with the Django and DRF stubs
	$(BIN)/mypy

check-imports: install ## import-linter: the contracts in pyproject.toml
	$(BIN)/lint-imports

graphql-schema: install ## Regenerate schema.graphql from the live GraphQL schema (docs/graphql.md)
	$(BIN)/python scripts/graphql_schema.py

check: lint typecheck check-imports ## Every static check CI runs
	$(BIN)/python scripts/graphql_schema.py --check
	$(BIN)/hadolint Dockerfile
	$(BIN)/python manage.py makemigrations --check --dry-run

rename: ## Rename the template for a new service: make rename NAME=billing
	@test -n "$(NAME)" || (echo "usage: make rename NAME=<service_name>" && exit 2)
	$(PYTHON) scripts/rename.py "$(NAME)"

clean: ## Remove .venv, .tools and every cache
	rm -rf $(VENV) $(TOOLS) .pytest_cache .mypy_cache .ruff_cache htmlcov .coverage
