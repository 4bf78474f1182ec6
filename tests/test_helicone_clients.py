"""Helicone's own async clients pointed at the sidecar instead of Helicone: a helicone-async-style app
(traceloop with the stock OTLP exporter on `/v1/trace/log-python`, its Helicone key as a bearer token)
changes nothing but the base URL, and its calls land on Kafka as the records of any OTLP app, under
its own key, and reach the Helicone stand-in through the forwarder; `/v1/trace/log` takes OTLP/JSON as
`@helicone/async` sends it."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
from fakehelicone import FakeHelicone
from helicone_otel.semconv import map_request
from helpers import pass_api_keys, read_topic, run_collector, run_traceloop_app
from localkafka import LocalKafka
from test_forwarder import start_forwarder, wait_for

KEY = "sk-helicone-tenant-b"


def test_a_helicone_async_app_logs_through_the_sidecar(kafka: LocalKafka, topic: str, tmp_path: Path) -> None:
    with run_collector(tmp_path, kafka.bootstrap_servers, topic, edit=pass_api_keys) as c:
        base = f"http://127.0.0.1:{c.http_port}"
        out = tmp_path / "capture"
        sent = run_traceloop_app(out, f"{base}/v1/trace/log-python", f"Authorization=Bearer {KEY}")
        expected = {r.id: r.value for r in map_request(sent).records}
        got = asyncio.run(read_topic(kafka.bootstrap_servers, topic, len(expected)))

        # @helicone/async's route: OTLP/JSON with hex ids; answered as OTLP/JSON
        otlp_json = {"resourceSpans": [{"scopeSpans": [{"scope": {"name": "app"}, "spans": [{
            "traceId": "5b8efff798038103d269b633813fc60c", "spanId": "eee19b7ec3c1b174", "name": "chat gpt-4o",
            "startTimeUnixNano": "1764390000000000000", "endTimeUnixNano": "1764390000500000000",
            "attributes": [{"key": k, "value": {"stringValue": v}} for k, v in {
                "gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o",
                "gen_ai.input.messages": '[{"role": "user", "parts": [{"type": "text", "content": "hi"}]}]',
            }.items()],
        }]}]}]}  # fmt: skip
        reply = httpx.post(f"{base}/v1/trace/log", json=otlp_json, headers={"authorization": f"Bearer {KEY}"})
        assert reply.status_code == 200 and reply.headers["content-type"].startswith("application/json")
        [(_, value, headers)] = asyncio.run(read_topic(kafka.bootstrap_servers, topic, len(expected) + 1))[-1:]
    helicone = FakeHelicone(KEY)  # the forwarder delivers every record with the app's own key
    forwarder = start_forwarder(tmp_path, kafka.bootstrap_servers, topic, helicone.url)
    try:
        wait_for(lambda: len(helicone.accepted) == len(expected) + 1)
    finally:
        forwarder.terminate()
        forwarder.wait(30)
        helicone.close()
    assert {body["id"] for _, body in helicone.accepted} == {*expected, json.loads(value)["id"]}
    assert len(expected) == 11
    assert {json.loads(v)["id"]: json.loads(v) for _, v, _ in got} == expected
    assert all(h["helicone-auth"] == KEY.encode() for _, _, h in got)
    assert (
        json.loads(value)["providerRequest"]["json"]["model"] == "gpt-4o" and headers["helicone-auth"] == KEY.encode()
    )
