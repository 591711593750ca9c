# The two set-up commands of the README: `make demo` and `make test`. Both create .venv when missing.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test check lint venv clean browser

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --no-compile -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/mlscale run recipes/breast_cancer.yaml
	@echo "Results: $(BIN)/mlflow ui --backend-store-uri sqlite:///mlflow.db  (then open http://127.0.0.1:5000)"

lint: $(STAMP)
	$(BIN)/ruff check mlscale tests benchmarks examples
	$(BIN)/ruff format --check mlscale tests benchmarks examples
	$(BIN)/mypy mlscale

# Tests that start no Ray and no session cluster run on every core (pytest-xdist, one file per worker at a
# time); those that do then run in one process (marked `serial` by tests/conftest.py).
test: lint browser
	$(BIN)/python -m pytest -q -n auto --dist loadfile -m "not serial"
	$(BIN)/python -m pytest -q -m serial

# The report's browser test needs Chromium: installed from the OS packages where this runs as root with
# apt-get (quietly; nothing to do when one is there). Elsewhere the browser test is skipped, saying why.
CHROMIUM := chromium-headless-shell chromium
browser:
	@for b in $(CHROMIUM) chromium-browser google-chrome; do command -v $$b >/dev/null && exit 0; done; \
	if [ "$$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then \
	  echo "browser: no Chromium, and not root with apt-get: the report's browser test will be skipped"; exit 0; fi; \
	echo "browser: installing Chromium from the OS packages (apt-get, first of: $(CHROMIUM))"; \
	export DEBIAN_FRONTEND=noninteractive; \
	for pkg in $(CHROMIUM); do \
	  apt-get install -y -qq --no-install-recommends $$pkg >/dev/null 2>&1 && exit 0; \
	  apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq --no-install-recommends $$pkg >/dev/null 2>&1 && exit 0; \
	done; echo "browser: apt-get could not install Chromium: the report's browser test will be skipped"

# The inner loop: lint, types and the in-process unit tests (no Ray cluster, no MLflow server).
check: lint
	$(BIN)/python -m pytest -q -n auto tests/unit

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache output mlflow.db mlruns
