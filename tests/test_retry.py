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
