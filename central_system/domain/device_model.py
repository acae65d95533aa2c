"""The station's configuration as the central system keeps it: the 2.0.1 device model (components,
variables, their attributes and monitors: B05-B08, N02-N04) and the 1.6 configuration keys
(GetConfiguration / ChangeConfiguration, TC_019, TC_021, TC_040).

Version-neutral: transport turns NotifyReport, GetVariables, SetVariables, NotifyMonitoringReport,
SetVariableMonitoring and the 1.6 configuration messages into these values. A 1.6 station's keys
are kept as variables of one component, CONFIGURATION_COMPONENT.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any, TypeVar

T = TypeVar("T")

ACTUAL = "Actual"
ATTRIBUTE_TYPES = ("Actual", "Target", "MinSet", "MaxSet")
# The monitors of a variable are kept as one more attribute of it (not an OCPP attribute type).
MONITORS = "Monitors"
# The component a 1.6 station's configuration keys are kept under.
CONFIGURATION_COMPONENT = "OCPP16Configuration"
MAX_VALUE_LENGTH = 2500  # 2.0.1 attributeValue / 1.6 value (500)


@dataclass(frozen=True, slots=True, order=True)
class VariableRef:
    """A variable of a component (2.0.1 ComponentType + VariableType)."""

    component: str
    variable: str
    component_instance: str | None = None
    evse_id: int | None = None
    connector_id: int | None = None
    variable_instance: str | None = None


@dataclass(frozen=True, slots=True)
class VariableValue:
    """One attribute of a variable as the central system last heard of it."""

    ref: VariableRef
    attribute_type: str = ACTUAL
    value: str | None = None
    mutability: str | None = None
    data_type: str | None = None
    unit: str | None = None
    characteristics: Mapping[str, Any] = field(default_factory=dict)
    updated_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class ReportedAttribute:
    """A variableAttribute of NotifyReport."""

    type: str = ACTUAL
    value: str | None = None
    mutability: str | None = None
    persistent: bool | None = None
    constant: bool | None = None


@dataclass(frozen=True, slots=True)
class ReportedVariable:
    """A reportData entry of NotifyReport (B07/B08)."""

    ref: VariableRef
    attributes: tuple[ReportedAttribute, ...]
    characteristics: Mapping[str, Any] | None = None


def values_from_report(reported: Iterable[ReportedVariable], now: datetime) -> list[VariableValue]:
    """NotifyReport entries as stored attributes (one per variable attribute)."""
    values = []
    for entry in reported:
        characteristics = dict(entry.characteristics or {})
        for attribute in entry.attributes:
            extra = {
                key: flag
                for key, flag in (
                    ("persistent", attribute.persistent),
                    ("constant", attribute.constant),
                )
                if flag is not None
            }
            values.append(
                VariableValue(
                    ref=entry.ref,
                    attribute_type=attribute.type,
                    value=attribute.value,
                    mutability=attribute.mutability,
                    data_type=characteristics.get("dataType"),
                    unit=characteristics.get("unit"),
                    characteristics={**characteristics, **extra},
                    updated_at=now,
                )
            )
    return values


class AttributeStatus(StrEnum):
    """GetVariableStatus / SetVariableStatus."""

    ACCEPTED = "Accepted"
    REJECTED = "Rejected"
    UNKNOWN_COMPONENT = "UnknownComponent"
    UNKNOWN_VARIABLE = "UnknownVariable"
    NOT_SUPPORTED_ATTRIBUTE_TYPE = "NotSupportedAttributeType"
    REBOOT_REQUIRED = "RebootRequired"


# A value the station took (RebootRequired: it takes effect at the next boot).
_TAKEN = frozenset({AttributeStatus.ACCEPTED.value, AttributeStatus.REBOOT_REQUIRED.value})


@dataclass(frozen=True, slots=True)
class VariableRequest:
    """One entry of GetVariables (value None) or SetVariables."""

    ref: VariableRef
    attribute_type: str = ACTUAL
    value: str | None = None


@dataclass(frozen=True, slots=True)
class VariableResult:
    """One entry of the station's GetVariables / SetVariables answer."""

    ref: VariableRef
    attribute_type: str
    status: str
    value: str | None = None  # GetVariables: the value read


