"""HeliconeSpanExporter: in the background, never in the app's way, and nothing lost it could keep."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT
from fakehelicone import FakeHelicone, schema_errors
from helicone_otel.exporter import ConfigurationError, HeliconeSpanExporter
from helpers import read_topic, run_collector
from localkafka import LocalKafka
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

KEY = "sk-helicone-test"
CHAT: dict[str, Any] = {
    "gen_ai.operation.name": "chat",
    "gen_ai.provider.name": "openai",
    "gen_ai.request.model": "gpt-4o-mini",
    "gen_ai.input.messages": json.dumps([{"role": "user", "parts": [{"type": "text", "content": "hi"}]}]),
    "gen_ai.usage.input_tokens": 3,
}


@pytest.fixture
def helicone() -> Iterator[FakeHelicone]:
    fake = FakeHelicone(KEY)
    yield fake
    fake.close()


def emit(exporter: HeliconeSpanExporter, n: int, attrs: dict[str, Any] | None = None) -> list[float]:
    """Create n spans through a SimpleSpanProcessor (export on the app thread); return end() times."""
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    times = []
    for _ in range(n):
        span = tracer.start_span("openai.chat", attributes=attrs or CHAT)
        t0 = time.perf_counter()
        span.end()
        times.append(time.perf_counter() - t0)
    return times


def test_direct_mode_posts_valid_records_on_the_provider_route(helicone: FakeHelicone) -> None:
    exporter = HeliconeSpanExporter(api_key=KEY, base_url=helicone.url, api_base_url=helicone.url, schedule_delay=0.05)
    emit(exporter, 3)
    emit(exporter, 2, {"traceloop.span.kind": "workflow", "traceloop.workflow.name": "w"})
    assert exporter.force_flush(10_000)
    exporter.shutdown()
    assert [route for route, _ in helicone.accepted] == ["/oai/v1/log"] * 3
    for _, body in helicone.accepted:
        assert schema_errors(body) == []
        assert body["providerRequest"]["json"]["messages"] == [{"role": "user", "content": "hi"}]
        assert body["providerResponse"]["json"]["usage"]["prompt_tokens"] == 3
    assert (exporter.stats.exported, exporter.stats.filtered, exporter.stats.failed) == (3, 2, 0)


def test_direct_mode_routes_by_provider_and_posts_scores_after_the_record(helicone: FakeHelicone) -> None:
    exporter = HeliconeSpanExporter(api_key=KEY, base_url=helicone.url, api_base_url=helicone.url, schedule_delay=0.05)
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with provider.get_tracer("test").start_as_current_span(
        "chat", attributes={**CHAT, "gen_ai.provider.name": "groq"}
    ) as s:
        s.add_event("gen_ai.evaluation.result", {"gen_ai.evaluation.name": "faithful",
                                                 "gen_ai.evaluation.score.label": "pass"})  # fmt: skip
    assert exporter.force_flush(10_000)
    exporter.shutdown()
    [(route, body)] = helicone.accepted
    assert (route, body["provider"]) == ("/v1/trace/custom/log", "GROQ")
    assert helicone.scores == [(body["id"], {"faithful": True})]


def test_retries_429_and_500_but_not_400(helicone: FakeHelicone) -> None:
    helicone.script = ["429", "500", "400"]
    exporter = HeliconeSpanExporter(api_key=KEY, base_url=helicone.url, api_base_url=helicone.url, schedule_delay=0.05)
    emit(exporter, 2)
    assert exporter.force_flush(20_000)
    exporter.shutdown()
    # span 1: 429 (waits Retry-After 1 s), 500, then accepted; span 2: 400, refused for good
    assert helicone.attempts == 4
    assert len(helicone.accepted) == 1
    assert (exporter.stats.exported, exporter.stats.failed) == (1, 1)


def test_hanging_endpoint_never_slows_the_app_and_shutdown_keeps_its_deadline(helicone: FakeHelicone) -> None:
    helicone.script = ["hang"] * 100
    exporter = HeliconeSpanExporter(
        api_key=KEY,
        base_url=helicone.url,
        api_base_url=helicone.url,
        schedule_delay=0.01,
        max_queue_bytes=20_000,
        export_timeout=60,
    )
    times = emit(exporter, 400)
    assert max(times) < 0.05, f"slowest span end on the app thread: {max(times) * 1000:.1f} ms"
    assert exporter.stats.dropped > 0  # the queue is byte-bounded: oldest spans make room
    assert exporter.force_flush(200) is False  # the timeout holds while the endpoint hangs
    started = time.monotonic()
    exporter.shutdown(timeout=2)
    assert time.monotonic() - started < 3


def test_forked_child_gets_a_working_worker(helicone: FakeHelicone) -> None:
    exporter = HeliconeSpanExporter(api_key=KEY, base_url=helicone.url, api_base_url=helicone.url, schedule_delay=0.05)
    emit(exporter, 1)
    assert exporter.force_flush(10_000)
    pid = os.fork()
    if pid == 0:  # the child: like a gunicorn worker forked after init
        ok = False
        try:
            emit(exporter, 2)
            ok = exporter.force_flush(10_000)
        finally:
            os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert len(helicone.accepted) == 3
    exporter.shutdown()


def test_needs_an_endpoint_or_a_key(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "HELICONE_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ConfigurationError, match="OTEL_EXPORTER_OTLP_ENDPOINT"):
        HeliconeSpanExporter()


def test_registered_as_the_helicone_traces_exporter_entry_point() -> None:
    from importlib.metadata import entry_points

    [entry] = entry_points(group="opentelemetry_traces_exporter", name="helicone")
    assert entry.load() is HeliconeSpanExporter


def run_app(env: dict[str, str]) -> dict:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "support" / "exporter_app.py")],
        env={**{k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "HELICONE_"))}, **env,
             "TRACELOOP_TELEMETRY": "false"},
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_traceloop_app_direct_to_helicone(helicone: FakeHelicone) -> None:
    out = run_app({"HELICONE_API_KEY": KEY, "HELICONE_BASE_URL": helicone.url})
    assert out["flushed"] is True
    routes = sorted(route for route, _ in helicone.accepted)
    assert routes == ["/anthropic/v1/log"] * 3 + ["/oai/v1/log"] * 3  # one record per call, none for workflows
    served = {s["response"]["id"]: s for s in out["served"]}
    for _, body in helicone.accepted:
        sent = served[body["providerResponse"]["json"]["id"]]
        assert body["providerRequest"]["json"]["messages"] == sent["request"]["messages"]
    assert out["stats"]["exported"] == 6 and out["stats"]["failed"] == 0 and out["stats"]["dropped"] == 0
    assert out["stats"]["filtered"] == 0  # no spans of the exporter's own POSTs came back to it


def test_the_serverless_recipe_ships_a_call_from_a_process_that_ends_without_exit_handlers(
    helicone: FakeHelicone,
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "HELICONE_"))}
    proc = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "support" / "serverless_app.py")],
        env={**env, "HELICONE_API_KEY": KEY, "HELICONE_BASE_URL": helicone.url, "TRACELOOP_TELEMETRY": "false"},
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert [route for route, _ in helicone.accepted] == ["/oai/v1/log"]  # through Traceloop's batch processor


def test_traceloop_app_through_the_sidecar_collector(kafka: LocalKafka, topic: str, tmp_path: Path) -> None:
    with run_collector(tmp_path, kafka.bootstrap_servers, topic) as c:
        out = run_app({"OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{c.http_port}"})
        assert out["flushed"] is True
        records = [json.loads(v) for _, v, _ in asyncio.run(read_topic(kafka.bootstrap_servers, topic, 6))]
    assert sorted(r["provider"] for r in records) == ["ANTHROPIC"] * 3 + ["OPENAI"] * 3
    # 9 LLM spans (3 OpenAI, 3 Anthropic instrumentation, 3 Anthropic SDK) crossed, 6 records came out;
    # the exporter's own HTTP calls were not traced (no spans of its POSTs fed back into it).
    assert out["stats"]["exported"] == 9 and out["stats"]["filtered"] == 0


def poison_makes_mapping_fail(monkeypatch: pytest.MonkeyPatch) -> None:
    """A span with a `poison` attribute fails to map (ValueError: cannot read)."""
    from helicone_otel.semconv import mapper as mapper_module

    real = mapper_module.dialect_genai.read

    def flaky(span: Any) -> Any:
        if span.attrs.get("poison"):
            raise ValueError("cannot read")
        return real(span)

    monkeypatch.setattr(mapper_module.dialect_genai, "read", flaky)


def test_kafka_mode_produces_records_straight_to_the_topic(
    kafka: LocalKafka, topic: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Records in the contract; a span that fails to map goes, as OTLP, to the dead-letter topic."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    poison_makes_mapping_fail(monkeypatch)
    exporter = HeliconeSpanExporter(kafka_brokers=kafka.bootstrap_servers, kafka_topic=topic, schedule_delay=0.05)
    emit(exporter, 3)
    assert exporter.force_flush(30_000)
    emit(exporter, 1, {**CHAT, "poison": True})
    assert exporter.force_flush(30_000)
    exporter.shutdown()
    got = asyncio.run(read_topic(kafka.bootstrap_servers, topic, 3))
    assert sorted(json.loads(v)["provider"] for _, v, _ in got) == ["OPENAI"] * 3
    assert all(h["helicone-schema"] == b"async-log/v1" for _, _, h in got)
    # at least once: a record whose acknowledgement was lost is sent again
    dead = asyncio.run(read_topic(kafka.bootstrap_servers, f"{topic}-dlq", 1))
    assert len({value for _, value, _ in dead}) == 1
    _, value, headers = dead[0]
    [span] = [s for rs in ExportTraceServiceRequest.FromString(value).resource_spans for ss in rs.scope_spans
              for s in ss.spans]  # fmt: skip
    assert span.name == "openai.chat" and any(kv.key == "poison" for kv in span.attributes)
    assert headers["error"] == b"ValueError: cannot read" and headers["span-id"] == span.span_id.hex().encode()


def test_opentelemetry_instrument_with_otel_traces_exporter_helicone(helicone: FakeHelicone) -> None:
    app = (
        "from opentelemetry import trace\n"
        "t = trace.get_tracer('app')\n"
        "with t.start_as_current_span('openai.chat', attributes={'gen_ai.operation.name': 'chat',"
        " 'gen_ai.provider.name': 'openai', 'gen_ai.request.model': 'gpt-4o-mini'}): pass\n"
    )
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "HELICONE_"))},
        "OTEL_TRACES_EXPORTER": "helicone",
        "OTEL_METRICS_EXPORTER": "none",
        "OTEL_LOGS_EXPORTER": "none",
        "HELICONE_API_KEY": KEY,
        "HELICONE_BASE_URL": helicone.url,
    }
    instrument = Path(sys.executable).parent / "opentelemetry-instrument"
    proc = subprocess.run([str(instrument), sys.executable, "-c", app], env=env, capture_output=True, text=True,
                          timeout=60)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert [route for route, _ in helicone.accepted] == ["/oai/v1/log"]  # flushed at exit


def test_unmappable_spans_still_go_in_the_simplest_valid_form_and_redaction_applies(
    helicone: FakeHelicone, monkeypatch: pytest.MonkeyPatch
) -> None:
    from helicone_otel.semconv import MapOptions

    poison_makes_mapping_fail(monkeypatch)
    options = MapOptions(redact_patterns=(r"hi",))
    exporter = HeliconeSpanExporter(
        api_key=KEY, base_url=helicone.url, api_base_url=helicone.url, schedule_delay=0.05, options=options
    )
    emit(exporter, 1)
    emit(exporter, 1, {**CHAT, "poison": True})
    assert exporter.force_flush(10_000)
    exporter.shutdown()
    by_route = {route: body for route, body in helicone.accepted}
    assert by_route["/oai/v1/log"]["providerRequest"]["json"]["messages"][0]["content"] == "[REDACTED]"
    minimal = by_route["/custom/v1/log"]
    assert schema_errors(minimal) == [] and minimal["providerRequest"]["json"] == {"span": "openai.chat"}
    assert exporter.stats.exported == 2


def test_flush_after_ships_before_the_handler_returns(helicone: FakeHelicone) -> None:
    from helicone_otel.exporter import flush_after

    exporter = HeliconeSpanExporter(
        api_key=KEY, base_url=helicone.url, api_base_url=helicone.url, schedule_delay=60
    )  # no timer help

    @flush_after(exporter)
    def handler() -> str:
        emit(exporter, 2)
        return "done"

    assert handler() == "done"
    assert len(helicone.accepted) == 2  # shipped before handler() returned, not on the 60 s timer
    exporter.shutdown()


def test_the_llm_filter_keeps_failed_calls_and_sdk_requests_to_providers() -> None:
    """Spans the collector needs, which the filter's per-span view could miss: an OpenInference call
    that failed (no answer, no tokens: only its ERROR status says it was a call), OpenLIT's failed
    Anthropic call (only its name and scope), and botocore's HTTP span naming the whole Bedrock model."""
    from helicone_otel.exporter import is_llm_span
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.trace import Status, StatusCode

    provider, memory = TracerProvider(), InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    failed = {"openinference.span.kind": "LLM", "llm.model_name": "gpt-4o-mini"}
    bedrock = {"http.method": "POST", "http.url": "https://bedrock-runtime.us-east-1.amazonaws.com/model/x/invoke"}
    for scope, name, attrs, error in [
        ("openinference.instrumentation.openai", "ChatCompletion", failed, True),
        ("openinference.instrumentation.openai", "ChatCompletion", failed, False),  # no answer, no error: no call
        ("openlit.instrumentation.anthropic", "chat claude-sonnet-4-5", {}, True),
        ("opentelemetry.instrumentation.urllib3", "POST", bedrock, False),
        ("opentelemetry.instrumentation.urllib3", "POST", {**bedrock, "http.url": "https://example.com/x"}, False),
    ]:
        with provider.get_tracer(scope).start_as_current_span(name, attributes=attrs) as s:
            if error:
                s.set_status(Status(StatusCode.ERROR, "boom"))
    assert [is_llm_span(s) for s in memory.get_finished_spans()] == [True, False, True, True, False]


