"""Time the exporter adds to an LLM call on the application's thread, and its background CPU per span.

    .venv/bin/python bench/exporter_bench.py [--calls 300]

Each variant runs in its own process (Traceloop.init is process-wide): a real OpenAI SDK client calls
the local fake provider `--calls` times under traceloop-sdk with `disable_batch=True` (export on the
app thread, the worst case), or without tracing. Reported: p50/p99 of the call, the difference to
traceloop with an exporter that does nothing (what the exporter itself adds on the app thread), and
process CPU beyond that run, per span (noisy on a shared machine). OTLP goes to a local sink answering
200; direct mode to the fake Helicone; Kafka mode to a local broker. Then, measured on its own thread,
the background CPU per span of the stock OTLP exporter and of the Helicone transports.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "support"))
sys.path.insert(0, str(ROOT / "tools" / "kafka"))

VARIANTS = [
    "none",
    "traceloop-noop",
    "stock-otlp",
    "stock-otlp-batch",
    "helicone-otlp",
    "helicone-direct",
    "helicone-kafka",
]


def run_variant(variant: str, calls: int) -> dict[str, Any]:
    """Inside the child process: set up tracing, make the calls, report timings."""
    import openai
    from fakeprovider import FakeProvider

    exporter: Any = None
    if variant != "none":
        from traceloop.sdk import Traceloop

        if variant == "traceloop-noop":
            from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

            class Noop(SpanExporter):
                def export(self, spans: Any) -> SpanExportResult:
                    return SpanExportResult.SUCCESS

            exporter = Noop()
        elif variant.startswith("stock-otlp"):
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            exporter = OTLPSpanExporter(endpoint=os.environ["BENCH_OTLP"] + "/v1/traces")
        else:
            from helicone_otel.exporter import HeliconeSpanExporter

            mode = variant.removeprefix("helicone-")
            exporter = HeliconeSpanExporter(
                mode={"direct": "helicone"}.get(mode, mode),
                otlp_endpoint=os.environ.get("BENCH_OTLP"),
                api_key="sk-helicone-test",
                base_url=os.environ.get("BENCH_HELICONE"),
                kafka_brokers=os.environ.get("BENCH_KAFKA"),
                kafka_topic="bench-exporter",
            )
        Traceloop.init(app_name="bench", exporter=exporter, disable_batch=variant != "stock-otlp-batch",
                       telemetry_enabled=False)  # fmt: skip
    durations = []
    cpu0 = time.process_time()
    with FakeProvider() as fake:
        client = openai.OpenAI(base_url=fake.openai_base_url, api_key="sk-fake", max_retries=0)
        for _ in range(20):  # warm-up
            client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
        for _ in range(calls):
            t0 = time.perf_counter()
            client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
            durations.append(time.perf_counter() - t0)
        if exporter is not None and hasattr(exporter, "force_flush"):
            exporter.force_flush(30_000)
    cpu = time.process_time() - cpu0
    durations.sort()
    return {
        "p50_us": statistics.median(durations) * 1e6,
        "p99_us": durations[int(len(durations) * 0.99)] * 1e6,
        "cpu_s": cpu,
        "stats": getattr(getattr(exporter, "stats", None), "__dict__", None),
    }


class _Sink(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", 0)))
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0")
        self.end_headers()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--variant", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.variant:
        print(json.dumps(run_variant(args.variant, args.calls)))
        return

    from fakehelicone import FakeHelicone
    from localkafka import LocalKafka

    sink = ThreadingHTTPServer(("127.0.0.1", 0), _Sink)
    threading.Thread(target=sink.serve_forever, daemon=True).start()
    helicone = FakeHelicone("sk-helicone-test")
    with LocalKafka(auto_create_topics=True) as kafka:
        env = {
            **os.environ,
            "BENCH_OTLP": f"http://127.0.0.1:{sink.server_address[1]}",
            "BENCH_HELICONE": helicone.url,
            "BENCH_KAFKA": kafka.bootstrap_servers,
            "TRACELOOP_TELEMETRY": "false",
        }
        print(f"exporter benchmark: {args.calls} OpenAI SDK calls to a local fake provider per variant, "
              "traceloop-sdk with disable_batch=True unless noted")  # fmt: skip
        print(f"{'variant':<20}{'call p50 us':>12}{'call p99 us':>12}{'added p50':>11}{'added p99':>11}"
              f"{'bg CPU us/span':>16}")  # fmt: skip
        base: dict[str, Any] = {}
        for variant in VARIANTS:
            out = subprocess.run(
                [sys.executable, __file__, "--variant", variant, "--calls", str(args.calls)],
                env=env, capture_output=True, text=True, timeout=600,
            )  # fmt: skip
            if out.returncode != 0:
                print(f"{variant:<20} failed: {out.stderr[-500:]}")
                continue
            r = json.loads(out.stdout.strip().splitlines()[-1])
            if variant == "traceloop-noop":
                base = r
            nan = float("nan")
            cpu = (r["cpu_s"] - base["cpu_s"]) / (args.calls + 20) * 1e6 if base else nan
            added50 = r["p50_us"] - base["p50_us"] if base else nan
            added99 = r["p99_us"] - base["p99_us"] if base else nan
            print(f"{variant:<20}{r['p50_us']:>12.0f}{r['p99_us']:>12.0f}{added50:>11.0f}{added99:>11.0f}{cpu:>16.0f}",
                  flush=True)  # fmt: skip
        print()
        handoff(env)
        print()
        app_stalls(env)
        print()
        shipping_cpu(env)
    helicone.close()


def gen_ai_spans(n: int) -> list[Any]:
    from opentelemetry.sdk.trace import TracerProvider

    tracer = TracerProvider().get_tracer("opentelemetry.instrumentation.openai.v1")
    message = {"role": "user", "parts": [{"type": "text", "content": "x" * 2000}]}
    attrs = {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o",
             "gen_ai.input.messages": json.dumps([message]), "gen_ai.usage.input_tokens": 500}  # fmt: skip
    spans = []
    for i in range(n):
        span = tracer.start_span("openai.chat", attributes={**attrs, "gen_ai.response.id": f"chatcmpl-{i}"})
        span.end()
        spans.append(span)
    return spans


def shipping_cpu(env: dict[str, str], n: int = 1000) -> None:
    """The background thread's own CPU per span (thread CPU time, so the local endpoints in this
    process do not count): the stock OTLP exporter on BatchSpanProcessor-sized batches, and the
    Helicone transports, which map every span and post (direct) or produce (Kafka) each record."""
    from helicone_otel.exporter._transports import HeliconeTransport, KafkaTransport
    from helicone_otel.semconv import MapOptions
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    spans = gen_ai_spans(n)
    stock = OTLPSpanExporter(endpoint=env["BENCH_OTLP"] + "/v1/traces")
    helicone = env["BENCH_HELICONE"]
    direct = HeliconeTransport("sk-helicone-test", helicone, helicone, MapOptions())
    kafka = KafkaTransport(env["BENCH_KAFKA"], "bench-exporter-records", MapOptions())
    shippers: dict[str, Any] = {
        "stock OTLP, batches of 512": stock.export,
        "Helicone, direct mode": lambda batch: direct.send(batch, time.monotonic() + 60),
        "Helicone, Kafka mode": lambda batch: kafka.send(batch, time.monotonic() + 60),
    }
    print(f"background CPU per 2 KB gen_ai span, {n} spans in batches of 512 (best of 3)")
    for name, ship in shippers.items():
        best = float("inf")
        for _ in range(3):
            t0 = time.thread_time()
            for i in range(0, n, 512):
                ship(spans[i : i + 512])
            best = min(best, time.thread_time() - t0)
        print(f"  {name:<28} {best / n * 1e6:8.1f} us")
    direct.shutdown()
    kafka.shutdown()


def handoff(env: dict[str, str], n: int = 3000) -> None:
    """The app-thread cost itself: p50/p99 of one `export([span])` call, as a SimpleSpanProcessor makes it."""
    from helicone_otel.exporter import HeliconeSpanExporter
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    spans = gen_ai_spans(n)
    exporters = {
        "stock OTLP/HTTP": OTLPSpanExporter(endpoint=env["BENCH_OTLP"] + "/v1/traces"),
        "Helicone, otlp mode": HeliconeSpanExporter(mode="otlp", otlp_endpoint=env["BENCH_OTLP"]),
        "Helicone, direct mode": HeliconeSpanExporter(api_key="sk-helicone-test", base_url=env["BENCH_HELICONE"]),
    }
    print(f"export([one 2 KB span]) on the calling thread, {n} calls")
    for name, exporter in exporters.items():
        times = []
        for span in spans:
            t0 = time.perf_counter()
            exporter.export([span])
            times.append(time.perf_counter() - t0)
        times.sort()
        print(f"  {name:<24} p50 {statistics.median(times) * 1e6:8.1f} us   p99 {times[int(n * 0.99)] * 1e6:8.1f} us")
        exporter.shutdown()


def app_stalls(env: dict[str, str], n: int = 1500) -> None:
    """How long the app's own threads wait while an exporter ships in the background (the GIL, which
    its thread holds while it encodes or maps): a probe thread does short slices of Python work and
    records each slice's wall time, while the main thread hands 2 KB spans one at a time to the
    exporter, about 300 per second. Less noisy than the calls' latency above, which swings by
    milliseconds from run to run on a shared machine."""
    from helicone_otel.exporter import HeliconeSpanExporter
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    def stock() -> tuple[Any, Any]:
        processor = BatchSpanProcessor(OTLPSpanExporter(endpoint=env["BENCH_OTLP"] + "/v1/traces"))
        return processor.on_end, processor.shutdown

    def helicone(**settings: Any) -> tuple[Any, Any]:
        exporter = HeliconeSpanExporter(**settings)

        def finish() -> None:
            exporter.force_flush(30_000)
            exporter.shutdown()

        return (lambda span: exporter.export([span])), finish

    variants = {
        "no exporter": lambda: (lambda span: None, lambda: None),
        "stock OTLP, BatchSpanProcessor": stock,
        "Helicone, direct mode": lambda: helicone(api_key="sk-helicone-test", base_url=env["BENCH_HELICONE"]),
        "Helicone, Kafka mode": lambda: helicone(mode="kafka", kafka_brokers=env["BENCH_KAFKA"],
                                                 kafka_topic="bench-exporter"),
    }  # fmt: skip
    spans = gen_ai_spans(n)
    print(f"app threads' wait while {n} 2 KB spans ship (a probe's ~5 us slices of Python work, wall time)")
    for name, make in variants.items():
        export, finish = make()
        slices: list[float] = []
        done = threading.Event()

        def probe(slices: list[float] = slices, done: threading.Event = done) -> None:
            while not done.is_set():
                t0 = time.perf_counter()
                sum(range(200))
                slices.append(time.perf_counter() - t0)

        thread = threading.Thread(target=probe)
        thread.start()
        for span in spans:
            export(span)
            time.sleep(0.003)
        finish()
        done.set()
        thread.join()
        slices.sort()

        def at(q: float, slices: list[float] = slices) -> float:
            return slices[min(len(slices) - 1, int(len(slices) * q))] * 1e6

        print(f"  {name:<32} p99 {at(0.99):7.0f} us   p99.9 {at(0.999):7.0f} us   p99.99 {at(0.9999):7.0f} us")


if __name__ == "__main__":
    main()
