"""Log a call to a model no instrumentation knows (Llama on your own GPUs, GPT-Neo, an in-house model)
as a GenAI span through the app's own OpenTelemetry pipeline: it then reaches Helicone like any
instrumented call, through `HeliconeSpanExporter` or the sidecar collector, outside the request path.

    from helicone_otel.custom import llm_call

    with llm_call("llama-3.1-8b-instruct", messages=[{"role": "user", "content": prompt}],
                  user_id="user-7", session_id="sess-42", properties={"tenant": "acme"}) as call:
        for text in my_model.stream(prompt):
            call.chunk(text)                      # the first chunk sets the time to first token
        call.usage(input_tokens=812, output_tokens=64)

`call.respond(text)` instead of chunks for a call that is not streamed; an exception raised inside the
block marks the call failed and is raised again. `log_llm_call(...)` logs a call that already
happened, with its own start and end times.

The span speaks the OpenTelemetry GenAI conventions that `helicone_otel.semconv` reads: provider
`custom` unless given (Helicone then stores it on its custom route, unpriced unless the model is one it
knows), messages as given (`{"role", "content"}` or GenAI parts), the answer as one assistant message,
usage, time to first chunk, and Helicone's user, session and properties as association properties.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import Span, Status, StatusCode, TracerProvider

SCOPE = "helicone_otel.custom"
_PROPERTIES = "traceloop.association.properties."  # where semconv reads Helicone's context keys

__all__ = ["LlmCall", "llm_call", "log_llm_call"]


class LlmCall:
    """The call in progress inside `llm_call`: what the model answered, and when."""

    def __init__(self, span: Span, started_ns: int) -> None:
        self._span = span
        self._started_ns = started_ns
        self._parts: list[str] = []
        self._first_chunk_ns: int | None = None
        self.finish_reason: str = "stop"

    def chunk(self, text: str) -> None:
        """One streamed piece of the answer, as it arrives."""
        if self._first_chunk_ns is None:
            self._first_chunk_ns = time.time_ns()
        self._parts.append(text)

    def respond(self, text: str, finish_reason: str = "stop") -> None:
        """The whole answer of a call that is not streamed."""
        self._parts = [text]
        self.finish_reason = finish_reason

    def usage(self, input_tokens: int | None = None, output_tokens: int | None = None) -> None:
        if input_tokens is not None:
            self._span.set_attribute("gen_ai.usage.input_tokens", input_tokens)
        if output_tokens is not None:
            self._span.set_attribute("gen_ai.usage.output_tokens", output_tokens)

    def _finish(self) -> None:
        span = self._span
        streamed = self._first_chunk_ns is not None
        span.set_attribute("gen_ai.request.stream", streamed)
        if self._first_chunk_ns is not None:
            seconds = (self._first_chunk_ns - self._started_ns) / 1e9
            span.set_attribute("gen_ai.response.time_to_first_chunk", seconds)
        if self._parts:
            answer = [{"role": "assistant", "parts": [{"type": "text", "content": "".join(self._parts)}],
                       "finish_reason": self.finish_reason}]  # fmt: skip
            span.set_attribute("gen_ai.output.messages", json.dumps(answer))
            span.set_attribute("gen_ai.response.finish_reasons", [self.finish_reason])


def _start(
    model: str,
    messages: Sequence[Mapping[str, Any]],
    provider: str,
    operation: str,
    params: Mapping[str, float | int] | None,
    user_id: str | None,
    session_id: str | None,
    properties: Mapping[str, str] | None,
    tracer_provider: TracerProvider | None,
    start_ns: int,
) -> Span:
    tracer = trace.get_tracer(SCOPE, tracer_provider=tracer_provider)
    attributes: dict[str, Any] = {
        "gen_ai.operation.name": operation,
        "gen_ai.provider.name": provider,
        "gen_ai.request.model": model,
        "gen_ai.input.messages": json.dumps(list(messages)),
    }
    for name, value in (params or {}).items():  # temperature, top_p, max_tokens, ...
        attributes[f"gen_ai.request.{name}"] = value
    context = {"user_id": user_id, "session_id": session_id}
    context.update({f"helicone-property-{k}": v for k, v in (properties or {}).items()})
    attributes.update({_PROPERTIES + k: v for k, v in context.items() if v})
    return tracer.start_span(f"{operation} {model}", kind=trace.SpanKind.CLIENT, attributes=attributes,
                             start_time=start_ns)  # fmt: skip


@contextmanager
def llm_call(
    model: str,
    messages: Sequence[Mapping[str, Any]],
    *,
    provider: str = "custom",
    operation: str = "chat",
    params: Mapping[str, float | int] | None = None,
    user_id: str | None = None,
    session_id: str | None = None,
    properties: Mapping[str, str] | None = None,
    tracer_provider: TracerProvider | None = None,
) -> Iterator[LlmCall]:
    """A span around one call to your model, timed by the block (see the module's docstring)."""
    started = time.time_ns()
    span = _start(model, messages, provider, operation, params, user_id, session_id, properties,
                  tracer_provider, started)  # fmt: skip
    call = LlmCall(span, started)
    try:
        with trace.use_span(span, end_on_exit=False, record_exception=False, set_status_on_exception=False):
            yield call
    except BaseException as exc:
        span.record_exception(exc)
        span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))
        raise
    finally:
        call._finish()
        span.end()


def log_llm_call(
    model: str,
    messages: Sequence[Mapping[str, Any]],
    response: str | None,
    *,
    start_time: float,
    end_time: float,
    time_to_first_token: float | None = None,
    input_tokens: int | None = None,
    output_tokens: int | None = None,
    error: str | None = None,
    provider: str = "custom",
    operation: str = "chat",
    params: Mapping[str, float | int] | None = None,
    user_id: str | None = None,
    session_id: str | None = None,
    properties: Mapping[str, str] | None = None,
    tracer_provider: TracerProvider | None = None,
) -> None:
    """A call that already happened: times are `time.time()` seconds, `time_to_first_token` seconds
    after the start (a streamed call), `error` the failure's message (then `response` may be None)."""
    start_ns, end_ns = int(start_time * 1e9), int(end_time * 1e9)
    span = _start(model, messages, provider, operation, params, user_id, session_id, properties,
                  tracer_provider, start_ns)  # fmt: skip
    call = LlmCall(span, start_ns)
    if time_to_first_token is not None:
        call._first_chunk_ns = start_ns + int(time_to_first_token * 1e9)
    if response is not None:
        call._parts = [response]
    call.usage(input_tokens, output_tokens)
    if error is not None:
        span.set_status(Status(StatusCode.ERROR, error))
    call._finish()
    span.end(end_time=end_ns)
