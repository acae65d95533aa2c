"""Prometheus metrics at /metrics: connected stations, OCPP messages by action, active sessions,
API request latency. Each central system has its own registry (several can run in one process)."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send


class ApiMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.connected_stations = Gauge(
            "evcharge_connected_stations",
            "Stations with an open OCPP connection to this process.",
            registry=self.registry,
        )
        self.active_sessions = Gauge(
            "evcharge_active_sessions",
            "Transactions that have started and not ended.",
            registry=self.registry,
        )
        self.ocpp_messages = OcppMessageCounts()
        self.registry.register(self.ocpp_messages)
        self.api_latency = Histogram(
            "evcharge_api_request_duration_seconds",
            "API request latency by route template, method and status.",
            ["route", "method", "status"],
            registry=self.registry,
        )

    def received(self, action: str) -> None:
        self.ocpp_messages.received[action] += 1

    def sent(self, action: str) -> None:
        self.ocpp_messages.sent[action] += 1


class OcppMessageCounts(Collector):
    """evcharge_ocpp_messages_total{action, direction}: counted for every OCPP message in
    plain counters, read when /metrics is scraped (a prometheus_client Counter takes a lock per
    increment: about 1 us per message on the hot path). The event loop is the only writer."""

    def __init__(self) -> None:
        self.received: Counter[str] = Counter()
        self.sent: Counter[str] = Counter()

    def collect(self) -> Iterator[CounterMetricFamily]:
        family = CounterMetricFamily(
            "evcharge_ocpp_messages",
            "OCPP CALLs by action and direction (received from / sent to stations).",
            labels=["action", "direction"],
        )
        for direction, counts in (("received", self.received), ("sent", self.sent)):
            for action, count in sorted(counts.items()):
                family.add_metric([action, direction], count)
        yield family


class GroupCommitCounts(Collector):
    """evcharge_group_commit_batches_total and evcharge_group_commit_messages_total: how many
    database transactions the group-commit writer committed and how many station messages they
    held (their ratio is the batch size: a few at low load, hundreds under load)."""

    def __init__(self, counts: Callable[[], tuple[int, int]]) -> None:
        self._counts = counts  # (batches, messages) committed so far

    def collect(self) -> Iterator[CounterMetricFamily]:
        batches, messages = self._counts()
        yield CounterMetricFamily(
            "evcharge_group_commit_batches", "Group commits (database transactions).", batches
        )
        yield CounterMetricFamily(
            "evcharge_group_commit_messages", "Station messages written by group commits.", messages
        )


class LatencyMiddleware:
    """Times every HTTP request by its route template (not the raw path: bounded labels).
    Server-Sent Event streams are timed until their headers are sent."""

    def __init__(self, app: ASGIApp, metrics: ApiMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = {"code": 500, "observed": False}

        async def send_and_observe(message: Any) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                self._observe(scope, started, status["code"])
                status["observed"] = True
            await send(message)

        try:
            await self.app(scope, receive, send_and_observe)
        finally:
            if not status["observed"]:
                self._observe(scope, started, status["code"])

    def _observe(self, scope: Scope, started: float, code: Any) -> None:
        route = scope.get("route")
        template = getattr(route, "path", None) or "unmatched"
        self.metrics.api_latency.labels(
            route=template, method=scope.get("method", ""), status=str(code)
        ).observe(time.perf_counter() - started)


Endpoint = Callable[[Request], Awaitable[Response]]