def test_in_process_mapping_reads_sdk_spans_as_the_collector_reads_their_otlp() -> None:
    """The in-process transports map the SDK's spans without encoding them to OTLP first; the records
    must be the ones the collector makes of the same spans' OTLP: arrays, events with attributes, an
    error with its exception event, resource attributes, parents and every dialect."""
    from helicone_otel.exporter._views import span_views
    from helicone_otel.semconv import MapOptions, map_request, map_spans
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.trace import Status, StatusCode

    provider = TracerProvider(resource=Resource.create({"service.name": "app", "deployment.environment": "prod"}))
    memory = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("opentelemetry.instrumentation.openai.v1")
    streamed = {**CHAT, "gen_ai.request.stop_sequences": ["\n\n", "END"], "gen_ai.is_streaming": True,
                "gen_ai.response.finish_reasons": ["stop"], "gen_ai.request.temperature": 0.5,
                "traceloop.association.properties.user_id": "u-1", "tag.tags": ["a", "b"]}  # fmt: skip
    with tracer.start_as_current_span("workflow", attributes={"traceloop.span.kind": "workflow"}):
        with tracer.start_as_current_span("openai.chat", attributes=streamed) as span:
            span.add_event("gen_ai.content.completion.chunk", {"n": 1})
            span.add_event("gen_ai.choice", {"message": json.dumps({"content": "hello"}), "finish_reason": "stop"})
        with tracer.start_as_current_span("openai.chat", attributes=CHAT) as span:
            error = "Error code: 429 - {'error': {'type': 'rate_limit', 'message': 'slow'}}"
            span.record_exception(RuntimeError(error))
            span.set_status(Status(StatusCode.ERROR, "rate limited"))
    legacy: dict[str, Any] = {
        "llm.request.type": "chat",
        "gen_ai.system": "Anthropic",
        "gen_ai.request.model": "claude-sonnet-4-5",
        "gen_ai.prompt.0.role": "user",
        "gen_ai.prompt.0.content": "hi",
        "gen_ai.completion.0.role": "assistant",
        "gen_ai.completion.0.content": "hey",
        "gen_ai.usage.prompt_tokens": 5,
        "gen_ai.usage.completion_tokens": 2,
    }
    openinference: dict[str, Any] = {
        "openinference.span.kind": "LLM",
        "llm.model_name": "gpt-4o",
        "llm.provider": "openai",
        "llm.input_messages.0.message.role": "user",
        "llm.input_messages.0.message.content": "q",
        "llm.output_messages.0.message.role": "assistant",
        "llm.output_messages.0.message.content": "a",
        "llm.token_count.prompt": 4,
        "llm.token_count.completion": 1,
    }
    vercel: dict[str, Any] = {
        "ai.operationId": "ai.generateText.doGenerate",
        "ai.model.id": "gpt-4o",
        "ai.model.provider": "openai.chat",
        "ai.prompt.messages": json.dumps([{"role": "user", "content": "x"}]),
        "ai.response.text": "y",
        "ai.usage.promptTokens": 3,
        "ai.usage.completionTokens": 1,
    }
    for scope, name, attrs in (("opentelemetry.instrumentation.anthropic", "anthropic.chat", legacy),
                               ("openinference.instrumentation.openai", "ChatCompletion", openinference),
                               ("ai", "ai.generateText.doGenerate", vercel)):  # fmt: skip
        with provider.get_tracer(scope).start_as_current_span(name, attributes=attrs):
            pass
    spans = memory.get_finished_spans()
    options = MapOptions(resource_properties=("deployment.environment",))
    collector = map_request(encode_spans(spans), options)
    in_process = map_spans(span_views(spans), options)
    assert len(collector.records) == 5 and not collector.failures and not in_process.failures
    assert [r.value for r in in_process.records] == [r.value for r in collector.records]
    assert [r.headers() for r in in_process.records] == [r.headers() for r in collector.records]


