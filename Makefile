# Two commands: `make run` (install, migrate, demo data, serve) and `make test` (install, whole suite).
# With no DATABASE_URL / REDIS_URL a SQLite file is used and tasks run in-process.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
HOST ?= 127.0.0.1
PORT ?= 8000
PYTEST_ARGS ?=

.PHONY: run test install migrate seed worker beat lint messages bench clean

$(VENV)/.installed: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -r requirements.txt
	touch $@

install: $(VENV)/.installed

migrate: install
	DEBUG=$${DEBUG:-1} $(PY) manage.py migrate --noinput

seed: migrate
	DEBUG=$${DEBUG:-1} $(PY) manage.py seed_demo

# Web server on http://$(HOST):$(PORT); with REDIS_URL set, a Celery worker and beat run beside it
# and stop with it.
run: seed
	@export DEBUG=$${DEBUG:-1}; \
	if [ -n "$$REDIS_URL" ]; then \
	  $(VENV)/bin/celery -A config worker -Q default,scoring,notifications,batch -l info --concurrency 2 & WORKER=$$!; \
	  $(VENV)/bin/celery -A config beat -l info & BEAT=$$!; \
	  trap 'kill $$WORKER $$BEAT 2>/dev/null' EXIT INT TERM; \
	else \
	  echo "REDIS_URL is not set: Celery tasks run in-process (no worker or beat needed)."; \
	fi; \
	$(PY) manage.py runserver $(HOST):$(PORT)

worker: install
	$(VENV)/bin/celery -A config worker -Q default,scoring,notifications,batch -l info

beat: install
	$(VENV)/bin/celery -A config beat -l info

test: install
	DEBUG=1 $(PY) -m pytest $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports --no-cache

messages: install
	DEBUG=1 $(PY) manage.py makemessages -l zh_Hans --ignore=.venv --ignore=staticfiles --ignore=node_modules
	DEBUG=1 $(PY) manage.py compilemessages -l zh_Hans --ignore=.venv

bench: install
	for f in bench/bench_*.py; do DEBUG=1 $(PY) $$f || exit 1; done

clean:
	rm -rf $(VENV) staticfiles .pytest_cache
