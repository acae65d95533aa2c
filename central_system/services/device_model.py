"""The stations' configuration as the central system keeps it, and the commands that read and
change it: 2.0.1 device model reports, Get/SetVariables, monitoring and network profiles
(B05-B09, N02-N07; TC_B_06-18, TC_B_42/44, TC_N_*), 1.6 GetConfiguration / ChangeConfiguration
(TC_019, TC_021, TC_040).

What a station reports (NotifyReport, NotifyMonitoringReport) and what it answers (values read,
values it took, monitors it set or cleared) is stored; requests larger than the station takes in
one message (its ItemsPerMessage variables, 1.6 GetConfigurationMaxKeys) are split.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from central_system.domain import device_model as rules
from central_system.domain.device_model import (
    CONFIGURATION_COMPONENT,
    ConfigurationKey,
    Monitor,
    MonitorRequest,
    ReportedVariable,
    VariableRef,
    VariableRequest,
    VariableValue,
)
from central_system.services.control_ports import (
    ClearMonitorAnswer,
    ConfigurationAnswer,
    DeviceModelControl,
    MonitorAnswer,
    NetworkProfile,
    VariableAnswer,
)
from central_system.services.errors import InvalidRequest
from central_system.services.ports import (
    Clock,
    CommandOutcome,
    IdGenerator,
    UnitOfWork,
    UnitOfWorkFactory,
)

log = logging.getLogger(__name__)

REPORT_BASES = ("ConfigurationInventory", "FullInventory", "SummaryInventory")
COMPONENT_CRITERIA = ("Active", "Available", "Enabled", "Problem")
MONITORING_CRITERIA = ("ThresholdMonitoring", "DeltaMonitoring", "PeriodicMonitoring")
MONITORING_BASES = ("All", "FactoryDefault", "HardWiredOnly")
# A report of everything replaces what was stored (its first part clears the station's model).
_COMPLETE = "complete"
# Report requests remembered (the oldest are forgotten: their reports are then only merged).
MAX_REMEMBERED_REQUESTS = 1000


@dataclass(frozen=True, slots=True)
class ReportRequest:
    request_id: int
    outcome: CommandOutcome


class DeviceModelService:
    def __init__(
        self, uow: UnitOfWorkFactory, clock: Clock, control: DeviceModelControl, ids: IdGenerator
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._control = control
        self._ids = ids
        # (station, requestId) -> kind of the reports we asked for (kept in memory: a report
        # that arrives after a restart is stored part by part without replacing anything).
        self._requests: dict[tuple[str, int], str] = {}

    # --- what stations report ------------------------------------------------------------------

    async def store_report(
        self,
        station_id: str,
        request_id: int,
        seq_no: int,
        reported: Sequence[ReportedVariable],
    ) -> None:
        """A NotifyReport part (B07/B08, TC_B_12-18). The first part of a full inventory we
        asked for replaces the stored model."""
        kind = self._requests.get((station_id, request_id))
        async with self._uow() as uow:
            if seq_no == 0 and kind == _COMPLETE:
                await uow.device_model.delete(station_id)
            await uow.device_model.save(
                station_id, rules.values_from_report(reported, self._clock.now())
            )
            await uow.commit()

    async def store_monitoring_report(
        self,
        station_id: str,
        request_id: int,
        seq_no: int,
        reported: dict[VariableRef, tuple[Monitor, ...]],
    ) -> None:
        """A NotifyMonitoringReport part (N02, TC_N_01-03/47/60); the first part of a report
        of all monitors we asked for replaces the stored ones."""
        complete = seq_no == 0 and self._requests.get((station_id, request_id)) == _COMPLETE
        async with self._uow() as uow:
            current = await uow.device_model.monitors(station_id)
            await uow.device_model.save_monitors(
                station_id, rules.monitors_after_report(current, reported, complete=complete)
            )
            await uow.commit()

    # --- reads ---------------------------------------------------------------------------------

    async def values(
        self, station_id: str, *, component: str | None = None, variable: str | None = None
    ) -> list[VariableValue]:
        async with self._uow() as uow:
            return await uow.device_model.values(station_id, component=component, variable=variable)

    async def monitors(self, station_id: str) -> dict[VariableRef, tuple[Monitor, ...]]:
        async with self._uow() as uow:
            return await uow.device_model.monitors(station_id)

    async def configuration(self, station_id: str) -> list[ConfigurationKey]:
        """The 1.6 configuration keys the station last reported (and changes it accepted)."""
        async with self._uow() as uow:
            values = await uow.device_model.values(station_id, component=CONFIGURATION_COMPONENT)
        return rules.configuration_from_values(values)

    # --- 2.0.1 reports and variables -----------------------------------------------------------

    async def request_report(
        self,
        station_id: str,
        *,
        base: str | None = None,
        criteria: Sequence[str] = (),
        variables: Sequence[VariableRef] = (),
    ) -> ReportRequest:
        """GetBaseReport (`base`) or GetReport (criteria and/or component variables); the
        report itself arrives as NotifyReport messages."""
        request_id = self._ids.integer()
        if base is not None:
            if base not in REPORT_BASES:
                raise InvalidRequest(f"a report base is one of {', '.join(REPORT_BASES)}")
            self._remember(station_id, request_id, _COMPLETE if base == "FullInventory" else base)
            outcome = await self._control.get_base_report(station_id, request_id, base)
        else:
            unknown = sorted(set(criteria) - set(COMPONENT_CRITERIA))
            if unknown:
                raise InvalidRequest(f"unknown component criteria: {', '.join(unknown)}")
            self._remember(station_id, request_id, "custom")
            outcome = await self._control.get_report(station_id, request_id, criteria, variables)
        if outcome.status != "Accepted":
            self._requests.pop((station_id, request_id), None)
        return ReportRequest(request_id, outcome)

    async def get_variables(
        self, station_id: str, requests: Sequence[VariableRequest]
    ) -> VariableAnswer:
        """GetVariables (TC_B_06/07), in as many messages as the station's
        ItemsPerMessageGetVariables asks for (TC_B_08); the values read are stored."""
        limit = await self._limit(station_id, "GetVariables")
        answers = [
            await self._control.get_variables(station_id, part)
            for part in rules.chunks(requests, limit)
        ]
        now = self._clock.now()
        results = tuple(r for a in answers for r in a.results)
        await self._store_merged(station_id, rules.values_read(results, now))
        return _combined(answers, "getVariableResult")

    async def set_variables(
        self, station_id: str, requests: Sequence[VariableRequest]
    ) -> VariableAnswer:
        """SetVariables (TC_B_09/10); the values the station took are stored (RebootRequired
        ones marked so)."""
        for request in requests:
            if request.value is None or len(request.value) > rules.MAX_VALUE_LENGTH:
                raise InvalidRequest(f"a value has 0 to {rules.MAX_VALUE_LENGTH} characters")
        limit = await self._limit(station_id, "SetVariables")
        answers = [
            await self._control.set_variables(station_id, part)
            for part in rules.chunks(requests, limit)
        ]
        results = [r for a in answers for r in a.results]
        await self._store_merged(station_id, rules.values_set(requests, results, self._clock.now()))
        return _combined(answers, "setVariableResult")

    async def set_network_profile(
        self, station_id: str, slot: int, profile: NetworkProfile
    ) -> CommandOutcome:
        """SetNetworkProfile (TC_B_42 Accepted, TC_B_44 Failed / Rejected)."""
        return await self._control.set_network_profile(station_id, slot, profile)

    # --- 1.6 configuration keys ----------------------------------------------------------------

    async def get_configuration(
        self, station_id: str, keys: Sequence[str] | None = None
    ) -> ConfigurationAnswer:
        """GetConfiguration: all keys (TC_019_1: the stored copy is replaced) or some (TC_019_2,
        split by GetConfigurationMaxKeys)."""
        now = self._clock.now()
        if not keys:
            answer = await self._control.get_configuration(station_id, None)
            async with self._uow() as uow:
                await uow.device_model.delete(station_id, component=CONFIGURATION_COMPONENT)
                await uow.device_model.save(
                    station_id, rules.configuration_values(answer.keys, now)
                )
                await uow.commit()
            return answer
        limit = await self._limit(station_id, "GetConfiguration")
        answers = [
            await self._control.get_configuration(station_id, part)
            for part in rules.chunks(list(keys), limit)
        ]
        found = tuple(k for a in answers for k in a.keys)
        unknown = tuple(u for a in answers for u in a.unknown)
        async with self._uow() as uow:
            await uow.device_model.save(station_id, rules.configuration_values(found, now))
            await uow.commit()
        payload = {
            "configurationKey": [k for a in answers for k in a.payload.get("configurationKey", [])],
            "unknownKey": list(unknown),
        }
        return ConfigurationAnswer(found, unknown, {k: v for k, v in payload.items() if v})

    async def change_configuration(self, station_id: str, key: str, value: str) -> CommandOutcome:
        """ChangeConfiguration (TC_021, TC_040): a read-only standard key or a value of the
        wrong type is refused before anything is sent; a value the station took is stored."""
        try:
            rules.validate_change(key, value)
        except rules.InvalidConfigurationValue as error:
            raise InvalidRequest(str(error), problem="invalid-configuration-value") from error
        outcome = await self._control.change_configuration(station_id, key, value)
        changed = rules.changed_value(key, value, outcome.status, self._clock.now())
        if changed is not None:
            await self._store_merged(station_id, [changed])
        return outcome

    # --- monitoring ----------------------------------------------------------------------------

    async def set_monitors(
        self, station_id: str, requests: Sequence[MonitorRequest]
    ) -> MonitorAnswer:
        """SetVariableMonitoring (TC_N_08/09/24); monitors the station accepted are stored."""
        for request in requests:
            try:
                rules.validate_monitor(request)
            except rules.InvalidMonitor as error:
                raise InvalidRequest(str(error)) from error
        limit = await self._limit(station_id, "SetVariableMonitoring")
        answers = []
        for part in rules.chunks(requests, limit):
            answer = await self._control.set_variable_monitoring(station_id, part)
            answers.append(answer)
            async with self._uow() as uow:
                current = await uow.device_model.monitors(station_id)
                await uow.device_model.save_monitors(
                    station_id, rules.monitors_after_set(current, part, answer.results)
                )
                await uow.commit()
        results = tuple(r for a in answers for r in a.results)
        payload = {
            "setMonitoringResult": [p for a in answers for p in _items(a, "setMonitoringResult")]
        }
        return MonitorAnswer(results, payload)

    async def clear_monitors(
        self, station_id: str, monitor_ids: Sequence[int]
    ) -> ClearMonitorAnswer:
        """ClearVariableMonitoring in messages the station takes (TC_N_18); monitors it cleared
        (or did not know) are forgotten, the ones it refused kept (TC_N_44)."""
        limit = await self._limit(station_id, "ClearVariableMonitoring")
        answers = []
        for part in rules.chunks(list(monitor_ids), limit):
            answer = await self._control.clear_variable_monitoring(station_id, part)
            answers.append(answer)
            async with self._uow() as uow:
                current = await uow.device_model.monitors(station_id)
                await uow.device_model.save_monitors(
                    station_id, rules.monitors_after_clear(current, answer.cleared)
                )
                await uow.commit()
        cleared = tuple(i for a in answers for i in a.cleared)
        payload = {
            "clearMonitoringResult": [
                p for a in answers for p in a.payload.get("clearMonitoringResult", [])
            ]
        }
        return ClearMonitorAnswer(cleared, payload)

    async def request_monitoring_report(
        self,
        station_id: str,
        *,
        criteria: Sequence[str] = (),
        variables: Sequence[VariableRef] = (),
    ) -> ReportRequest:
        """GetMonitoringReport; without criteria and variables the report is of every monitor
        and replaces the stored ones (TC_N_47)."""
        unknown = sorted(set(criteria) - set(MONITORING_CRITERIA))
        if unknown:
            raise InvalidRequest(f"unknown monitoring criteria: {', '.join(unknown)}")
        request_id = self._ids.integer()
        self._remember(
            station_id, request_id, _COMPLETE if not (criteria or variables) else "custom"
        )
        outcome = await self._control.get_monitoring_report(
            station_id, request_id, criteria, variables
        )
        if outcome.status != "Accepted":
            self._requests.pop((station_id, request_id), None)
        return ReportRequest(request_id, outcome)

    async def set_monitoring_base(self, station_id: str, base: str) -> CommandOutcome:
        """SetMonitoringBase (TC_N_05). Once accepted the station's monitors are not what we
        stored: the stored ones are forgotten until the next monitoring report."""
        if base not in MONITORING_BASES:
            raise InvalidRequest(f"a monitoring base is one of {', '.join(MONITORING_BASES)}")
        outcome = await self._control.set_monitoring_base(station_id, base)
        if outcome.accepted:
            async with self._uow() as uow:
                await uow.device_model.save_monitors(station_id, {})
                await uow.commit()
        return outcome

    async def set_monitoring_level(self, station_id: str, severity: int) -> CommandOutcome:
        """SetMonitoringLevel (TC_N_16; TC_N_17: a level out of 0..9 is refused here, the
        station's own Rejected is passed on)."""
        if not 0 <= severity <= rules.MAX_SEVERITY:
            raise InvalidRequest(f"a severity is 0 to {rules.MAX_SEVERITY}")
        return await self._control.set_monitoring_level(station_id, severity)

    # --- internals -----------------------------------------------------------------------------

    def _remember(self, station_id: str, request_id: int, kind: str) -> None:
        self._requests[(station_id, request_id)] = kind
        while len(self._requests) > MAX_REMEMBERED_REQUESTS:
            del self._requests[next(iter(self._requests))]

    async def _limit(self, station_id: str, message: str) -> int | None:
        async with self._uow() as uow:
            return rules.items_per_message(await uow.device_model.values(station_id), message)

    async def _store_merged(self, station_id: str, values: Sequence[VariableValue]) -> None:
        if not values:
            return
        async with self._uow() as uow:
            await _save_merged(uow, station_id, values)
            await uow.commit()


async def _save_merged(uow: UnitOfWork, station_id: str, values: Sequence[VariableValue]) -> None:
    merged = [
        rules.merge(await uow.device_model.get(station_id, v.ref, v.attribute_type), v)
        for v in values
    ]
    await uow.device_model.save(station_id, merged)


def _items(answer: MonitorAnswer, key: str) -> list[object]:
    items = answer.payload.get(key, [])
    return list(items) if isinstance(items, list) else []


def _combined(answers: Sequence[VariableAnswer], key: str) -> VariableAnswer:
    results = tuple(r for a in answers for r in a.results)
    return VariableAnswer(results, {key: [p for a in answers for p in a.payload.get(key, [])]})
