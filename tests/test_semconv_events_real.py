"""Records of instrumentations that put the prompt and the completion only in OTLP log records (GenAI events),
captured for real in `.venv-events` (tests/support/capture_events.py): the official openai-v2 instrumentation on its
default conventions (`gen_ai.system.message`, `gen_ai.user.message`, `gen_ai.assistant.message`,
`gen_ai.tool.message` and `gen_ai.choice` records, content in the body) and on `gen_ai_latest_experimental` with
EVENT_ONLY content (one `gen_ai.client.inference.operation.details` record per call, content in its attributes),
the official google-genai instrumentation (the same details record), and OpenLLMetry's OpenAI instrumentation on its
events path (`use_attributes=False`, body content like openai-v2's default).

The spans alone give records without any message: the content is only in the logs. `map_request(events=...)` puts each
log record's content on its span, and the joined spans give one record per call equal to what the app sent and the fake
provider answered. What spans and logs together do not carry is listed in GAPS, as found in the captures, and
checked to stay missing (a record never invents it).
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from capture_envs import EVENTS_PYTHON
from conftest import ROOT
from helicone_otel.semconv import MapResult, events_of, map_request
from helicone_rules import stored_record
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

pytestmark = pytest.mark.capture  # each kind runs real instrumentation in a subprocess

KINDS = ("openai-v2", "openai-v2-latest", "google-genai", "openllmetry-events")
DETAILS = "gen_ai.client.inference.operation.details"
# the log records each kind emits, by event name (the error call has no gen_ai.choice: it had no answer)
EVENT_NAMES = {
    "openai-v2": {"gen_ai.system.message", "gen_ai.user.message", "gen_ai.assistant.message", "gen_ai.tool.message",
                  "gen_ai.choice"},
    "openai-v2-latest": {DETAILS},
    "google-genai": {DETAILS},
    "openllmetry-events": {"gen_ai.system.message", "gen_ai.user.message", "gen_ai.assistant.message",
                           "gen_ai.tool.message", "gen_ai.choice"},
}  # fmt: skip

# (kind, scenario) -> what the spans and their log records leave out, as found in the captures. "cache": cache-read
# tokens; "stream": that the call streamed (no gen_ai.request.stream or is_streaming on the span); "tools": the tool
# definitions sent; "tool_call_id": the id a tool message answers; "unlinked choice": the answer's log record names
# no span (OpenLLMetry emits a stream's gen_ai.choice after the span ended, with no trace or span id).
_OPENAI_V2 = {
    "openai.chat": {"cache"},
    "openai.stream": {"cache", "stream"},
    "openai.tool_call": {"cache", "tools"},
    "openai.tool_result": {"cache"},
}
GAPS: dict[tuple[str, str], set[str]] = {
    **{("openai-v2", s): set(g) for s, g in _OPENAI_V2.items()},
    **{("openai-v2-latest", s): set(g) for s, g in _OPENAI_V2.items()},
    ("openllmetry-events", "openai.stream"): {"unlinked choice"},
    ("openllmetry-events", "openai.tool_call"): {"tools"},
    ("openllmetry-events", "openai.tool_result"): {"tool_call_id"},
}


@dataclass
class EventsCapture:
    kind: str
    traces: ExportTraceServiceRequest
    logs: ExportLogsServiceRequest
    served: list[dict[str, Any]]


@pytest.fixture(scope="session", params=KINDS)
def events(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> EventsCapture:
    assert EVENTS_PYTHON.exists(), "the events venv is missing: run `make test`"
    kind = request.param
    out = tmp_path_factory.mktemp(kind)
    proc = subprocess.run(
        [str(EVENTS_PYTHON), str(ROOT / "tests" / "support" / "capture_events.py"), kind, str(out)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, f"capture {kind} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"
    assert "offline: refused" not in proc.stderr, proc.stderr  # no capture may depend on the network
    return load(kind, out)


def load(kind: str, out: Path) -> EventsCapture:
    traces = ExportTraceServiceRequest.FromString((out / "spans.pb").read_bytes())
    logs = ExportLogsServiceRequest.FromString((out / "logs.pb").read_bytes())
    return EventsCapture(kind, traces, logs, json.loads((out / "served.json").read_text()))


def spans(capture: EventsCapture) -> list[Any]:
    return [s for rs in capture.traces.resource_spans for ss in rs.scope_spans for s in ss.spans]


def log_records(capture: EventsCapture) -> list[Any]:
    return [r for rl in capture.logs.resource_logs for sl in rl.scope_logs for r in sl.log_records]


def in_order(mapped: MapResult, served: list[dict[str, Any]]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    def start(value: dict[str, Any]) -> tuple[int, int]:
        return value["timing"]["startTime"]["seconds"], value["timing"]["startTime"]["milliseconds"]

    assert mapped.failures == []
    records = sorted((r.value for r in mapped.records), key=start)
    assert len(records) == len(served), [r["providerRequest"]["json"].get("model") for r in records]
    return list(zip(records, served, strict=True))


def joined(capture: EventsCapture) -> MapResult:
    """The records of the spans with their log records attached to them (`semconv.log_events`)."""
    return map_request(capture.traces, events=events_of(capture.logs))


# --- what the app sent and the provider answered, read from the fake's log -------------------------------------


def sent_messages(served: dict[str, Any]) -> list[tuple[str, str]]:
    """(role, text) of every message the app sent, the system instruction first; a tool call as its name."""
    request = served["request"]
    if "contents" in request:  # Gemini
        system = request.get("systemInstruction") or {}
        out = [("system", p["text"]) for p in system.get("parts", []) if "text" in p]
        return out + [(c.get("role", "user"), p.get("text", "")) for c in request["contents"] for p in c["parts"]]
    out = []
    for m in request["messages"]:
        out.append((m["role"], m.get("content") or ""))
        out += [(m["role"], c["function"]["name"]) for c in m.get("tool_calls") or []]
    return out


def recorded_messages(record: dict[str, Any]) -> list[tuple[str, str]]:
    request = record["providerRequest"]["json"]
    if "contents" in request or "systemInstruction" in request:
        system = request.get("systemInstruction") or {}
        out = [("system", p["text"]) for p in system.get("parts", []) if "text" in p]
        return out + [
            (c.get("role", "user"), p.get("text", "")) for c in request.get("contents", []) for p in c["parts"]
        ]
    out = []
    for m in request.get("messages", []):
        content = m.get("content")
        if isinstance(content, list):  # parts
            content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
        out.append((m["role"], content or ""))
        out += [(m["role"], c["function"]["name"]) for c in m.get("tool_calls") or []]
    return out


def served_text(served: dict[str, Any]) -> str:
    response = served["response"]
    if "candidates" in response:
        return "".join(p.get("text", "") for c in response["candidates"] for p in c["content"]["parts"])
    return "".join((c["message"].get("content") or "") for c in response.get("choices", []))


def served_tool_calls(served: dict[str, Any]) -> list[tuple[str, Any]]:
    response = served["response"]
    if "candidates" in response:
        return [(p["functionCall"]["name"], p["functionCall"]["args"]) for c in response["candidates"]
                for p in c["content"]["parts"] if "functionCall" in p]  # fmt: skip
    calls = (response.get("choices") or [{}])[0].get("message", {}).get("tool_calls") or []
    return [(c["function"]["name"], json.loads(c["function"]["arguments"])) for c in calls]


def recorded_tool_calls(response: dict[str, Any]) -> list[tuple[str, Any]]:
    if "candidates" in response:
        return [(p["functionCall"]["name"], p["functionCall"]["args"]) for c in response["candidates"]
                for p in c.get("content", {}).get("parts", []) if "functionCall" in p]  # fmt: skip
    calls = (response.get("choices") or [{}])[0].get("message", {}).get("tool_calls") or []
    return [(c["function"]["name"], json.loads(c["function"]["arguments"])) for c in calls]


def served_usage(served: dict[str, Any]) -> tuple[int | None, int | None, int | None]:
    response = served["response"]
    if "usageMetadata" in response:
        meta = response["usageMetadata"]
        return meta["promptTokenCount"], meta["candidatesTokenCount"], meta.get("cachedContentTokenCount")
    usage = response.get("usage") or {}
    cached = (usage.get("prompt_tokens_details") or {}).get("cached_tokens")
    return usage.get("prompt_tokens"), usage.get("completion_tokens"), cached


# --- the captures themselves --------------------------------------------------------------------------------------


def test_every_call_has_its_span_and_its_log_records(events: EventsCapture) -> None:
    assert len(spans(events)) == len(events.served) == len({s["scenario"] for s in events.served})
    names = {r.event_name for r in log_records(events)}
    assert names == EVENT_NAMES[events.kind]
    linked = {(s.trace_id, s.span_id) for s in spans(events)}
    unlinked = [r for r in log_records(events) if (r.trace_id, r.span_id) not in linked]
    expected = sum("unlinked choice" in GAPS.get((events.kind, s["scenario"]), set()) for s in events.served)
    assert [r.event_name for r in unlinked] == ["gen_ai.choice"] * expected


def test_no_span_carries_the_content(events: EventsCapture) -> None:
    """Neither a prompt nor a completion text is anywhere on the spans (attributes or span events): only in logs."""
    texts = {text for s in events.served for _, text in sent_messages(s) if text} | {
        served_text(s) for s in events.served if served_text(s)
    }
    for span in spans(events):
        carried = span.SerializeToString()
        assert not [t for t in texts if t.encode() in carried], span.name
    logs = events.logs.SerializeToString()  # where every prompt is (a stream's answer may be there in pieces)
    assert [t for s in events.served for _, t in sent_messages(s) if t and t.encode() not in logs] == []


def test_the_spans_alone_give_records_without_the_messages(events: EventsCapture) -> None:
    for record, served in in_order(map_request(events.traces), events.served):
        assert recorded_messages(record) == [], served["scenario"]
        stored = stored_record(record)
        assert stored.text == "" and recorded_tool_calls(stored.response) == [], served["scenario"]
        assert record["providerResponse"]["status"] == served["status"]


def test_latest_conventions_carry_the_content_in_one_details_record(events: EventsCapture) -> None:
    """gen_ai_latest_experimental with EVENT_ONLY: no gen_ai.input.messages on the span, and one details record per
    call, linked to its span, with the messages in its attributes (the body is empty)."""
    if events.kind not in ("openai-v2-latest", "google-genai"):
        pytest.skip("not on the latest conventions")
    content_keys = {"gen_ai.input.messages", "gen_ai.output.messages", "gen_ai.system_instructions"}
    for span in spans(events):
        assert not content_keys & {kv.key for kv in span.attributes}, span.name
    records = log_records(events)
    assert [r.event_name for r in records] == [DETAILS] * len(events.served)
    assert [(r.trace_id, r.span_id) for r in records] == [(s.trace_id, s.span_id) for s in spans(events)]
    for r in records:
        assert r.body.WhichOneof("value") is None
        assert "gen_ai.input.messages" in {kv.key for kv in r.attributes}


# --- joined: spans with their log records --------------------------------------------------------------------------


def test_joined_one_record_per_call_with_what_the_app_sent(events: EventsCapture) -> None:
    for record, served in in_order(joined(events), events.served):
        assert recorded_messages(record) == sent_messages(served), served["scenario"]
        gaps = GAPS.get((events.kind, served["scenario"]), set())
        sent_tools = [t["function"]["name"] for t in served["request"].get("tools") or []]
        tools = [t.get("function", t).get("name") for t in record["providerRequest"]["json"].get("tools") or []]
        assert tools == ([] if "tools" in gaps else sent_tools), served["scenario"]
        messages = record["providerRequest"]["json"].get("messages", [])
        for sent, got in zip(served["request"].get("messages", []), messages, strict=False):
            if sent["role"] == "tool":
                assert got.get("tool_call_id") == (None if "tool_call_id" in gaps else sent["tool_call_id"])


def test_joined_answers_and_tokens_as_the_provider_served(events: EventsCapture) -> None:
    for record, served in in_order(joined(events), events.served):
        assert record["providerResponse"]["status"] == served["status"], served["scenario"]
        if served["status"] != 200:
            continue
        gaps = GAPS.get((events.kind, served["scenario"]), set())
        stored = stored_record(record)
        prompt, completion, cached = served_usage(served)
        assert (stored.prompt_tokens, stored.completion_tokens) == (prompt, completion), served["scenario"]
        assert stored.cache_read_tokens == (None if "cache" in gaps else cached), served["scenario"]
        assert stored.priced
        if "unlinked choice" in gaps:  # the answer is in a log record that names no span: none is invented
            assert (stored.text, recorded_tool_calls(stored.response)) == ("", []), served["scenario"]
            continue
        assert stored.text == served_text(served), served["scenario"]
        assert recorded_tool_calls(stored.response) == served_tool_calls(served), served["scenario"]


def test_joined_streams_are_streams(events: EventsCapture) -> None:
    for record, served in in_order(joined(events), events.served):
        gaps = GAPS.get((events.kind, served["scenario"]), set())
        assert stored_record(record).is_stream == (served["stream"] and "stream" not in gaps), served["scenario"]


def test_joined_error_is_the_providers_status(events: EventsCapture) -> None:
    errors = [(r, s) for r, s in in_order(joined(events), events.served) if s["status"] != 200]
    assert [s["status"] for _, s in errors] == [429]
    record, served = errors[0]
    assert record["providerResponse"]["status"] == 429
    # Gemini names the model in the path only
    model = served["request"].get("model") or served["path"].split("/models/")[1].split(":")[0]
    assert stored_record(record).model == model
    assert recorded_messages(record) == sent_messages(served)  # the prompt of a failed call is kept too
