"""Background loops that outlive their failures.

A periodic loop (certificate renewal, firmware campaigns, load management, housekeeping) that
raises must not end the process: under a reconnect storm a database pool time-out is a passing
condition. The failure is logged with its traceback (it never vanishes) and the loop starts
again after a pause.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)

RESTART_AFTER_SECONDS = 5.0


async def supervise(
    name: str, start: Callable[[], Awaitable[None]], *, restart_after: float = RESTART_AFTER_SECONDS
) -> None:
    """Run `start()` until cancelled, starting it again whenever it fails or returns."""
    while True:
        try:
            await start()
            log.error("background task %s returned; starting it again", name)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception(
                "background task %s failed; starting it again in %g s", name, restart_after
            )
        await asyncio.sleep(restart_after)
