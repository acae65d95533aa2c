"""A failing background loop is logged and started again; it never ends the process."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import pytest

from central_system.background import supervise
from tests.helpers import wait_for


async def test_a_failing_loop_is_logged_and_restarted(caplog: pytest.LogCaptureFixture) -> None:
    runs: list[int] = []

    async def flaky_loop() -> None:
        runs.append(len(runs))
        if len(runs) < 3:
            raise TimeoutError("QueuePool limit reached")  # what a reconnect storm looked like
        await asyncio.Event().wait()  # the third run keeps going

    with caplog.at_level(logging.ERROR, logger="central_system.background"):
        task = asyncio.create_task(supervise("storm-test", flaky_loop, restart_after=0.01))
        await wait_for(lambda: len(runs) == 3)
        assert not task.done()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    failures = [r for r in caplog.records if "storm-test failed" in r.getMessage()]
    assert len(failures) == 2
    assert all(r.exc_info and "QueuePool" in str(r.exc_info[1]) for r in failures)
