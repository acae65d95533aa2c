"""The FastAPI application: routers, problem details, CORS, latency metrics, OpenAPI at /docs."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from central_system.api import problems
from central_system.api.context import ApiContext
from central_system.api.metrics import LatencyMiddleware
from central_system.api.routers import (
    admin,
    auth,
    customer_data,
    device_model,
    firmware,
    local_lists,
    log_uploads,
    operations,
    receipts,
    remote_control,
    reservations,
    security,
    sessions,
    sites,
    smart_charging,
    station_reservations,
    stations,
    system,
)

DESCRIPTION = """\
REST API of the evcharge central system for the mobile app and operators.

Sign in with `POST /api/v1/auth/token` (OAuth2 password flow; `username` is the e-mail address),
or as a guest with `POST /api/v1/auth/guest`, and send `Authorization: Bearer <access_token>`.
Errors are RFC 9457 problem details (`application/problem+json`); every list is paginated with
`limit` and `offset`. Money is a decimal string in the tariff's currency.
"""


def create_app(ctx: ApiContext) -> FastAPI:
    app = FastAPI(
        title="evcharge API",
        version="1.0.0",
        description=DESCRIPTION,
        docs_url="/docs",
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    app.state.ctx = ctx
    problems.install(app)
    for module in (auth, stations, operations, reservations, sessions, receipts, admin, system):
        app.include_router(module.router)
    for module in (firmware, log_uploads, security):  # station maintenance
        app.include_router(module.router)
    for module in (smart_charging, sites):  # charging profiles, load management
        app.include_router(module.router)
    for module in (device_model, local_lists, remote_control, station_reservations, customer_data):
        app.include_router(module.router)  # station configuration and control
    app.add_middleware(LatencyMiddleware, metrics=ctx.metrics)
    if ctx.settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=ctx.settings.cors_origins,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "Last-Event-ID"],
        )
    return app
