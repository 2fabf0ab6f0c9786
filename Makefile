# labctl — two commands on a fresh machine: `make demo` and `make test`.
# Every target creates .venv (Python >= 3.11) and installs the project into it when missing.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: demo test test-all test-hardware lint bench browser clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
		|| { echo "labctl needs Python 3.11 or newer ($(PYTHON) is older)" >&2; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

## demo: the main job: bring the simulated link up end to end, certify it, write the report
demo: $(STAMP)
	$(BIN)/labctl demo --out demo-report --data-dir .demo-archive

## lint: ruff, the import-linter layout contracts and mypy
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/mypy

## test: the whole suite except slow statistical tests and hardware tests, on two workers
## (tests marked with one xdist_group share a worker: the demos run once per profile)
PYTEST_WORKERS ?= 2
test: lint browser
	$(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadgroup -m "not slow and not hardware"

## test-all: everything, slow statistical tests included (hardware tests skip without a lab)
test-all: lint browser
	$(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadgroup

## test-hardware: the read-only checks of tests/hardware against a real lab, e.g.
##   make test-hardware STATION=stations/two_node.yaml PROFILE=lab
STATION ?=
PROFILE ?= lab
test-hardware: $(STAMP)
	@test -n "$(STATION)" || { echo "test-hardware: name the lab's station file: STATION=..." >&2; exit 2; }
	LABCTL_HARDWARE_STATION=$(STATION) LABCTL_HARDWARE_PROFILE=$(PROFILE) $(BIN)/pytest tests/hardware

## bench: the performance suite; each figure printed as `name: value unit`
bench: $(STAMP)
	$(BIN)/python -m benchmarks

## browser: headless Chromium + chromedriver for the browser tests of HTML reports.
## Installs the Debian packages when missing (as root, or through sudo if it needs no
## password); when that is impossible it says so in one line and the browser tests skip.
BROWSER_LOG := $${TMPDIR:-/tmp}/labctl-browser-install.log
browser:
	@if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ]; then sudo=""; \
	elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo="sudo -n"; \
	else echo "browser: chromium/chromedriver missing and no root or password-less sudo;" \
	          "browser tests will be skipped"; exit 0; fi; \
	if ! command -v apt-get >/dev/null 2>&1; then \
		echo "browser: chromium/chromedriver missing and no apt-get; browser tests will be skipped"; \
		exit 0; fi; \
	printf 'browser: installing chromium and chromium-driver with apt-get ... '; \
	if { $$sudo apt-get update -qq || true; \
	     $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	        -o Acquire::http::Timeout=30 chromium chromium-driver; } >$(BROWSER_LOG) 2>&1 \
	   && [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then \
		echo "installed"; \
	else echo "failed (see $(BROWSER_LOG)); browser tests will be skipped"; fi

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info
