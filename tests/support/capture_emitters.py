"""Runs popular GenAI emitters against the fake provider and saves their spans as OTLP protobuf:
LiteLLM's OpenTelemetry callback (default and `gen_ai_latest_experimental`), pydantic-ai with logfire
(with and without logfire's own OpenAI instrumentation), LlamaIndex with OpenInference, the OpenAI
Agents SDK with OpenInference and with OpenLLMetry, and OpenLIT.

They do not install beside the suite's traceloop-sdk, so they live in their own venv (`make` builds
`.venv-emitters` from the pins in the Makefile): `.venv-emitters/bin/python tests/support/capture_emitters.py
KIND OUT_DIR`, one process per emitter (each patches SDKs process-wide). Writes `spans.pb` and
`served.json` like `capture.py`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from capture import MESSAGES, WEATHER_TOOL_OPENAI, Collect
from fakeprovider import FakeProvider
from offline import loopback_only
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

    scenarios: Scenarios = {
        "litellm.chat": lambda: litellm.completion(
            model="openai/gpt-4o-mini", messages=MESSAGES, temperature=0.2, max_tokens=50, **common
        ),
        "litellm.stream": stream,
        "litellm.tool_call": lambda: litellm.completion(
            model="openai/gpt-4o-mini",
            messages=[{"role": "user", "content": "Weather in Paris?"}],
            tools=[WEATHER_TOOL_OPENAI],
            **common,
        ),
        "litellm.error": error,
        "litellm.embeddings": lambda: litellm.embedding(
            model="openai/text-embedding-3-small", input=["hello", "world"], **common
        ),
        "litellm.anthropic": lambda: litellm.completion(
            model="anthropic/claude-sonnet-4-5",
            messages=MESSAGES,
            max_tokens=100,
            api_base=fake.anthropic_base_url,
            api_key="sk-ant-fake",
        ),
    }

    def logged(fn: Callable[[], Any]) -> Callable[[], Any]:
        """LiteLLM logs a call from a worker thread after it returns: wait for the call's span, so that
        the last one is not cut off when the capture is written."""

        def run() -> None:
            before = len(collect.spans)
            fn()
            deadline = time.monotonic() + 10
            while not [s for s in collect.spans[before:] if s.name != "raw_gen_ai_request"]:
                if time.monotonic() > deadline:
                    raise SystemExit("LiteLLM logged no span for the call within 10 s")
                time.sleep(0.02)

        return run

    return {name: logged(fn) for name, fn in scenarios.items()}


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

    def agent(model: str) -> Any:
        """A fresh client per run (each scenario has its own event loop), with no retries of its own."""
        from anthropic import AsyncAnthropic
        from openai import AsyncOpenAI

        if model.startswith("claude"):
            client = AsyncAnthropic(base_url=fake.anthropic_base_url, api_key="sk-ant-fake", max_retries=0)
            return Agent(AnthropicModel(model, provider=AnthropicProvider(anthropic_client=client)),
                         instructions="You are terse.")  # fmt: skip
        openai_client = AsyncOpenAI(base_url=fake.openai_base_url, api_key="sk-fake", max_retries=0)
        return Agent(OpenAIChatModel(model, provider=OpenAIProvider(openai_client=openai_client)),
                     instructions="You are terse.")  # fmt: skip

    async def stream(model: str) -> None:
        async with agent(model).run_stream(QUESTION) as result:
            async for _ in result.stream_text():
                pass

    async def error() -> None:
        with contextlib.suppress(Exception):
            await agent("gpt-4o-mini-error-429").run(QUESTION)

    return {
        "pydantic_ai.chat": lambda: agent("gpt-4o-mini").run(QUESTION),
        "pydantic_ai.stream": lambda: stream("gpt-4o-mini"),
        "pydantic_ai.error": error,
        "pydantic_ai.anthropic_stream": lambda: stream("claude-sonnet-4-5"),
    }


def llamaindex_scenarios(fake: FakeProvider, collect: Collect) -> Scenarios:
    from llama_index.core.llms import ChatMessage
    from llama_index.core.tools import FunctionTool
    from llama_index.llms.openai import OpenAI
    from openinference.instrumentation.llama_index import LlamaIndexInstrumentor

    LlamaIndexInstrumentor().instrument(tracer_provider=tracer_provider(collect))
    llm = OpenAI(model="gpt-4o-mini", api_base=fake.openai_base_url, api_key="sk-fake", max_retries=0, temperature=0.2)
    messages = [ChatMessage(role="system", content="You are terse."), ChatMessage(role="user", content=QUESTION)]

    def get_weather(city: str) -> str:
        """Current weather for a city"""
        return "Sunny, 21C"

    def stream() -> None:
        for _ in llm.stream_chat(messages):
            pass

    def error() -> None:  # LlamaIndex refuses unknown model names: the fake answers 429 to this prompt
        with contextlib.suppress(Exception):
            llm.chat([ChatMessage(role="user", content="Please answer error-429")])

    return {
        "llamaindex.chat": lambda: llm.chat(messages),
        "llamaindex.stream": stream,
        "llamaindex.tool_call": lambda: llm.chat_with_tools(
            [FunctionTool.from_defaults(fn=get_weather)], user_msg="Weather in Paris?"
        ),
        "llamaindex.error": error,
    }


def agents_scenarios(fake: FakeProvider, collect: Collect, instrumentation: str) -> Scenarios:
    """The OpenAI Agents SDK on chat completions and on the Responses API, traced by OpenInference or by
    OpenLLMetry (its agents instrumentation beside its OpenAI instrumentation)."""
    from agents import Agent, OpenAIChatCompletionsModel, OpenAIResponsesModel, Runner, set_trace_processors
    from openai import AsyncOpenAI

    set_trace_processors([])  # the SDK's own exporter would post traces to OpenAI: none leave the machine
    provider = tracer_provider(collect)
    if instrumentation == "openinference":
        from openinference.instrumentation.openai_agents import OpenAIAgentsInstrumentor

        OpenAIAgentsInstrumentor().instrument(tracer_provider=provider)
    else:
        from opentelemetry.instrumentation.openai import OpenAIInstrumentor
        from opentelemetry.instrumentation.openai_agents import OpenAIAgentsInstrumentor as Agents

        OpenAIInstrumentor().instrument(tracer_provider=provider)
        Agents().instrument(tracer_provider=provider)

    async def run(model: str, api: str = "chat") -> None:
        # a client per run: each scenario has its own event loop (asyncio.run)
        client = AsyncOpenAI(base_url=fake.openai_base_url, api_key="sk-fake", max_retries=0)
        kind = OpenAIResponsesModel if api == "responses" else OpenAIChatCompletionsModel
        agent = Agent(name=f"{api}-agent", instructions="You are terse.", model=kind(model=model, openai_client=client))
        with contextlib.suppress(Exception):
            await Runner.run(agent, QUESTION)

    return {
        "agents.chat": lambda: run("gpt-4o-mini"),
        "agents.responses": lambda: run("gpt-4o-mini", "responses"),
        "agents.error": lambda: run("gpt-4o-mini-error-429"),
    }


def openlit_scenarios(fake: FakeProvider, collect: Collect) -> Scenarios:
    import openlit
    from capture import anthropic_scenarios, openai_scenarios

    tracer_provider(collect)  # OpenLIT reuses a configured provider
    os.environ["OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"] = "true"  # OpenLIT reads it as a boolean
    prices = Path(os.environ.get("TMPDIR", "/tmp")) / f"openlit-prices-{os.getpid()}.json"
    prices.write_text("{}")  # its pricing table is otherwise downloaded at init
    openlit.init(application_name="capture-app", pricing_json=str(prices), disable_metrics=True,
                 collect_gpu_stats=False)  # fmt: skip
    wanted = ("openai.chat", "openai.stream_usage", "openai.tool_call", "openai.error", "openai.embeddings",
              "anthropic.chat", "anthropic.stream", "anthropic.error")  # fmt: skip
    both = {**openai_scenarios(fake.openai_base_url), **anthropic_scenarios(fake.anthropic_base_url)}
    return {f"openlit.{name}": both[name] for name in wanted}


SETUPS: dict[str, Callable[[FakeProvider, Collect], Scenarios]] = {
    "litellm": litellm_scenarios,
    "litellm-latest": litellm_scenarios,  # with OTEL_SEMCONV_STABILITY_OPT_IN=gen_ai_latest_experimental
    "pydantic-ai": pydantic_ai_scenarios,
    "llamaindex": llamaindex_scenarios,
    "openlit": openlit_scenarios,
    "agents-openinference": lambda fake, collect: agents_scenarios(fake, collect, "openinference"),
    "agents-openllmetry": lambda fake, collect: agents_scenarios(fake, collect, "openllmetry"),
    "pydantic-ai-sdk": lambda fake, collect: pydantic_ai_scenarios(fake, collect, sdk_spans=True),
}


def main() -> None:
    loopback_only()
    kind, out = sys.argv[1], Path(sys.argv[2])
    # LiteLLM (imported by OpenLIT too) downloads its price table at import unless told not to
    os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
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
