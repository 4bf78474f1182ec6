"""A serverless handler as the README writes it: Traceloop.init(exporter=HeliconeSpanExporter()) with
Traceloop's default batch processor, the handler decorated with @flush_after, one real OpenAI call against
the fake provider, and then the process ends as a frozen runtime does: no exit handlers (os._exit)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import openai
from fakeprovider import FakeProvider
from helicone_otel.exporter import HeliconeSpanExporter, flush_after
from traceloop.sdk import Traceloop

exporter = HeliconeSpanExporter()
Traceloop.init(app_name="serverless-app", exporter=exporter, telemetry_enabled=False)


@flush_after(exporter)
def handler(base_url: str) -> None:
    oai = openai.OpenAI(base_url=base_url, api_key="sk-fake", max_retries=0)
    oai.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])


with FakeProvider() as fake:
    handler(fake.openai_base_url)
sys.stdout.flush()
os._exit(0)
