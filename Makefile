# Two commands do all set-up: `make run` and `make test`. Both create .venv and install what they need.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PKGS   := src/helicone_otel semconv exporter collector

.PHONY: run test lint typecheck unit kafka bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

# The strict editable install links each file; re-link when the set of package files changes.
$(VENV)/.files: FORCE | $(PY)
	@find $(PKGS) \( -name '*.py' -o -name py.typed \) | sort > $@.new
	@cmp -s $@.new $@ && rm $@.new || mv $@.new $@

$(VENV)/.installed-run: pyproject.toml $(VENV)/.files
	$(PY) -m pip install -q -e . --config-settings editable_mode=strict
	touch $@

$(VENV)/.installed-dev: pyproject.toml $(VENV)/.files
	$(PY) -m pip install -q -e '.[dev]' --config-settings editable_mode=strict
	touch $@ $(VENV)/.installed-run

FORCE:

run: $(VENV)/.installed-run
	$(PY) tools/devrun.py

lint: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(VENV)/.installed-dev
	$(VENV)/bin/mypy -p helicone_otel
	$(VENV)/bin/mypy tools/kafka/localkafka.py tools/devrun.py
	$(VENV)/bin/mypy --config-file tests/mypy.ini tests

unit: $(VENV)/.installed-dev
	$(PY) -m pytest

test: lint typecheck unit

kafka: $(VENV)/.installed-run
	$(PY) tools/kafka/localkafka.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
