"""Runs GenAI instrumentations that put the prompt and the completion only in OTLP log records (GenAI
events), against the fake provider, and saves both signals as OTLP protobuf: the official OpenAI
instrumentation (`opentelemetry-instrumentation-openai-v2`) on its default conventions (`gen_ai.*.message` /
`gen_ai.choice` events) and on `gen_ai_latest_experimental` with `EVENT_ONLY` content (one
`gen_ai.client.inference.operation.details` event per call), the official google-genai instrumentation
(`EVENT_ONLY`), and OpenLLMetry's OpenAI instrumentation on its events path (`use_attributes=False`).

They live in their own venv (`make` builds `.venv-events` from tests/envs/events/requirements.lock):
`.venv-events/bin/python tests/support/capture_events.py KIND OUT_DIR`, one process per kind (each patches
SDKs process-wide and reads its settings from the environment when instrumenting). Writes `spans.pb` (an
ExportTraceServiceRequest), `logs.pb` (an ExportLogsServiceRequest) and `served.json` like `capture.py`.

With `CAPTURE_OTLP_ENDPOINT` set (http://host:4318 or its /v1/traces URL for http/protobuf; host:4317 with
`CAPTURE_OTLP_PROTOCOL=grpc`), the spans and the logs are also sent with the stock OTLP exporters behind batch
processors, as an app pointed at a collector would: they arrive in separate requests, the logs apart from their
spans.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from capture import MESSAGES, WEATHER_TOOL_OPENAI
from fakeprovider import FakeProvider
from offline import loopback_only

Scenarios = dict[str, Callable[[], Any]]
QUESTION = "What is the capital of France?"

# what each kind sets before anything is imported or instrumented
ENVIRONMENTS: dict[str, dict[str, str]] = {
    "openai-v2": {"OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "true"},
    "openai-v2-latest": {
        "OTEL_SEMCONV_STABILITY_OPT_IN": "gen_ai_latest_experimental",
        # opentelemetry-util-genai reads ContentCapturingMode[value.upper()]: EVENT_ONLY, never on the span
        "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "EVENT_ONLY",
    },
    "google-genai": {
        "OTEL_SEMCONV_STABILITY_OPT_IN": "gen_ai_latest_experimental",
        "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "EVENT_ONLY",
    },
    "openllmetry-events": {"TRACELOOP_TRACE_CONTENT": "true", "TRACELOOP_METRICS_ENABLED": "false"},
}


class Providers:
    """A tracer provider and a logger provider, each keeping what it emits in memory; with
    CAPTURE_OTLP_ENDPOINT, each also exports through the stock OTLP exporter behind a batch processor."""

    def __init__(self) -> None:
        from opentelemetry import trace
        from opentelemetry._logs import set_logger_provider
        from opentelemetry.sdk._logs import LoggerProvider
        from opentelemetry.sdk._logs.export import (
            BatchLogRecordProcessor,
            InMemoryLogRecordExporter,
            SimpleLogRecordProcessor,
        )
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

        resource = Resource.create({"service.name": "capture-app"})
        self.spans = InMemorySpanExporter()
        self.logs = InMemoryLogRecordExporter()
        self.tracer_provider = TracerProvider(resource=resource)
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.spans))
        self.logger_provider = LoggerProvider(resource=resource)
        self.logger_provider.add_log_record_processor(SimpleLogRecordProcessor(self.logs))
        endpoint = os.environ.get("CAPTURE_OTLP_ENDPOINT")
        if endpoint and os.environ.get("CAPTURE_OTLP_PROTOCOL") == "grpc":
            from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter as GrpcLogs
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpans

            self.tracer_provider.add_span_processor(BatchSpanProcessor(GrpcSpans(endpoint=endpoint, insecure=True)))
            self.logger_provider.add_log_record_processor(
                BatchLogRecordProcessor(GrpcLogs(endpoint=endpoint, insecure=True))
            )
        elif endpoint:
            from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter as HttpLogs
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpans

            # the stock http exporters take the full signal URL when given one: the traces URL (as capture.py
            # takes it, http://host:4318/v1/traces) or the base (http://host:4318) name the same collector
            base = endpoint.rstrip("/").removesuffix("/v1/traces")
            self.tracer_provider.add_span_processor(BatchSpanProcessor(HttpSpans(endpoint=f"{base}/v1/traces")))
            self.logger_provider.add_log_record_processor(BatchLogRecordProcessor(HttpLogs(endpoint=f"{base}/v1/logs")))
        trace.set_tracer_provider(self.tracer_provider)
        set_logger_provider(self.logger_provider)  # all three emit with the Logs API's get_logger, no Events API

    def close(self, out: Path) -> None:
        from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs
        from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

        self.tracer_provider.force_flush()
        self.logger_provider.force_flush()
        (out / "spans.pb").write_bytes(encode_spans(self.spans.get_finished_spans()).SerializeToString())
        (out / "logs.pb").write_bytes(encode_logs(self.logs.get_finished_logs()).SerializeToString())
        self.tracer_provider.shutdown()
        self.logger_provider.shutdown()


def openai_scenarios(fake: FakeProvider, prefix: str) -> Scenarios:
    import openai

    client = openai.OpenAI(base_url=fake.openai_base_url, api_key="sk-fake", max_retries=0)

    def stream() -> None:
        for _ in client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True,
                                                stream_options={"include_usage": True}):  # fmt: skip
            pass

    def error() -> None:
        with contextlib.suppress(openai.RateLimitError):
            client.chat.completions.create(model="gpt-4o-mini-error-429", messages=MESSAGES)

    follow_up: Any = [
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}
        ]},
        {"role": "tool", "tool_call_id": "call_1", "content": "Sunny, 21C"},
    ]  # fmt: skip
    return {
        f"{prefix}.chat": lambda: client.chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, temperature=0.2, max_tokens=50
        ),
        f"{prefix}.stream": stream,
        f"{prefix}.tool_call": lambda: client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": "Weather in Paris?"}],
            tools=[WEATHER_TOOL_OPENAI],
        ),
        f"{prefix}.tool_result": lambda: client.chat.completions.create(model="gpt-4o-mini", messages=follow_up),
        f"{prefix}.error": error,
    }


def openai_v2_scenarios(fake: FakeProvider, providers: Providers) -> Scenarios:
    import opentelemetry.instrumentation.openai_v2 as openai_v2  # type: ignore[import-not-found,unused-ignore]
    from opentelemetry.instrumentation._semconv import (
        _OpenTelemetrySemanticConventionStability,
        _OpenTelemetryStabilitySignalType,
        _StabilityMode,
    )

    def experimental() -> bool:
        """openai-v2 2.4b0 picks its conventions with opentelemetry-util-genai's is_experimental_mode(), which
        reads OTEL_SEMCONV_STABILITY_OPT_IN up to util-genai 0.4b0 but always answers True from 1.0 on (the
        google-genai instrumentation needs util-genai 1.x, so the venv has 1.1b0): read it as 0.4b0 did, so that
        the instrumentation's own default-conventions code (gen_ai.*.message and gen_ai.choice events) runs."""
        _OpenTelemetrySemanticConventionStability._initialize()
        mode = _OpenTelemetrySemanticConventionStability._get_opentelemetry_stability_opt_in_mode(
            _OpenTelemetryStabilitySignalType.GEN_AI
        )
        return mode is _StabilityMode.GEN_AI_LATEST_EXPERIMENTAL

    openai_v2.is_experimental_mode = experimental
    OpenAIInstrumentor = openai_v2.OpenAIInstrumentor
    OpenAIInstrumentor().instrument(tracer_provider=providers.tracer_provider,
                                    logger_provider=providers.logger_provider)  # fmt: skip
    return openai_scenarios(fake, "openai")


