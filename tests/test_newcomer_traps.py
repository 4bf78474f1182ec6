"""The traps a newcomer falls into from a fresh clone or a plain `pip install`, each where it stands: the
quickstart's Traceloop app reaches Kafka as the README says, a missing configuration says where the shipped one
is (and the wheel carries it), `--version` answers, `compare` without its extra names the extra, and a
dry run needs no Kafka."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
from conftest import ROOT, Capture
from helpers import read_topic, run_collector
from localkafka import LocalKafka

CLI = [sys.executable, "-m", "helicone_otel.cli"]


def test_version() -> None:
    from importlib.metadata import version

    out = subprocess.run([*CLI, "--version"], capture_output=True, text=True, timeout=60)
    assert (out.returncode, out.stdout.strip()) == (0, f"helicone-otel {version('helicone-otel')}")


@pytest.mark.parametrize("command", ["collector", "forward"])
def test_a_missing_configuration_names_the_shipped_one(command: str, tmp_path: Path) -> None:
    out = subprocess.run([*CLI, command], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert out.returncode == 2
    assert "otel-config.yaml: no such file; pass --config FILE, or start from " in out.stderr, out.stderr
    shipped = Path(out.stderr.rsplit("start from ", 1)[1].strip())
    assert shipped.read_text() == (ROOT / "otel-config.yaml").read_text()


def test_the_wheel_carries_the_shipped_configuration(tmp_path: Path) -> None:
    uv = ROOT / ".venv-uv" / "bin" / "uv"
    if not uv.exists():
        pytest.skip("uv is installed by make (.venv-uv)")
    build = [str(uv), "build", "--wheel", "--quiet", "-b", "locks/build.txt", "-o", str(tmp_path), "."]
    subprocess.run(build, cwd=ROOT, check=True, capture_output=True, timeout=300)
    [wheel] = tmp_path.glob("*.whl")
    with zipfile.ZipFile(wheel) as z:
        assert z.read("helicone_otel/otel-config.yaml") == (ROOT / "otel-config.yaml").read_bytes()


def test_compare_without_its_extra_names_the_extra() -> None:
    code = "import sys; sys.modules['aiokafka'] = None; from helicone_otel.cli import main; " \
           "sys.exit(main(['compare', '--shadow-topic', 'x']))"  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    assert "needs the kafka extra: pip install 'helicone-otel[kafka]'" in out.stderr, out.stderr


def test_the_quickstart_traceloop_app_reaches_kafka_with_traceloop_base_url(
    kafka: LocalKafka, topic: str, tmp_path: Path
) -> None:
    with run_collector(tmp_path, kafka.bootstrap_servers, topic) as c:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "TRACELOOP_"))}
        env |= {"TRACELOOP_BASE_URL": f"http://127.0.0.1:{c.http_port}", "TRACELOOP_TELEMETRY": "false"}
        app = ROOT / "tests" / "support" / "quickstart_app.py"
        out = subprocess.run([sys.executable, str(app)], env=env, capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr[-3000:]
        assert "Missing Traceloop API key" not in out.stderr
        assert "Failed to export" not in out.stderr, out.stderr[-2000:]  # its default metrics export: 200
        assert c.metric("otelcol_receiver_accepted_metric_points") > 0
        [(_, value, _)] = asyncio.run(read_topic(kafka.bootstrap_servers, topic, 1))
    assert b'"gpt-4o-mini"' in value


@pytest.mark.parametrize("capture", ["traceloop"], indirect=True)
def test_a_dry_run_checks_records_without_kafka(capture: Capture, tmp_path: Path) -> None:
    """`map` piped into `forward --dry-run --records -`: each record's route and where its key comes from
    (never the key), with no broker anywhere; a broken line is named by number and the exit status is 1."""
    spans = tmp_path / "spans.pb"
    spans.write_bytes(capture.request.SerializeToString())
    mapped = subprocess.run([*CLI, "map", str(spans)], capture_output=True, text=True, timeout=60, check=True)
    config = tmp_path / "forwarder.yaml"
    config.write_text("forwarder: {brokers: ['127.0.0.1:9'], topic: t, api_key: sk-helicone-secret}\n")
    records = mapped.stdout + '{"providerRequest": {}}\n'
    out = subprocess.run([*CLI, "forward", "--config", str(config), "--dry-run", "--records", "-"], input=records,
                         capture_output=True, text=True, timeout=60)  # fmt: skip
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    n = len(mapped.stdout.splitlines())
    assert out.returncode == 1 and n >= 2, out.stderr
    routes = {"OPENAI": "/oai/v1/log", "ANTHROPIC": "/anthropic/v1/log"}  # (the capture's providers)
    assert [(line["route"], line["key_from"], line["line"]) for line in lines[:n]] == [
        (routes[json.loads(r)["provider"]], "api_key", i) for i, r in enumerate(mapped.stdout.splitlines(), 1)
    ]
    assert [line["id"] for line in lines[:n]] == [json.loads(r)["id"] for r in mapped.stdout.splitlines()]
    assert lines[n] == {"invalid": "providerResponse missing", "line": n + 1}
    assert "sk-helicone-secret" not in out.stdout + out.stderr


def test_a_dry_run_on_kafka_stops_when_kafka_does_not_answer(tmp_path: Path) -> None:
    config = tmp_path / "forwarder.yaml"
    config.write_text("forwarder: {brokers: ['127.0.0.1:9'], topic: t, api_key: k, admin_address: ''}\n")
    started = time.monotonic()
    out = subprocess.run([*CLI, "forward", "--config", str(config), "--dry-run"], capture_output=True, text=True,
                         timeout=60)  # fmt: skip
    assert out.returncode == 1 and time.monotonic() - started < 30, out.stderr
    assert "Kafka at 127.0.0.1:9 did not answer within 10s" in out.stderr
    assert "--dry-run --records FILE checks records without Kafka" in out.stderr