def values_read(results: Iterable[VariableResult], now: datetime) -> list[VariableValue]:
    """The values an answer to GetVariables carries (TC_B_06/07)."""
    return [
        VariableValue(r.ref, r.attribute_type, r.value, updated_at=now)
        for r in results
        if r.status == AttributeStatus.ACCEPTED.value and r.value is not None
    ]


def values_set(
    requests: Sequence[VariableRequest], results: Iterable[VariableResult], now: datetime
) -> list[VariableValue]:
    """The values a SetVariables answer says the station took (TC_B_09/10); RebootRequired ones
    are marked so."""
    wanted = {(r.ref, r.attribute_type): r.value for r in requests}
    taken = []
    for result in results:
        value = wanted.get((result.ref, result.attribute_type))
        if result.status in _TAKEN and value is not None:
            marks = {"rebootRequired": True} if result.status == "RebootRequired" else {}
            taken.append(
                VariableValue(
                    result.ref, result.attribute_type, value, characteristics=marks, updated_at=now
                )
            )
    return taken


def merge(stored: VariableValue | None, new: VariableValue) -> VariableValue:
    """A value read (GetVariables) or set (SetVariables, ChangeConfiguration) for a stored
    attribute: it keeps what a report said of the variable (mutability, characteristics), and a
    reboot-required mark only while the new value says so."""
    if stored is None:
        return new
    kept = {k: v for k, v in stored.characteristics.items() if k != "rebootRequired"}
    return replace(
        stored,
        value=new.value,
        mutability=new.mutability or stored.mutability,
        data_type=new.data_type or stored.data_type,
        unit=new.unit or stored.unit,
        characteristics={**kept, **new.characteristics},
        updated_at=new.updated_at,
    )


# --- limits the station reports for the size of messages ---------------------------------------

# message -> (component, variable, variable instance) of its items-per-message limit (2.0.1)
ITEMS_PER_MESSAGE = {
    "GetVariables": ("DeviceDataCtrlr", "ItemsPerMessage", "GetVariables"),
    "SetVariables": ("DeviceDataCtrlr", "ItemsPerMessage", "SetVariables"),
    "GetReport": ("DeviceDataCtrlr", "ItemsPerMessage", "GetReport"),
    "SetVariableMonitoring": ("MonitoringCtrlr", "ItemsPerMessage", "SetVariableMonitoring"),
    "ClearVariableMonitoring": ("MonitoringCtrlr", "ItemsPerMessage", "ClearVariableMonitoring"),
    "SendLocalList": ("LocalAuthListCtrlr", "ItemsPerMessage", ""),
}
# 1.6 configuration keys that limit a message's size
ITEMS_PER_MESSAGE_16 = {
    "SendLocalList": "SendLocalListMaxLength",
    "GetConfiguration": "GetConfigurationMaxKeys",
}


def _positive_int(value: str | None) -> int | None:
    try:
        number = int(value) if value is not None else None
    except ValueError:
        return None
    return number if number is not None and number > 0 else None


def items_per_message(values: Iterable[VariableValue], message: str) -> int | None:
    """The largest number of items the station takes in one `message`, if it reported one."""
    limit_2x = ITEMS_PER_MESSAGE.get(message)
    key_16 = ITEMS_PER_MESSAGE_16.get(message)
    for value in values:
        if value.attribute_type != ACTUAL:
            continue
        ref = value.ref
        if (
            limit_2x is not None
            and (
                ref.component,
                ref.variable,
                ref.variable_instance or "",
            )
            == limit_2x
        ):
            return _positive_int(value.value)
        if key_16 is not None and (ref.component, ref.variable) == (
            CONFIGURATION_COMPONENT,
            key_16,
        ):
            return _positive_int(value.value)
    return None


