"""Request and response bodies of the station-maintenance API: firmware updates and campaigns,
diagnostics and log uploads, security settings, certificates and security events."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from central_system.api.schemas import CommandOut, StationId


def _examples(*examples: dict[str, Any]) -> ConfigDict:
    return ConfigDict(json_schema_extra={"examples": list(examples)})


Url = Annotated[str, Field(min_length=8, max_length=512, pattern=r"^[a-zA-Z][a-zA-Z0-9+.-]*://")]


# --- firmware ------------------------------------------------------------------------------------


class FirmwareIn(BaseModel):
    model_config = _examples(
        {
            "location": "https://firmware.example.com/dc-2/fw-2.4.1.bin",
            "retries": 3,
            "retry_interval_s": 300,
        }
    )
    location: Url = Field(description="Where the stations download the firmware.")
    retrieve_at: datetime | None = Field(
        default=None, description="Earliest download time (UTC); default: now."
    )
    retries: int = Field(
        default=3, ge=0, le=20, description="Attempts after the first for a failed station."
    )
    retry_interval_s: int = Field(default=300, ge=0, le=7 * 86400)
    signing_certificate: str | None = Field(
        default=None,
        max_length=5500,
        description="PEM certificate of the firmware signer: a signed (secure) update "
        "(1.6 SignedUpdateFirmware, 2.x UpdateFirmware with signature).",
    )
    signature: str | None = Field(
        default=None, max_length=800, description="Base64 signature of the firmware file."
    )


class CampaignIn(FirmwareIn):
    model_config = _examples(
        {
            "station_ids": ["CP-1", "CP-2", "CP-3"],
            "location": "https://firmware.example.com/dc-2/fw-2.4.1.bin",
            "retries": 3,
            "retry_interval_s": 300,
        }
    )
    station_ids: list[StationId] = Field(min_length=1, max_length=1000)


class FirmwareJobOut(BaseModel):
    id: int = Field(description="Also the OCPP requestId (2.x, signed 1.6).")
    campaign_id: int
    station_id: str
    status: str = Field(
        description="Pending, Sent, Accepted, the station's progress (Downloading, "
        "Downloaded, Installing, ...), then Installed, Failed or Cancelled."
    )
    attempts: int
    last_error: str | None
    next_attempt_at: datetime | None
    updated_at: datetime | None


class CampaignOut(BaseModel):
    id: int
    location: str
    retrieve_at: datetime
    signed: bool
    retries: int
    retry_interval_s: int
    status: Literal["running", "finished", "cancelled"]
    created_at: datetime | None
    created_by: str | None
    summary: dict[str, int] = Field(description="Number of jobs per status.")
    jobs: list[FirmwareJobOut] | None = None


class FirmwareUpdateOut(BaseModel):
    job: FirmwareJobOut
    station_answer: CommandOut | None = Field(
        description="The station's answer to (Signed)UpdateFirmware; null if not sent."
    )


class StationFirmwareOut(BaseModel):
    station_id: str
    firmware_status: str | None = Field(description="The station's last reported status.")
    jobs: list[FirmwareJobOut] = Field(description="Newest first.")


class PublishIn(BaseModel):
    model_config = _examples(
        {
            "location": "https://firmware.example.com/dc-2/fw-2.4.1.bin",
            "checksum": "9e107d9d372bb6826bd81d3542a419d6",
        }
    )
    location: Url
    checksum: str = Field(min_length=32, max_length=32, description="MD5 of the file, hex.")


class UnpublishIn(BaseModel):
    checksum: str = Field(min_length=32, max_length=32)


class PublishOut(CommandOut):
    request_id: int


class StationLogEntryOut(BaseModel):
    station_id: str
    kind: str
    at: datetime
    data: dict[str, Any]


# --- diagnostics and logs ------------------------------------------------------------------------


class LogRequestIn(BaseModel):
    model_config = _examples({"log_type": "Diagnostics"}, {"log_type": "SecurityLog"})
    log_type: Literal["Diagnostics", "DiagnosticsLog", "SecurityLog"] = Field(
        default="Diagnostics",
        description="Diagnostics: 1.6 GetDiagnostics (2.x GetLog DiagnosticsLog); "
        "DiagnosticsLog / SecurityLog: GetLog.",
    )
    oldest: datetime | None = Field(default=None, description="Oldest entries wanted (UTC).")
    latest: datetime | None = Field(default=None, description="Newest entries wanted (UTC).")
    retries: int | None = Field(default=None, ge=0, le=20)
    retry_interval_s: int | None = Field(default=None, ge=0, le=86400)


class LogRequestOut(BaseModel):
    id: int = Field(description="Also the OCPP requestId of GetLog.")
    station_id: str
    log_type: str
    status: str = Field(
        description="Requested, Accepted, Rejected, NoFile, NotDelivered, Cancelled, the "
        "station's reports (Uploading, UploadFailed, ...), Uploaded."
    )
    requested_at: datetime
    file_name: str | None
    size_bytes: int | None
    uploaded_at: datetime | None
    download: str | None = Field(description="Path of the uploaded file, once it arrived.")


class LogRequestCreated(BaseModel):
    request: LogRequestOut
    station_answer: CommandOut


class UploadOut(BaseModel):
    request_id: int
    file_name: str
    size_bytes: int


# --- security ------------------------------------------------------------------------------------


class ProfileIn(BaseModel):
    model_config = _examples({"profile": 2}, {"profile": 3, "configuration_slot": 2})
    profile: int = Field(ge=1, le=3, description="The security profile to move the station to.")
    csms_url: str | None = Field(
        default=None,
        min_length=6,
        max_length=512,
        pattern=r"^wss?://",
        description="2.x: the address in the new network profile; default the central "
        "system's wss:// address.",
    )
    configuration_slot: int | None = Field(default=None, ge=0, le=16)


class ProfileStep(BaseModel):
    action: str
    status: str | None
    response: dict[str, Any]


class ProfileOut(BaseModel):
    current_profile: int = Field(description="The profile the station connects with now.")
    target_profile: int
    pending: bool = Field(description="Whether the station is to reconnect with the target.")
    steps: list[ProfileStep]


class SecurityEventOut(BaseModel):
    station_id: str
    source: Literal["station", "central_system"]
    type: str | None
    at: datetime
    tech_info: str | None = None
    data: dict[str, Any]


CertificateTypeIn = Literal[
    "CSMSRootCertificate",
    "CentralSystemRootCertificate",
    "ManufacturerRootCertificate",
    "V2GRootCertificate",
    "MORootCertificate",
]


class InstallCertificateIn(BaseModel):
    certificate_type: CertificateTypeIn
    certificate: str = Field(min_length=20, max_length=5500, description="PEM")


class HashDataIn(BaseModel):
    hash_algorithm: Literal["SHA256", "SHA384", "SHA512"] = "SHA256"
    issuer_name_hash: str = Field(min_length=1, max_length=128)
    issuer_key_hash: str = Field(min_length=1, max_length=128)
    serial_number: str = Field(min_length=1, max_length=40)


class DeleteCertificateIn(BaseModel):
    """Name the certificate by its OCPP hash data, or give it as PEM (with its issuer's PEM
    unless it is a root) and the hash data is computed."""

    hash_data: HashDataIn | None = None
    certificate: str | None = Field(default=None, max_length=5500)
    issuer_certificate: str | None = Field(default=None, max_length=5500)


class RenewIn(BaseModel):
    certificate_type: Literal[
        "ChargingStationCertificate", "V2GCertificate", "CombinedCertificate"
    ] = "ChargingStationCertificate"
