"""OTLP export request in, Helicone log records out: dialect per span, one record per LLM call.

Every span is read inside its own error handling: a span that cannot be mapped is reported in
`MapResult.failures` and the rest of the batch maps normally. One call reported by two spans (an
SDK's built-in span next to an instrumentation's span) becomes one record, built from the richer span
and completed with what only the other one knew.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from urllib.parse import quote

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from . import common, dialect_genai, dialect_openinference, dialect_vercel, log_events, scores
from .log_events import LogEvent, SpanKey
from .model import LlmCall
from .options import MapOptions
from .record import Record, build
from .span import SpanView, relevant_spans

# Scopes of SDKs that trace their own calls without content: the instrumentation's span is richer.
NATIVE_SDK_SCOPES = ("com.anthropic.sdk",)


@dataclass(frozen=True)
class MapFailure:
    trace_id: str
    span_id: str
    span_name: str
    error: str


@dataclass
class MapResult:
    records: list[Record] = field(default_factory=list)
    failures: list[MapFailure] = field(default_factory=list)
    spans: int = 0  # spans seen
    calls: int = 0  # spans that describe an LLM call (before de-duplication)
    duplicates: int = 0  # call spans merged into another span's record
    unjoined: int = 0  # events given to `map_request` whose span is not in the request
    held: set[str] = field(default_factory=set)  # traces (hex ids) a `hold` kept back: no record for any call of them


# What a call still waits for, for `map_spans(hold=...)`: its content may come as GenAI event log records
# (`log_events`). Only the OTel GenAI dialect's emitters send events; embeddings have no content events.
def _may_have_events(call: LlmCall) -> bool:
    return call.dialect == "genai" and call.operation != "embeddings"


def lacks_content(call: LlmCall) -> bool:
    """Nothing of the call's content on its spans: neither messages, nor system instructions, nor output."""
    return _may_have_events(call) and not (call.messages or call.system or call.output)


def lacks_answer(call: LlmCall) -> bool:
    """No content, or a question without its answer (no output and no error)."""
    return lacks_content(call) or (_may_have_events(call) and not call.output and call.error is None)


def _call_reader(span: SpanView) -> Callable[[SpanView], LlmCall] | None:
    """The reader of the dialect the span speaks, when the span describes an LLM call; else None."""
    if dialect_vercel.is_vercel(span):
        return dialect_vercel.read if dialect_vercel.is_call(span) else None
    if span.get_str("openinference.span.kind"):
        return dialect_openinference.read if dialect_openinference.is_call(span) else None
    return dialect_genai.read if dialect_genai.is_call(span) else None


def describes_call(span: SpanView) -> bool:
    """Whether `read_call` would find a call in the span, without reading it (the exporter's filter)."""
    return _call_reader(span) is not None


def read_call(span: SpanView) -> LlmCall | None:
    """The LLM call a span describes, or None for spans that are not calls (workflow, agent, ...)."""
    reader = _call_reader(span)
    if reader is None:
        return None
    call = reader(span)
    # what every dialect reports the same way
    call.ttft_ms = common.ttft_ms(span) if call.stream else None
    call.http_status = common.http_status(span)
    call.error = common.read_error(span, call.http_status)
    call.meta = {**call.meta, **common.read_context(span)}  # a dialect's own context keys, under the common ones
    return call


def _is_native(span: SpanView) -> bool:
    return span.scope.startswith(NATIVE_SDK_SCOPES)


def _merge(winner: tuple[SpanView, LlmCall], other: tuple[SpanView, LlmCall]) -> None:
    """Complete the winner with facts only the other span had; an SDK's own usage wins (it is what the
    API reported; instrumentations have been seen to count stream tokens differently)."""
    call, extra = winner[1], other[1]
    for name in ("native_stop_reason", "http_status", "ttft_ms", "stream", "url", "response_id", "error",
                 "request_model", "response_model", "api_base", "api_version"):  # fmt: skip
        if getattr(call, name) is None and getattr(extra, name) is not None:
            setattr(call, name, getattr(extra, name))
    if _is_native(other[0]) and extra.usage.known():
        call.usage = dataclasses.replace(extra.usage)
    elif not call.usage.known():
        call.usage = extra.usage
    for key, value in extra.meta.items():
        call.meta.setdefault(key, value)


