"""Shared helpers for the station (charge_point) tests."""

from __future__ import annotations

import asyncio
import itertools
import os
import time
from collections.abc import Callable

_channels = itertools.count()


def unique_channel(name: str) -> str:
    """A python-can virtual channel no other test uses (virtual buses are process-global)."""
    return f"cp-test-{os.getpid()}-{name}-{next(_channels)}"


async def wait_for(
    condition: Callable[[], object], timeout: float = 5.0, interval: float = 0.01
) -> float:
    """Poll `condition` until it is truthy; returns the seconds it took, fails after `timeout`."""
    start = time.monotonic()
    deadline = start + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(interval)
    return time.monotonic() - start
