"""Version-neutral answers to the central system's commands, and station-level enums.

The station controller answers with these; each OCPP adapter spells them in its version's
words (1.6 RemoteStartStopStatus "Accepted", 2.0.1 UnlockStatus "OngoingAuthorizedTransaction",
...). Keeping one set here means a rule such as "a connector with a transaction schedules an
availability change" is written once for both versions.
"""

from __future__ import annotations

from enum import StrEnum


class CommandStatus(StrEnum):
    ACCEPTED = "Accepted"
    REJECTED = "Rejected"
    SCHEDULED = "Scheduled"
    NOT_SUPPORTED = "NotSupported"
    UNKNOWN = "Unknown"
    FAULTED = "Faulted"
    OCCUPIED = "Occupied"
    UNAVAILABLE = "Unavailable"
    UNLOCKED = "Unlocked"
    UNLOCK_FAILED = "UnlockFailed"
    ONGOING_TRANSACTION = "OngoingAuthorizedTransaction"
    UNKNOWN_CONNECTOR = "UnknownConnector"
    REBOOT_REQUIRED = "RebootRequired"


class ResetKind(StrEnum):
    SOFT = "Soft"
    """1.6 Soft: stop transactions, restart the software."""
    HARD = "Hard"
    """1.6 Hard: stop transactions, restart the whole station."""
    ON_IDLE = "OnIdle"
    """2.0.1: reset when no transaction is running (Scheduled until then)."""
    IMMEDIATE = "Immediate"
    """2.0.1: stop transactions and reset now."""


class BootReason(StrEnum):
    """2.0.1 BootReasonEnumType (1.6 BootNotification has no reason)."""

    POWER_UP = "PowerUp"
    REMOTE_RESET = "RemoteReset"
    FIRMWARE_UPDATE = "FirmwareUpdate"
    TRIGGERED = "Triggered"
    LOCAL_RESET = "LocalReset"


class FirmwareStatus(StrEnum):
    """Union of 1.6 FirmwareStatus and 2.0.1 FirmwareStatusEnumType."""

    IDLE = "Idle"
    DOWNLOAD_SCHEDULED = "DownloadScheduled"
    DOWNLOADING = "Downloading"
    DOWNLOADED = "Downloaded"
    DOWNLOAD_FAILED = "DownloadFailed"
    SIGNATURE_VERIFIED = "SignatureVerified"
    INSTALL_SCHEDULED = "InstallScheduled"
    INSTALLING = "Installing"
    INSTALL_REBOOTING = "InstallRebooting"
    INSTALLED = "Installed"
    INSTALLATION_FAILED = "InstallationFailed"


FIRMWARE_STATUSES_16 = frozenset(
    {
        FirmwareStatus.IDLE,
        FirmwareStatus.DOWNLOADING,
        FirmwareStatus.DOWNLOADED,
        FirmwareStatus.DOWNLOAD_FAILED,
        FirmwareStatus.INSTALLING,
        FirmwareStatus.INSTALLED,
        FirmwareStatus.INSTALLATION_FAILED,
    }
)


class UploadStatus(StrEnum):
    """1.6 DiagnosticsStatus / 2.0.1 UploadLogStatusEnumType (2.0.1 says UploadFailure)."""

    IDLE = "Idle"
    UPLOADING = "Uploading"
    UPLOADED = "Uploaded"
    UPLOAD_FAILED = "UploadFailed"
