"""Helicone's async-log API on the sidecar: a manual-logger body (`/custom/v1/log`, url
`custom-model-nopath`) and an OpenAI async log (`/oai/v1/log`) are answered as Helicone's worker answers
them, validated as it validates them, and land on Kafka as records of the contract that the forwarder
posts back to the same route."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
from helicone_otel.forwarder.service import validate
from helicone_rules import stored
from helpers import pass_api_keys, read_topic, run_collector
from localkafka import LocalKafka

from helicone_otel.contract import log_route

KEY = "sk-helicone-tenant-c"
MANUAL: dict[str, Any] = {
    "providerRequest": {"url": "custom-model-nopath", "json": {"model": "llama-3.1-8b", "messages": [
        {"role": "user", "content": "Name a prime."}]}, "meta": {"Helicone-Property-Tenant": "acme"}},
    "providerResponse": {"json": {"choices": [{"message": {"role": "assistant", "content": "Seven."}}],
                                  "usage": {"prompt_tokens": 12, "completion_tokens": 2}},
                         "status": 200, "headers": {}},
    "timing": {"startTime": {"seconds": 1764390000, "milliseconds": 5}, "endTime": {"seconds": 1764390001,
                                                                                     "milliseconds": 250}},
}  # fmt: skip
OPENAI: dict[str, Any] = {
    "providerRequest": {"url": "/v1/chat/completions", "json": {"model": "gpt-4o-mini", "messages": []},
                        "meta": {}},
    "providerResponse": {"json": {"model": "gpt-4o-mini-2024-07-18", "choices": [],
                                  "usage": {"prompt_tokens": 3, "completion_tokens": 1}}, "status": 200,
                         "headers": {}},
}  # fmt: skip


def test_async_logs_are_validated_made_durable_and_routed(kafka: LocalKafka, topic: str, tmp_path: Path) -> None:
    with run_collector(tmp_path, kafka.bootstrap_servers, topic, edit=pass_api_keys) as c:
        base = f"http://127.0.0.1:{c.http_port}"
        auth = {"authorization": f"Bearer {KEY}"}
        manual = httpx.post(f"{base}/custom/v1/log", json=MANUAL, headers={**auth, "helicone-user-id": "user-7"})
        openai = httpx.post(f"{base}/oai/v1/log", json=OPENAI, headers=auth)
        assert (manual.status_code, manual.text, openai.status_code) == (200, "ok", 200)

        bad = json.loads(json.dumps(MANUAL))
        bad["providerResponse"]["status"] = "fine"
        refused = httpx.post(f"{base}/custom/v1/log", json=bad, headers=auth)
        assert refused.status_code == 400
        assert refused.json()["error"].startswith("Invalid providerResponse: 'status'")
        missing = httpx.post(f"{base}/custom/v1/log", json={"providerRequest": MANUAL["providerRequest"]}, headers=auth)
        assert missing.status_code == 400 and "providerResponse" in missing.json()["error"]
        assert httpx.post(f"{base}/custom/v1/log", json=MANUAL).status_code == 401
        assert httpx.post(f"{base}/custom/v1/log", content=b"{not json", headers=auth).status_code == 400
        assert "/custom/v1/log" in httpx.get(f"{base}/openapi.json").json()["paths"]

        got = asyncio.run(read_topic(kafka.bootstrap_servers, topic, 2))
    by_provider = {json.loads(v)["provider"]: (k, json.loads(v), h) for k, v, h in got}
    assert set(by_provider) == {"CUSTOM", "OPENAI"}
    for provider, path in (("CUSTOM", "/custom/v1/log"), ("OPENAI", "/oai/v1/log")):
        key, value, headers = by_provider[provider]
        assert log_route(provider).path == path  # where the forwarder posts it back
        assert validate(json.dumps(value).encode()) == value
        assert key.decode() == value["id"] == value["providerRequest"]["meta"]["Helicone-Request-Id"]
        assert headers["helicone-auth"] == KEY.encode() and KEY not in json.dumps(value)
    manual_record = by_provider["CUSTOM"][1]
    assert manual_record["providerRequest"]["meta"]["Helicone-Property-Tenant"] == "acme"
    assert manual_record["providerRequest"]["meta"]["Helicone-User-Id"] == "user-7"  # from the post's headers
    assert json.dumps(manual_record["timing"]) == json.dumps(MANUAL["timing"])  # as sent, ints stay ints
    as_stored = stored("/custom/v1/log", manual_record)
    assert (as_stored.prompt_tokens, as_stored.completion_tokens, as_stored.text) == (12, 2, "Seven.")
    assert by_provider["OPENAI"][1]["timing"]["startTime"]["seconds"] > 1764390000  # none sent: now, as Helicone


def test_helicones_manual_logger_through_the_sidecar_to_helicone(kafka: LocalKafka, topic: str, tmp_path: Path) -> None:
    """The real `HeliconeManualLogger` (helicone-helpers), unchanged but for its logging endpoint, logs a
    custom model's call; the forwarder delivers it to the Helicone stand-in on the same route."""
    from fakehelicone import FakeHelicone
    from helicone_helpers import HeliconeManualLogger
    from test_forwarder import start_forwarder, wait_for

    helicone = FakeHelicone(KEY)
    with run_collector(tmp_path, kafka.bootstrap_servers, topic, edit=pass_api_keys) as c:
        logger = HeliconeManualLogger(api_key=KEY, logging_endpoint=f"http://127.0.0.1:{c.http_port}",
                                      headers={"Helicone-Property-App": "in-house"})  # fmt: skip
        request = {"model": "gpt-neo-2.7b", "messages": [{"role": "user", "content": "Name a prime."}]}

        def operation(recorder: Any) -> str:
            recorder.append_results({"choices": [{"message": {"role": "assistant", "content": "Seven."}}],
                                     "usage": {"prompt_tokens": 12, "completion_tokens": 2}})  # fmt: skip
            return "Seven."

        assert logger.log_request(request, operation) == "Seven."
        asyncio.run(read_topic(kafka.bootstrap_servers, topic, 1))
    forwarder = start_forwarder(tmp_path, kafka.bootstrap_servers, topic, helicone.url)
    try:
        wait_for(lambda: len(helicone.accepted) == 1)
    finally:
        forwarder.terminate()
        forwarder.wait(30)
        helicone.close()
    [(path, body)] = helicone.accepted
    assert path == "/custom/v1/log" and body["providerRequest"]["url"] == "custom-model-nopath"
    assert body["providerRequest"]["json"]["model"] == "gpt-neo-2.7b"
    as_stored = stored(path, body)
    assert (as_stored.prompt_tokens, as_stored.completion_tokens, as_stored.text) == (12, 2, "Seven.")


