"""The Kafka record contract (docs/record-format.md) in one place: topic names, header names, the
dead-letter rule and its headers, and where a record is posted in Helicone, decided once from its
`provider` (the forwarder and the exporter's direct mode both call `log_route`).

Helicone's worker routes take the provider from the route and ignore the body's `provider`: only
OPENAI, ANTHROPIC and GOOGLE are priced there (`worker/src/routers/api/apiRouter.ts`), and `CUSTOM`
never is. Every other provider goes to jawn's custom trace route on the API host, which takes the
provider from the body (`valhalla/jawn/src/managers/customTraceManager.ts`) and prices it by the
upper-case name."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

# --- on Kafka ----------------------------------------------------------------------------------------

DEFAULT_TOPIC = "helicone-llm-logs"
SPANS_TOPIC = "helicone-otel-spans"  # two stages: the ingest collector's spans (OTLP protobuf, keyed by trace)
SCHEMA = "async-log/v1"  # the `helicone-schema` header: the value is Helicone's async-log body

# header names
CONTENT_TYPE, HELICONE_SCHEMA = "content-type", "helicone-schema"
TRACE_ID, SPAN_ID, PROVIDER, SERVICE_NAME = "trace-id", "span-id", "provider", "service-name"
HELICONE_AUTH = "helicone-auth"  # the app's Helicone key, only when keys are passed through
SCORES = "helicone-scores"  # JSON {name: int | bool}: the call's evaluation scores
TRUNCATED = "helicone-truncated"  # "true" when the size limit cut values
UNPARSED = "helicone-unparsed"  # content attributes (comma-separated) that did not parse, kept as their raw text
ERROR = "error"  # on dead-lettered records: why
ERROR_LIMIT = 1000  # characters of the reason kept in the header
ATTEMPTS = "attempts"  # on dead-lettered records: how many posts Helicone refused (0: never posted)
ORIGINAL = "original-"  # on dead-lettered records: where it was (`original-topic`, `-partition`, `-offset`, ...)
ORIGINAL_SIZE = "original-size"  # the value's size in bytes, when it was cut to fit the dead-letter topic
VALUE_CUT = "value-cut"  # how it was cut: strings (still a body, replayable), prefix, dropped (value empty)


def dead_letter_topic(topic: str) -> str:
    """The default dead-letter topic of a records topic."""
    return f"{topic}-dlq"


def join_topic(topic: str) -> str:
    """The default join topic of a records topic: the spans and GenAI log records a call's record waits to
    meet, keyed by trace id (`collector.content_join`)."""
    return f"{topic}-join"


SIGNAL = "otlp-signal"  # on join records: `traces` (an ExportTraceServiceRequest) or `logs` (ExportLogsServiceRequest)


def dead_letter_headers(
    headers: Iterable[tuple[str, bytes]], reason: str, attempts: int | None = None, **original: str
) -> tuple[tuple[str, bytes], ...]:
    """A dead-lettered record's headers: its own, the reason (cut to ERROR_LIMIT), where it was going
    (`topic="t"` becomes `original-topic: t`), so that it can be traced and replayed, and how many
    posts were refused (`attempts`) when it was posted at all."""
    extra = [(f"{ORIGINAL}{key.replace('_', '-')}", value.encode()) for key, value in original.items()]
    tried = [(ATTEMPTS, str(attempts).encode())] if attempts is not None else []
    return (*headers, (ERROR, reason[:ERROR_LIMIT].encode()), *extra, *tried)


def without_dead_letter_headers(headers: Iterable[tuple[str, bytes]]) -> tuple[tuple[str, bytes], ...]:
    """A dead letter's own headers, as the record had them before it was dead-lettered (for a replay)."""
    ours = (ERROR, ATTEMPTS, VALUE_CUT)
    return tuple((k, v) for k, v in headers if k not in ours and not k.startswith(ORIGINAL))


# --- in Helicone -------------------------------------------------------------------------------------

HELICONE_WORKER_URL = "https://api.worker.helicone.ai"  # the async log routes (US; EU: eu.api.worker...)
HELICONE_API_URL = "https://api.helicone.ai"  # jawn: custom trace route, scores (EU: eu.api.helicone.ai)

_WORKER_ROUTES = {
    "OPENAI": "/oai/v1/log",
    "ANTHROPIC": "/anthropic/v1/log",
    "GOOGLE": "/googleapis/v1/log",
    "CUSTOM": "/custom/v1/log",
}
CUSTOM_TRACE_PATH = "/v1/trace/custom/log"


@dataclass(frozen=True)
class Route:
    host: Literal["worker", "api"]
    path: str

    def url(self, worker_url: str, api_url: str) -> str:
        return (worker_url if self.host == "worker" else api_url).rstrip("/") + self.path


def log_route(provider: str) -> Route:
    """The route a record with this `provider` is posted to."""
    path = _WORKER_ROUTES.get(provider)
    return Route("worker", path) if path else Route("api", CUSTOM_TRACE_PATH)


def score_url(api_url: str, request_id: str) -> str:
    """Helicone's score API for one logged request (jawn `requestController.ts`), on the API host."""
    return f"{api_url.rstrip('/')}/v1/request/{request_id}/score"
