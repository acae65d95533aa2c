"""The station's configuration values: the device-model catalog backed by the station's SQLite.

Reads are served from memory; a change is validated against the catalog, written to the
database and then announced to whoever listens for that setting (the metering loop picks up a
new sample interval, the signal loop a new report interval, ...).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from charge_point.domain.device_model import Catalog, Variable, check_value, default_values
from charge_point.domain.metering import Measurand, parse_measurands
from charge_point.store import StationStore

log = logging.getLogger(__name__)

LiveValues = Callable[[str], str | None]


class SetStatus(StrEnum):
    ACCEPTED = "Accepted"
    REJECTED = "Rejected"
    REBOOT_REQUIRED = "RebootRequired"
    NOT_SUPPORTED = "NotSupported"


@dataclass(frozen=True, slots=True)
class SetResult:
    status: SetStatus
    reason: str = ""


class Settings:
    def __init__(
        self,
        catalog: Catalog,
        store: StationStore,
        *,
        overrides: Mapping[str, str] | None = None,
        live: LiveValues | None = None,
    ) -> None:
        self.catalog = catalog
        self._store = store
        self._live = live or (lambda _name: None)
        self._values = dict(default_values(catalog))
        self._values.update(
            {name: value for name, value in store.settings().items() if name in self._values}
        )
        self._listeners: dict[str, list[Callable[[str], None]]] = {}
        for name, value in (overrides or {}).items():
            self.override(name, value)

    def set_live_source(self, live: LiveValues) -> None:
        self._live = live

    def resolve(self, name: str) -> Variable | None:
        """A variable by catalog name, 1.6 key, or `Component.Variable` of 2.0.1."""
        if name in self.catalog:
            return self.catalog[name]
        found = self.catalog.ocpp16(name)
        if found is not None:
            return found
        component, _, variable = name.partition(".")
        for candidate in self.catalog.ocpp201_variables:
            ref = candidate.ref
            if ref is not None and (ref.component.name, ref.variable) == (component, variable):
                return candidate
        return None

    def override(self, name: str, value: str) -> None:
        """Set a value from the station's own configuration (command line), whatever its
        mutability; raises ValueError for unknown names and bad values."""
        variable = self.resolve(name)
        if variable is None or not variable.stored:
            raise ValueError(f"unknown setting {name!r}")
        check = check_value(variable, value)
        if not check.ok:
            raise ValueError(f"{name}: {check.reason}")
        self._write(variable, check.value)

    # --- reading --------------------------------------------------------------------------

    def value(self, variable: Variable) -> str:
        """The current value, live or stored (also for write-only ones: callers decide)."""
        if not variable.stored:
            live = self._live(variable.name)
            return "" if live is None else live
        return self._values[variable.name]

    def get(self, name: str) -> str:
        return self.value(self.catalog[name])

    def integer(self, name: str) -> int:
        return int(self.get(name))

    def flag(self, name: str) -> bool:
        return self.get(name) == "true"

    def measurands(self, name: str) -> tuple[Measurand, ...]:
        return parse_measurands(self.get(name))

    # --- writing ----------------------------------------------------------------------------

    def change(self, variable: Variable, value: str) -> SetResult:
        """A change requested by the central system (ChangeConfiguration / SetVariables)."""
        if not variable.writable:
            return SetResult(SetStatus.REJECTED, "read-only")
        if not variable.stored:
            return SetResult(SetStatus.REJECTED, "not settable")
        check = check_value(variable, value)
        if not check.ok:
            return SetResult(SetStatus.REJECTED, check.reason)
        self._write(variable, check.value)
        if variable.reboot_required:
            return SetResult(SetStatus.REBOOT_REQUIRED)
        return SetResult(SetStatus.ACCEPTED)

    def _write(self, variable: Variable, value: str) -> None:
        previous = self._values.get(variable.name)
        self._values[variable.name] = value
        self._store.save_setting(variable.name, value)
        if previous != value:
            for listener in self._listeners.get(variable.name, []):
                try:
                    listener(value)
                except Exception:
                    log.exception("listener of setting %s failed", variable.name)

    def on_change(self, name: str, listener: Callable[[str], None]) -> None:
        self._listeners.setdefault(name, []).append(listener)