def chunks(items: Sequence[T], size: int | None) -> list[list[T]]:
    """`items` in messages of at most `size` (all in one without a limit)."""
    if not items:
        return []
    step = size if size and size > 0 else len(items)
    return [list(items[start : start + step]) for start in range(0, len(items), step)]


# --- monitors (N02-N04, N07) -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Monitor:
    """A VariableMonitoring of a variable."""

    id: int
    type: str  # UpperThreshold, LowerThreshold, Delta, Periodic, PeriodicClockAligned
    value: Decimal
    severity: int
    transaction: bool = False


@dataclass(frozen=True, slots=True)
class MonitorRequest:
    """One SetMonitoringData entry; `id` replaces an existing monitor."""

    ref: VariableRef
    type: str
    value: Decimal
    severity: int
    transaction: bool = False
    id: int | None = None


@dataclass(frozen=True, slots=True)
class MonitorResult:
    """One SetMonitoringResult entry."""

    ref: VariableRef
    status: str
    type: str
    severity: int
    id: int | None = None


MONITOR_TYPES = frozenset(
    {"UpperThreshold", "LowerThreshold", "Delta", "Periodic", "PeriodicClockAligned"}
)
MAX_SEVERITY = 9


class InvalidMonitor(ValueError):
    pass


def validate_monitor(request: MonitorRequest) -> None:
    if request.type not in MONITOR_TYPES:
        raise InvalidMonitor(f"monitor type {request.type!r} is not one of {sorted(MONITOR_TYPES)}")
    if not 0 <= request.severity <= MAX_SEVERITY:
        raise InvalidMonitor(f"severity is 0 to {MAX_SEVERITY}")
    if request.type.startswith("Periodic") and request.value <= 0:
        raise InvalidMonitor("a periodic monitor's interval is a positive number of seconds")


def monitors_after_set(
    current: Mapping[VariableRef, tuple[Monitor, ...]],
    requests: Sequence[MonitorRequest],
    results: Sequence[MonitorResult],
) -> dict[VariableRef, tuple[Monitor, ...]]:
    """The monitors once the station accepted some of `requests` (TC_N_08/09); a result names
    its variable and type, its request gives the value."""
    monitors = {ref: list(found) for ref, found in current.items()}
    pending = list(requests)
    for result in results:
        request = next(
            (
                r
                for r in pending
                if (r.ref, r.type, r.severity) == (result.ref, result.type, result.severity)
            ),
            None,
        )
        if request is None:
            continue
        pending.remove(request)
        if result.status != "Accepted" or result.id is None:
            continue
        for ref in monitors:
            monitors[ref] = [m for m in monitors[ref] if m.id != result.id]
        monitors.setdefault(result.ref, []).append(
            Monitor(result.id, request.type, request.value, request.severity, request.transaction)
        )
    return {
        ref: tuple(sorted(found, key=lambda m: m.id)) for ref, found in monitors.items() if found
    }


def monitors_after_clear(
    current: Mapping[VariableRef, tuple[Monitor, ...]], cleared: Iterable[int]
) -> dict[VariableRef, tuple[Monitor, ...]]:
    """Without the monitors the station cleared (or did not know: NotFound)."""
    gone = set(cleared)
    kept = {ref: tuple(m for m in found if m.id not in gone) for ref, found in current.items()}
    return {ref: found for ref, found in kept.items() if found}


def monitors_after_report(
    current: Mapping[VariableRef, tuple[Monitor, ...]],
    reported: Mapping[VariableRef, tuple[Monitor, ...]],
    *,
    complete: bool,
) -> dict[VariableRef, tuple[Monitor, ...]]:
    """NotifyMonitoringReport: a reported variable's monitors are what the station says;
    `complete` (the first part of a report of all monitors) starts from nothing."""
    monitors = {} if complete else dict(current)
    monitors.update(reported)
    return {ref: found for ref, found in monitors.items() if found}


