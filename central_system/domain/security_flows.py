"""Changing a station's security settings through OCPP: a new Basic-auth password (1.6
AuthorizationKey TC_073, 2.0.1 SecurityCtrlr.BasicAuthPassword A01 TC_A_09/TC_A_10) and a higher
security profile (1.6 SecurityProfile TC_083, 2.0.1 SetNetworkProfile A05 TC_A_19), and the
certificate types each OCPP version names differently (TC_075/TC_076, M01-M04).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from central_system.domain.stations import SecurityProfile

PASSWORD_BYTES = 20  # 1.6: AuthorizationKey is 16-20 bytes as up to 40 hex digits (A00.FR.205)


def password_from_entropy(entropy: bytes) -> str:
    """A new Basic-auth password: 20 random bytes as 40 lowercase hex digits.

    It fits both versions as sent: 1.6 AuthorizationKey (at most 40 hex digits) and 2.0.1
    BasicAuthPassword (a passwordString of 16-40 characters); the station uses the text it
    received as its password.
    """
    if len(entropy) < PASSWORD_BYTES:
        raise ValueError(f"a password needs {PASSWORD_BYTES} random bytes")
    return entropy[:PASSWORD_BYTES].hex()


class UpgradeState(StrEnum):
    PENDING = "pending"  # the station accepted; it must reconnect with the new profile
    COMPLETED = "completed"  # it did: the registry now holds the new profile
    FAILED = "failed"  # the station refused a step, or did not answer


@dataclass(frozen=True, slots=True)
class ProfileUpgrade:
    target: SecurityProfile
    state: UpgradeState

    def as_data(self) -> dict[str, Any]:
        return {"target": int(self.target), "state": self.state.value}

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> ProfileUpgrade:
        return cls(SecurityProfile(int(data["target"])), UpgradeState(data["state"]))


def upgrade_problem(
    current: SecurityProfile,
    target: SecurityProfile,
    *,
    has_password: bool,
    tls_available: bool,
    client_ca_available: bool,
) -> str | None:
    """Why the station cannot be moved to `target`, or None. OCPP only ever raises the
    profile (A05.FR.xx: no downgrade through OCPP)."""
    if target <= current:
        return (
            f"the station uses security profile {int(current)}; OCPP can only move it to a "
            "higher one"
        )
    if target.uses_password and not has_password:
        return "the station has no password yet: set one first"
    if target.uses_tls and not tls_available:
        return "the central system has no TLS listener (EVCHARGE_OCPP_TLS_PORT)"
    if target is SecurityProfile.TLS_CLIENT_CERTIFICATE and not client_ca_available:
        return "the central system checks no client certificates (EVCHARGE_OCPP_TLS_CLIENT_CA)"
    return None


def pending_upgrade(upgrades: Iterable[ProfileUpgrade]) -> SecurityProfile | None:
    """The profile the station should reconnect with, from its upgrades oldest first."""
    latest = None
    for upgrade in upgrades:
        latest = upgrade
    if latest is None or latest.state is not UpgradeState.PENDING:
        return None
    return latest.target


def next_configuration_slot(priority: str | None, requested: int | None = None) -> int:
    """The network-profile slot for the new profile: the one asked for, else one past the
    slots in NetworkConfigurationPriority ("1,2")."""
    if requested is not None:
        return requested
    return max(_slots(priority), default=0) + 1


def new_priority(priority: str | None, slot: int) -> str:
    """NetworkConfigurationPriority with `slot` first, the others after it in their order."""
    return ",".join(str(s) for s in [slot, *(s for s in _slots(priority) if s != slot)])


def _slots(priority: str | None) -> list[int]:
    return [int(part) for part in (priority or "").split(",") if part.strip().isdigit()]


class CertificateUse(StrEnum):
    """Certificates a station can hold, version-neutral; `wire` gives each version's name."""

    CSMS_ROOT = "CSMSRootCertificate"
    MANUFACTURER_ROOT = "ManufacturerRootCertificate"
    V2G_ROOT = "V2GRootCertificate"
    MO_ROOT = "MORootCertificate"
    V2G_CHAIN = "V2GCertificateChain"

    def wire(self, ocpp16: bool) -> str:
        """The certificateType as the station's version spells it; ValueError where 1.6 has
        none (its security extension knows the central-system and manufacturer roots)."""
        if not ocpp16:
            return self.value
        if self is CertificateUse.CSMS_ROOT:
            return "CentralSystemRootCertificate"
        if self is CertificateUse.MANUFACTURER_ROOT:
            return self.value
        raise ValueError(f"OCPP 1.6 stations hold no {self.value}")

    @classmethod
    def parse(cls, name: str) -> CertificateUse:
        """From either version's name."""
        if name == "CentralSystemRootCertificate":
            return cls.CSMS_ROOT
        return cls(name)


INSTALLABLE = frozenset(
    {
        CertificateUse.CSMS_ROOT,
        CertificateUse.MANUFACTURER_ROOT,
        CertificateUse.V2G_ROOT,
        CertificateUse.MO_ROOT,
    }
)


@dataclass(frozen=True, slots=True)
class CertificateHashData:
    """How OCPP names an installed certificate (DeleteCertificate, GetInstalledCertificateIds)."""

    hash_algorithm: str
    issuer_name_hash: str
    issuer_key_hash: str
    serial_number: str

    def __post_init__(self) -> None:
        if self.hash_algorithm not in ("SHA256", "SHA384", "SHA512"):
            raise ValueError("hashAlgorithm is SHA256, SHA384 or SHA512")
        for name, value in (
            ("issuerNameHash", self.issuer_name_hash),
            ("issuerKeyHash", self.issuer_key_hash),
        ):
            if not value or len(value) > 128:
                raise ValueError(f"{name} has 1 to 128 characters")
        if not self.serial_number or len(self.serial_number) > 40:
            raise ValueError("serialNumber has 1 to 40 characters")
