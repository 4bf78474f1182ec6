# Two commands do all set-up: `make run` and `make test`. Both create .venv and install what they need.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PKGS   := src/helicone_otel semconv exporter collector forwarder

.PHONY: run test test-latest lock lock-upgrade lint typecheck unit kafka bench clean

# Every venv is synced by uv from a committed lock (pinned versions with hashes, from `uv pip compile`), so a clean
# clone installs the same versions on any day: locks/dev.txt and locks/run.txt for .venv (locks/build.txt for the
# package's own build), and a requirements.lock
# beside each capture venv's pyproject.toml. `make lock` re-locks after a range changed; `make lock-upgrade` moves
# every lock to the newest releases the ranges allow.
UV_VERSION := 0.13.10
UV_VENV    := .venv-uv
UV         := $(UV_VENV)/bin/uv
export UV_PYTHON_DOWNLOADS := never
COMPILE = $(UV) pip compile --quiet --universal --python-version 3.11 --generate-hashes --no-header

$(UV):
	$(PYTHON) -m venv $(UV_VENV)
	$(UV_VENV)/bin/python -m pip install -q --disable-pip-version-check uv==$(UV_VERSION)

$(PY): | $(UV)
	$(UV) venv --quiet --python $(PYTHON) $(VENV)

# The strict editable install links each file; re-link when the set of package files changes.
$(VENV)/.files: FORCE | $(PY)
	@find $(PKGS) \( -name '*.py' -o -name py.typed \) | sort > $@.new
	@cmp -s $@.new $@ && rm $@.new || mv $@.new $@

$(VENV)/.installed-run: pyproject.toml locks/run.txt $(VENV)/.files
	$(UV) pip install --quiet -p $(VENV) -r locks/run.txt
	$(UV) pip install --quiet -p $(VENV) --no-deps -b locks/build.txt -C editable_mode=strict --reinstall-package helicone-otel -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml locks/dev.txt $(VENV)/.files
	$(UV) pip sync --quiet -p $(VENV) locks/dev.txt
	$(UV) pip install --quiet -p $(VENV) --no-deps -b locks/build.txt -C editable_mode=strict --reinstall-package helicone-otel -e .
	touch $@ $(VENV)/.installed-run

# traceloop-sdk 0.40 (indexed gen_ai.prompt.N attributes) cannot share a venv with the current one;
# the semconv tests drive it in this second venv to capture real legacy spans.
LEGACY_VENV := .venv-legacy
LEGACY_ENV  := tests/envs/legacy
$(LEGACY_VENV)/.installed: $(LEGACY_ENV)/requirements.lock | $(UV)
	$(UV) venv --quiet --allow-existing --python $(PYTHON) $(LEGACY_VENV)
	$(UV) pip sync --quiet -p $(LEGACY_VENV) $<
	touch $@

# Popular GenAI emitters (LiteLLM, pydantic-ai + logfire, LlamaIndex, the OpenAI Agents SDK, OpenLIT) pin
# openai 2.x and newer OpenTelemetry than the suite's traceloop-sdk: the semconv tests capture their real
# spans in this third venv (tests/support/capture_emitters.py).
EMITTERS_VENV := .venv-emitters
EMITTERS_ENV  := tests/envs/emitters
$(EMITTERS_VENV)/.installed: $(EMITTERS_ENV)/requirements.lock | $(UV)
	$(UV) venv --quiet --allow-existing --python $(PYTHON) $(EMITTERS_VENV)
	$(UV) pip sync --quiet -p $(EMITTERS_VENV) $<
	touch $@

# Instrumentations that put the prompt and the completion only in OTLP log records (GenAI events: the official
# openai-v2 and google-genai ones, OpenLLMetry's events path): tests/support/capture_events.py captures their
# spans and logs in this fourth venv.
EVENTS_VENV := .venv-events
EVENTS_ENV  := tests/envs/events
$(EVENTS_VENV)/.installed: $(EVENTS_ENV)/requirements.lock | $(UV)
	$(UV) venv --quiet --allow-existing --python $(PYTHON) $(EVENTS_VENV)
	$(UV) pip sync --quiet -p $(EVENTS_VENV) $<
	touch $@

