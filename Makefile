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

.PHONY: help install run worker test test-fast lint format typecheck check-imports check rename clean

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

run: install ## Migrate, create the dev superuser, serve with hot reload on 127.0.0.1:8000 (+ a stand-in Accent-Auth)
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py ensure_dev_superuser
	@echo "Admin: http://$(HOST):$(PORT)/admin/  API docs: http://$(HOST):$(PORT)/api/docs/"
	@# Without ACCENT_AUTH_URL, serve the stand-in Accent-Auth beside the app (docs/accent-auth.md);
	@# it stops with `make run`. STANDIN=0 keeps token authentication off (the embedded default).
	@if [ -z "$$ACCENT_AUTH_URL" ] && [ "$(STANDIN)" != "0" ]; then \
	  $(BIN)/python -m devtools.accent_auth_standin --port $(STANDIN_PORT) & standin=$$!; \
	  trap 'kill $$standin 2>/dev/null' EXIT INT TERM; \
	  export ACCENT_AUTH_URL=http://127.0.0.1:$(STANDIN_PORT)/0.1; \
	  echo "Get a token: curl -s -u alice:alice -H 'Content-Type: application/json' -d '{}' $$ACCENT_AUTH_URL/token"; \
	  $(BIN)/python manage.py runserver $(HOST):$(PORT); \
	else \
	  $(BIN)/python manage.py runserver $(HOST):$(PORT); \
	fi

worker: install ## Run a Celery worker (needs CELERY_BROKER_URL)
	$(BIN)/celery -A project worker --loglevel INFO

test: install ## Run the test suite (embedded default unless service URLs are set)
	$(BIN)/pytest $(PYTEST_ARGS)

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

check: lint typecheck check-imports ## Every static check CI runs
	$(BIN)/hadolint Dockerfile
	$(BIN)/python manage.py makemigrations --check --dry-run

rename: ## Rename the template for a new service: make rename NAME=billing
	@test -n "$(NAME)" || (echo "usage: make rename NAME=<service_name>" && exit 2)
	$(PYTHON) scripts/rename.py "$(NAME)"

clean: ## Remove .venv, .tools and every cache
	rm -rf $(VENV) $(TOOLS) .pytest_cache .mypy_cache .ruff_cache htmlcov .coverage
