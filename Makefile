# Two commands do all set-up: `make run` and `make test`. Both create .venv and install what they need.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PKGS   := src/helicone_otel semconv exporter collector forwarder

.PHONY: run test lint typecheck unit kafka bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

# The strict editable install links each file; re-link when the set of package files changes.
$(VENV)/.files: FORCE | $(PY)
	@find $(PKGS) \( -name '*.py' -o -name py.typed \) | sort > $@.new
	@cmp -s $@.new $@ && rm $@.new || mv $@.new $@

$(VENV)/.installed-run: pyproject.toml $(VENV)/.files
	$(PY) -m pip install -q -e '.[collector,forwarder]' --config-settings editable_mode=strict
	touch $@

$(VENV)/.installed-dev: pyproject.toml $(VENV)/.files
	$(PY) -m pip install -q -e '.[dev]' --config-settings editable_mode=strict
	touch $@ $(VENV)/.installed-run

# traceloop-sdk 0.40 (indexed gen_ai.prompt.N attributes) cannot share a venv with the current one;
# the semconv tests drive it in this second venv to capture real legacy spans.
LEGACY_VENV := .venv-legacy
LEGACY_PINS := traceloop-sdk==0.40.14 openai==1.75.0 anthropic==0.49.0 opentelemetry-exporter-otlp-proto-common
$(LEGACY_VENV)/.installed: Makefile
	$(PYTHON) -m venv $(LEGACY_VENV)
	$(LEGACY_VENV)/bin/python -m pip install -q --upgrade pip
	$(LEGACY_VENV)/bin/python -m pip install -q $(LEGACY_PINS)
	touch $@

# Popular GenAI emitters (LiteLLM, pydantic-ai + logfire, LlamaIndex, the OpenAI Agents SDK, OpenLIT) pin
# openai 2.x and newer OpenTelemetry than the suite's traceloop-sdk: the semconv tests capture their real
# spans in this third venv (tests/support/capture_emitters.py).
EMITTERS_VENV := .venv-emitters
EMITTERS_PINS := litellm==1.110.2 'pydantic-ai-slim[openai,anthropic]==2.31.1' logfire==5.4.0 \
	llama-index-core==0.14.25 llama-index-llms-openai==0.8.3 openinference-instrumentation-llama-index==4.6.1 \
	openai-agents==0.20.0 openinference-instrumentation-openai-agents==2.6.0 openlit==1.44.0 \
	opentelemetry-instrumentation-openai==0.62.4 opentelemetry-instrumentation-openai-agents==0.62.4 \
	openai==2.54.0 anthropic==0.125.0 opentelemetry-sdk==1.45.1 opentelemetry-exporter-otlp-proto-common==1.45.1
$(EMITTERS_VENV)/.installed: Makefile
	$(PYTHON) -m venv $(EMITTERS_VENV)
	$(EMITTERS_VENV)/bin/python -m pip install -q --upgrade pip
	$(EMITTERS_VENV)/bin/python -m pip install -q $(EMITTERS_PINS)
	touch $@

# The real Vercel AI SDK (JavaScript) for the Vercel dialect's tests; versions pinned by the lock file.
VERCEL := tests/vercel
$(VERCEL)/node_modules/.installed: $(VERCEL)/package.json $(VERCEL)/package-lock.json
	npm ci --prefix $(VERCEL) --no-audit --no-fund --loglevel=error
	touch $@

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

unit: $(VENV)/.installed-dev $(LEGACY_VENV)/.installed $(EMITTERS_VENV)/.installed $(VERCEL)/node_modules/.installed
	$(PY) -m pytest

test: lint typecheck unit

kafka: $(VENV)/.installed-run
	$(PY) tools/kafka/localkafka.py

clean:
	rm -rf $(VENV) $(LEGACY_VENV) $(EMITTERS_VENV) $(VERCEL)/node_modules build *.egg-info .pytest_cache .mypy_cache .ruff_cache
