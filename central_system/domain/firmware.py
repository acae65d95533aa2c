"""Firmware updates rolled out to many stations: one job per station, retried on failure
(1.6 UpdateFirmware TC_044_1-3, 1.6 security extension SignedUpdateFirmware TC_080/TC_081,
2.0.1 L01-L04 TC_L_01-TC_L_13).

A job is sent (its id is the 2.0.1 / signed-1.6 requestId), answered, then followed by the
station's FirmwareStatusNotifications until Installed or a failure. A failure - a Rejected
answer, DownloadFailed, InstallationFailed, InvalidSignature, InstallVerificationFailed, a station
that did not answer or answered with a CALLERROR - is retried after the campaign's interval until
its retries are used up. A certificate the station refuses (InvalidCertificate,
RevokedCertificate) does not become valid by trying again: the job fails at once. A station that
is offline gets its job once it is connected again, without using up a retry.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum


class JobStatus(StrEnum):
    """The states the central system gives a job; between ACCEPTED and a terminal state the job
    carries the station's own FirmwareStatus (Downloading, Installing, ...)."""

    PENDING = "Pending"  # waiting to be sent (first time or again)
    SENT = "Sent"  # sent, the station's answer is awaited
    ACCEPTED = "Accepted"  # the station took the request
    INSTALLED = "Installed"
    FAILED = "Failed"
    CANCELLED = "Cancelled"  # the operator cancelled the campaign, or a newer request replaced it


class CampaignStatus(StrEnum):
    RUNNING = "running"
    FINISHED = "finished"
    CANCELLED = "cancelled"


TERMINAL = frozenset({JobStatus.INSTALLED, JobStatus.FAILED, JobStatus.CANCELLED})

# FirmwareStatus values (1.6, 1.6 signed, 2.0.1) that end an attempt unsuccessfully.
FAILURES = frozenset(
    {"DownloadFailed", "InstallationFailed", "InvalidSignature", "InstallVerificationFailed"}
)
# Answers to (Signed)UpdateFirmware that no retry can change.
PERMANENT_REFUSALS = frozenset({"InvalidCertificate", "RevokedCertificate"})
# Answers meaning the station took the request (AcceptedCanceled: and dropped an older one).
ACCEPTANCES = frozenset({"Accepted", "AcceptedCanceled"})
REPLACED_OLDER = "AcceptedCanceled"
# Reports that say nothing about a job (an answer to TriggerMessage when nothing happens).
NEUTRAL = frozenset({"Idle"})
# Every FirmwareStatus a station may report while an update progresses.
PROGRESS = frozenset(
    {
        "Downloading",
        "Downloaded",
        "DownloadScheduled",
        "DownloadPaused",
        "SignatureVerified",
        "InstallScheduled",
        "Installing",
        "InstallRebooting",
    }
)
REPORTABLE = PROGRESS | FAILURES | NEUTRAL | {"Installed"}


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """`retries` further attempts after the first, `interval` apart."""

    retries: int
    interval: timedelta

    def __post_init__(self) -> None:
        if self.retries < 0:
            raise ValueError("retries cannot be negative")
        if self.interval < timedelta(0):
            raise ValueError("the retry interval cannot be negative")


@dataclass(frozen=True, slots=True)
class FirmwareRequest:
    """What every station of a campaign is asked to install."""

    location: str
    retrieve_at: datetime
    signing_certificate: str | None = None
    signature: str | None = None

    @property
    def signed(self) -> bool:
        return self.signing_certificate is not None and self.signature is not None


@dataclass(frozen=True, slots=True)
class FirmwareCampaign:
    id: int
    request: FirmwareRequest
    policy: RetryPolicy
    status: CampaignStatus = CampaignStatus.RUNNING
    created_by: str | None = None
    created_at: datetime | None = None


def validate_request(request: FirmwareRequest) -> None:
    """Raise ValueError for a request no station can act on."""
    if "://" not in request.location or len(request.location) > 512:
        raise ValueError("the firmware location must be a URL of at most 512 characters")
    if (request.signing_certificate is None) != (request.signature is None):
        raise ValueError("a signed update needs both the signing certificate and the signature")
    if request.signing_certificate is not None and len(request.signing_certificate) > 5500:
        raise ValueError("the signing certificate has at most 5500 characters")
    if request.signature is not None and len(request.signature) > 800:
        raise ValueError("the signature has at most 800 characters")


