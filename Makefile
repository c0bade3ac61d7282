# paper-digest: `make demo` to try it, `make test` to run the whole suite.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: venv system-deps test lint format demo bench check-real clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $(STAMP)

# Debian packages the tests drive for real (chromium, spamassassin, dovecot, ...).
system-deps:
	scripts/system-deps

# What CI runs: lint, format check, strict types, then the whole suite, in 3 processes
# (pytest-xdist). --dist loadfile keeps a file's tests on one worker: module fixtures are
# made once, and the network-namespace tests of a file never overlap (tests/netns.py).
# The tests wait on servers and subprocesses more than they compute, so 3 on 2 cores.
test: venv system-deps lint
	$(BIN)/python -m pytest -q --durations=10 -n 3 --dist loadfile

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/python scripts/complexity.py newsletter

format: venv
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

demo: venv
	$(BIN)/python scripts/demo.py

bench: venv
	$(BIN)/python -m bench

# The hf-text reader against real pages saved by real tools (kept outside the repository;
# every file with a NAME.expected.json beside it). Not part of `make test`.
REAL_DIR ?= ../shared/real
check-real: venv
	$(BIN)/python -m bench.check_real $(REAL_DIR)

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache demo-out