def openllmetry_scenarios(fake: FakeProvider, providers: Providers) -> Scenarios:
    from opentelemetry.instrumentation.openai import OpenAIInstrumentor

    OpenAIInstrumentor(use_attributes=False).instrument(tracer_provider=providers.tracer_provider,
                                                        logger_provider=providers.logger_provider)  # fmt: skip
    return openai_scenarios(fake, "openai")


def google_genai_scenarios(fake: FakeProvider, providers: Providers) -> Scenarios:
    from google import genai
    from google.genai import types
    from opentelemetry.instrumentation.google_genai import (  # type: ignore[import-not-found,unused-ignore]
        GoogleGenAiSdkInstrumentor,
    )

    GoogleGenAiSdkInstrumentor().instrument(tracer_provider=providers.tracer_provider,
                                            logger_provider=providers.logger_provider)  # fmt: skip
    client = genai.Client(
        api_key="fake-google-key", http_options=types.HttpOptions(base_url=fake.base_url, api_version="v1beta")
    )
    config = types.GenerateContentConfig(system_instruction="You are terse.", temperature=0.2, max_output_tokens=50)

    def stream() -> None:
        for _ in client.models.generate_content_stream(model="gemini-2.5-flash", contents=QUESTION, config=config):
            pass

    def error() -> None:  # the fake answers 429 to a model named error-429 (Gemini names it in the path)
        with contextlib.suppress(Exception):
            client.models.generate_content(model="gemini-2.5-flash-error-429", contents=QUESTION, config=config)

    return {
        "gemini.chat": lambda: client.models.generate_content(
            model="gemini-2.5-flash", contents=QUESTION, config=config
        ),
        "gemini.stream": stream,
        "gemini.error": error,
    }


SETUPS: dict[str, Callable[[FakeProvider, Providers], Scenarios]] = {
    "openai-v2": openai_v2_scenarios,
    "openai-v2-latest": openai_v2_scenarios,
    "google-genai": google_genai_scenarios,
    "openllmetry-events": openllmetry_scenarios,
}


def main() -> None:
    loopback_only()
    kind, out = sys.argv[1], Path(sys.argv[2])
    os.environ.update(ENVIRONMENTS[kind])
    out.mkdir(parents=True, exist_ok=True)
    providers = Providers()
    with FakeProvider() as fake:
        scenarios = SETUPS[kind](fake, providers)
        only = set(sys.argv[3:])
        for name, fn in scenarios.items():
            if only and name not in only:
                continue
            before = len(fake.served)
            fn()
            for entry in fake.served[before:]:
                entry["scenario"] = name
    providers.close(out)
    (out / "served.json").write_text(json.dumps(fake.served, indent=1))


if __name__ == "__main__":
    main()
