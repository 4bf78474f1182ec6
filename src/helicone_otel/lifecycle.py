"""How every service here starts and stops: the collector, its worker supervisor and the forwarder each
implement `Service`, and `run_until_signal` runs one until SIGINT or SIGTERM (or until it ends on its
own). Stopping has a deadline, as a Kubernetes pod's grace period does: a service stops taking work,
finishes what it accepted as far as the deadline allows, keeps the rest where its next start finds it
(the spool, uncommitted offsets), and closes its clients."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from typing import Any, Protocol

log = logging.getLogger(__name__)
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Service(Protocol):
    async def start(self) -> None:
        """Take work: bind the listeners, start the tasks; return once serving."""

    async def done(self) -> None:
        """Return, or raise, when the service ends on its own (most never do)."""

    async def shutdown(self, deadline: float) -> None:
        """Stop by `deadline` (the running loop's clock): stop taking work, finish or keep what was
        accepted, close the clients. Safe to call after a failed `start`."""


async def finish_or_cancel(task: asyncio.Task[Any], timeout: float) -> bool:
    """Let `task` finish for up to `timeout` seconds (a failure of it is raised), else cancel it and
    wait for it to end; True when it finished in time. How a stopping service ends a task it owns."""
    try:
        await asyncio.wait_for(asyncio.shield(task), max(0.0, timeout))
    except TimeoutError:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        return False
    return True


def stop_event() -> asyncio.Event:
    """An event set, on the running loop, when SIGINT or SIGTERM arrives."""
    event = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in STOP_SIGNALS:
        loop.add_signal_handler(sig, event.set)
    return event


async def run_until_signal(service: Service, grace: float, stop: asyncio.Event | None = None) -> None:
    """Start `service`, run it until `stop` is set (default: SIGINT or SIGTERM) or it ends on its own,
    then shut it down within `grace` seconds. A failure of the service is raised after the shutdown."""
    stop = stop or stop_event()
    loop = asyncio.get_running_loop()
    try:
        await service.start()
        stopped = loop.create_task(stop.wait())
        ended = loop.create_task(service.done())
        await asyncio.wait({stopped, ended}, return_when=asyncio.FIRST_COMPLETED)
        stopped.cancel()
        if ended.done():
            ended.result()  # raises the service's own failure
            log.info("the service ended on its own")
        else:
            ended.cancel()
    finally:
        await service.shutdown(loop.time() + grace)