def monitors_as_characteristics(monitors: Sequence[Monitor]) -> dict[str, Any]:
    return {
        "monitors": [
            {
                "id": m.id,
                "type": m.type,
                "value": str(m.value),
                "severity": m.severity,
                "transaction": m.transaction,
            }
            for m in monitors
        ]
    }


def monitors_from_characteristics(characteristics: Mapping[str, Any]) -> tuple[Monitor, ...]:
    found = []
    for item in characteristics.get("monitors", []):
        try:
            found.append(
                Monitor(
                    int(item["id"]),
                    str(item["type"]),
                    Decimal(str(item["value"])),
                    int(item["severity"]),
                    bool(item.get("transaction", False)),
                )
            )
        except (KeyError, ValueError, TypeError, InvalidOperation):
            continue
    return tuple(found)


# --- 1.6 configuration keys ------------------------------------------------------------------


class KeyType(StrEnum):
    BOOLEAN = "boolean"
    INTEGER = "integer"
    CSL = "CSL"  # comma-separated list
    STRING = "string"


@dataclass(frozen=True, slots=True)
class KnownKey:
    name: str
    type: KeyType
    read_only: bool = False
    write_only: bool = False  # never reported, never kept (AuthorizationKey)
    profile: str = "Core"


def _keys(profile: str, *specs: tuple[str, KeyType, str]) -> list[KnownKey]:
    return [
        KnownKey(name, kind, read_only=access == "R", write_only=access == "W", profile=profile)
        for name, kind, access in specs
    ]


_B, _I, _L, _S = KeyType.BOOLEAN, KeyType.INTEGER, KeyType.CSL, KeyType.STRING
# OCPP 1.6 section 9 and the security whitepaper: the standard keys. "RW" keys may be read-only on
# some stations (the station's own readonly flag wins when it reports the key).
KNOWN_KEYS_16: dict[str, KnownKey] = {
    key.name: key
    for key in _keys(
        "Core",
        ("AllowOfflineTxForUnknownId", _B, "RW"),
        ("AuthorizationCacheEnabled", _B, "RW"),
        ("AuthorizeRemoteTxRequests", _B, "RW"),
        ("BlinkRepeat", _I, "RW"),
        ("ClockAlignedDataInterval", _I, "RW"),
        ("ConnectionTimeOut", _I, "RW"),
        ("ConnectorPhaseRotation", _L, "RW"),
        ("ConnectorPhaseRotationMaxLength", _I, "R"),
        ("GetConfigurationMaxKeys", _I, "R"),
        ("HeartbeatInterval", _I, "RW"),
        ("LightIntensity", _I, "RW"),
        ("LocalAuthorizeOffline", _B, "RW"),
        ("LocalPreAuthorize", _B, "RW"),
        ("MaxEnergyOnInvalidId", _I, "RW"),
        ("MeterValuesAlignedData", _L, "RW"),
        ("MeterValuesAlignedDataMaxLength", _I, "R"),
        ("MeterValuesSampledData", _L, "RW"),
        ("MeterValuesSampledDataMaxLength", _I, "R"),
        ("MeterValueSampleInterval", _I, "RW"),
        ("MinimumStatusDuration", _I, "RW"),
        ("NumberOfConnectors", _I, "R"),
        ("ResetRetries", _I, "RW"),
        ("StopTransactionOnEVSideDisconnect", _B, "RW"),
        ("StopTransactionOnInvalidId", _B, "RW"),
        ("StopTxnAlignedData", _L, "RW"),
        ("StopTxnAlignedDataMaxLength", _I, "R"),
        ("StopTxnSampledData", _L, "RW"),
        ("StopTxnSampledDataMaxLength", _I, "R"),
        ("SupportedFeatureProfiles", _L, "R"),
        ("SupportedFeatureProfilesMaxLength", _I, "R"),
        ("TransactionMessageAttempts", _I, "RW"),
        ("TransactionMessageRetryInterval", _I, "RW"),
        ("UnlockConnectorOnEVSideDisconnect", _B, "RW"),
        ("WebSocketPingInterval", _I, "RW"),
    )
    + _keys(
        "LocalAuthListManagement",
        ("LocalAuthListEnabled", _B, "RW"),
        ("LocalAuthListMaxLength", _I, "R"),
        ("SendLocalListMaxLength", _I, "R"),
    )
    + _keys("Reservation", ("ReserveConnectorZeroSupported", _B, "R"))
    + _keys(
        "SmartCharging",
        ("ChargeProfileMaxStackLevel", _I, "R"),
        ("ChargingScheduleAllowedChargingRateUnit", _L, "R"),
        ("ChargingScheduleMaxPeriods", _I, "R"),
        ("ConnectorSwitch3to1PhaseSupported", _B, "R"),
        ("MaxChargingProfilesInstalled", _I, "R"),
    )
    + _keys("FirmwareManagement", ("SupportedFileTransferProtocols", _L, "R"))
    + _keys(
        "Security",
        ("AdditionalRootCertificateCheck", _B, "R"),
        ("AuthorizationKey", _S, "W"),
        ("CertificateSignedMaxChainSize", _I, "R"),
        ("CertificateStoreMaxLength", _I, "R"),
        ("CpoName", _S, "RW"),
        ("SecurityProfile", _I, "RW"),
    )
}