@dataclass
class _Seen:
    """What the spans already merged into one call cover: their instrumentations and time."""

    scopes: set[str]
    start_ns: int
    end_ns: int


def _same_call(a: tuple[SpanView, LlmCall], b: tuple[SpanView, LlmCall], seen: _Seen) -> bool:
    """Two spans describe one call when they name the same response id; without a shared one, when
    another instrumentation than b's saw the same model and operation at the same time in one trace
    (logfire's request span beside pydantic-ai's; `seen`: all spans already merged into a), or an
    SDK's own span lies inside another's."""
    (sa, ca), (sb, cb) = a, b
    if ca.response_id and cb.response_id:
        return ca.response_id == cb.response_id
    same_model = (ca.request_model or ca.response_model) == (cb.request_model or cb.response_model)
    if not same_model or ca.operation != cb.operation:
        return False
    if _is_native(sa) != _is_native(sb):  # possibly in another trace (OpenLLMetry beside the Anthropic SDK)
        native, other = (sa, sb) if _is_native(sa) else (sb, sa)
        return other.start_ns <= native.start_ns and native.end_ns <= other.end_ns
    overlap = seen.start_ns <= sb.end_ns and sb.start_ns <= seen.end_ns
    return sa.trace_id == sb.trace_id and bool(seen.scopes - {sb.scope}) and overlap


def deduplicate(calls: list[tuple[SpanView, LlmCall]]) -> tuple[list[tuple[SpanView, LlmCall]], int]:
    """Merge spans of the same call. Near-linear in the batch: response ids are looked up in a dict;
    the other rules compare a span only with the calls of its own trace, and with native SDK spans
    (which may sit in another trace). Spans with a response id go first, so that a span without one
    meets the call its siblings already merged."""
    calls = sorted(calls, key=lambda item: item[1].response_id is None)
    kept: list[tuple[SpanView, LlmCall]] = []
    seen: list[_Seen] = []
    by_response: dict[str, int] = {}
    by_trace: dict[str, list[int]] = {}
    natives: list[int] = []  # kept native-SDK spans
    without_id: list[int] = []  # kept spans with no response id (a native span may match them anywhere)
    merged = 0
    for item in calls:
        span, call = item
        match = by_response.get(call.response_id) if call.response_id else None
        if match is None:
            candidates = by_trace.get(span.trace_id, []) + natives + (without_id if _is_native(span) else [])
            if candidates:
                match = next((i for i in dict.fromkeys(candidates) if _same_call(kept[i], item, seen[i])), None)
        if match is None:
            kept.append(item)
            seen.append(_Seen({span.scope}, span.start_ns, span.end_ns))
            index = len(kept) - 1
            by_trace.setdefault(span.trace_id, []).append(index)
            if call.response_id:
                by_response.setdefault(call.response_id, index)
            else:
                without_id.append(index)
            if _is_native(span):
                natives.append(index)
            continue
        merged += 1
        group = seen[match]
        group.scopes.add(span.scope)
        group.start_ns, group.end_ns = min(group.start_ns, span.start_ns), max(group.end_ns, span.end_ns)
        current = kept[match]
        winner, loser = (item, current) if _rank(item) > _rank(current) else (current, item)
        _merge(winner, loser)
        kept[match] = winner
        if winner[1].response_id:
            by_response.setdefault(winner[1].response_id, match)
    # a merged call lasted as long as all its spans (logfire's streaming span alone lasts 0 ms)
    for i, (span, call) in enumerate(kept):
        if (seen[i].start_ns, seen[i].end_ns) != (span.start_ns, span.end_ns):
            kept[i] = (dataclasses.replace(span, start_ns=seen[i].start_ns, end_ns=seen[i].end_ns), call)
    return kept, merged


def _rank(item: tuple[SpanView, LlmCall]) -> tuple[int, int]:
    return item[1].richness(), not _is_native(item[0])


def _http_requests(spans: list[SpanView]) -> dict[str, list[SpanView]]:
    """HTTP client spans by parent: an SDK's own request (botocore's through urllib3) names the real URL
    and status, which the LLM span of the same call may leave out (Bedrock's whole model id)."""
    found: dict[str, list[SpanView]] = {}
    for span in spans:
        if span.parent_span_id and span.get_str("url.full", "http.url"):
            found.setdefault(span.parent_span_id, []).append(span)
    return found


