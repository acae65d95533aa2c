"""How `evcharge serve` runs: uvloop when installed and wanted, the garbage collector tuned."""

from __future__ import annotations

import asyncio
import gc
import importlib.util

from central_system.process import GC_THRESHOLDS, event_loop_factory, tune_garbage_collector


def test_uvloop_when_installed_and_wanted() -> None:
    assert event_loop_factory(False) is None
    factory = event_loop_factory(True)
    if importlib.util.find_spec("uvloop") is None:
        assert factory is None
        return
    assert factory is not None
    loop = factory()
    try:
        assert type(loop).__module__.startswith("uvloop")
        assert loop.run_until_complete(asyncio.sleep(0, "ran")) == "ran"
    finally:
        loop.close()


def test_start_up_objects_are_frozen_and_collections_rarer() -> None:
    before = gc.get_threshold()
    try:
        tune_garbage_collector()
        assert gc.get_threshold() == GC_THRESHOLDS
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
