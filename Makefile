# labctl — two commands on a fresh machine: `make demo` and `make test`.
# Every target creates .venv (Python >= 3.11) and installs the project into it when missing.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: demo test test-all lint bench clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
		|| { echo "labctl needs Python 3.11 or newer ($(PYTHON) is older)" >&2; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

## demo: the main job on the simulated station
demo: $(STAMP)
	$(BIN)/labctl station show

## lint: ruff and the import-linter layout contracts
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports

## test: the whole suite except slow statistical tests and hardware tests
test: lint
	$(BIN)/pytest -m "not slow and not hardware"

## test-all: everything, slow statistical tests included (hardware tests skip without a lab)
test-all: lint
	$(BIN)/pytest

## bench: the performance suite; each figure printed as `name: value unit`
bench: $(STAMP)
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info
