"""RFC 9457 problem details for every error the API returns (application/problem+json)."""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from starlette.exceptions import HTTPException as StarletteHTTPException

from central_system.services.errors import (
    Conflict,
    Forbidden,
    InvalidRequest,
    NotFound,
    PaymentRequired,
    RateLimited,
    ServiceError,
    Unauthenticated,
)
from central_system.services.ports import StationCallError, StationCallTimeout, StationOffline

log = logging.getLogger(__name__)

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_BASE = "/problems/"

_STATUS = {
    NotFound: 404,
    Forbidden: 403,
    Unauthenticated: 401,
    Conflict: 409,
    InvalidRequest: 422,
    PaymentRequired: 402,
    RateLimited: 429,
}


class Problem(BaseModel):
    """An RFC 9457 problem: `type` names the kind of problem, `detail` this occurrence."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {
                    "type": "/problems/station-offline",
                    "title": "Station offline",
                    "status": 409,
                    "detail": "station CP-1 is not connected",
                    "instance": "/api/v1/stations/CP-1/commands/reset",
                }
            ]
        },
    )

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None


def problem_response(
    request: Request,
    status: int,
    slug: str | None,
    detail: str | None,
    headers: dict[str, str] | None = None,
    **extensions: Any,
) -> JSONResponse:
    title = slug.replace("-", " ").capitalize() if slug else HTTPStatus(status).phrase
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + slug if slug else "about:blank",
        "title": title,
        "status": status,
        "detail": detail,
        "instance": request.url.path,
        **{k: v for k, v in extensions.items() if v is not None},
    }
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_MEDIA_TYPE)


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` entries for the problems a route can answer."""
    return {
        status: {
            "model": Problem,
            "description": HTTPStatus(status).phrase,
            "content": {PROBLEM_MEDIA_TYPE: {}},
        }
        for status in statuses
    }


def install(app: FastAPI) -> None:
    @app.exception_handler(ServiceError)
    async def _service_error(request: Request, error: ServiceError) -> JSONResponse:
        status = next((s for cls, s in _STATUS.items() if isinstance(error, cls)), 400)
        headers: dict[str, str] = {}
        if isinstance(error, Unauthenticated):
            headers["WWW-Authenticate"] = "Bearer"
        if isinstance(error, RateLimited):
            headers["Retry-After"] = str(max(int(error.retry_after.total_seconds()), 1))
        return problem_response(
            request, status, error.problem, error.detail, headers, **error.extensions
        )

    @app.exception_handler(StationOffline)
    async def _offline(request: Request, error: StationOffline) -> JSONResponse:
        return problem_response(
            request, 409, "station-offline", str(error) or "the station is not connected"
        )

    @app.exception_handler(StationCallTimeout)
    async def _timeout(request: Request, error: StationCallTimeout) -> JSONResponse:
        return problem_response(request, 504, "station-timeout", str(error))

    @app.exception_handler(StationCallError)
    async def _call_error(request: Request, error: StationCallError) -> JSONResponse:
        return problem_response(
            request,
            502,
            "station-call-error",
            f"the station answered {error.code}: {error.description}",
            ocpp_error_code=error.code,
            ocpp_error_details=error.details or None,
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, error: RequestValidationError) -> JSONResponse:
        errors = [
            {"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")), "type": e.get("type")}
            for e in error.errors()
        ]
        return problem_response(
            request, 422, "validation-error", "the request is not valid", errors=errors
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, error: StarletteHTTPException) -> JSONResponse:
        return problem_response(
            request,
            error.status_code,
            None,
            str(error.detail) if error.detail else None,
            dict(error.headers or {}),
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, error: Exception) -> JSONResponse:
        log.exception("%s %s failed", request.method, request.url.path)
        return problem_response(request, 500, "internal-error", "the request could not be served")
