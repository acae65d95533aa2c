"""Background loops that outlive their failures, writes they finish when stopped, and the
callers they answer when they cannot.

A periodic loop (certificate renewal, firmware campaigns, load management, housekeeping) that
raises must not end the process: under a reconnect storm a database pool time-out is a passing
condition. The failure is logged with its traceback (it never vanishes) and the loop starts
again after a pause.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

log = logging.getLogger(__name__)

RESTART_AFTER_SECONDS = 5.0

T = TypeVar("T")


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


async def finished_even_if_cancelled(work: Awaitable[T], *, grace: float | None = None) -> T:
    """Await `work`; when the caller is cancelled (the central system stops), let `work` run to
    its end first (for at most `grace` seconds), then re-raise the cancellation. A database
    write cancelled half-way leaves nobody knowing what was stored, and on SQLite can keep the
    write lock from the stop's own writes until its connection is collected."""
    task = asyncio.ensure_future(work)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        await asyncio.wait({task}, timeout=grace)
        raise


def fail_waiting(futures: Iterable[asyncio.Future[Any] | None], error: BaseException) -> None:
    """Answer with `error` every caller still waiting on one of `futures` (None: nobody waits)
    when the batch it waits for was not written, or never will be."""
    for future in futures:
        if future is not None and not future.done():
            future.set_exception(error)
