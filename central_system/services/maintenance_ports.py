"""Ports of station maintenance: firmware campaigns, log uploads, security events and the
version-neutral commands these use. Adapters in persistence/ and transport/ implement them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from central_system.domain.firmware import FirmwareCampaign, FirmwareJob, FirmwareRequest
from central_system.domain.log_uploads import LogRequest, LogType
from central_system.domain.security_flows import CertificateHashData, CertificateUse
from central_system.services.ports import CommandOutcome, Page


class FirmwareRepository(Protocol):
    async def add_campaign(
        self, campaign: FirmwareCampaign, station_ids: Sequence[str]
    ) -> FirmwareCampaign:
        """Insert the campaign (it gets its id) and a Pending job per station."""
        ...

    async def get_campaign(self, campaign_id: int) -> FirmwareCampaign | None: ...
    async def save_campaign(self, campaign: FirmwareCampaign) -> None: ...
    async def list_campaigns(
        self, *, created_by: str | None, limit: int, offset: int
    ) -> Page[FirmwareCampaign]:
        """Newest first; `created_by`: only the campaigns that user started."""
        ...

    async def jobs(self, campaign_id: int) -> list[FirmwareJob]: ...
    async def get_job(self, job_id: int, *, for_update: bool = False) -> FirmwareJob | None: ...
    async def save_job(self, job: FirmwareJob) -> None: ...
    async def jobs_for_station(self, station_id: str) -> list[FirmwareJob]:
        """The station's jobs, newest first."""
        ...

    async def due_jobs(self, now: datetime) -> list[FirmwareJob]:
        """Pending jobs of running campaigns whose (next) attempt is due, oldest first."""
        ...


class LogRequestRepository(Protocol):
    async def add(self, request: LogRequest) -> LogRequest:
        """Insert; a request with id 0 gets the next id (the OCPP requestId)."""
        ...

    async def get(self, request_id: int) -> LogRequest | None: ...
    async def by_token(self, token: str) -> LogRequest | None: ...
    async def save(self, request: LogRequest) -> None: ...
    async def recent(self, station_id: str, limit: int = 20) -> list[LogRequest]:
        """The station's newest requests, newest first."""
        ...

    async def for_station(
        self, station_id: str, *, limit: int, offset: int
    ) -> Page[LogRequest]: ...


@dataclass(frozen=True, slots=True)
class StationLogEntry:
    station_id: str
    kind: str
    at: datetime
    data: dict[str, Any]
    id: int | None = None


class StationEventQueries(Protocol):
    """Reads of the station log beyond what StationLogRepository offers."""

    async def search(
        self,
        *,
        kinds: Sequence[str],
        station_id: str | None,
        since: datetime | None,
        limit: int,
        offset: int,
    ) -> Page[StationLogEntry]:
        """Entries of these kinds, newest first."""
        ...

    async def of_kind(self, station_id: str, kind: str) -> list[StationLogEntry]:
        """The station's entries of one kind, oldest first."""
        ...


class FirmwareControl(Protocol):
    """Firmware commands, translated into the station's OCPP version by the transport."""

    async def update_firmware(
        self, station_id: str, request_id: int, request: FirmwareRequest
    ) -> CommandOutcome:
        """1.6 UpdateFirmware (or SignedUpdateFirmware when signed), 2.x UpdateFirmware.
        Raises StationOffline, StationCallTimeout, StationCallError."""
        ...

    async def publish_firmware(
        self, station_id: str, request_id: int, location: str, checksum: str
    ) -> CommandOutcome:
        """2.x PublishFirmware to a local controller; ValueError for 1.6."""
        ...

    async def unpublish_firmware(self, station_id: str, checksum: str) -> CommandOutcome: ...


class LogControl(Protocol):
    async def request_log(
        self,
        station_id: str,
        *,
        request_id: int,
        log_type: LogType,
        location: str,
        oldest: datetime | None = None,
        latest: datetime | None = None,
        retries: int | None = None,
        retry_interval: int | None = None,
    ) -> CommandOutcome:
        """1.6 GetDiagnostics for Diagnostics (2.x: GetLog DiagnosticsLog), GetLog otherwise.
        The outcome's payload carries the file name the station will upload, if any."""
        ...


class SecurityControl(Protocol):
    """Security settings and certificates on a station."""

    def ocpp_version(self, station_id: str) -> str | None: ...
    async def set_password(self, station_id: str, password: str) -> CommandOutcome:
        """1.6 ChangeConfiguration AuthorizationKey; 2.x SetVariables
        SecurityCtrlr.BasicAuthPassword (the outcome's status is the attribute status)."""
        ...

    async def set_security_profile_16(self, station_id: str, profile: int) -> CommandOutcome:
        """1.6 ChangeConfiguration SecurityProfile."""
        ...

    async def network_priority(self, station_id: str) -> str | None:
        """2.x OCPPCommCtrlr.NetworkConfigurationPriority as the station reports it."""
        ...

    async def set_network_profile(
        self,
        station_id: str,
        *,
        slot: int,
        csms_url: str,
        security_profile: int,
        message_timeout: int,
    ) -> CommandOutcome: ...
    async def set_network_priority(self, station_id: str, priority: str) -> CommandOutcome: ...
    async def reset(self, station_id: str) -> CommandOutcome:
        """A reset once idle (1.6 Soft, 2.x OnIdle): the station reconnects."""
        ...

    async def install_certificate(
        self, station_id: str, use: CertificateUse, certificate_pem: str
    ) -> CommandOutcome: ...
    async def delete_certificate(
        self, station_id: str, hash_data: CertificateHashData
    ) -> CommandOutcome: ...
    async def installed_certificates(
        self, station_id: str, uses: Sequence[CertificateUse]
    ) -> CommandOutcome:
        """GetInstalledCertificateIds (1.6 asks once per type)."""
        ...

    async def trigger_certificate_renewal(
        self, station_id: str, certificate_type: str = "ChargingStationCertificate"
    ) -> CommandOutcome: ...