@dataclass(frozen=True, slots=True)
class FirmwareJob:
    id: int
    campaign_id: int
    station_id: str
    status: str = JobStatus.PENDING
    attempts: int = 0
    last_error: str | None = None
    next_attempt_at: datetime | None = None
    updated_at: datetime | None = None

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL

    @property
    def in_progress(self) -> bool:
        """Sent and accepted, the station has not finished it yet."""
        return not self.terminal and self.status != JobStatus.PENDING


def due(job: FirmwareJob, now: datetime) -> bool:
    return job.status == JobStatus.PENDING and (
        job.next_attempt_at is None or job.next_attempt_at <= now
    )


def _retry_or_fail(
    job: FirmwareJob, reason: str, policy: RetryPolicy, now: datetime
) -> FirmwareJob:
    if job.attempts <= policy.retries:
        return replace(
            job,
            status=JobStatus.PENDING,
            last_error=reason,
            next_attempt_at=now + policy.interval,
            updated_at=now,
        )
    return replace(
        job, status=JobStatus.FAILED, last_error=reason, next_attempt_at=None, updated_at=now
    )


def sent(job: FirmwareJob, now: datetime) -> FirmwareJob:
    """The request goes out: one attempt used (given back if the station turns out offline)."""
    return replace(
        job, status=JobStatus.SENT, attempts=job.attempts + 1, next_attempt_at=None, updated_at=now
    )


def answered(
    job: FirmwareJob, status: str | None, policy: RetryPolicy, now: datetime
) -> FirmwareJob:
    """The station's answer to (Signed)UpdateFirmware. 1.6 UpdateFirmware has no status:
    None means accepted. A job whose first progress report came before the answer was processed
    is already past it."""
    if job.status != JobStatus.SENT:
        return job
    if status is None or status in ACCEPTANCES:
        return replace(job, status=JobStatus.ACCEPTED, last_error=None, updated_at=now)
    if status in PERMANENT_REFUSALS:
        return replace(
            job, status=JobStatus.FAILED, last_error=status, next_attempt_at=None, updated_at=now
        )
    return _retry_or_fail(job, status, policy, now)


def not_delivered(
    job: FirmwareJob, reason: str, policy: RetryPolicy, now: datetime, *, offline: bool
) -> FirmwareJob:
    """The request could not be sent (offline: the attempt does not count, and the job goes
    out as soon as the station is connected again) or got no usable answer (timeout,
    CALLERROR)."""
    if offline:
        return replace(
            job,
            status=JobStatus.PENDING,
            attempts=max(job.attempts - 1, 0),
            last_error=reason,
            next_attempt_at=None,
            updated_at=now,
        )
    return _retry_or_fail(job, reason, policy, now)


def reported(job: FirmwareJob, status: str, policy: RetryPolicy, now: datetime) -> FirmwareJob:
    """A FirmwareStatusNotification about this job. Reports after the job ended change nothing
    (a late or repeated notification); Idle says nothing about a job."""
    if job.terminal or status in NEUTRAL:
        return job
    if status == JobStatus.INSTALLED:
        return replace(
            job, status=JobStatus.INSTALLED, last_error=None, next_attempt_at=None, updated_at=now
        )
    if status in FAILURES:
        return _retry_or_fail(job, status, policy, now)
    return replace(job, status=status, updated_at=now)


def cancelled(job: FirmwareJob, now: datetime, reason: str) -> FirmwareJob:
    if job.terminal:
        return job
    return replace(
        job, status=JobStatus.CANCELLED, last_error=reason, next_attempt_at=None, updated_at=now
    )


def campaign_status(current: CampaignStatus, jobs: Iterable[FirmwareJob]) -> CampaignStatus:
    """A running campaign is finished once every job ended; a cancelled one stays cancelled."""
    if current is not CampaignStatus.RUNNING:
        return current
    return CampaignStatus.FINISHED if all(job.terminal for job in jobs) else CampaignStatus.RUNNING


def job_for_report(jobs: Iterable[FirmwareJob], request_id: int | None) -> FirmwareJob | None:
    """The job a FirmwareStatusNotification is about: the one with its requestId, else (1.6
    sends none) the station's newest job in progress."""
    candidates = list(jobs)
    if request_id is not None:
        return next((job for job in candidates if job.id == request_id), None)
    in_progress = [job for job in candidates if job.in_progress]
    return max(in_progress, key=lambda job: job.id) if in_progress else None


def valid_checksum(checksum: str) -> bool:
    """PublishFirmware checksum: the MD5 of the file as 32 hexadecimal digits (L03)."""
    return len(checksum) == 32 and all(c in "0123456789abcdefABCDEF" for c in checksum)