# The real Vercel AI SDK (JavaScript) for the Vercel dialect's tests; versions pinned by the lock file.
VERCEL := tests/vercel
$(VERCEL)/node_modules/.installed: $(VERCEL)/package.json $(VERCEL)/package-lock.json
	npm ci --prefix $(VERCEL) --no-audit --no-fund --loglevel=error
	touch $@

# Re-lock after editing a range (versions already locked are kept where they still fit), or move to the newest.
lock: | $(UV)
	$(COMPILE) $(LOCK_FLAGS) locks/build.in -o locks/build.txt
	$(COMPILE) $(LOCK_FLAGS) pyproject.toml --extra dev -o locks/dev.txt
	$(COMPILE) $(LOCK_FLAGS) pyproject.toml --extra collector --extra forwarder -c locks/dev.txt -o locks/run.txt
	$(COMPILE) $(LOCK_FLAGS) $(LEGACY_ENV)/pyproject.toml -o $(LEGACY_ENV)/requirements.lock
	$(COMPILE) $(LOCK_FLAGS) $(EMITTERS_ENV)/pyproject.toml -o $(EMITTERS_ENV)/requirements.lock
	$(COMPILE) $(LOCK_FLAGS) $(EVENTS_ENV)/pyproject.toml -o $(EVENTS_ENV)/requirements.lock

lock-upgrade:
	$(MAKE) lock LOCK_FLAGS=--upgrade

# `make test-latest` (not part of `make test` or CI): the same venvs and Vercel app from the newest releases the
# ranges allow, no lock, then the capture tests against them. It finds drift before users do.
LATEST := .venv-latest
test-latest: | $(UV)
	rm -rf $(LATEST)
	$(UV) venv --quiet --python $(PYTHON) $(LATEST)/main
	$(UV) pip install --quiet -p $(LATEST)/main -C editable_mode=strict -e '.[dev]'
	$(UV) venv --quiet --python $(PYTHON) $(LATEST)/legacy
	$(UV) pip install --quiet -p $(LATEST)/legacy -r $(LEGACY_ENV)/pyproject.toml
	$(UV) venv --quiet --python $(PYTHON) $(LATEST)/emitters
	$(UV) pip install --quiet -p $(LATEST)/emitters -r $(EMITTERS_ENV)/pyproject.toml
	$(UV) venv --quiet --python $(PYTHON) $(LATEST)/events
	$(UV) pip install --quiet -p $(LATEST)/events -r $(EVENTS_ENV)/pyproject.toml
	mkdir -p $(LATEST)/vercel && cp $(VERCEL)/capture.mjs $(LATEST)/vercel/
	# the AI SDK packages (the capture libraries) at their newest, with @ai-sdk/otel, where AI SDK 7 moved its
	# OpenTelemetry spans; the OpenTelemetry JS packages that export the spans as locked, since their `latest` tags
	# do not always agree on the @opentelemetry/api they accept
	cd $(LATEST)/vercel && npm init -y --loglevel=error >/dev/null && npm install --no-audit --no-fund \
	  --loglevel=error $$(node -p "Object.entries(require('$(CURDIR)/$(VERCEL)/package.json').dependencies) \
	  .map(([d, v]) => d + '@' + (d.startsWith('@opentelemetry/') ? v : 'latest')).join(' ')") @ai-sdk/otel@latest
	HELICONE_OTEL_LEGACY_VENV=$(CURDIR)/$(LATEST)/legacy HELICONE_OTEL_EMITTERS_VENV=$(CURDIR)/$(LATEST)/emitters \
	  HELICONE_OTEL_EVENTS_VENV=$(CURDIR)/$(LATEST)/events \
	  HELICONE_OTEL_VERCEL_DIR=$(CURDIR)/$(LATEST)/vercel $(LATEST)/main/bin/python -m pytest -m capture

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

unit: $(VENV)/.installed-dev $(LEGACY_VENV)/.installed $(EMITTERS_VENV)/.installed $(EVENTS_VENV)/.installed \
	  $(VERCEL)/node_modules/.installed
	$(PY) -m pytest

test: lint typecheck unit

kafka: $(VENV)/.installed-run
	$(PY) tools/kafka/localkafka.py

clean:
	rm -rf $(VENV) $(LEGACY_VENV) $(EMITTERS_VENV) $(EVENTS_VENV) $(LATEST) $(UV_VENV) $(VERCEL)/node_modules build *.egg-info .pytest_cache .mypy_cache .ruff_cache
