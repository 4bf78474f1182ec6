"""`helicone-otel map`: the debugging tool, run as users run it."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import Capture
from helicone_otel.semconv import map_request

from helicone_otel.otlp_json import request_to_dict


def run_map(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "helicone_otel.cli", "map", *args], capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize("capture", ["traceloop"], indirect=True)
def test_protobuf_json_and_json_lines_give_the_same_records(capture: Capture, tmp_path: Path) -> None:
    expected = [r.value for r in map_request(capture.request).records]
    pb = tmp_path / "spans.pb"
    pb.write_bytes(capture.request.SerializeToString())
    as_json = tmp_path / "spans.json"
    as_json.write_text(json.dumps(request_to_dict(capture.request), indent=2))
    # The Collector's file exporter: one request per line. Split the spans over two lines.
    doc = request_to_dict(capture.request)
    first, second = json.loads(json.dumps(doc)), json.loads(json.dumps(doc))
    first["resourceSpans"][0]["scopeSpans"] = doc["resourceSpans"][0]["scopeSpans"][:3]
    second["resourceSpans"][0]["scopeSpans"] = doc["resourceSpans"][0]["scopeSpans"][3:]
    lines = tmp_path / "spans.jsonl"
    lines.write_text(json.dumps(first) + "\n" + json.dumps(second) + "\n")

    for path in (pb, as_json):
        proc = run_map(str(path))
        assert proc.returncode == 0, proc.stderr
        assert [json.loads(line) for line in proc.stdout.splitlines()] == expected
        assert f"{len(expected)} records" in proc.stderr
    proc = run_map(str(lines))
    assert proc.returncode == 0, proc.stderr
    # Split across requests, duplicate spans may land apart; every call still has its record.
    ids = {json.loads(line)["providerResponse"]["json"].get("id") for line in proc.stdout.splitlines()}
    assert {r["providerResponse"]["json"].get("id") for r in expected} <= ids


def test_bad_files_are_named_and_exit_2(tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text('{"resourceSpans": [')
    garbage = tmp_path / "garbage.pb"
    garbage.write_bytes(b"\xff\xff\xff\xff")
    proc = run_map(str(broken), str(garbage), str(tmp_path / "missing.pb"))
    assert proc.returncode == 2
    assert f"{broken}: not valid JSON" in proc.stderr
    assert f"{garbage}: not an OTLP protobuf" in proc.stderr
    assert f"{tmp_path / 'missing.pb'}: No such file" in proc.stderr
    assert proc.stdout == ""


def test_privacy_flags_apply(tmp_path: Path) -> None:
    from otlp_builder import request, span

    attrs = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o",
        "gen_ai.input.messages": json.dumps([{"role": "user", "parts": [{"type": "text", "content": "s3cret"}]}]),
    }
    path = tmp_path / "one.pb"
    path.write_bytes(request(span("chat", attrs)).SerializeToString())
    proc = run_map(str(path), "--redact", "s3c\\w+")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["providerRequest"]["json"]["messages"][0]["content"] == "[REDACTED]"
    proc = run_map(str(path), "--omit-request")
    assert "messages" not in json.loads(proc.stdout)["providerRequest"]["json"]
    assert run_map(str(path), "--redact", "(").returncode == 2


def test_a_base64_id_is_named_as_such(tmp_path: Path) -> None:
    """protobuf's own JSON mapping writes ids as base64; OTLP/JSON wants hex. A pretty-printed file of
    that kind is one JSON document, not JSON lines: its error is the id, not 'line 1'."""
    span = {"traceId": base64.b64encode(bytes(range(16))).decode(), "spanId": "AAECAwQFBgc=", "name": "chat"}
    path = tmp_path / "base64.json"
    path.write_text(json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]}, indent=2))
    proc = run_map(str(path))
    assert proc.returncode == 2
    assert "spans[0].traceId: 'AAECAwQFBgcICQoLDA0ODw==' is a base64 id" in proc.stderr
    assert "ids are hex, here '000102030405060708090a0b0c0d0e0f'" in proc.stderr
    assert "line 1" not in proc.stderr and ":1:" not in proc.stderr
