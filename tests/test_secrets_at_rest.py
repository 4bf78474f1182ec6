"""Keys and content at rest: the spool is readable by its owner only and keeps no delivered record, and even a
DEBUG log holds no record body unless asked for (`--log-bodies`)."""

from __future__ import annotations

import asyncio
import stat
import time
from pathlib import Path

import httpx
from helpers import collector_yaml, read_topic, start_collector, stop_collector
from localkafka import LocalKafka, free_port

PROMPT = "a prompt nobody may read 7f3a"
KEY = "sk-helicone-at-rest-91c2"
SPAN = {
    "traceId": "ef" * 16, "spanId": "01" * 8, "name": "openai.chat", "startTimeUnixNano": "1", "endTimeUnixNano": "2",
    "attributes": [
        {"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}},
        {"key": "gen_ai.provider.name", "value": {"stringValue": "openai"}},
        {"key": "gen_ai.request.model", "value": {"stringValue": "gpt-4o-mini"}},
        {"key": "gen_ai.input.messages",
         "value": {"stringValue": f'[{{"role": "user", "parts": [{{"type": "text", "content": "{PROMPT}"}}]}}]'}},
    ],
}  # fmt: skip


def post_and_deliver(kafka: LocalKafka, topic: str, tmp_path: Path, options: tuple[str, ...]) -> str:
    """One LLM call through a DEBUG collector that passes keys on; the collector's log once it is delivered."""
    ports = (free_port(), free_port(), free_port(), free_port())
    config = tmp_path / "otel-config.yaml"
    config.write_text(collector_yaml(kafka.bootstrap_servers, topic, ports, tmp_path / "spool", "").replace(
        "    topic:", "    pass_api_keys: true\n    topic:", 1))  # fmt: skip
    c = start_collector(config, ports, tmp_path / "collector.log", options=("--log-level", "DEBUG", *options))
    try:
        body = {"resourceSpans": [{"scopeSpans": [{"spans": [SPAN]}]}]}
        reply = httpx.post(c.http_url, json=body, headers={"helicone-auth": f"Bearer {KEY}"}, timeout=10)
        assert reply.status_code == 200
        [(_, value, headers)] = asyncio.run(read_topic(kafka.bootstrap_servers, topic, 1))
        assert PROMPT in value.decode() and headers["helicone-auth"] == KEY.encode()
        deadline = time.monotonic() + 10
        while c.metric("helicone_otel_spool_bytes") > 0 and time.monotonic() < deadline:
            time.sleep(0.1)
        spool = next((tmp_path / "spool").glob("worker-*"))
        assert stat.S_IMODE(spool.stat().st_mode) == 0o700
        for path in spool.iterdir():
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
            assert KEY.encode() not in path.read_bytes() and PROMPT.encode() not in path.read_bytes(), path
    finally:
        assert stop_collector(c) == 0
    return (tmp_path / "collector.log").read_text()


def test_the_spool_is_private_and_a_debug_log_has_no_bodies(kafka: LocalKafka, topic: str, tmp_path: Path) -> None:
    log = post_and_deliver(kafka, topic, tmp_path, ())
    assert " DEBUG " in log
    assert PROMPT not in log and KEY not in log


def test_bodies_in_the_debug_log_only_when_asked(kafka: LocalKafka, topic: str, tmp_path: Path) -> None:
    assert PROMPT in post_and_deliver(kafka, topic, tmp_path, ("--log-bodies",))