def test_direct_posts_keep_one_connection_and_replace_one_the_server_closed() -> None:
    """Records go out on one kept-alive connection; when the server has closed it while idle (as
    every server does after its keep-alive timeout), the next post goes on a new one at once, without
    failing or waiting for a retry."""
    import socket
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from helicone_otel.exporter._poster import Poster

    connections: list[int] = []
    handlers: list[BaseHTTPRequestHandler] = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            connections.append(id(self.connection))
            handlers.append(self)
            self.rfile.read(int(self.headers["content-length"]))
            self.send_response(200)
            self.send_header("content-length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/oai/v1/log"
    poster = Poster()
    try:
        for _ in range(3):
            assert poster.post(url, b"{}", {"content-type": "application/json"}, 5)[0] == 200
        assert len(set(connections)) == 1  # kept alive
        handlers[-1].connection.shutdown(socket.SHUT_RDWR)  # the server drops the idle connection
        time.sleep(0.1)
        status, _, body = poster.post(url, b"{}", {"content-type": "application/json"}, 5)
        assert (status, body) == (200, b"{}") and len(set(connections)) == 2 and len(connections) == 4
    finally:
        poster.close()
        server.shutdown()
        server.server_close()


def run_events_app(env: dict[str, str]) -> dict[str, Any]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "HELICONE_"))}
    proc = subprocess.run([sys.executable, str(ROOT / "tests" / "support" / "events_exporter_app.py")],
                          env={**clean, **env, "TRACELOOP_TELEMETRY": "false"}, capture_output=True, text=True,
                          timeout=120)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def sent_and_recorded(served: list[dict[str, Any]], bodies: list[dict[str, Any]]) -> list[tuple[Any, Any]]:
    by_id = {s["response"]["id"]: s for s in served}
    return [(by_id[b["providerResponse"]["json"]["id"]], b) for b in bodies]


