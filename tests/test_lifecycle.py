"""The lifecycle every service shares: started, run until stopped or until it ends on its own, and shut
down with a deadline in every case (a failed start included)."""

from __future__ import annotations

import asyncio

import pytest

from helicone_otel.lifecycle import run_until_signal


class FakeService:
    def __init__(self, fail_start: bool = False, end_with: BaseException | None = None) -> None:
        self.fail_start = fail_start
        self.end_with = end_with
        self.calls: list[str] = []
        self.deadline_left: float | None = None

    async def start(self) -> None:
        self.calls.append("start")
        if self.fail_start:
            raise OSError("address in use")

    async def done(self) -> None:
        if self.end_with is None:
            await asyncio.get_running_loop().create_future()
        else:
            await asyncio.sleep(0.01)
            raise self.end_with

    async def shutdown(self, deadline: float) -> None:
        self.calls.append("shutdown")
        self.deadline_left = deadline - asyncio.get_running_loop().time()


def test_stopped_by_the_event_then_shut_down_within_the_grace() -> None:
    async def main() -> FakeService:
        service, stop = FakeService(), asyncio.Event()
        asyncio.get_running_loop().call_later(0.05, stop.set)
        await run_until_signal(service, grace=7.0, stop=stop)
        return service

    service = asyncio.run(main())
    assert service.calls == ["start", "shutdown"]
    assert service.deadline_left is not None and 6.5 < service.deadline_left <= 7.0


def test_a_service_that_fails_is_shut_down_and_its_error_raised() -> None:
    service = FakeService(end_with=RuntimeError("consume loop died"))
    with pytest.raises(RuntimeError, match="consume loop died"):
        asyncio.run(run_until_signal(service, grace=1.0, stop=asyncio.Event()))
    assert service.calls == ["start", "shutdown"]


def test_a_failed_start_still_shuts_down_what_was_started() -> None:
    service = FakeService(fail_start=True)
    with pytest.raises(OSError, match="address in use"):
        asyncio.run(run_until_signal(service, grace=1.0, stop=asyncio.Event()))
    assert service.calls == ["start", "shutdown"]


def test_a_task_is_let_finish_until_the_timeout_then_cancelled() -> None:
    from helicone_otel.lifecycle import finish_or_cancel

    async def main() -> tuple[bool, bool, bool]:
        quick = asyncio.get_running_loop().create_task(asyncio.sleep(0.01))
        slow = asyncio.get_running_loop().create_task(asyncio.sleep(10))
        return await finish_or_cancel(quick, 1.0), await finish_or_cancel(slow, 0.05), slow.cancelled()

    assert asyncio.run(main()) == (True, False, True)
