"""An app whose instrumentation puts the content only in GenAI event log records: Traceloop with
`use_attributes=False` (its OpenAI instrumentation then emits `gen_ai.*` events through the Logs API), the Logs
SDK's batch processor feeding `HeliconeLogExporter` beside `HeliconeSpanExporter`. Traceloop's own
`logging_exporter=` carries Python `logging` records only, so the global logger provider is set here, as the
OpenTelemetry SDK is set up; `EVENTS_APP_WITHOUT_LOG_EXPORTER=1` leaves the log exporter out. Real OpenAI SDK calls
against the fake provider; prints JSON: the exporter's stats once the calls are done (before any flush) and after
the flush, and what the fake served.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import openai
from fakeprovider import FakeProvider
from helicone_otel.exporter import HeliconeLogExporter, HeliconeSpanExporter
from opentelemetry._logs import set_logger_provider
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from traceloop.sdk import Traceloop

CALLS = 3
exporter = HeliconeSpanExporter(schedule_delay=0.05)
logs = LoggerProvider()
if not os.environ.get("EVENTS_APP_WITHOUT_LOG_EXPORTER"):  # the spans alone, for comparison
    logs.add_log_record_processor(BatchLogRecordProcessor(HeliconeLogExporter(exporter), schedule_delay_millis=200))
set_logger_provider(logs)
Traceloop.init(app_name="events-app", exporter=exporter, disable_batch=True, telemetry_enabled=False,
               use_attributes=False)  # fmt: skip
with FakeProvider() as fake:
    client = openai.OpenAI(base_url=fake.openai_base_url, api_key="sk-fake", max_retries=0)
    client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "What is the capital of France?"},
        ],
    )
    client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "Weather in Paris?"}],
                                   tools=[{"type": "function", "function": {"name": "get_weather", "parameters": {
                                       "type": "object", "properties": {"city": {"type": "string"}}}}}])  # fmt: skip
deadline = time.monotonic() + 10  # the log processor's batches arrive; the exporter joins them without a flush
while exporter.stats.exported < CALLS and time.monotonic() < deadline:
    time.sleep(0.05)
before = dict(exporter.stats.__dict__)
logs.force_flush()
flushed = exporter.force_flush(20_000)
print(json.dumps({"before_flush": before, "flushed": flushed, "stats": exporter.stats.__dict__,
                  "served": fake.served}))  # fmt: skip
