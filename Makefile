# The README's two commands: `make run` and `make test`. Both create .venv on first use.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
PORT   ?= 5000
FLASK  := $(BIN)/flask --app portal

.PHONY: run dev test bench bench-smoke lint translations extract-messages clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@rm -f $(VENV)/.installed-*
	@touch $(STAMP)

# Compiled catalogues are build output (not in git).
translations: $(STAMP)
	$(BIN)/pybabel compile --use-fuzzy -d portal/translations -D messages >/dev/null

extract-messages: $(STAMP)
	$(BIN)/pybabel extract -F babel.cfg -k _l -k lazy_gettext -o portal/translations/messages.pot .
	$(BIN)/pybabel update -i portal/translations/messages.pot -d portal/translations --no-fuzzy-matching

# `make run` serves with gunicorn, as in production; `make dev` with Flask's reloading
# development server.
run: $(STAMP) translations
	$(FLASK) db upgrade
	$(FLASK) seed-demo --if-empty
	@echo "Serving on http://127.0.0.1:$(PORT)"
	PORTAL_HOST=$${PORTAL_HOST:-127.0.0.1:$(PORT)} $(BIN)/gunicorn --bind 127.0.0.1:$(PORT) \
		--workers 2 --threads 4 --worker-class gthread --access-logfile - wsgi:app

dev: $(STAMP) translations
	$(FLASK) db upgrade
	$(FLASK) seed-demo --if-empty
	PORTAL_HOST=$${PORTAL_HOST:-127.0.0.1:$(PORT)} $(FLASK) run --debug --host 127.0.0.1 --port $(PORT)

# The suite runs in one process per core (pytest-xdist); a module stays in one process so its
# shared servers and databases are built once. TEST_WORKERS=0 runs it in this process.
TEST_WORKERS ?= auto
test: $(STAMP) translations
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

# The big-district benchmark (issue 12; README "Performance"): builds or re-uses the district
# in instance/bench/, gunicorn + wrk, SQLite and PostgreSQL when reachable; bench/results.json.
bench: $(STAMP) translations
	@command -v wrk >/dev/null || { echo "wrk is missing: apt-get install -y wrk"; exit 1; }
	$(BIN)/python bench/run.py $(BENCH_ARGS)

# The same at S=0.01 with short runs (a smoke test; CI may run it).
bench-smoke: $(STAMP) translations
	@command -v wrk >/dev/null || { echo "wrk is missing: apt-get install -y wrk"; exit 1; }
	$(BIN)/python bench/run.py --smoke --output bench/results-smoke.json $(BENCH_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check portal tests bench
	$(BIN)/ruff format --check portal tests bench migrations
	$(BIN)/bandit -q -c pyproject.toml -r portal

clean:
	rm -rf $(VENV) .pytest_cache test-output
