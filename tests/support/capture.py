"""Runs real instrumentation against the fake provider and saves the spans as OTLP protobuf.
Python instrumentations (traceloop, openinference) run here; the Vercel AI SDK runs in Node.

Each instrumentation patches the SDKs process-wide, so every capture runs in its own process:
`python tests/support/capture.py traceloop OUT_DIR`. It writes `spans.pb` (one ExportTraceServiceRequest,
encoded by the stock OTLP encoder) and `served.json` (what the fake provider answered, in order,
with the scenario that asked for it).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import contextlib

from capture_envs import VERCEL_SCRIPT
from fakeprovider import FakeProvider
from offline import loopback_only
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

WEATHER_TOOL_OPENAI: Any = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}
WEATHER_TOOL_ANTHROPIC: Any = {
    "name": "get_weather",
    "description": "Current weather for a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}
MESSAGES: Any = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "What is the capital of France?"},
]


class Collect(SpanExporter):
    """Keeps every span; with `CAPTURE_OTLP_ENDPOINT` set, also exports them with the stock OTLP
    exporter (`CAPTURE_OTLP_PROTOCOL` grpc or http/protobuf), as an app pointed at a collector would."""

    def __init__(self) -> None:
        self.spans: list[ReadableSpan] = []
        self.otlp: SpanExporter | None = None
        endpoint = os.environ.get("CAPTURE_OTLP_ENDPOINT")
        if endpoint and os.environ.get("CAPTURE_OTLP_PROTOCOL") == "grpc":
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as Grpc

            self.otlp = Grpc(endpoint=endpoint, insecure=True)
        elif endpoint:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as Http

            self.otlp = Http(endpoint=endpoint)

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.spans.extend(spans)
        return self.otlp.export(spans) if self.otlp else SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        pass


def openai_scenarios(base_url: str) -> dict[str, Callable[[], Any]]:
    import openai

    client = openai.OpenAI(base_url=base_url, api_key="sk-fake", max_retries=0)

    def stream(include_usage: bool) -> None:
        kwargs: dict[str, Any] = {"stream_options": {"include_usage": True}} if include_usage else {}
        for _ in client.chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, stream=True, temperature=0.2, **kwargs
        ):
            pass

    def error() -> None:
        with contextlib.suppress(openai.RateLimitError):
            client.chat.completions.create(model="gpt-4o-mini-error-429", messages=MESSAGES)

    return {
        "openai.chat": lambda: client.chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, temperature=0.2, max_tokens=50, user="end-user-1"
        ),
        "openai.stream_usage": lambda: stream(True),
        "openai.stream_no_usage": lambda: stream(False),
        "openai.tool_call": lambda: client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[
                {"role": "user", "content": "Weather in Paris?"},
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "call_prev",
                            "type": "function",
                            "function": {"name": "get_weather", "arguments": '{"city": "Lyon"}'},
                        }
                    ],
                },
                {"role": "tool", "tool_call_id": "call_prev", "content": "Sunny, 21C"},
                {"role": "user", "content": "And Paris?"},
            ],
            tools=[WEATHER_TOOL_OPENAI],
        ),
        "openai.error": error,
        "openai.embeddings": lambda: client.embeddings.create(model="text-embedding-3-small", input=["hello", "world"]),
        "openai.responses": lambda: client.responses.create(
            model="gpt-4o-mini", instructions="You are terse.", input="What is the capital of France?"
        ),
    }


def anthropic_scenarios(base_url: str) -> dict[str, Callable[[], Any]]:
    import anthropic

    client = anthropic.Anthropic(base_url=base_url, api_key="sk-ant-fake", max_retries=0)
    user: Any = [{"role": "user", "content": "What is the capital of France?"}]

    def stream() -> None:
        with client.messages.stream(
            model="claude-sonnet-4-5", max_tokens=100, system="You are terse.", messages=user
        ) as s:
            for _ in s.text_stream:
                pass

    def error() -> None:
        with contextlib.suppress(anthropic.RateLimitError):
            client.messages.create(model="claude-error-429", max_tokens=10, messages=user)

    return {
        "anthropic.chat": lambda: client.messages.create(
            model="claude-sonnet-4-5",
            max_tokens=100,
            system="You are terse.",
            messages=user,
            stop_sequences=["END"],
        ),
        "anthropic.stream": stream,
        "anthropic.tool_call": lambda: client.messages.create(
            model="claude-sonnet-4-5",
            max_tokens=100,
            tools=[WEATHER_TOOL_ANTHROPIC],
            messages=[{"role": "user", "content": "Weather in Paris?"}],
        ),
        "anthropic.error": error,
    }


def provider_scenarios(fake: FakeProvider) -> dict[str, Callable[[], Any]]:
    """Provider SDKs other than OpenAI's and Anthropic's, as OpenLLMetry instruments them."""
    import boto3
    import openai
    from google import genai
    from google.genai import types

    os.environ.update(AWS_ACCESS_KEY_ID="AKIAFAKE", AWS_SECRET_ACCESS_KEY="fake", AWS_DEFAULT_REGION="us-east-1")
    bedrock = boto3.client("bedrock-runtime", endpoint_url=fake.base_url, region_name="us-east-1")
    gemini = genai.Client(
        api_key="fake-google-key", http_options=types.HttpOptions(base_url=fake.base_url, api_version="v1beta")
    )
    azure = openai.AzureOpenAI(
        azure_endpoint=fake.base_url, api_version="2024-10-21", api_key="fake-azure-key", max_retries=0
    )
    question = "What is the capital of France?"
    gemini_config = types.GenerateContentConfig(system_instruction="You are terse.", temperature=0.2,
                                                max_output_tokens=50)  # fmt: skip

    def claude_invoke(model: str) -> Any:
        body = {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 100, "system": "You are terse.",
                "messages": [{"role": "user", "content": question}]}  # fmt: skip
        return json.loads(bedrock.invoke_model(modelId=model, body=json.dumps(body))["body"].read())

    def bedrock_streams() -> None:
        body = {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 100,
                "messages": [{"role": "user", "content": question}]}  # fmt: skip
        reply = bedrock.invoke_model_with_response_stream(
            modelId="anthropic.claude-3-5-haiku-20241022-v1:0", body=json.dumps(body)
        )
        for _ in reply["body"]:
            pass

    def bedrock_converse_stream() -> None:
        reply = bedrock.converse_stream(
            modelId="us.amazon.nova-lite-v1:0", messages=[{"role": "user", "content": [{"text": question}]}]
        )
        for _ in reply["stream"]:
            pass

    def bedrock_error() -> None:
        with contextlib.suppress(Exception):
            claude_invoke("anthropic.claude-error-429")

    def gemini_stream() -> None:
        for _ in gemini.models.generate_content_stream(
            model="gemini-2.5-flash", contents=question, config=gemini_config
        ):
            pass

    def gemini_error() -> None:
        with contextlib.suppress(Exception):
            gemini.models.generate_content(model="gemini-error-429", contents=question)

    import cohere
    from mistralai import Mistral

    co = cohere.ClientV2(api_key="fake-cohere-key", base_url=fake.base_url)
    mistral = Mistral(api_key="fake-mistral-key", server_url=fake.base_url)
    # OpenAI-compatible hosts by their real (http) address, answered by the fake acting as the proxy
    proxied = openai.DefaultHttpxClient(proxy=fake.base_url)
    together = openai.OpenAI(base_url="http://api.together.xyz/v1", api_key="fake", http_client=proxied, max_retries=0)
    groq = openai.OpenAI(base_url="http://api.groq.com/openai/v1", api_key="fake", http_client=proxied, max_retries=0)

    def cohere_stream() -> None:
        for _ in co.chat_stream(model="command-r-plus", messages=MESSAGES, temperature=0.2):
            pass

    def mistral_stream() -> None:
        for _ in mistral.chat.stream(model="mistral-small-latest", messages=MESSAGES, temperature=0.2):
            pass

    def together_stream() -> None:
        stream = together.chat.completions.create(
            model="meta-llama/Llama-3.3-70B-Instruct-Turbo", messages=MESSAGES, stream=True,
            stream_options={"include_usage": True},
        )  # fmt: skip
        for _ in stream:
            pass

    return {
        "cohere.chat": lambda: co.chat(model="command-r-plus", messages=MESSAGES, temperature=0.2),
        "cohere.stream": cohere_stream,
        "cohere.embed": lambda: co.embed(
            model="embed-english-v3.0",
            texts=["hello", "world"],
            input_type="search_document",
            embedding_types=["float"],
        ),
        "mistral.chat": lambda: mistral.chat.complete(
            model="mistral-small-latest", messages=MESSAGES, temperature=0.2, max_tokens=50
        ),
        "mistral.stream": mistral_stream,
        "together.stream": together_stream,
        "groq.chat": lambda: groq.chat.completions.create(
            model="llama-3.3-70b-versatile", messages=MESSAGES, temperature=0.2
        ),
        "bedrock.claude": lambda: claude_invoke("anthropic.claude-3-5-haiku-20241022-v1:0"),
        "bedrock.converse": lambda: bedrock.converse(
            modelId="us.amazon.nova-lite-v1:0",
            system=[{"text": "You are terse."}],
            messages=[{"role": "user", "content": [{"text": question}]}],
            inferenceConfig={"maxTokens": 100, "temperature": 0.2},
        ),
        "bedrock.llama": lambda: bedrock.invoke_model(
            modelId="meta.llama3-8b-instruct-v1:0",
            body=json.dumps({"prompt": question, "max_gen_len": 100, "temperature": 0.2}),
        )["body"].read(),
        "bedrock.titan": lambda: bedrock.invoke_model(
            modelId="amazon.titan-text-express-v1",
            body=json.dumps({"inputText": question, "textGenerationConfig": {"maxTokenCount": 100}}),
        )["body"].read(),
        "bedrock.error": bedrock_error,
        "bedrock.stream": bedrock_streams,
        "bedrock.converse_stream": bedrock_converse_stream,
        "gemini.chat": lambda: gemini.models.generate_content(
            model="gemini-2.5-flash", contents=question, config=gemini_config
        ),
        "gemini.stream": gemini_stream,
        "gemini.tool_call": lambda: gemini.models.generate_content(
            model="gemini-2.5-flash",
            contents="Weather in Paris?",
            config=types.GenerateContentConfig(
                tools=[
                    types.Tool(
                        function_declarations=[
                            types.FunctionDeclaration(
                                name="get_weather",
                                description="Current weather for a city",
                                parameters_json_schema=WEATHER_TOOL_ANTHROPIC["input_schema"],
                            )
                        ]
                    )
                ]
            ),
        ),
        "gemini.error": gemini_error,
        "azure.chat": lambda: azure.chat.completions.create(
            model="my-gpt4o-deployment", messages=MESSAGES, temperature=0.2, max_tokens=50
        ),
    }


def setup(kind: str, collect: Collect) -> Callable[[str, Callable[[], Any]], None]:
    """Install one instrumentation; return how to run a scenario under it."""
    from opentelemetry import trace
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    if kind in ("traceloop", "providers"):
        from traceloop.sdk import Traceloop
        from traceloop.sdk.decorators import workflow

        # Through a collector, spans travel in batches as a real app sends them (one batch here:
        # OTEL_BSP_SCHEDULE_DELAY is set long by the test, so the flush at exit sends them all).
        # should_enrich_metrics=False: OpenLLMetry would otherwise count the tokens of a stream without
        # usage with tiktoken, which downloads its encodings (the offline guard refuses that)
        Traceloop.init(
            app_name="capture-app", exporter=collect, disable_batch=collect.otlp is None, telemetry_enabled=False,
            should_enrich_metrics=False,
        )  # fmt: skip

        def run(name: str, fn: Callable[[], Any]) -> None:
            Traceloop.set_association_properties(
                {
                    "user_id": "user-7",
                    "session_id": "sess-99",
                    "tenant": "acme",
                    "Helicone-Property-Env": "prod",
                }
            )
            workflow(name=name)(fn)()

        return run

    provider = TracerProvider(resource=Resource.create({"service.name": "capture-app"}))
    provider.add_span_processor(SimpleSpanProcessor(collect))
    trace.set_tracer_provider(provider)
    if kind == "openinference":
        from openinference.instrumentation import using_attributes
        from openinference.instrumentation.anthropic import AnthropicInstrumentor
        from openinference.instrumentation.openai import OpenAIInstrumentor

        OpenAIInstrumentor().instrument(tracer_provider=provider)
        AnthropicInstrumentor().instrument(tracer_provider=provider)

        def run_oi(name: str, fn: Callable[[], Any]) -> None:
            with using_attributes(user_id="user-7", session_id="sess-99", metadata={"tenant": "acme"}):
                fn()

        return run_oi
    raise SystemExit(f"unknown instrumentation {kind}")


VERCEL_SCENARIOS = (
    "openai.chat", "openai.stream", "openai.tool_call", "openai.error", "openai.embeddings",
    "anthropic.chat", "anthropic.stream",
)  # fmt: skip


def capture_vercel(out: Path, only: set[str]) -> None:
    """The Vercel AI SDK is JavaScript: each scenario runs `node vercel/capture.mjs`, whose stock OTLP
    exporter posts protobuf to a small receiver here; the requests are merged into spans.pb."""
    import gzip
    import subprocess
    import threading
    from http.server import ThreadingHTTPServer

    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
    from quiet_http import QuietHandler

    received = ExportTraceServiceRequest()
    lock = threading.Lock()

    class Receiver(QuietHandler):
        def do_POST(self) -> None:
            body = self.read_body()
            if self.headers.get("content-encoding") == "gzip":
                body = gzip.decompress(body)
            with lock:
                received.resource_spans.extend(ExportTraceServiceRequest.FromString(body).resource_spans)
            self.send_response(200)
            self.send_header("content-type", "application/x-protobuf")
            self.send_header("content-length", "0")
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/v1/traces"
    with FakeProvider() as fake:
        for name in VERCEL_SCENARIOS:
            if only and name not in only:
                continue
            before = len(fake.served)
            args = [str(VERCEL_SCRIPT), name, fake.openai_base_url, fake.anthropic_base_url, url]
            subprocess.run(["node", *args], check=True, timeout=120)
            for entry in fake.served[before:]:
                entry["scenario"] = name
    server.shutdown()
    (out / "spans.pb").write_bytes(received.SerializeToString())
    (out / "served.json").write_text(json.dumps(fake.served, indent=1))


def main() -> None:
    loopback_only()
    kind, out = sys.argv[1], Path(sys.argv[2])
    if kind == "vercel":
        out.mkdir(parents=True, exist_ok=True)
        return capture_vercel(out, set(sys.argv[3:]))
    os.environ.setdefault("TRACELOOP_TRACE_CONTENT", "true")
    collect = Collect()
    run = setup(kind, collect)
    out.mkdir(parents=True, exist_ok=True)
    with FakeProvider() as fake:
        if kind == "providers":
            scenarios = provider_scenarios(fake)
        else:
            scenarios = {**openai_scenarios(fake.openai_base_url), **anthropic_scenarios(fake.anthropic_base_url)}
        only = set(sys.argv[3:])
        for name, fn in scenarios.items():
            if only and name not in only:
                continue
            before = len(fake.served)
            run(name, fn)
            for entry in fake.served[before:]:
                entry["scenario"] = name
    from opentelemetry import trace

    provider = trace.get_tracer_provider()
    if hasattr(provider, "force_flush"):
        provider.force_flush()
    if collect.otlp is not None:
        collect.otlp.shutdown()
    (out / "spans.pb").write_bytes(encode_spans(collect.spans).SerializeToString())
    (out / "served.json").write_text(json.dumps(fake.served, indent=1))


if __name__ == "__main__":
    main()
