"""The README's quickstart app: a plain `Traceloop.init()` pointed at the sidecar with TRACELOOP_BASE_URL (the
variable Traceloop reads; OTEL_EXPORTER_OTLP_ENDPOINT does nothing for it), one real OpenAI call against the
fake provider."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import openai
from fakeprovider import FakeProvider
from traceloop.sdk import Traceloop

Traceloop.init(app_name="quickstart", disable_batch=True, telemetry_enabled=False)
with FakeProvider() as fake:
    oai = openai.OpenAI(base_url=fake.openai_base_url, api_key="sk-fake", max_retries=0)
    oai.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