class InvalidConfigurationValue(ValueError):
    pass


def validate_change(key: str, value: str) -> None:
    """Refuse a ChangeConfiguration the station must refuse anyway: a read-only standard key, or
    a value that is not of the key's type. Unknown (vendor) keys are the station's to judge."""
    if len(value) > 500:
        raise InvalidConfigurationValue("a 1.6 configuration value has at most 500 characters")
    known = KNOWN_KEYS_16.get(key)
    if known is None:
        return
    if known.read_only:
        raise InvalidConfigurationValue(f"{key} is read-only")
    if known.type is KeyType.BOOLEAN and value.lower() not in ("true", "false"):
        raise InvalidConfigurationValue(f"{key} is true or false")
    if known.type is KeyType.INTEGER:
        try:
            number = int(value)
        except ValueError:
            raise InvalidConfigurationValue(f"{key} is a whole number") from None
        if number < 0 and key != "SecurityProfile":
            raise InvalidConfigurationValue(f"{key} is not negative")


@dataclass(frozen=True, slots=True)
class ConfigurationKey:
    """A 1.6 configuration key as the station reported it."""

    key: str
    value: str | None
    readonly: bool


def configuration_values(keys: Iterable[ConfigurationKey], now: datetime) -> list[VariableValue]:
    """Keys as stored attributes; a write-only key's value is never kept."""
    values = []
    for key in keys:
        known = KNOWN_KEYS_16.get(key.key)
        write_only = known is not None and known.write_only
        values.append(
            VariableValue(
                ref=VariableRef(CONFIGURATION_COMPONENT, key.key),
                value=None if write_only else key.value,
                mutability="ReadOnly"
                if key.readonly
                else ("WriteOnly" if write_only else "ReadWrite"),
                data_type=known.type.value if known else None,
                updated_at=now,
            )
        )
    return values


def changed_value(key: str, value: str, status: str | None, now: datetime) -> VariableValue | None:
    """The stored value after a ChangeConfiguration answer (TC_021): Accepted and RebootRequired
    take the value (the latter marked), Rejected and NotSupported keep the old one."""
    if status not in ("Accepted", "RebootRequired"):
        return None
    known = KNOWN_KEYS_16.get(key)
    if known is not None and known.write_only:
        return None
    return VariableValue(
        ref=VariableRef(CONFIGURATION_COMPONENT, key),
        value=value,
        data_type=known.type.value if known else None,
        characteristics={"rebootRequired": True} if status == "RebootRequired" else {},
        updated_at=now,
    )


def configuration_from_values(values: Iterable[VariableValue]) -> list[ConfigurationKey]:
    return [
        ConfigurationKey(v.ref.variable, v.value, v.mutability == "ReadOnly")
        for v in sorted(values, key=lambda v: v.ref.variable)
        if v.ref.component == CONFIGURATION_COMPONENT
    ]
