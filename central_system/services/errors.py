"""Errors of the API use cases; the REST adapter turns each into an RFC 9457 problem."""

from __future__ import annotations

from datetime import timedelta


class ServiceError(Exception):
    """Base: `problem` names the problem type (a slug under /problems/)."""

    problem = "error"

    def __init__(self, detail: str, *, problem: str | None = None, **extensions: object) -> None:
        super().__init__(detail)
        self.detail = detail
        if problem is not None:
            self.problem = problem
        self.extensions = extensions


class NotFound(ServiceError):
    problem = "not-found"


class Forbidden(ServiceError):
    problem = "forbidden"


class Unauthenticated(ServiceError):
    problem = "unauthenticated"


class Conflict(ServiceError):
    problem = "conflict"


class InvalidRequest(ServiceError):
    problem = "invalid-request"


class PaymentRequired(ServiceError):
    problem = "payment-declined"


class RateLimited(ServiceError):
    problem = "too-many-attempts"

    def __init__(self, detail: str, retry_after: timedelta) -> None:
        super().__init__(detail, retry_after_seconds=int(retry_after.total_seconds()) or 1)
        self.retry_after = retry_after
