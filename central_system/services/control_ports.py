"""Ports of the station configuration and control features: local authorization lists, the device
model (2.0.1) and configuration keys (1.6), monitoring, and the remote-control commands that are
not in StationControl. Adapters in persistence/ and transport/ implement them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from central_system.domain.authorization import IdTokenRecord
from central_system.domain.device_model import (
    ConfigurationKey,
    Monitor,
    MonitorRequest,
    MonitorResult,
    VariableRef,
    VariableRequest,
    VariableResult,
    VariableValue,
)
from central_system.domain.local_lists import LocalListState, LocalListUpdate

if TYPE_CHECKING:  # ports.py imports this module for its UnitOfWork
    from central_system.services.ports import CommandOutcome


class LocalListRepository(Protocol):
    async def get(self, station_id: str) -> LocalListState | None: ...
    async def save(self, state: LocalListState) -> None:
        """Store the state; the stored entries become exactly `state.entries`."""
        ...

    async def synced_stations(self) -> list[str]:
        """Stations whose list the central system keeps in step with the registry."""
        ...

    async def tokens(self) -> list[IdTokenRecord]:
        """The registry's tokens marked for local lists."""
        ...

    async def mark(self, value: str, in_list: bool) -> bool:
        """Mark a registry token for local lists (or not); False if there is no such token."""
        ...


class DeviceModelRepository(Protocol):
    async def values(
        self,
        station_id: str,
        *,
        component: str | None = None,
        variable: str | None = None,
        include_monitors: bool = False,
    ) -> list[VariableValue]: ...
    async def get(
        self, station_id: str, ref: VariableRef, attribute_type: str
    ) -> VariableValue | None: ...
    async def save(self, station_id: str, values: Sequence[VariableValue]) -> None:
        """Insert or replace each value (by variable and attribute type)."""
        ...

    async def delete(self, station_id: str, *, component: str | None = None) -> None:
        """Forget the station's variables (of one component), monitors kept."""
        ...

    async def monitors(self, station_id: str) -> dict[VariableRef, tuple[Monitor, ...]]: ...
    async def save_monitors(
        self, station_id: str, monitors: Mapping[VariableRef, tuple[Monitor, ...]]
    ) -> None:
        """The station's monitors become exactly `monitors`."""
        ...


@dataclass(frozen=True, slots=True)
class LocalListAnswer:
    status: str | None
    payload: dict[str, Any]


class LocalListControl(Protocol):
    """SendLocalList / GetLocalListVersion in the station's version (transport)."""

    def is_connected(self, station_id: str) -> bool: ...
    def max_token_length(self, station_id: str) -> int | None:
        """The longest id token the station's protocol version carries (None: unknown)."""
        ...

    async def send_local_list(
        self, station_id: str, update: LocalListUpdate
    ) -> LocalListAnswer: ...
    async def get_local_list_version(self, station_id: str) -> int:
        """The station's list version (1.6: -1 when it has no local list support)."""
        ...


@dataclass(frozen=True, slots=True)
class VariableAnswer:
    results: tuple[VariableResult, ...]
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ConfigurationAnswer:
    keys: tuple[ConfigurationKey, ...]
    unknown: tuple[str, ...]
    payload: dict[str, Any]

    @property
    def status(self) -> str | None:
        """GetConfiguration's answer has no status."""
        return None


@dataclass(frozen=True, slots=True)
class MonitorAnswer:
    results: tuple[MonitorResult, ...]
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ClearMonitorAnswer:
    cleared: tuple[int, ...]  # Accepted, or NotFound (the station has no such monitor)
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class NetworkProfile:
    """2.0.1 NetworkConnectionProfileType (B09)."""

    ocpp_version: str  # OCPP20 (2.0.1 has no other value)
    transport: str  # JSON | SOAP
    csms_url: str
    message_timeout: int
    security_profile: int
    interface: str  # Wired0..3, Wireless0..3
    vpn: dict[str, Any] | None = None
    apn: dict[str, Any] | None = None


class DeviceModelControl(Protocol):
    """Device-model, configuration and monitoring commands in the station's version (transport).

    Each raises StationOffline, StationCallTimeout or StationCallError, and ValueError when the
    station's version has no such message or its schema refuses the payload."""

    def ocpp_version(self, station_id: str) -> str | None: ...
    async def get_base_report(
        self, station_id: str, request_id: int, report_base: str
    ) -> CommandOutcome: ...
    async def get_report(
        self,
        station_id: str,
        request_id: int,
        criteria: Sequence[str],
        variables: Sequence[VariableRef],
    ) -> CommandOutcome: ...
    async def get_variables(
        self, station_id: str, requests: Sequence[VariableRequest]
    ) -> VariableAnswer: ...
    async def set_variables(
        self, station_id: str, requests: Sequence[VariableRequest]
    ) -> VariableAnswer: ...
    async def get_configuration(
        self, station_id: str, keys: Sequence[str] | None
    ) -> ConfigurationAnswer: ...
    async def change_configuration(
        self, station_id: str, key: str, value: str
    ) -> CommandOutcome: ...
    async def set_variable_monitoring(
        self, station_id: str, requests: Sequence[MonitorRequest]
    ) -> MonitorAnswer: ...
    async def clear_variable_monitoring(
        self, station_id: str, monitor_ids: Sequence[int]
    ) -> ClearMonitorAnswer: ...
    async def get_monitoring_report(
        self,
        station_id: str,
        request_id: int,
        criteria: Sequence[str],
        variables: Sequence[VariableRef],
    ) -> CommandOutcome: ...
    async def set_monitoring_base(self, station_id: str, base: str) -> CommandOutcome: ...
    async def set_monitoring_level(self, station_id: str, severity: int) -> CommandOutcome: ...
    async def set_network_profile(
        self, station_id: str, slot: int, profile: NetworkProfile
    ) -> CommandOutcome: ...


@dataclass(frozen=True, slots=True)
class TransactionStatusAnswer:
    """GetTransactionStatus (E14): `ongoing` None when no transaction id was asked about."""

    ongoing: bool | None
    messages_in_queue: bool
    payload: dict[str, Any] = field(default_factory=dict)


class RemoteControl(Protocol):
    """Remote-control commands beyond StationControl (transport)."""

    async def get_transaction_status(
        self, station_id: str, transaction_id: str | None
    ) -> TransactionStatusAnswer: ...
    async def data_transfer(
        self, station_id: str, vendor_id: str, message_id: str | None, data: Any
    ) -> CommandOutcome: ...
