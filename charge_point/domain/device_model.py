"""The station's configuration and device model: one catalog for both OCPP versions.

Every setting the station has is one `Variable`: its 2.0.1 address (component, instance, EVSE,
connector, variable, instance), its 1.6 configuration key when 1.6 has one, its data type,
mutability, limits and default. 1.6 GetConfiguration/ChangeConfiguration and 2.0.1
GetVariables/SetVariables/GetBaseReport read and write the same values, so a station that is
reconfigured and then switched to the other OCPP version keeps its configuration.

Live values (the signal strength, a connector's availability, the clock) are not stored; the
station supplies them when asked (`Variable.stored` is False).

Variable monitors (2.0.1 N04, SetVariableMonitoring) are evaluated here too: pure state in,
event (or none) out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum

from charge_point.domain.metering import DEFAULT_ENDED, DEFAULT_SAMPLED, Measurand


class DataType(StrEnum):
    STRING = "string"
    DECIMAL = "decimal"
    INTEGER = "integer"
    DATETIME = "dateTime"
    BOOLEAN = "boolean"
    OPTION_LIST = "OptionList"
    SEQUENCE_LIST = "SequenceList"
    MEMBER_LIST = "MemberList"


class Mutability(StrEnum):
    READ_ONLY = "ReadOnly"
    WRITE_ONLY = "WriteOnly"
    READ_WRITE = "ReadWrite"


@dataclass(frozen=True, slots=True)
class Component:
    name: str
    instance: str | None = None
    evse_id: int | None = None
    connector_id: int | None = None


@dataclass(frozen=True, slots=True)
class VariableRef:
    component: Component
    variable: str
    instance: str | None = None


@dataclass(frozen=True, slots=True)
class Variable:
    name: str
    """Unique name inside the station (the 1.6 key where there is one)."""
    ref: VariableRef | None
    """2.0.1 address; None for keys that only exist in 1.6."""
    ocpp16_key: str | None
    data_type: DataType
    mutability: Mutability
    default: str = ""
    unit: str | None = None
    min_limit: int | None = None
    max_limit: int | None = None
    values_list: tuple[str, ...] = ()
    stored: bool = True
    supports_monitoring: bool = False
    reboot_required: bool = False
    min_length: int = 0
    max_length: int = 1000

    @property
    def readable(self) -> bool:
        return self.mutability is not Mutability.WRITE_ONLY

    @property
    def writable(self) -> bool:
        return self.mutability is not Mutability.READ_ONLY


@dataclass(frozen=True, slots=True)
class ValueCheck:
    ok: bool
    value: str = ""
    """The value as stored (booleans lower case, lists without blanks)."""
    reason: str = ""


def check_value(variable: Variable, text: str) -> ValueCheck:
    """Is `text` an acceptable value for `variable`? (Mutability is checked by the caller.)"""
    raw = text.strip()
    kind = variable.data_type
    if kind is DataType.BOOLEAN:
        lowered = raw.lower()
        if lowered not in ("true", "false"):
            return ValueCheck(False, reason="not a boolean (true/false)")
        return ValueCheck(True, lowered)
    if kind in (DataType.INTEGER, DataType.DECIMAL):
        try:
            number = Decimal(raw)
        except InvalidOperation:
            return ValueCheck(False, reason=f"not a number: {raw!r}")
        if not number.is_finite():
            return ValueCheck(False, reason="not a finite number")
        if kind is DataType.INTEGER and number != number.to_integral_value():
            return ValueCheck(False, reason="not an integer")
        if variable.min_limit is not None and number < variable.min_limit:
            return ValueCheck(False, reason=f"below the minimum {variable.min_limit}")
        if variable.max_limit is not None and number > variable.max_limit:
            return ValueCheck(False, reason=f"above the maximum {variable.max_limit}")
        return ValueCheck(True, str(int(number)) if kind is DataType.INTEGER else raw)
    if kind in (DataType.MEMBER_LIST, DataType.SEQUENCE_LIST):
        members = [m.strip() for m in raw.split(",") if m.strip()]
        unknown = [m for m in members if variable.values_list and m not in variable.values_list]
        if unknown:
            return ValueCheck(False, reason=f"not supported: {', '.join(unknown)}")
        if variable.max_limit is not None and len(members) > variable.max_limit:
            return ValueCheck(False, reason=f"more than {variable.max_limit} members")
        return ValueCheck(True, ",".join(members))
    if kind is DataType.OPTION_LIST:
        if variable.values_list and raw not in variable.values_list:
            return ValueCheck(False, reason=f"not one of {', '.join(variable.values_list)}")
        return ValueCheck(True, raw)
    if kind is DataType.DATETIME:
        try:
            datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            return ValueCheck(False, reason="not a date-time")
        return ValueCheck(True, raw)
    if not variable.min_length <= len(text) <= variable.max_length:
        return ValueCheck(
            False, reason=f"length must be {variable.min_length}..{variable.max_length}"
        )
    return ValueCheck(True, text)


class LookupStatus(StrEnum):
    FOUND = "Accepted"
    UNKNOWN_COMPONENT = "UnknownComponent"
    UNKNOWN_VARIABLE = "UnknownVariable"


@dataclass(frozen=True, slots=True)
class Lookup:
    status: LookupStatus
    variable: Variable | None = None


class Catalog:
    """All variables of one station, looked up by name, 1.6 key or 2.0.1 address."""

    def __init__(self, variables: Iterable[Variable]) -> None:
        self.variables: tuple[Variable, ...] = tuple(variables)
        self._by_name: dict[str, Variable] = {}
        self._by_key16: dict[str, Variable] = {}
        self._by_ref: dict[VariableRef, Variable] = {}
        self._components: set[Component] = set()
        for variable in self.variables:
            if variable.name in self._by_name:
                raise ValueError(f"duplicate variable {variable.name}")
            self._by_name[variable.name] = variable
            if variable.ocpp16_key is not None:
                self._by_key16[variable.ocpp16_key.lower()] = variable
            if variable.ref is not None:
                self._by_ref[variable.ref] = variable
                self._components.add(variable.ref.component)

    def __getitem__(self, name: str) -> Variable:
        return self._by_name[name]

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def ocpp16(self, key: str) -> Variable | None:
        """A 1.6 configuration key (keys are case-insensitive CiString50)."""
        return self._by_key16.get(key.lower())

    @property
    def ocpp16_variables(self) -> tuple[Variable, ...]:
        return tuple(v for v in self.variables if v.ocpp16_key is not None)

    @property
    def ocpp201_variables(self) -> tuple[Variable, ...]:
        return tuple(v for v in self.variables if v.ref is not None)

    def find(self, ref: VariableRef) -> Lookup:
        variable = self._by_ref.get(ref)
        if variable is not None:
            return Lookup(LookupStatus.FOUND, variable)
        if ref.component in self._components:
            return Lookup(LookupStatus.UNKNOWN_VARIABLE)
        return Lookup(LookupStatus.UNKNOWN_COMPONENT)

    def of_component(self, name: str, evse_id: int | None = None) -> tuple[Variable, ...]:
        return tuple(
            v
            for v in self.variables
            if v.ref is not None
            and v.ref.component.name == name
            and (evse_id is None or v.ref.component.evse_id == evse_id)
        )


@dataclass(frozen=True, slots=True)
class EvseInfo:
    evse_id: int
    connector_type: str
    """2.0.1 ConnectorEnumType: cCCS2, cG105 (CHAdeMO) ..."""
    max_power_w: int


def _v(
    name: str,
    component: str | None,
    variable: str | None,
    data_type: DataType,
    mutability: Mutability,
    default: str = "",
    *,
    key16: str | bool = True,
    instance: str | None = None,
    component_instance: str | None = None,
    evse_id: int | None = None,
    connector_id: int | None = None,
    unit: str | None = None,
    min_limit: int | None = None,
    max_limit: int | None = None,
    values_list: tuple[str, ...] = (),
    stored: bool = True,
    supports_monitoring: bool = False,
    min_length: int = 0,
    max_length: int = 1000,
) -> Variable:
    """One catalog entry; `key16` True: the 1.6 key is `name`, False: no 1.6 key."""
    ref = None
    if component is not None and variable is not None:
        ref = VariableRef(
            Component(component, component_instance, evse_id, connector_id), variable, instance
        )
    ocpp16_key = name if key16 is True else (key16 or None)
    return Variable(
        name,
        ref,
        ocpp16_key,
        data_type,
        mutability,
        default,
        unit=unit,
        min_limit=min_limit,
        max_limit=max_limit,
        values_list=values_list,
        stored=stored,
        supports_monitoring=supports_monitoring,
        min_length=min_length,
        max_length=max_length,
    )


INT, BOOL, STR = DataType.INTEGER, DataType.BOOLEAN, DataType.STRING
RO, RW, WO = Mutability.READ_ONLY, Mutability.READ_WRITE, Mutability.WRITE_ONLY
MEASURANDS = tuple(m.value for m in Measurand)
FEATURE_PROFILES_16 = (
    "Core,FirmwareManagement,LocalAuthListManagement,Reservation,SmartCharging,RemoteTrigger"
)
AVAILABILITY_STATES = ("Available", "Occupied", "Reserved", "Unavailable", "Faulted")
LOCAL_LIST_MAX_LENGTH = 1000
MAX_STACK_LEVEL = 10
MAX_PERIODS = 24
MAX_PROFILES = 20


def _measurands(
    name: str, variable: str, default: Sequence[Measurand], key16: str | bool
) -> Variable:
    return _v(
        name,
        "SampledDataCtrlr",
        variable,
        DataType.MEMBER_LIST,
        RW,
        ",".join(m.value for m in default),
        key16=key16,
        values_list=MEASURANDS,
        max_limit=len(MEASURANDS),
    )


def station_catalog(evses: Sequence[EvseInfo]) -> Catalog:
    """The reference station's variables: OCPPCommCtrlr, SampledDataCtrlr, AuthCtrlr,
    AuthCacheCtrlr, LocalAuthListCtrlr, TxCtrlr, SecurityCtrlr, SmartChargingCtrlr,
    ReservationCtrlr, ClockCtrlr, DeviceDataCtrlr, DataLink, ChargingStation, EVSE and
    Connector, plus the 1.6-only keys."""
    comm = "OCPPCommCtrlr"
    variables = [
        # OCPPCommCtrlr / 1.6 Core
        _v("HeartbeatInterval", comm, "HeartbeatInterval", INT, RW, "300", unit="s", min_limit=0),
        _v(
            "WebSocketPingInterval",
            comm,
            "WebSocketPingInterval",
            INT,
            RW,
            "60",
            unit="s",
            min_limit=0,
        ),
        _v(
            "RetryBackOffWaitMinimum",
            comm,
            "RetryBackOffWaitMinimum",
            INT,
            RW,
            "3",
            unit="s",
            min_limit=0,
            max_limit=86_400,
        ),
        _v(
            "RetryBackOffRandomRange",
            comm,
            "RetryBackOffRandomRange",
            INT,
            RW,
            "10",
            unit="s",
            min_limit=0,
            max_limit=86_400,
        ),
        _v(
            "RetryBackOffRepeatTimes",
            comm,
            "RetryBackOffRepeatTimes",
            INT,
            RW,
            "5",
            min_limit=0,
            max_limit=32,
        ),
        _v(
            "MessageTimeout",
            comm,
            "MessageTimeout",
            INT,
            RW,
            "30",
            instance="Default",
            unit="s",
            min_limit=1,
            max_limit=3_600,
        ),
        _v(
            "TransactionMessageAttempts",
            comm,
            "MessageAttempts",
            INT,
            RW,
            "3",
            instance="TransactionEvent",
            min_limit=1,
            max_limit=100,
        ),
        _v(
            "TransactionMessageRetryInterval",
            comm,
            "MessageAttemptInterval",
            INT,
            RW,
            "60",
            instance="TransactionEvent",
            unit="s",
            min_limit=0,
            max_limit=86_400,
        ),
        _v("QueueAllMessages", comm, "QueueAllMessages", BOOL, RO, "false", key16=False),
        _v(
            "UnlockConnectorOnEVSideDisconnect",
            comm,
            "UnlockOnEVSideDisconnect",
            BOOL,
            RW,
            "true",
        ),
        _v("ResetRetries", comm, "ResetRetries", INT, RW, "1", min_limit=0, max_limit=10),
        _v(
            "NetworkConfigurationPriority",
            comm,
            "NetworkConfigurationPriority",
            DataType.SEQUENCE_LIST,
            RO,
            "0",
            key16=False,
        ),
        _v(
            "NetworkProfileConnectionAttempts",
            comm,
            "NetworkProfileConnectionAttempts",
            INT,
            RO,
            "3",
            key16=False,
        ),
        _v(
            "OfflineThreshold",
            comm,
            "OfflineThreshold",
            INT,
            RW,
            "60",
            key16=False,
            unit="s",
            min_limit=0,
        ),
        _v(
            "FileTransferProtocols",
            comm,
            "FileTransferProtocols",
            DataType.MEMBER_LIST,
            RO,
            "FTP,FTPS,HTTP,HTTPS",
            key16=False,
        ),
        # SampledDataCtrlr
        _v("SampledDataEnabled", "SampledDataCtrlr", "Enabled", BOOL, RO, "true", key16=False),
        _v(
            "MeterValueSampleInterval",
            "SampledDataCtrlr",
            "TxUpdatedInterval",
            INT,
            RW,
            "60",
            unit="s",
            min_limit=0,
        ),
        _measurands(
            "MeterValuesSampledData",
            "TxUpdatedMeasurands",
            DEFAULT_SAMPLED,
            "MeterValuesSampledData",
        ),
        _measurands("TxStartedMeasurands", "TxStartedMeasurands", DEFAULT_ENDED, False),
        _measurands("StopTxnSampledData", "TxEndedMeasurands", DEFAULT_ENDED, "StopTxnSampledData"),
        _v(
            "TxEndedInterval",
            "SampledDataCtrlr",
            "TxEndedInterval",
            INT,
            RO,
            "0",
            key16=False,
            unit="s",
        ),
        _v(
            "MeterValuesSampledDataMaxLength",
            None,
            None,
            INT,
            RO,
            str(len(MEASURANDS)),
        ),
        _v("StopTxnSampledDataMaxLength", None, None, INT, RO, str(len(MEASURANDS))),
        _v("ClockAlignedDataInterval", None, None, INT, RO, "0", unit="s"),
        # AuthCtrlr
        _v("AuthorizationEnabled", "AuthCtrlr", "Enabled", BOOL, RW, "true"),
        _v("AuthorizeRemoteTxRequests", "AuthCtrlr", "AuthorizeRemoteStart", BOOL, RW, "false"),
        _v("LocalAuthorizeOffline", "AuthCtrlr", "LocalAuthorizeOffline", BOOL, RW, "true"),
        _v("LocalPreAuthorize", "AuthCtrlr", "LocalPreAuthorize", BOOL, RW, "false"),
        _v(
            "AllowOfflineTxForUnknownId",
            "AuthCtrlr",
            "OfflineTxForUnknownIdEnabled",
            BOOL,
            RW,
            "false",
        ),
        _v("FreeVendIdTag", None, None, STR, RW, "FREEVEND", min_length=1, max_length=20),
        # AuthCacheCtrlr
        _v("AuthorizationCacheEnabled", "AuthCacheCtrlr", "Enabled", BOOL, RW, "true"),
        _v("AuthCacheAvailable", "AuthCacheCtrlr", "Available", BOOL, RO, "true", key16=False),
        _v(
            "AuthCacheLifeTime",
            "AuthCacheCtrlr",
            "LifeTime",
            INT,
            RW,
            "86400",
            key16=False,
            unit="s",
            min_limit=1,
        ),
        # LocalAuthListCtrlr
        _v("LocalAuthListEnabled", "LocalAuthListCtrlr", "Enabled", BOOL, RW, "true"),
        _v(
            "LocalAuthListAvailable",
            "LocalAuthListCtrlr",
            "Available",
            BOOL,
            RO,
            "true",
            key16=False,
        ),
        _v("LocalAuthListMaxLength", None, None, INT, RO, str(LOCAL_LIST_MAX_LENGTH)),
        _v(
            "LocalAuthListEntries",
            "LocalAuthListCtrlr",
            "Entries",
            INT,
            RO,
            "0",
            key16=False,
            stored=False,
            max_limit=LOCAL_LIST_MAX_LENGTH,
        ),
        _v("SendLocalListMaxLength", "LocalAuthListCtrlr", "ItemsPerMessage", INT, RO, "100"),
        _v(
            "LocalAuthListBytesPerMessage",
            "LocalAuthListCtrlr",
            "BytesPerMessage",
            INT,
            RO,
            "65536",
            key16=False,
        ),
        # TxCtrlr
        _v(
            "ConnectionTimeOut",
            "TxCtrlr",
            "EVConnectionTimeOut",
            INT,
            RW,
            "60",
            unit="s",
            min_limit=1,
        ),
        _v(
            "StopTransactionOnEVSideDisconnect",
            "TxCtrlr",
            "StopTxOnEVSideDisconnect",
            BOOL,
            RO,
            "true",
        ),
        _v("StopTransactionOnInvalidId", "TxCtrlr", "StopTxOnInvalidId", BOOL, RW, "true"),
        _v(
            "TxStartPoint",
            "TxCtrlr",
            "TxStartPoint",
            DataType.MEMBER_LIST,
            RO,
            "PowerPathClosed",
            key16=False,
        ),
        _v(
            "TxStopPoint",
            "TxCtrlr",
            "TxStopPoint",
            DataType.MEMBER_LIST,
            RO,
            "PowerPathClosed",
            key16=False,
        ),
        # SecurityCtrlr
        _v(
            "AuthorizationKey",
            "SecurityCtrlr",
            "BasicAuthPassword",
            STR,
            WO,
            "",
            min_length=16,
            max_length=64,
        ),
        _v("SecurityProfile", "SecurityCtrlr", "SecurityProfile", INT, RO, "0", stored=False),
        _v("Identity", "SecurityCtrlr", "Identity", STR, RO, "", key16=False, stored=False),
        _v("CpoName", "SecurityCtrlr", "OrganizationName", STR, RW, "evcharge", max_length=50),
        # ClockCtrlr
        _v(
            "DateTime",
            "ClockCtrlr",
            "DateTime",
            DataType.DATETIME,
            RO,
            "",
            key16=False,
            stored=False,
        ),
        _v(
            "TimeSource",
            "ClockCtrlr",
            "TimeSource",
            DataType.SEQUENCE_LIST,
            RO,
            "Heartbeat",
            key16=False,
        ),
        # SmartChargingCtrlr
        _v("SmartChargingEnabled", "SmartChargingCtrlr", "Enabled", BOOL, RO, "true", key16=False),
        _v(
            "ChargeProfileMaxStackLevel",
            "SmartChargingCtrlr",
            "ProfileStackLevel",
            INT,
            RO,
            str(MAX_STACK_LEVEL),
        ),
        _v(
            "ChargingScheduleAllowedChargingRateUnit",
            None,
            None,
            DataType.MEMBER_LIST,
            RO,
            "Current,Power",
        ),
        _v(
            "SmartChargingRateUnit",
            "SmartChargingCtrlr",
            "RateUnit",
            DataType.MEMBER_LIST,
            RO,
            "A,W",
            key16=False,
        ),
        _v(
            "ChargingScheduleMaxPeriods",
            "SmartChargingCtrlr",
            "PeriodsPerSchedule",
            INT,
            RO,
            str(MAX_PERIODS),
        ),
        _v("MaxChargingProfilesInstalled", None, None, INT, RO, str(MAX_PROFILES)),
        _v(
            "SmartChargingEntries",
            "SmartChargingCtrlr",
            "Entries",
            INT,
            RO,
            "0",
            key16=False,
            component_instance=None,
            instance="ChargingProfiles",
            stored=False,
            max_limit=MAX_PROFILES,
        ),
        # ReservationCtrlr
        _v("ReservationEnabled", "ReservationCtrlr", "Enabled", BOOL, RO, "true", key16=False),
        _v("ReserveConnectorZeroSupported", None, None, BOOL, RO, "false"),
        _v("NonEvseSpecific", "ReservationCtrlr", "NonEvseSpecific", BOOL, RO, "true", key16=False),
        # DeviceDataCtrlr
        _v(
            "ItemsPerMessageGetReport",
            "DeviceDataCtrlr",
            "ItemsPerMessage",
            INT,
            RO,
            "50",
            key16=False,
            instance="GetReport",
        ),
        _v(
            "ItemsPerMessageGetVariables",
            "DeviceDataCtrlr",
            "ItemsPerMessage",
            INT,
            RO,
            "50",
            key16=False,
            instance="GetVariables",
        ),
        _v(
            "ItemsPerMessageSetVariables",
            "DeviceDataCtrlr",
            "ItemsPerMessage",
            INT,
            RO,
            "50",
            key16=False,
            instance="SetVariables",
        ),
        _v("GetConfigurationMaxKeys", None, None, INT, RO, "100"),
        # 1.6 Core, read-only facts
        _v("NumberOfConnectors", None, None, INT, RO, str(len(evses))),
        _v("SupportedFeatureProfiles", None, None, DataType.MEMBER_LIST, RO, FEATURE_PROFILES_16),
        # DataLink (mobile modem)
        _v(
            "SignalStrength",
            "DataLink",
            "SignalStrength",
            INT,
            RO,
            "",
            unit="dBm",
            stored=False,
            supports_monitoring=True,
            min_limit=-140,
            max_limit=0,
        ),
        _v("DataLinkActive", "DataLink", "Active", BOOL, RO, "true", key16=False, stored=False),
        _v(
            "SignalStrengthReportInterval",
            "DataLink",
            "SignalReadInterval",
            INT,
            RW,
            "60",
            unit="s",
            min_limit=1,
        ),
        # ChargingStation
        _v(
            "AvailabilityState",
            "ChargingStation",
            "AvailabilityState",
            DataType.OPTION_LIST,
            RO,
            "Available",
            key16=False,
            stored=False,
            values_list=AVAILABILITY_STATES,
        ),
        _v("StationAvailable", "ChargingStation", "Available", BOOL, RO, "true", key16=False),
        _v("SupplyPhases", "ChargingStation", "SupplyPhases", INT, RO, "0", key16=False),
    ]
    for evse in evses:
        n = evse.evse_id
        variables += [
            _v(
                f"EVSE.{n}.AvailabilityState",
                "EVSE",
                "AvailabilityState",
                DataType.OPTION_LIST,
                RO,
                "Available",
                key16=False,
                evse_id=n,
                stored=False,
                values_list=AVAILABILITY_STATES,
            ),
            _v(
                f"EVSE.{n}.Available", "EVSE", "Available", BOOL, RO, "true", key16=False, evse_id=n
            ),
            _v(
                f"EVSE.{n}.Power",
                "EVSE",
                "Power",
                INT,
                RO,
                "0",
                key16=False,
                evse_id=n,
                unit="W",
                stored=False,
                supports_monitoring=True,
                min_limit=0,
                max_limit=evse.max_power_w,
            ),
            _v(
                f"EVSE.{n}.SupplyPhases",
                "EVSE",
                "SupplyPhases",
                INT,
                RO,
                "0",
                key16=False,
                evse_id=n,
            ),
            _v(
                f"Connector.{n}.AvailabilityState",
                "Connector",
                "AvailabilityState",
                DataType.OPTION_LIST,
                RO,
                "Available",
                key16=False,
                evse_id=n,
                connector_id=1,
                stored=False,
                values_list=AVAILABILITY_STATES,
            ),
            _v(
                f"Connector.{n}.Available",
                "Connector",
                "Available",
                BOOL,
                RO,
                "true",
                key16=False,
                evse_id=n,
                connector_id=1,
            ),
            _v(
                f"Connector.{n}.ConnectorType",
                "Connector",
                "ConnectorType",
                STR,
                RO,
                evse.connector_type,
                key16=False,
                evse_id=n,
                connector_id=1,
            ),
        ]
    return Catalog(variables)


# --- variable monitoring (2.0.1 N04 / N07) -------------------------------------------------


class MonitorType(StrEnum):
    UPPER_THRESHOLD = "UpperThreshold"
    LOWER_THRESHOLD = "LowerThreshold"
    DELTA = "Delta"
    PERIODIC = "Periodic"


class MonitorKind(StrEnum):
    """NotifyEvent eventNotificationType of a monitor's events."""

    HARD_WIRED = "HardWiredMonitor"
    PRECONFIGURED = "PreconfiguredMonitor"
    CUSTOM = "CustomMonitor"


