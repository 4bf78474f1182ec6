"""One vocabulary of failure for every component, after the OpenTelemetry Collector's `consumererror`:
an error is either permanent (it never succeeds as sent: dead-letter it, answer 4xx) or retryable
(it may succeed later: keep it, answer 503, with a hint of when to try again).

    PipelineError
    +-- Permanent          never succeeds as sent
    |   +-- InvalidRequest     bad encoding or data          HTTP 400, gRPC INVALID_ARGUMENT
    |   +-- Unauthenticated    no valid credentials          HTTP 401, gRPC UNAUTHENTICATED
    |   +-- TooLarge           over a size limit             HTTP 413, gRPC RESOURCE_EXHAUSTED
    +-- Retryable          may succeed later (`retry_after` seconds, a hint)
        +-- Unavailable        a dependency is down or full  HTTP 503, gRPC UNAVAILABLE

`answer(exc)` is the one table from an error to its HTTP status and gRPC code, `http_headers(exc)` and
`client_wait(exc)` what a client is told besides; every receiver uses them. Which answers of
Helicone's API are worth another try is `retryable_status`.
"""

from __future__ import annotations

from typing import ClassVar


class PipelineError(Exception):
    http_status: ClassVar[int] = 500
    grpc_code: ClassVar[int] = 13  # INTERNAL


class Permanent(PipelineError):
    """Never succeeds as sent: retrying cannot help."""

    http_status = 400
    grpc_code = 3


class InvalidRequest(Permanent):
    """The request can never succeed as sent (bad encoding, bad data)."""


class Unauthenticated(Permanent):
    """No valid credentials; the message never echoes what was sent."""

    http_status = 401
    grpc_code = 16


class TooLarge(Permanent):
    """Over a size limit (after decompression)."""

    http_status = 413
    grpc_code = 8


class Retryable(PipelineError):
    """May succeed later; `retry_after` is a hint in seconds when there is one (a remote's Retry-After,
    how soon the spool frees room)."""

    http_status = 503
    grpc_code = 14

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Unavailable(Retryable):
    """A dependency (Kafka, the spool) is down or full."""


def answer(exc: PipelineError) -> tuple[int, int]:
    """The HTTP status and gRPC status code that report `exc` to a client."""
    return exc.http_status, exc.grpc_code


def client_wait(exc: Retryable) -> float:
    """Seconds a client is told to wait before it tries again: the error's hint, else one."""
    return exc.retry_after if exc.retry_after is not None else 1.0


def http_headers(exc: PipelineError) -> dict[str, str]:
    """The headers a client acts on in an HTTP answer to `exc`."""
    headers = {}
    if isinstance(exc, Unauthenticated):
        headers["WWW-Authenticate"] = "Bearer"
    if isinstance(exc, Retryable):
        headers["Retry-After"] = str(max(1, round(client_wait(exc))))
    return headers


# Helicone's answers worth another try: overload and server errors, a timeout, and a refused key,
# which is an outage to wait out (a revoked or mistyped key refuses every record) rather than a
# reason to discard records. Every other 4xx is permanent.
_RETRYABLE_STATUS = frozenset({401, 403, 408, 429, 500, 502, 503, 504})


def retryable_status(status: int) -> bool:
    return status in _RETRYABLE_STATUS


def http_failure(status: int, reason: str, retry_after: float | None = None) -> PipelineError:
    """A remote's answer of `status` (not 2xx) as the error to raise: `Unavailable`, with the remote's
    Retry-After as its hint, when `retryable_status` says so; else `Permanent`."""
    if retryable_status(status):
        return Unavailable(reason, retry_after)
    return Permanent(reason)
