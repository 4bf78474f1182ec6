"""Turning one export request into the Kafka records of one output, within Kafka's size limit.

`helicone_json` maps spans with semconv into Helicone log records (the record contract); a span that
cannot be mapped goes, as itself (`otlp_proto`), to the dead-letter topic with the error in a header.
`otlp_proto` / `otlp_json` forward the spans themselves, one `ExportTraceServiceRequest` per trace (per
span when a trace is too large; `otlp_proto` puts a request's traces of one partition together),
readable by the OpenTelemetry Collector's Kafka receiver.

With a join (`join_wait` > 0), a trace holding a call whose spans carry no content is not mapped here (`hold`):
its spans go, as OTLP keyed by trace id, to the join topic (`held_records`), where `collector.content_join` meets
them with the call's GenAI event log records (`join_logs_records` puts those there) and maps them together.

Nothing is dropped for its size: the largest string values of an oversized record are cut
(`truncation`), and the record carries a `helicone-truncated` header.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

from helicone_otel import contract
from helicone_otel.otlp_json import request_to_dict
from helicone_otel.semconv import LlmCall, MapOptions, MapResult, map_request
from helicone_otel.semconv.log_events import LogEvent, SpanKey, is_genai_event

from .output import ExporterConfig
from .partitioner import partitions_of
from .truncation import fit_record, fit_spans

# Room left under max_message_bytes for the record's key, headers and Kafka's own framing.
_OVERHEAD = 1024


@dataclass(frozen=True, slots=True)
class KafkaRecord:
    topic: str
    key: bytes | None
    value: bytes
    headers: tuple[tuple[str, bytes], ...] = ()
    exporter: str = "kafka"  # which configured exporter (cluster, producer settings) sends it


@dataclass
class Encoded:
    records: list[KafkaRecord] = field(default_factory=list)
    spans: int = 0
    mapping_failures: int = 0
    truncated: int = 0
    unparsed: int = 0  # records whose content kept some attribute's raw text
    held: set[str] = field(default_factory=set)  # traces (hex ids) `hold` kept back: no record of them here
    unjoined: int = 0  # GenAI events given whose span was not in the request


def span_count(request: ExportTraceServiceRequest) -> int:
    return sum(len(ss.spans) for rs in request.resource_spans for ss in rs.scope_spans)


Hold = Callable[[LlmCall], bool]


def encode(
    request: ExportTraceServiceRequest,
    exporter: ExporterConfig,
    options: MapOptions,
    api_key: str | None = None,
    partitions: int | None = None,
    hold: Hold | None = None,
    events: Mapping[SpanKey, list[LogEvent]] | None = None,
) -> Encoded:
    """`partitions`: the exporter topic's partition count, when known; the spans encodings then put the
    traces of a request that Kafka would place in one partition into one record (see `_otlp`). `hold`
    (helicone_json): the calls whose trace goes to the join topic instead of being mapped; `events`: GenAI
    event log records joined to their spans (see `semconv.map_request`)."""
    if exporter.encoding == "helicone_json":
        return _helicone(request, exporter, options, api_key, hold, events)
    return _otlp(request, exporter, api_key, partitions)


def _auth_header(exporter: ExporterConfig, api_key: str | None) -> tuple[tuple[str, bytes], ...]:
    return ((contract.HELICONE_AUTH, api_key.encode()),) if api_key and exporter.pass_api_keys else ()


def _helicone(
    request: ExportTraceServiceRequest, exporter: ExporterConfig, options: MapOptions, api_key: str | None,
    hold: Hold | None, events: Mapping[SpanKey, list[LogEvent]] | None,
) -> Encoded:  # fmt: skip
    result = map_request(request, options, hold, events)
    out = helicone_records(result, exporter, api_key, lambda failed: _single_spans(request, failed))
    out.unjoined = result.unjoined
    out.held = result.held
    return out


def held_records(
    request: ExportTraceServiceRequest, held: set[str], exporter: ExporterConfig, api_key: str | None
) -> list[KafkaRecord]:
    """The join records of the traces (hex ids) an encoding held: each trace's spans of `request`."""
    traces = _by_trace(request)
    return [join_record(exporter, bytes.fromhex(t), traces[bytes.fromhex(t)], "traces", api_key) for t in sorted(held)]


