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


def test_a_group_commits_messages_are_not_scanned_while_they_wait() -> None:
    """The objects of the messages a group commit holds (here 500 messages of 100 container
    objects, as the hot path's tuples, lists and dataclasses) die before a young collection
    comes; with a threshold of 10,000 they were scanned five times while they waited."""
    young_collections = 0

    def count(phase: str, info: dict[str, int]) -> None:
        nonlocal young_collections
        if phase == "start" and info["generation"] == 0:
            young_collections += 1

    before = gc.get_threshold()
    gc.callbacks.append(count)
    try:
        tune_garbage_collector()
        gc.collect()  # start with an empty young generation
        young_collections = 0
        pending = [[(message, [value]) for value in range(50)] for message in range(500)]
        del pending
    finally:
        gc.callbacks.remove(count)
        gc.unfreeze()
        gc.set_threshold(*before)
    assert young_collections == 0
