"""An app as users write it: Traceloop.init(exporter=HeliconeSpanExporter(), disable_batch=True),
real OpenAI and Anthropic SDK calls against the fake provider. Prints the exporter's stats and the
app-thread time of each call as JSON. Configuration comes from the environment, as in production."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import anthropic
import openai
from fakeprovider import FakeProvider
from helicone_otel.exporter import HeliconeSpanExporter
from traceloop.sdk import Traceloop

exporter = HeliconeSpanExporter(schedule_delay=0.05)
Traceloop.init(app_name="exporter-app", exporter=exporter, disable_batch=True, telemetry_enabled=False)
durations = []
with FakeProvider() as fake:
    oai = openai.OpenAI(base_url=fake.openai_base_url, api_key="sk-fake", max_retries=0)
    claude = anthropic.Anthropic(base_url=fake.anthropic_base_url, api_key="sk-ant-fake", max_retries=0)
    for _ in range(3):
        t0 = time.perf_counter()
        oai.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
        claude.messages.create(model="claude-sonnet-4-5", max_tokens=10, messages=[{"role": "user", "content": "hi"}])
        durations.append(time.perf_counter() - t0)
flushed = exporter.force_flush(20_000)
print(json.dumps({"flushed": flushed, "stats": exporter.stats.__dict__, "durations": durations,
                  "served": fake.served}))  # fmt: skip
