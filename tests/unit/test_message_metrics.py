"""OCPP messages counted by action: every message, with a bounded set of labels."""

from __future__ import annotations

from typing import Any

from central_system.api.metrics import ApiMetrics
from central_system.transport.connection import Handler, StationSession
from central_system.transport.operations import UNHANDLED_ACTION, CountingRouter


async def heartbeat(session: StationSession, payload: dict[str, Any]) -> dict[str, Any]:
    return {}


class OneAction:
    def handler(self, action: str) -> Handler | None:
        return heartbeat if action == "Heartbeat" else None


def count(metrics: ApiMetrics, action: str) -> float | None:
    return metrics.registry.get_sample_value(
        "evcharge_ocpp_messages_total", {"action": action, "direction": "received"}
    )


def test_every_message_is_counted_and_names_without_a_handler_share_one_label() -> None:
    metrics = ApiMetrics()
    router = CountingRouter(OneAction(), metrics.received)
    for _ in range(3):
        assert router.handler("Heartbeat") is heartbeat
    for made_up in ("NoSuchAction", "Random-1", "Random-2"):
        assert router.handler(made_up) is None
    assert count(metrics, "Heartbeat") == 3
    assert count(metrics, UNHANDLED_ACTION) == 3
    assert count(metrics, "NoSuchAction") is None
