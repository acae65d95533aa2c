"""Health, readiness and Prometheus metrics (no sign-in: meant for the orchestrator)."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from central_system.api.deps import Ctx

router = APIRouter(tags=["system"])


@router.get("/health", summary="Liveness: the process serves requests")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/ready",
    summary="Readiness: the database answers and the OCPP server listens",
    responses={503: {"description": "Not ready"}},
)
async def ready(ctx: Ctx) -> JSONResponse:
    checks = {"ocpp": ctx.ready(), "database": False}
    try:
        await ctx.charging.count_active_transactions()
        checks["database"] = True
    except Exception:
        checks["database"] = False
    ok = all(checks.values())
    return JSONResponse(
        {"status": "ready" if ok else "not ready", "checks": checks},
        status_code=200 if ok else 503,
    )


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics(ctx: Ctx) -> Response:
    ctx.metrics.connected_stations.set(ctx.connected_stations())
    ctx.metrics.active_sessions.set(await ctx.charging.count_active_transactions())
    return Response(generate_latest(ctx.metrics.registry), media_type=CONTENT_TYPE_LATEST)