def _http_request_of(span: SpanView, call: LlmCall, http: dict[str, list[SpanView]]) -> SpanView | None:
    """The call's own HTTP request: a child of its span, else (streams, where the instrumentation opens
    its span outside the request's context) a sibling that starts inside it, naming the model if several
    do. The last attempt wins (SDK retries)."""
    candidates = http.get(span.span_id) or [
        h for h in http.get(span.parent_span_id, ()) if span.start_ns <= h.start_ns <= span.end_ns
    ]
    model = quote(call.request_model or "", safe="")
    naming = [h for h in candidates if model and model in (h.get_str("url.full", "http.url") or "")]
    return max(naming or candidates, key=lambda h: h.end_ns, default=None)


_STREAMING_URL = re.compile(r"/(?:invoke-with-response-stream|converse-stream)\b|:streamGenerateContent\b")


def _complete_from_http(call: LlmCall, span: SpanView, http: SpanView) -> None:
    if call.url is None:
        call.url = http.get_str("url.full", "http.url")
    if call.stream is None and _STREAMING_URL.search(call.url or ""):
        call.stream = True  # Bedrock and Gemini choose streaming by URL
    if call.http_status is None and (status := common.http_status(http)) is not None:
        call.http_status = status
        call.error = common.read_error(span, status)


def _attach_scores(kept: list[tuple[SpanView, LlmCall]], found: list[scores.Evaluation]) -> None:
    """Each evaluation scores the call it names by response id, else the call whose span (or whose
    child span) it is on; one that matches no call in the batch is left out."""
    if not found:
        return
    by_response = {call.response_id: call for _, call in kept if call.response_id}
    by_span = {span.span_id: call for span, call in kept}
    for evaluation in found:
        call = (
            by_response.get(evaluation.response_id or "")
            or by_span.get(evaluation.span.span_id)
            or by_span.get(evaluation.span.parent_span_id)
        )
        if call is not None:
            call.scores[evaluation.name] = evaluation.value


def map_spans(
    spans: Iterable[SpanView], options: MapOptions | None = None, hold: Callable[[LlmCall], bool] | None = None
) -> MapResult:
    """`hold`: a call for which it is true keeps its whole trace back (`MapResult.held`), records of its
    other calls included, so that the trace is mapped once, later, with what it waits for."""
    options = options or MapOptions()
    result = MapResult()
    calls: list[tuple[SpanView, LlmCall]] = []
    spans = list(spans)
    http = _http_requests(spans)
    for span in spans:
        result.spans += 1
        try:
            if options.redact_attributes:
                span = dataclasses.replace(span, attrs=options.drop_attributes(span.attrs))
            call = read_call(span)
            request = _http_request_of(span, call, http) if call is not None and http else None
            if call is not None and request is not None:
                _complete_from_http(call, span, request)
        except Exception as exc:  # one bad span never loses the batch
            result.failures.append(MapFailure(span.trace_id, span.span_id, span.name, f"{type(exc).__name__}: {exc}"))
            continue
        if call is not None:
            calls.append((span, call))
    result.calls = len(calls)
    kept, result.duplicates = deduplicate(calls)
    if hold is not None and (held := {span.trace_id for span, call in kept if hold(call)}):
        result.held = held
        kept = [(span, call) for span, call in kept if span.trace_id not in held]
    _attach_scores(kept, [e for span in spans if span.events for e in scores.evaluations(span)])
    for span, call in kept:
        try:
            result.records.append(build(span, call, options))
        except Exception as exc:
            result.failures.append(MapFailure(span.trace_id, span.span_id, span.name, f"{type(exc).__name__}: {exc}"))
    return result


def map_request(
    request: ExportTraceServiceRequest,
    options: MapOptions | None = None,
    hold: Callable[[LlmCall], bool] | None = None,
    events: Mapping[SpanKey, list[LogEvent]] | None = None,
) -> MapResult:
    """Map every span of one OTLP export request (spans that cannot matter are passed over unread); `events`:
    GenAI event log records, by the span they name, attached to their spans first (`log_events`)."""
    views, total = relevant_spans(request, dialect_genai.bare_failure_candidate)
    unjoined = log_events.attach_all(views, events) if events else set()
    result = map_spans(views, options, hold) if views else MapResult()
    result.unjoined = sum(len(events[key]) for key in unjoined) if events else 0
    result.spans = total
    return result
