# homepair: `make run` serves on $(PORT); `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8082
export PORT

.PHONY: run test lint migrate bench clean system-deps

# The stamp files re-install only when a requirements file changes.
$(BIN)/.installed: requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements.txt
	touch $@

$(BIN)/.installed-dev: $(BIN)/.installed requirements-dev.txt
	$(BIN)/python -m pip install -q -r requirements-dev.txt
	touch $@

# umask 077: the database, its WAL files and instance/secret_key are readable by their owner only.
migrate: $(BIN)/.installed
	umask 077 && $(BIN)/flask --app wsgi db upgrade

run: migrate
	umask 077 && exec $(BIN)/gunicorn -c gunicorn.conf.py wsgi:app

# Debian packages (nginx, chromium) and services (PostgreSQL, Redis) the suite uses.
system-deps:
	bash .ci/system-deps

test: $(BIN)/.installed-dev system-deps
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The benchmark (bench/README.md): tables and the goals of issue 15, each run kept in
# bench/results/; BENCH_ARGS=--quick for a short smoke run, --no-postgres to skip PostgreSQL.
bench: $(BIN)/.installed-dev
	$(BIN)/python -m bench $(BENCH_ARGS)

lint: $(BIN)/.installed-dev
	$(BIN)/ruff check app tests bench migrations
	$(BIN)/ruff format --check app tests
	$(BIN)/lint-imports
	$(BIN)/mypy

clean:
	rm -rf $(VENV) .pytest_cache