def test_redact_patterns_hold_on_the_async_log_routes(kafka: LocalKafka, topic: str, tmp_path: Path) -> None:
    """The pipeline's redact_patterns apply to every string of an async log, as to OTLP spans: message text,
    the body's own fields, meta (an Authorization header) and response headers."""

    def redacting(text: str) -> str:
        text = text.replace("exporters: [kafka]}", "processors: [helicone], exporters: [kafka]}")
        return "processors:\n  helicone: {redact_patterns: ['sk-[A-Za-z0-9_-]+']}\n" + text

    body = json.loads(json.dumps(OPENAI))
    body["providerRequest"]["json"]["messages"] = [{"role": "user", "content": "my key is sk-proj-abc123, keep it"}]
    body["providerRequest"]["json"]["api_key"] = "sk-ant-api03-xyz"
    body["providerRequest"]["meta"] = {"Authorization": "Bearer sk-live-999"}
    body["providerResponse"]["headers"] = {"x-echo": "sk-or-v1-777"}
    with run_collector(tmp_path, kafka.bootstrap_servers, topic, edit=redacting) as c:
        reply = httpx.post(
            f"http://127.0.0.1:{c.http_port}/oai/v1/log", json=body, headers={"authorization": "Bearer h"}
        )
        assert reply.status_code == 200, reply.text
        [(_, value, _)] = asyncio.run(read_topic(kafka.bootstrap_servers, topic, 1))
    record = json.loads(value)
    assert "sk-" not in value.decode(), value
    assert record["providerRequest"]["json"]["messages"][0]["content"] == "my key is [REDACTED], keep it"
    assert record["providerRequest"]["meta"]["Authorization"] == "Bearer [REDACTED]"
    assert record["providerResponse"]["headers"] == {"x-echo": "[REDACTED]"}
