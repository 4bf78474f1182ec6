"""Runs popular GenAI emitters against the fake provider and saves their spans as OTLP protobuf:
LiteLLM's OpenTelemetry callback (default and `gen_ai_latest_experimental`), pydantic-ai with logfire
(with and without logfire's own OpenAI instrumentation), LlamaIndex with OpenInference, the OpenAI
Agents SDK with OpenInference and with OpenLLMetry, and OpenLIT.

They do not install beside the suite's traceloop-sdk, so they live in their own venv (`make` builds
`.venv-emitters` from the pins in the Makefile): `.venv-emitters/bin/python tests/capture_emitters.py
KIND OUT_DIR`, one process per emitter (each patches SDKs process-wide). Writes `spans.pb` and
`served.json` like `capture.py`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from capture import MESSAGES, WEATHER_TOOL_OPENAI, Collect
from fakeprovider import FakeProvider
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

QUESTION = "What is the capital of France?"
Scenarios = dict[str, Callable[[], Any]]


def tracer_provider(collect: Collect) -> TracerProvider:
    provider = TracerProvider(resource=Resource.create({"service.name": "capture-app"}))
    provider.add_span_processor(SimpleSpanProcessor(collect))
    trace.set_tracer_provider(provider)
    return provider


def litellm_scenarios(fake: FakeProvider, collect: Collect) -> Scenarios:
    os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"  # its bundled prices, not a download at import
    import litellm
    from litellm.integrations.opentelemetry import OpenTelemetry, OpenTelemetryConfig

    litellm.callbacks = [OpenTelemetry(config=OpenTelemetryConfig(exporter=collect))]
    common: dict[str, Any] = {"api_base": fake.openai_base_url, "api_key": "sk-fake", "num_retries": 0}

    def stream() -> None:
        for _ in litellm.completion(model="openai/gpt-4o-mini", messages=MESSAGES, stream=True,
                                    stream_options={"include_usage": True}, **common):  # fmt: skip
            pass

    def error() -> None:
        with contextlib.suppress(Exception):
            litellm.completion(model="openai/gpt-4o-mini-error-429", messages=MESSAGES, **common)

    return {
        "litellm.chat": lambda: litellm.completion(
            model="openai/gpt-4o-mini", messages=MESSAGES, temperature=0.2, max_tokens=50, **common
        ),
        "litellm.stream": stream,
        "litellm.tool_call": lambda: litellm.completion(
            model="openai/gpt-4o-mini", messages=[{"role": "user", "content": "Weather in Paris?"}],
            tools=[WEATHER_TOOL_OPENAI], **common,
        ),  # fmt: skip
        "litellm.error": error,
        "litellm.embeddings": lambda: litellm.embedding(
            model="openai/text-embedding-3-small", input=["hello", "world"], **common
        ),
        "litellm.anthropic": lambda: litellm.completion(
            model="anthropic/claude-sonnet-4-5", messages=MESSAGES, max_tokens=100,
            api_base=fake.anthropic_base_url, api_key="sk-ant-fake",
        ),  # fmt: skip
    }


def pydantic_ai_scenarios(fake: FakeProvider, collect: Collect, sdk_spans: bool = False) -> Scenarios:
    """pydantic-ai's own GenAI spans through logfire; with `sdk_spans`, logfire's OpenAI and Anthropic
    instrumentation too, which reports the same calls again."""
    import logfire
    from pydantic_ai import Agent
    from pydantic_ai.models.anthropic import AnthropicModel
    from pydantic_ai.models.openai import OpenAIChatModel
    from pydantic_ai.providers.anthropic import AnthropicProvider
    from pydantic_ai.providers.openai import OpenAIProvider

    logfire.configure(send_to_logfire=False, console=False, additional_span_processors=[SimpleSpanProcessor(collect)],
                      service_name="capture-app")  # fmt: skip
    logfire.instrument_pydantic_ai()
    if sdk_spans:
        logfire.instrument_openai()
        logfire.instrument_anthropic()
    openai_model = OpenAIChatModel("gpt-4o-mini", provider=OpenAIProvider(base_url=fake.openai_base_url,
                                                                          api_key="sk-fake"))  # fmt: skip
    claude = AnthropicModel("claude-sonnet-4-5", provider=AnthropicProvider(base_url=fake.anthropic_base_url,
                                                                            api_key="sk-ant-fake"))  # fmt: skip
    agent = Agent(openai_model, instructions="You are terse.")
    claude_agent = Agent(claude, instructions="You are terse.")

    async def stream() -> None:
        async with agent.run_stream(QUESTION) as result:
            async for _ in result.stream_text():
                pass

    def error() -> None:
        failing = Agent(OpenAIChatModel("gpt-4o-mini-error-429", provider=OpenAIProvider(
            base_url=fake.openai_base_url, api_key="sk-fake")))  # fmt: skip
        with contextlib.suppress(Exception):
            failing.run_sync(QUESTION)

    return {
        "pydantic_ai.chat": lambda: agent.run_sync(QUESTION),
        "pydantic_ai.stream": stream,
        "pydantic_ai.error": error,
        "pydantic_ai.anthropic_stream": lambda: _claude_stream(claude_agent),
    }


async def _claude_stream(agent: Any) -> None:
    async with agent.run_stream(QUESTION) as result:
        async for _ in result.stream_text():
            pass


SETUPS: dict[str, Callable[[FakeProvider, Collect], Scenarios]] = {
    "litellm": litellm_scenarios,
    "litellm-latest": litellm_scenarios,  # with OTEL_SEMCONV_STABILITY_OPT_IN=gen_ai_latest_experimental
    "pydantic-ai": pydantic_ai_scenarios,
    "pydantic-ai-sdk": lambda fake, collect: pydantic_ai_scenarios(fake, collect, sdk_spans=True),
}


def main() -> None:
    kind, out = sys.argv[1], Path(sys.argv[2])
    if kind == "litellm-latest":
        os.environ["OTEL_SEMCONV_STABILITY_OPT_IN"] = "gen_ai_latest_experimental"
    os.environ.setdefault("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "SPAN_ONLY")
    collect = Collect()
    out.mkdir(parents=True, exist_ok=True)
    with FakeProvider() as fake:
        scenarios = SETUPS[kind](fake, collect)
        only = set(sys.argv[3:])
        for name, fn in scenarios.items():
            if only and name not in only:
                continue
            before = len(fake.served)
            result = fn()
            if asyncio.iscoroutine(result):
                asyncio.run(result)
            for entry in fake.served[before:]:
                entry["scenario"] = name
    provider = trace.get_tracer_provider()
    if hasattr(provider, "force_flush"):
        provider.force_flush()
    (out / "spans.pb").write_bytes(encode_spans(collect.spans).SerializeToString())
    (out / "served.json").write_text(json.dumps(fake.served, indent=1))


if __name__ == "__main__":
    main()