def test_content_only_in_log_records_is_joined_in_the_app_straight_to_helicone(helicone: FakeHelicone) -> None:
    """Traceloop with `use_attributes=False` puts prompts and answers only in GenAI event log records;
    `HeliconeLogExporter` hands them to the span exporter, which maps each call once its events came, while the
    app runs (not only at a flush). Without the log exporter the same spans give records without messages."""
    env = {"HELICONE_API_KEY": KEY, "HELICONE_BASE_URL": helicone.url}
    out = run_events_app(env)
    assert out["before_flush"]["exported"] == 3 and out["stats"]["failed"] == 0
    assert len(helicone.accepted) == 3
    for sent, body in sent_and_recorded(out["served"], [b for _, b in helicone.accepted]):
        assert schema_errors(body) == []
        assert body["providerRequest"]["json"]["messages"] == sent["request"]["messages"]
        answer = sent["response"]["choices"][0]["message"]
        got = body["providerResponse"]["json"]["choices"][0]["message"]
        assert got.get("content") == answer.get("content")
        assert [c["function"]["name"] for c in got.get("tool_calls") or []] == [
            c["function"]["name"] for c in answer.get("tool_calls") or []]  # fmt: skip
    helicone.accepted.clear()
    run_events_app({**env, "EVENTS_APP_WITHOUT_LOG_EXPORTER": "1"})
    assert [b["providerRequest"]["json"]["messages"] for _, b in helicone.accepted] == [[], [], []]


def test_content_only_in_log_records_is_joined_in_the_app_in_kafka_mode(kafka: LocalKafka, topic: str) -> None:
    out = run_events_app({"HELICONE_OTEL_KAFKA_BROKERS": kafka.bootstrap_servers, "HELICONE_OTEL_KAFKA_TOPIC": topic})
    assert out["before_flush"]["exported"] == 3
    records = [json.loads(v) for _, v, _ in asyncio.run(read_topic(kafka.bootstrap_servers, topic, 3))]
    for sent, record in sent_and_recorded(out["served"], records):
        assert record["providerRequest"]["json"]["messages"] == sent["request"]["messages"]