def join_record(
    exporter: ExporterConfig, trace_id: bytes, message: ExportTraceServiceRequest | ExportLogsServiceRequest,
    signal: str, api_key: str | None,
) -> KafkaRecord:  # fmt: skip
    """One trace's spans or GenAI log records on the join topic, keyed by trace id (so that they meet in one
    partition), the signal in a header. Over the size limit the largest strings are cut, as for a record."""
    limit = exporter.max_message_bytes - _OVERHEAD
    headers = ((contract.CONTENT_TYPE, b"application/x-protobuf"), (contract.SIGNAL, signal.encode()),
               (contract.TRACE_ID, trace_id.hex().encode()), *_auth_header(exporter, api_key))  # fmt: skip
    data = message.SerializeToString()
    if len(data) > limit and isinstance(message, ExportTraceServiceRequest):
        data, cut = fit_spans(message, limit)
        headers += ((contract.TRUNCATED, b"true"),) if cut else ()
    return KafkaRecord(exporter.join_topic, trace_id.hex().encode(), data, headers, exporter.name)


def join_logs_records(
    logs: ExportLogsServiceRequest, exporter: ExporterConfig, api_key: str | None
) -> list[KafkaRecord]:
    """The GenAI event log records of `logs`, a join record per trace (resource and scope kept)."""
    out: dict[bytes, ExportLogsServiceRequest] = {}
    for rl in logs.resource_logs:
        for sl in rl.scope_logs:
            for record in sl.log_records:
                if not is_genai_event(record):
                    continue
                target = out.get(record.trace_id)
                if target is None:
                    target = out[record.trace_id] = ExportLogsServiceRequest()
                if not target.resource_logs or target.resource_logs[-1].resource != rl.resource:
                    target.resource_logs.add(resource=rl.resource, schema_url=rl.schema_url)
                scopes = target.resource_logs[-1].scope_logs
                if not scopes or scopes[-1].scope != sl.scope:
                    scopes.add(scope=sl.scope, schema_url=sl.schema_url)
                scopes[-1].log_records.append(record)
    return [join_record(exporter, trace_id, request, "logs", api_key) for trace_id, request in out.items()]


# The spans that failed to map, each as a one-span OTLP request: (request, trace id, span id).
Unmapped = Callable[[dict[tuple[str, str], str]], Iterable[tuple[ExportTraceServiceRequest, str, str]]]


def helicone_records(result: MapResult, exporter: ExporterConfig, api_key: str | None, unmapped: Unmapped) -> Encoded:
    """The Kafka records of a mapping's result: each Helicone record within the size limit, and each
    span that failed to map, as OTLP from `unmapped`, to the dead-letter topic with its error."""
    out = Encoded(spans=result.spans, mapping_failures=len(result.failures))
    auth = _auth_header(exporter, api_key)
    limit = exporter.max_message_bytes - _OVERHEAD
    for record in result.records:
        value = record.value
        data = record.json_bytes()
        headers = tuple(record.headers()) + auth
        out.unparsed += bool(record.unparsed)
        if len(data) > limit:
            value, data = fit_record(value, limit)
            headers += ((contract.TRUNCATED, b"true"),)
            out.truncated += 1
        key = record.trace_id if exporter.partition_by == "trace_id" else record.id
        out.records.append(KafkaRecord(exporter.topic, key.encode(), data, headers, exporter.name))
    if result.failures:
        failed = {(f.trace_id, f.span_id): f.error for f in result.failures}
        for sub, trace_id, span_id in unmapped(failed):
            own = ((contract.CONTENT_TYPE, b"application/x-protobuf"), (contract.TRACE_ID, trace_id.encode()),
                   (contract.SPAN_ID, span_id.encode()), *auth)  # fmt: skip
            headers = contract.dead_letter_headers(own, failed[trace_id, span_id])
            data, cut = fit_spans(sub, limit)
            if cut:
                headers += ((contract.TRUNCATED, b"true"),)
                out.truncated += 1
            out.records.append(KafkaRecord(exporter.dead_letter_topic, trace_id.encode(), data, headers, exporter.name))
    return out