class EventTrigger(StrEnum):
    ALERTING = "Alerting"
    DELTA = "Delta"
    PERIODIC = "Periodic"


@dataclass(frozen=True, slots=True)
class Monitor:
    id: int
    variable: str
    """Catalog name of the monitored variable."""
    type: MonitorType
    value: Decimal
    severity: int = 8
    kind: MonitorKind = MonitorKind.CUSTOM
    # evaluation state
    active: bool = False
    """Threshold monitors: the value is beyond the threshold now."""
    reference: Decimal | None = None
    """Delta monitors: the value last reported."""
    last_report_s: float | None = None
    """Periodic monitors: when the value was last reported (monotonic seconds)."""


@dataclass(frozen=True, slots=True)
class MonitorEvent:
    monitor: Monitor
    trigger: EventTrigger
    value: Decimal
    cleared: bool = False


def evaluate_monitor(
    monitor: Monitor, value: Decimal | None, now_s: float
) -> tuple[Monitor, MonitorEvent | None]:
    """Feed a new reading to a monitor: its new state and the event it raises, if any.

    Threshold monitors raise an event when the value crosses the threshold and another
    (cleared) one when it comes back; a Delta monitor when the value has moved by at least its
    value since the last report (the first reading is its reference); a Periodic monitor
    every `value` seconds. An unknown reading (None) changes nothing."""
    if value is None:
        return monitor, None
    kind = monitor.type
    if kind in (MonitorType.UPPER_THRESHOLD, MonitorType.LOWER_THRESHOLD):
        beyond = (
            value > monitor.value
            if kind is MonitorType.UPPER_THRESHOLD
            else value < (monitor.value)
        )
        if beyond == monitor.active:
            return monitor, None
        updated = replace(monitor, active=beyond)
        return updated, MonitorEvent(updated, EventTrigger.ALERTING, value, cleared=not beyond)
    if kind is MonitorType.DELTA:
        if monitor.reference is None:
            return replace(monitor, reference=value), None
        if abs(value - monitor.reference) < monitor.value:
            return monitor, None
        updated = replace(monitor, reference=value)
        return updated, MonitorEvent(updated, EventTrigger.DELTA, value)
    if monitor.last_report_s is not None and now_s - monitor.last_report_s < float(monitor.value):
        return monitor, None
    updated = replace(monitor, last_report_s=now_s)
    return updated, MonitorEvent(updated, EventTrigger.PERIODIC, value)


def check_monitor(variable: Variable, kind: MonitorType, value: Decimal) -> str | None:
    """Why SetVariableMonitoring must refuse this monitor (None: acceptable)."""
    if not variable.supports_monitoring:
        return "UnsupportedMonitorType"
    if kind in (MonitorType.DELTA, MonitorType.PERIODIC) and value <= 0:
        return "Rejected"
    if kind in (MonitorType.UPPER_THRESHOLD, MonitorType.LOWER_THRESHOLD) and (
        (variable.min_limit is not None and value < variable.min_limit)
        or (variable.max_limit is not None and value > variable.max_limit)
    ):
        return "Rejected"
    return None


def default_values(catalog: Catalog) -> Mapping[str, str]:
    return {v.name: v.default for v in catalog.variables if v.stored}
