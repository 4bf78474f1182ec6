"""The one retry policy the drain, the exporter's transports and the forwarder share."""

from __future__ import annotations

import time

import pytest

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
    assert KafkaUnavailable("down").retry_after is None  # no hint: the retrier's backoff decides
    # the exporter and the forwarder retry the same Helicone answers
    assert [s for s in (400, 401, 403, 404, 408, 413, 422, 429, 500, 502, 503, 504) if retryable_status(s)] == [
        401, 403, 408, 429, 500, 502, 503, 504,
    ]  # fmt: skip


def test_retry_waits_for_the_hint_or_the_backoff_and_raises_permanent_at_once() -> None:
    import asyncio

    from helicone_otel.errors import Permanent, Unavailable, http_failure
    from helicone_otel.retry import retry, retry_sync

    assert isinstance(http_failure(503, "busy", 0.05), Unavailable) and isinstance(http_failure(400, "bad"), Permanent)
    answers: list[Exception | None] = [http_failure(503, "busy", 0.05), Unavailable("down"), None]
    seen: list[tuple[str, int]] = []

    def attempt() -> str:
        error = answers.pop(0)
        if error is not None:
            raise error
        return "sent"

    started = time.monotonic()
    result = retry_sync(attempt, Backoff(0.01), on_retry=lambda exc, n: seen.append((str(exc), n)))
    assert result == "sent" and seen == [("busy", 1), ("down", 2)]
    assert time.monotonic() - started >= 0.05  # the hint was honoured

    calls = 0

    async def refused() -> None:
        nonlocal calls
        calls += 1
        raise http_failure(422, "invalid body")

    with pytest.raises(Permanent, match="invalid body"):
        asyncio.run(retry(refused, Backoff(0.01)))
    assert calls == 1


def test_retry_gives_up_at_the_deadline_and_when_stopped() -> None:
    import asyncio
    import threading

    from helicone_otel.errors import Unavailable
    from helicone_otel.retry import Interrupted, retry, retry_sync

    def down() -> None:
        raise Unavailable("Kafka down")

    started = time.monotonic()
    with pytest.raises(Unavailable, match="Kafka down"):
        retry_sync(down, Backoff(0.05), deadline=time.monotonic() + 0.3)
    assert time.monotonic() - started < 0.3 + 0.15  # never waits past the deadline (+ the scheduler's delay)

    stop = threading.Event()
    threading.Timer(0.1, stop.set).start()
    with pytest.raises(Interrupted):
        retry_sync(down, Backoff(0.02, cap=0.02), stop=stop)

    async def stopped_meanwhile() -> None:
        event = asyncio.Event()
        asyncio.get_running_loop().call_later(0.1, event.set)

        async def still_down() -> None:
            raise Unavailable("Kafka down")

        await retry(still_down, Backoff(10.0), stop=event)  # waits 5 s or more, but is stopped at 0.1 s

    started = time.monotonic()
    with pytest.raises(Interrupted):
        asyncio.run(stopped_meanwhile())
    assert time.monotonic() - started < 2.0


def test_a_hint_lengthens_the_backoff_and_never_shortens_it() -> None:
    """`Retry-After: 0` or a date in the past must not become a tight loop: the backoff's wait is the
    floor under every hint."""
    from helicone_otel.errors import Unavailable
    from helicone_otel.retry import pause

    past = retry_after("Mon, 01 Jan 2001 00:00:00 GMT")
    assert past == 0.0 and retry_after("0") == 0.0
    backoff = Backoff(1.0, cap=1.0)
    assert all(0.5 <= pause(Unavailable("429", past), backoff) <= 1.5 for _ in range(100))
    assert all(pause(Unavailable("429", 20.0), backoff) == 20.0 for _ in range(5))  # a longer hint wins
    assert 0.5 <= pause(Unavailable("down"), backoff) <= 1.5


def test_a_retry_policy_names_its_backoff_and_enforces_its_bounds() -> None:
    from helicone_otel.forwarder.health import DOWN_AFTER

    from helicone_otel.errors import Unavailable
    from helicone_otel.retry import HELICONE_IN_LINE, HELICONE_PARKED, HELICONE_PROBE, RetryPolicy, retry_sync

    calls = 0

    def down() -> None:
        nonlocal calls
        calls += 1
        raise Unavailable("down", 0.0)

    with pytest.raises(Unavailable):
        retry_sync(down, RetryPolicy("three", first=0.01, cap=0.02, max_attempts=3))
    assert calls == 3
    started = time.monotonic()
    with pytest.raises(Unavailable):
        retry_sync(down, RetryPolicy("brief", first=0.05, cap=0.05, max_elapsed=0.3))
    assert time.monotonic() - started < 0.3  # never waits past its elapsed-time limit
    policy = RetryPolicy("p", first=1.0, cap=8.0, max_attempts=5, max_elapsed=60.0)
    assert policy.allows(4, 59.0) and not policy.allows(5, 1.0) and not policy.allows(1, 60.0)
    assert [0.5 * b <= policy.nth_wait(n) <= 1.5 * b for n, b in ((1, 1), (2, 2), (4, 8), (40, 8))] == [True] * 4
    # the forwarder's: named, bounded where they retry in place, and never sooner than an outage shows
    assert {p.name for p in (HELICONE_IN_LINE, HELICONE_PROBE, HELICONE_PARKED)} == {
        "helicone-in-line", "helicone-probe", "helicone-parked",
    }  # fmt: skip
    assert HELICONE_IN_LINE.max_attempts and HELICONE_IN_LINE.max_elapsed and HELICONE_PARKED.max_elapsed
    assert 0.5 * HELICONE_IN_LINE.first >= DOWN_AFTER and 0.5 * HELICONE_PROBE.first >= DOWN_AFTER
