# One-line targets; CI calls the same ones. Everything installs into .venv.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PG_TEST_URL ?= postgres://postgres@127.0.0.1:5432/plumbline
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: demo test test-sqlite test-postgres bench lint fmt check worker beat up install chromium migrate

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

chromium:
	@command -v chromium >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

migrate: $(STAMP)
	DEBUG=1 $(BIN)/python manage.py migrate --noinput

# The demo reads its own sample folders and local databases: the operator
# switches that allow that are set here only.
DEMO_ENV := DEBUG=1 PLUMBLINE_TARGET_PATH_ROOTS=$(CURDIR)/demo,$(CURDIR)/var PLUMBLINE_ALLOW_PRIVATE_TARGETS=1

demo: $(STAMP) migrate
	$(DEMO_ENV) $(BIN)/python manage.py demo
	@echo "Serving http://127.0.0.1:8000/  (log in as demo / plumbline-demo)"
	$(DEMO_ENV) $(BIN)/python manage.py runserver 127.0.0.1:8000

test: $(STAMP) chromium
	$(MAKE) test-sqlite
	@if $(BIN)/python -c "import socket; socket.create_connection(('127.0.0.1', 5432), 2)" 2>/dev/null; then \
	  $(MAKE) test-postgres; \
	else echo "PostgreSQL does not answer on 127.0.0.1:5432: skipping the PostgreSQL run."; fi

# pytest exits 5 when it collects nothing; make treats any non-zero as failure.
test-sqlite: $(STAMP)
	env -u DATABASE_URL -u REDIS_URL SECRET_KEY=test-only $(BIN)/pytest -q

# The engine tests never touch Django's database, so the PostgreSQL run
# covers the suites that do.
test-postgres: $(STAMP)
	env -u REDIS_URL SECRET_KEY=test-only CONN_MAX_AGE=0 DATABASE_URL=$(PG_TEST_URL) $(BIN)/pytest -q --ignore=tests/engine

bench: $(STAMP)
	@for script in bench/bench_*.py; do echo "== $$script"; SECRET_KEY=bench-only $(BIN)/python $$script || exit 1; done
	@echo "Figures written to bench/RESULTS.md"

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

fmt: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

check: lint
	SECRET_KEY=check-only $(BIN)/python manage.py check --deploy --fail-level ERROR
	SECRET_KEY=check-only $(BIN)/python manage.py makemigrations --check --dry-run

worker: $(STAMP)
	$(BIN)/celery -A config worker -l info

beat: $(STAMP)
	$(BIN)/celery -A config beat -l info

up:
	docker compose up --build
