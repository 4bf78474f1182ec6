"""The one retry policy the drain, the exporter's transports and the forwarder share."""

from __future__ import annotations

import time

from helicone_otel.retry import Backoff, retry_after


def test_backoff_doubles_with_jitter_up_to_its_cap_and_resets() -> None:
    backoff = Backoff(0.2, cap=1.0)
    bases = [0.2, 0.4, 0.8, 1.0, 1.0]
    for base in bases:
        assert 0.5 * base <= backoff.next() <= 1.5 * base
    backoff.reset()
    assert 0.1 <= backoff.next() <= 0.3


def test_retry_after_reads_seconds_and_http_dates_and_caps_them() -> None:
    assert retry_after("3") == 3.0
    assert retry_after("0.5") == 0.5
    assert retry_after("86400") == 300.0
    soon = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 20))
    assert 18 <= (retry_after(soon) or 0) <= 20
    assert retry_after("soon") is None and retry_after(None) is None


def test_one_error_vocabulary_mapped_once() -> None:
    from helicone_otel.collector.spool import SpoolFull

    from helicone_otel.errors import (
        InvalidRequest,
        Permanent,
        Retryable,
        TooLarge,
        Unauthenticated,
        Unavailable,
        answer,
        retryable_status,
    )  # fmt: skip
    from helicone_otel.kafka.sender import KafkaUnavailable

    assert [answer(e) for e in (InvalidRequest("x"), Unauthenticated("x"), TooLarge("x"), Unavailable("x"))] == [
        (400, 3), (401, 16), (413, 8), (503, 14),
    ]  # fmt: skip
    assert not isinstance(Unauthenticated("x"), OSError)  # a refused token is not an I/O failure
    assert all(issubclass(e, Permanent) for e in (InvalidRequest, Unauthenticated, TooLarge))
    assert all(issubclass(e, Retryable) for e in (KafkaUnavailable, SpoolFull))
    assert KafkaUnavailable("down").retry_after == 1.0
    # the exporter and the forwarder retry the same Helicone answers
    assert [s for s in (400, 401, 403, 404, 408, 413, 422, 429, 500, 502, 503, 504) if retryable_status(s)] == [
        401, 403, 408, 429, 500, 502, 503, 504,
    ]  # fmt: skip
