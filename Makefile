# The two set-up commands of the README: `make demo` and `make test`. Both create .venv when missing.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test check lint venv clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/mlscale run recipes/breast_cancer.yaml
	@echo "Results: $(BIN)/mlflow ui --backend-store-uri sqlite:///mlflow.db  (then open http://127.0.0.1:5000)"

lint: $(STAMP)
	$(BIN)/ruff check mlscale tests benchmarks examples
	$(BIN)/ruff format --check mlscale tests benchmarks examples
	$(BIN)/mypy mlscale

test: lint
	$(BIN)/python -m pytest -q

# The inner loop: lint, types and the in-process unit tests (no Ray cluster, no MLflow server).
check: lint
	$(BIN)/python -m pytest -q tests/unit

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache output mlflow.db mlruns