def _single_spans(
    request: ExportTraceServiceRequest, wanted: dict[tuple[str, str], str]
) -> Iterator[tuple[ExportTraceServiceRequest, str, str]]:
    for rs in request.resource_spans:
        for ss in rs.scope_spans:
            for span in ss.spans:
                ids = (span.trace_id.hex(), span.span_id.hex())
                if ids in wanted:
                    yield _wrap(rs, ss, [span]), ids[0], ids[1]


def _wrap(rs: ResourceSpans, ss: ScopeSpans, spans: list[Span]) -> ExportTraceServiceRequest:
    out = ExportTraceServiceRequest()
    new_rs = out.resource_spans.add(resource=rs.resource, schema_url=rs.schema_url)
    new_ss = new_rs.scope_spans.add(scope=ss.scope, schema_url=ss.schema_url)
    new_ss.spans.extend(spans)
    return out


def _by_trace(request: ExportTraceServiceRequest) -> dict[bytes, ExportTraceServiceRequest]:
    """One request per trace id, keeping each span's resource and scope."""
    out: dict[bytes, ExportTraceServiceRequest] = {}
    for rs in request.resource_spans:
        for ss in rs.scope_spans:
            groups: dict[bytes, list[Span]] = {}
            for span in ss.spans:
                groups.setdefault(span.trace_id, []).append(span)
            for trace_id, spans in groups.items():
                target = out.get(trace_id)
                if target is None:
                    out[trace_id] = _wrap(rs, ss, spans)
                else:
                    target.MergeFrom(_wrap(rs, ss, spans))
    return out


def _serialize(request: ExportTraceServiceRequest, encoding: str) -> bytes:
    if encoding == "otlp_json":
        return json.dumps(request_to_dict(request), separators=(",", ":")).encode()
    return request.SerializeToString()


def _varint(n: int) -> bytes:
    if n < 0x4000:  # one or two bytes: every span's length but a large one
        return bytes((n,)) if n < 0x80 else bytes((n & 0x7F | 0x80, n >> 7))
    out = bytearray()
    while n >= 0x80:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


