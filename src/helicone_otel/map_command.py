"""`helicone-otel map FILE...`: OTLP trace files in, Helicone log records out, as JSON lines.

Reads OTLP protobuf (`.pb`, one ExportTraceServiceRequest) and OTLP/JSON (one request per file, or
one per line as the Collector's file exporter writes them). Records go to stdout, a summary and
every span that could not be mapped go to stderr. Exit status: 0 all mapped, 1 some spans failed to
map, 2 a file could not be read or decoded.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from helicone_otel.otlp_depth import decode_trace_request
from helicone_otel.otlp_json import OtlpJsonError, parse_request
from helicone_otel.semconv import MapOptions, map_request


class InputError(ValueError):
    """A file is missing or not OTLP; the message names the file and, for JSON, the line."""


def _is_json(data: bytes) -> bool:
    try:
        json.loads(data)
    except (ValueError, UnicodeDecodeError):
        return False
    return True


def read_requests(path: Path) -> Iterator[ExportTraceServiceRequest]:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: {exc.strerror}") from exc
    if path.suffix in (".json", ".jsonl", ".ndjson") or data.lstrip()[:1] == b"{":
        try:
            yield parse_request(data)
            return
        except OtlpJsonError as whole:
            lines = [line for line in data.splitlines() if line.strip()]
            if len(lines) < 2 or _is_json(data):  # one document, wrong as OTLP: say why, not "line 1"
                raise InputError(f"{path}: {whole}") from whole
        for number, line in enumerate(data.splitlines(), 1):
            if line.strip():
                try:
                    yield parse_request(line)
                except OtlpJsonError as exc:
                    raise InputError(f"{path}:{number}: {exc}") from exc
        return
    try:
        request = decode_trace_request(data)
    except DecodeError as exc:
        raise InputError(f"{path}: not an OTLP protobuf ExportTraceServiceRequest ({exc})") from exc
    yield request


def run(args: argparse.Namespace, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    try:
        options = MapOptions(
            omit_request=args.omit_request,
            omit_response=args.omit_response,
            redact_patterns=tuple(args.redact),
            redact_attributes=tuple(args.redact_attribute),
            resource_properties=tuple(args.resource_property),
        )
    except ValueError as exc:
        print(f"helicone-otel map: {exc}", file=err)
        return 2
    status = 0
    spans = records = failures = duplicates = 0
    for name in args.files:
        try:
            for request in read_requests(Path(name)):
                result = map_request(request, options)
                spans += result.spans
                duplicates += result.duplicates
                for record in result.records:
                    out.write(record.json_bytes().decode() + "\n")
                records += len(result.records)
                for failure in result.failures:
                    failures += 1
                    print(f"{name}: span {failure.span_id} ({failure.span_name!r}): {failure.error}", file=err)
        except InputError as exc:
            print(f"helicone-otel map: {exc}", file=err)
            status = 2
    print(
        f"{spans} spans, {records} records, {duplicates} duplicate spans merged, {failures} spans failed to map",
        file=err,
    )
    return status or (1 if failures else 0)


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("map", help="map OTLP trace files (.pb or OTLP/JSON) to Helicone records (JSON lines)")
    parser.add_argument("files", nargs="+", metavar="FILE")
    parser.add_argument("--omit-request", action="store_true", help="drop request content (keep model, usage)")
    parser.add_argument("--omit-response", action="store_true", help="drop response content (keep usage)")
    parser.add_argument("--redact", action="append", default=[], metavar="REGEX", help="replace matches")
    parser.add_argument(
        "--redact-attribute", action="append", default=[], metavar="GLOB", help="ignore span attributes"
    )
    parser.add_argument(
        "--resource-property",
        action="append",
        default=[],
        metavar="KEY",
        help="resource attribute as property",
    )
    parser.set_defaults(func=run)
