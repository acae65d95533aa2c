"""Prometheus metrics at /metrics: connected stations, OCPP messages by action, active sessions,
API request latency. Each central system has its own registry (several can run in one process)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
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
        self.ocpp_messages = Counter(
            "evcharge_ocpp_messages",
            "OCPP CALLs by action and direction (received from / sent to stations).",
            ["action", "direction"],
            registry=self.registry,
        )
        self._message_counters: dict[tuple[str, str], Any] = {}
        self.api_latency = Histogram(
            "evcharge_api_request_duration_seconds",
            "API request latency by route template, method and status.",
            ["route", "method", "status"],
            registry=self.registry,
        )

    def count_message(self, action: str, direction: str) -> None:
        """Counted for every OCPP message: the labelled counter is looked up once (labels()
        takes a lock and builds a key each time)."""
        counter = self._message_counters.get((action, direction))
        if counter is None:
            counter = self.ocpp_messages.labels(action=action, direction=direction)
            self._message_counters[(action, direction)] = counter
        counter.inc()

    def received(self, action: str) -> None:
        self.count_message(action, "received")

    def sent(self, action: str) -> None:
        self.count_message(action, "sent")


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
