"""How a long-running central-system process (`evcharge serve`) runs its event loop.

* uvloop, when it is installed (the `fast` extra) and not turned off (`EVCHARGE_UVLOOP=false`).
* The cyclic garbage collector. A server that holds thousands of connections and allocates a
  few dozen short-lived objects per message spends a third of its CPU in the collector with
  Python's defaults (measured with perf under the benchmark's load): the objects of messages
  waiting for their group commit survive the young collections, and every few thousand
  messages a full collection scans every connection's objects again. Here the objects built at
  start-up (modules, tables, schemas, services) are frozen, so that no collection scans them,
  and young collections run every 100,000 allocations instead of 700: a group commit holds a
  few hundred messages of a few hundred objects each, and with a smaller threshold they are
  scanned while they wait, then promoted and scanned again (at 10,000 the collector still took
  13 % of the server's CPU per MeterValues in the benchmark). A young collection scans only
  what is alive, so it stays a pause of about a millisecond. A full collection runs at most
  after 100 times more middle-aged ones than before. Reference counting still frees everything
  that is not part of a cycle at once; cycles are collected, less often.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import Callable

log = logging.getLogger(__name__)

GC_THRESHOLDS = (100_000, 10, 1_000)


def event_loop_factory(use_uvloop: bool) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's event loop when wanted and installed, else None (asyncio's own)."""
    if not use_uvloop:
        return None
    try:
        import uvloop
    except ImportError:
        return None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


def tune_garbage_collector() -> None:
    """Call once everything is built, just before serving."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
