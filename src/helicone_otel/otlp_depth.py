"""Decoding an OTLP trace request whose attribute values nest deeper than protobuf will parse.

The protobuf runtime refuses a whole message nested past its recursion limit (about 33 kvlists), while the
OpenTelemetry Collector accepts nesting to 10,000: one deep attribute would cost a request all its spans. When
a request fails to decode, its wire bytes are rewritten once, every AnyValue nested more than
`MAX_VALUE_DEPTH` levels below its attribute replaced by a string saying so, and decoded again. Only that
value is cut; requests that decode are never touched.
"""

from __future__ import annotations

from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

MAX_VALUE_DEPTH = 16  # array / kvlist levels below an attribute's own value kept as they are
CUT_VALUE = f"[nested deeper than {MAX_VALUE_DEPTH} levels, cut by helicone-otel]"

# Where AnyValues sit in a trace request: message -> {field number: the message it holds}.
_KEY_VALUE, _ANY_VALUE = "KeyValue", "AnyValue"
_SCHEMA: dict[str, dict[int, str]] = {
    "Request": {1: "ResourceSpans"},
    "ResourceSpans": {1: "Resource", 2: "ScopeSpans"},
    "Resource": {1: _KEY_VALUE},
    "ScopeSpans": {1: "Scope", 2: "Span"},
    "Scope": {3: _KEY_VALUE},
    "Span": {9: _KEY_VALUE, 11: "Event", 13: "Link"},
    "Event": {3: _KEY_VALUE},
    "Link": {4: _KEY_VALUE},
    _KEY_VALUE: {2: _ANY_VALUE},
    _ANY_VALUE: {5: "ArrayValue", 6: "KeyValueList"},
    "ArrayValue": {1: _ANY_VALUE},
    "KeyValueList": {1: _KEY_VALUE},
}


class _Malformed(Exception):
    pass


def decode_trace_request(data: bytes) -> ExportTraceServiceRequest:
    """`ExportTraceServiceRequest.FromString(data)`, cutting too-deep attribute values when that alone fails.
    Raises protobuf's DecodeError for bytes that are malformed in any other way."""
    try:
        return ExportTraceServiceRequest.FromString(data)
    except DecodeError:  # the runtime does not say whether it was the depth
        try:
            cut = _rewrite(data, "Request", -1)
        except (_Malformed, IndexError):
            cut = data
        if cut == data:
            raise
    return ExportTraceServiceRequest.FromString(cut)


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7
        if shift > 63:
            raise _Malformed("varint too long")


def _encode_varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _cut_value() -> bytes:
    text = CUT_VALUE.encode()
    return b"\x0a" + _encode_varint(len(text)) + text  # AnyValue.string_value = 1


def _rewrite(data: bytes, message: str, depth: int) -> bytes:
    """`data` (one `message`) with every AnyValue deeper than MAX_VALUE_DEPTH replaced; `depth` counts the
    AnyValues above this one (-1 outside any)."""
    if message == _ANY_VALUE:
        depth += 1
        if depth > MAX_VALUE_DEPTH:
            return _cut_value()
    fields = _SCHEMA[message]
    out = bytearray()
    pos = 0
    while pos < len(data):
        start = pos
        tag, pos = _varint(data, pos)
        number, wire = tag >> 3, tag & 7
        if wire == 0:
            _, pos = _varint(data, pos)
        elif wire == 1:
            pos += 8
        elif wire == 5:
            pos += 4
        elif wire == 2:
            length, pos = _varint(data, pos)
            end = pos + length
            if end > len(data):
                raise _Malformed("length past the end")
            if number in fields:
                inner = _rewrite(data[pos:end], fields[number], depth)
                out += _encode_varint(tag)
                out += _encode_varint(len(inner)) + inner
                pos = end
                continue
            pos = end
        else:
            raise _Malformed(f"wire type {wire}")
        if pos > len(data):
            raise _Malformed("field past the end")
        out += data[start:pos]
    return bytes(out)


def cut_json_values(doc: object) -> bool:
    """The same cut on an OTLP/JSON request already parsed into dicts (before protobuf's JSON parser, which
    has the same limit): every attribute list of its resources, scopes, spans, events and links. True when
    something was cut."""
    cut = False
    for resource_spans in _items(doc, "resourceSpans"):
        cut |= _cut_attributes(_get(resource_spans, "resource"))
        for scope_spans in _items(resource_spans, "scopeSpans"):
            cut |= _cut_attributes(_get(scope_spans, "scope"))
            for span in _items(scope_spans, "spans"):
                cut |= _cut_attributes(span)
                for nested in (*_items(span, "events"), *_items(span, "links")):
                    cut |= _cut_attributes(nested)
    return cut


def _get(obj: object, key: str) -> object:
    return obj.get(key) if isinstance(obj, dict) else None


def _items(obj: object, key: str) -> list[object]:
    value = _get(obj, key)
    return value if isinstance(value, list) else []


def _cut_attributes(owner: object) -> bool:
    return any([_cut_any(_get(kv, "value"), 0) for kv in _items(owner, "attributes")])


def _cut_any(value: object, depth: int) -> bool:
    """Cut one AnyValue dict at `depth` (0: an attribute's own value) or inside it; True when anything was."""
    if not isinstance(value, dict):
        return False
    if depth > MAX_VALUE_DEPTH:
        value.clear()
        value["stringValue"] = CUT_VALUE
        return True
    children: list[object] = [_get(kv, "value") for kv in _items(value.get("kvlistValue"), "values")]
    children += _items(value.get("arrayValue"), "values")
    return any([_cut_any(child, depth + 1) for child in children])
