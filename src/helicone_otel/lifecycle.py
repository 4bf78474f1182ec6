"""How a service learns to stop: SIGINT and SIGTERM, turned into one call or one event, in one place
for the collector, its worker supervisor and the forwarder. Each service then stops in its own
documented order (stop taking work, finish what was accepted, close its clients) within its deadline."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def on_stop_signal(callback: Callable[[], object]) -> None:
    """Call `callback` on the running loop when SIGINT or SIGTERM arrives."""
    loop = asyncio.get_running_loop()
    for sig in STOP_SIGNALS:
        loop.add_signal_handler(sig, callback)


def stop_event() -> asyncio.Event:
    """An event set when SIGINT or SIGTERM arrives."""
    event = asyncio.Event()
    on_stop_signal(event.set)
    return event