_TAGS = {number: bytes((number << 3 | 2,)) for number in (1, 2, 3)}  # wire type 2: length-delimited


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field (numbers 1 to 3)."""
    return _TAGS[number] + _varint(len(payload)) + payload


def _proto_by_trace(request: ExportTraceServiceRequest) -> dict[bytes, bytes]:
    """`_by_trace`, serialized, written straight in protobuf's wire format: each resource and scope is
    serialized once, each span once, and no message is built (the ingest's hot path). Field numbers:
    ExportTraceServiceRequest.resource_spans 1; ResourceSpans.resource 1, .scope_spans 2, .schema_url 3;
    ScopeSpans.scope 1, .spans 2, .schema_url 3."""
    out: dict[bytes, list[bytes]] = {}
    for rs in request.resource_spans:
        resource = _field(1, rs.resource.SerializeToString()) if rs.HasField("resource") else b""
        rs_schema = _field(3, rs.schema_url.encode()) if rs.schema_url else b""
        for ss in rs.scope_spans:
            scope = _field(1, ss.scope.SerializeToString()) if ss.HasField("scope") else b""
            ss_schema = _field(3, ss.schema_url.encode()) if ss.schema_url else b""
            groups: dict[bytes, list[bytes]] = {}
            for span in ss.spans:
                groups.setdefault(span.trace_id, []).append(_field(2, span.SerializeToString()))
            for trace_id, spans in groups.items():
                scope_spans = _field(2, b"".join((scope, *spans, ss_schema)))
                out.setdefault(trace_id, []).append(_field(1, resource + scope_spans + rs_schema))
    return {trace_id: b"".join(parts) for trace_id, parts in out.items()}


def _otlp(
    request: ExportTraceServiceRequest, exporter: ExporterConfig, api_key: str | None, partitions: int | None
) -> Encoded:
    """The spans as OTLP, a record per trace keyed by its id; in protobuf, with `partitions` known, the
    traces that share a partition travel in one record (up to the size limit), keyed by the first one's
    id, so that Kafka still places every trace where its own key would (a request of 100 one-span traces
    is then a record per partition, not 100 records to frame, spool and produce)."""
    out = Encoded()
    limit = exporter.max_message_bytes - _OVERHEAD
    content_type = b"application/json" if exporter.encoding == "otlp_json" else b"application/x-protobuf"
    auth = _auth_header(exporter, api_key)

    def add(trace_id: bytes, data: bytes, *extra: tuple[str, bytes]) -> None:
        headers = ((contract.CONTENT_TYPE, content_type), (contract.TRACE_ID, trace_id.hex().encode()), *auth, *extra)
        out.records.append(KafkaRecord(exporter.topic, trace_id.hex().encode(), data, headers, exporter.name))

    oversized: dict[bytes, ExportTraceServiceRequest] = {}
    fitting: dict[bytes, bytes] = {}
    if exporter.encoding == "otlp_proto":
        out.spans = span_count(request)
        for trace_id, data in _proto_by_trace(request).items():
            if len(data) > limit:
                oversized[trace_id] = ExportTraceServiceRequest.FromString(data)
            else:
                fitting[trace_id] = data
    else:
        for trace_id, sub in _by_trace(request).items():
            out.spans += span_count(sub)
            data = _serialize(sub, exporter.encoding)
            if len(data) > limit:
                oversized[trace_id] = sub
            else:
                fitting[trace_id] = data
    if partitions and len(fitting) > 1 and exporter.encoding == "otlp_proto":
        for first, data in _by_partition(fitting, partitions, limit):
            add(first, data)
    else:
        for trace_id, data in fitting.items():
            add(trace_id, data)
    for trace_id, sub in oversized.items():  # too large as one record: a record per span, cut when needed
        for part in (_wrap(rs, ss, [s]) for rs in sub.resource_spans for ss in rs.scope_spans for s in ss.spans):
            data = _serialize(part, exporter.encoding)
            if len(data) <= limit:
                add(trace_id, data)
                continue
            fitted = ExportTraceServiceRequest.FromString(fit_spans(part, limit)[0])
            out.truncated += 1
            add(trace_id, _serialize(fitted, exporter.encoding), (contract.TRUNCATED, b"true"))
    return out


def _by_partition(traces: dict[bytes, bytes], partitions: int, limit: int) -> Iterator[tuple[bytes, bytes]]:
    """(first trace id, value) of each record holding the traces of one partition, none over `limit`:
    serialized OTLP requests concatenate into the one request holding them all (protobuf appends
    repeated fields)."""
    groups: dict[int, list[list[bytes]]] = {}
    sizes: dict[int, int] = {}
    placed = partitions_of([trace_id.hex().encode() for trace_id in traces], partitions)
    for (trace_id, data), partition in zip(traces.items(), placed, strict=True):
        if partition not in groups or sizes[partition] + len(data) > limit:
            groups.setdefault(partition, []).append([])
            sizes[partition] = 0
        groups[partition][-1].append(trace_id)
        sizes[partition] += len(data)
    for records in groups.values():
        for ids in records:
            yield ids[0], b"".join(traces[t] for t in ids)
