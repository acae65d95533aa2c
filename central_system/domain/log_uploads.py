"""Diagnostics and log files a station uploads to the central system (1.6 GetDiagnostics
TC_045_1/2, 1.6 security extension GetLog TC_079, 2.0.1 GetLog N01 TC_N_25/34/35/36).

Each request gets an unguessable upload token; the station is told to upload to a URL that carries
it. The request's status follows the station's answer, then its DiagnosticsStatusNotification
(1.6) or LogStatusNotification (1.6 security extension, 2.0.1).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class LogType(StrEnum):
    DIAGNOSTICS = "Diagnostics"  # 1.6 GetDiagnostics (2.x: GetLog DiagnosticsLog)
    DIAGNOSTICS_LOG = "DiagnosticsLog"  # GetLog
    SECURITY_LOG = "SecurityLog"  # GetLog


class RequestStatus(StrEnum):
    """What the central system records; station reports (Uploading, Uploaded, UploadFailed,
    UploadFailure, BadMessage, PermissionDenied, NotSupportedOperation) are kept as sent."""

    REQUESTED = "Requested"  # created, being sent
    ACCEPTED = "Accepted"
    REJECTED = "Rejected"
    NO_FILE = "NoFile"  # 1.6 GetDiagnostics answered without a file name: nothing to upload
    NOT_DELIVERED = "NotDelivered"  # offline, no answer or a CALLERROR
    CANCELLED = "Cancelled"  # a newer request replaced it (AcceptedCanceled)
    UPLOADED = "Uploaded"


CLOSED = frozenset(
    {
        RequestStatus.REJECTED,
        RequestStatus.NO_FILE,
        RequestStatus.NOT_DELIVERED,
        RequestStatus.CANCELLED,
    }
)
NEUTRAL_REPORTS = frozenset({"Idle"})
REPLACED_OLDER = "AcceptedCanceled"
FINAL_REPORTS = frozenset(
    {
        "Uploaded",
        "UploadFailed",
        "UploadFailure",
        "BadMessage",
        "PermissionDenied",
        "NotSupportedOperation",
    }
)


@dataclass(frozen=True, slots=True)
class LogRequest:
    id: int
    station_id: str
    log_type: LogType
    upload_token: str
    status: str
    requested_at: datetime
    file_name: str | None = None
    stored_path: str | None = None
    size_bytes: int | None = None
    uploaded_at: datetime | None = None

    @property
    def open(self) -> bool:
        """Still waiting for the station (answer, progress or upload)."""
        return self.status not in CLOSED and self.status not in FINAL_REPORTS

    @property
    def accepts_upload(self) -> bool:
        """A file may still arrive: the request was not refused or replaced and no file has
        arrived yet."""
        return self.status not in CLOSED and self.uploaded_at is None


def status_after_answer(log_type: LogType, status: str | None, file_name: str | None) -> str:
    """The request's status after the station's answer to GetDiagnostics (no status: a file
    name, or none when there is nothing to upload) or GetLog (Accepted, Rejected,
    AcceptedCanceled)."""
    if log_type is LogType.DIAGNOSTICS and status is None:
        return RequestStatus.ACCEPTED if file_name else RequestStatus.NO_FILE
    if status in ("Accepted", REPLACED_OLDER):
        return RequestStatus.ACCEPTED
    return RequestStatus.REJECTED


def status_after_report(request: LogRequest, reported: str) -> str:
    """A status notification about the request. A refused or replaced request stays so; Idle
    says nothing; an upload that already arrived is not undone by a later failure report."""
    if request.status in CLOSED or reported in NEUTRAL_REPORTS:
        return request.status
    if request.uploaded_at is not None and reported != RequestStatus.UPLOADED:
        return request.status
    return reported


def request_for_report(
    requests: Iterable[LogRequest], request_id: int | None, *, diagnostics: bool
) -> LogRequest | None:
    """The request a status notification is about: by requestId when the station gives one,
    else the station's newest open request of the right kind (1.6 DiagnosticsStatusNotification
    is about GetDiagnostics, LogStatusNotification about GetLog)."""
    candidates = list(requests)
    if request_id is not None:
        return next((r for r in candidates if r.id == request_id), None)
    kind = [r for r in candidates if (r.log_type is LogType.DIAGNOSTICS) == diagnostics and r.open]
    return max(kind, key=lambda r: r.id) if kind else None


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
MAX_FILE_NAME = 120


def safe_file_name(name: str | None, fallback: str) -> str:
    """A file name that is safe on any file system: no directories, no leading dots, only
    letters, digits, '.', '_' and '-'."""
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = _UNSAFE.sub("_", base).lstrip(".")[:MAX_FILE_NAME]
    return cleaned or fallback
