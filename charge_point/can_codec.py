"""CHAdeMO frame codecs for the CAN adapter: one backed by schemas/chademo.dbc via cantools, one
by the pure codec in `charge_point.domain.chademo`.

The DBC is the contract other tools (bus loggers, SavvyCAN, a partner's analysis) read; the pure
codec is what the sequence is tested against and what the 100 ms loop uses by default because it
is several times cheaper. Both satisfy `FrameCodec`, and a test keeps them in agreement.
"""

from __future__ import annotations

import functools
from importlib import resources
from typing import Any, Protocol, TypeVar

import cantools
from cantools.database.can import Database

from charge_point.domain.chademo import (
    CHARGER_FRAME_TYPES,
    EV_FRAME_TYPES,
    FRAME_LENGTH,
    ChargerCapability,
    ChargerExtendedFunctions,
    ChargerFrame,
    ChargerStatus,
    ChargerStatusFlag,
    EvBatteryInfo,
    EvChargingLimits,
    EvExtendedFunctions,
    EvFault,
    EvFrame,
    EvStatus,
    EvStatusFlag,
    ExtendedFunction,
    Frame,
    FrameError,
    UnknownFrameId,
    decode_charger_frame,
    decode_ev_frame,
)

DBC_PACKAGE = "schemas"
DBC_NAME = "chademo.dbc"


class FrameCodec(Protocol):
    """What the CAN adapters need: bytes <-> frame dataclasses, errors as FrameError."""

    def decode_ev(self, arbitration_id: int, data: bytes) -> EvFrame: ...

    def decode_charger(self, arbitration_id: int, data: bytes) -> ChargerFrame: ...

    def encode(self, frame: Frame) -> bytes: ...


class PureCodec:
    """The hand-written little-endian codec (no cantools on the hot path)."""

    def decode_ev(self, arbitration_id: int, data: bytes) -> EvFrame:
        return decode_ev_frame(arbitration_id, data)

    def decode_charger(self, arbitration_id: int, data: bytes) -> ChargerFrame:
        return decode_charger_frame(arbitration_id, data)

    def encode(self, frame: Frame) -> bytes:
        return frame.encode()


@functools.cache
def load_database() -> Database:
    """schemas/chademo.dbc, parsed once per process (it ships as package data)."""
    text = resources.files(DBC_PACKAGE).joinpath(DBC_NAME).read_text(encoding="utf-8")
    database = cantools.database.load_string(text, database_format="dbc")
    assert isinstance(database, Database)
    return database


_EV_FAULTS: tuple[tuple[EvFault, str], ...] = (
    (EvFault.BATTERY_OVERVOLTAGE, "FaultBatteryOvervoltage"),
    (EvFault.BATTERY_UNDERVOLTAGE, "FaultBatteryUndervoltage"),
    (EvFault.BATTERY_CURRENT_DEVIATION, "FaultBatteryCurrentDeviation"),
    (EvFault.HIGH_BATTERY_TEMPERATURE, "FaultHighBatteryTemperature"),
    (EvFault.BATTERY_VOLTAGE_DEVIATION, "FaultBatteryVoltageDeviation"),
)
_EV_STATUS: tuple[tuple[EvStatusFlag, str], ...] = (
    (EvStatusFlag.CHARGING_ENABLED, "StatusChargingEnabled"),
    (EvStatusFlag.SHIFT_LEVER_NOT_PARK, "StatusShiftLeverNotPark"),
    (EvStatusFlag.CHARGING_SYSTEM_FAULT, "StatusChargingSystemFault"),
    (EvStatusFlag.CONTACTOR_OPEN, "StatusContactorOpen"),
    (EvStatusFlag.NORMAL_STOP_REQUEST, "StatusNormalStopRequest"),
    (EvStatusFlag.VENDOR_BIT6, "StatusVendorBit6"),
    (EvStatusFlag.DISCHARGE_COMPATIBLE, "StatusDischargeCompatible"),
)
_CHARGER_STATUS: tuple[tuple[ChargerStatusFlag, str], ...] = (
    (ChargerStatusFlag.CHARGING, "StatusCharging"),
    (ChargerStatusFlag.MALFUNCTION, "StatusChargerMalfunction"),
    (ChargerStatusFlag.CONNECTOR_LOCKED, "StatusConnectorLocked"),
    (ChargerStatusFlag.BATTERY_INCOMPATIBLE, "StatusBatteryIncompatible"),
    (ChargerStatusFlag.SYSTEM_MALFUNCTION, "StatusChargingSystemMalfunct"),
    (ChargerStatusFlag.STOP_CONTROL, "StatusStopControl"),
)
_EXTENDED = (
    (ExtendedFunction.DYNAMIC_CONTROL, "DynamicControl"),
    (ExtendedFunction.HIGH_CURRENT_CONTROL, "HighCurrentControl"),
    (ExtendedFunction.HIGH_VOLTAGE_CONTROL, "HighVoltageControl"),
)

Signals = dict[str, Any]


_F = TypeVar("_F", EvFault, EvStatusFlag, ChargerStatusFlag, ExtendedFunction)


def _flags(signals: Signals, table: tuple[tuple[_F, str], ...], empty: _F, prefix: str = "") -> _F:
    value = empty
    for flag, name in table:
        if signals[prefix + name]:
            value |= flag
    return value


def _bits(value: int, table: tuple[tuple[Any, str], ...], prefix: str = "") -> Signals:
    return {prefix + name: 1 if value & flag else 0 for flag, name in table}


class DbcCodec:
    """Encodes and decodes with cantools from schemas/chademo.dbc.

    Physical values come back scaled (seconds, kWh); they are converted to the raw units the
    frame dataclasses keep so both codecs produce equal objects.
    """

    def __init__(self, database: Database | None = None) -> None:
        self.database = database if database is not None else load_database()

    def signals(self, arbitration_id: int, data: bytes) -> Signals:
        """Named physical values, e.g. for logging a frame the sequence rejected."""
        self._check(arbitration_id, data)
        decoded = self.database.decode_message(arbitration_id, data, decode_choices=False)
        assert isinstance(decoded, dict)
        return decoded

    def decode(self, arbitration_id: int, data: bytes) -> Frame:
        if arbitration_id in EV_FRAME_TYPES:
            return self.decode_ev(arbitration_id, data)
        return self.decode_charger(arbitration_id, data)

    def decode_ev(self, arbitration_id: int, data: bytes) -> EvFrame:
        if arbitration_id not in EV_FRAME_TYPES:
            raise UnknownFrameId(f"0x{arbitration_id:03X} is not an EV->charger CHAdeMO frame")
        s = self.signals(arbitration_id, data)
        if arbitration_id == EvChargingLimits.ARBITRATION_ID:
            return EvChargingLimits(
                minimum_current_a=int(s["MinimumChargeCurrent"]),
                minimum_battery_voltage_v=int(s["MinimumBatteryVoltage"]),
                maximum_battery_voltage_v=int(s["MaximumBatteryVoltage"]),
                charging_rate_constant_pct=int(s["ChargingRateConstant"]),
            )
        if arbitration_id == EvBatteryInfo.ARBITRATION_ID:
            return EvBatteryInfo(
                max_charging_time_10s=round(s["MaxChargingTime10s"] / 10),
                max_charging_time_min=int(s["MaxChargingTimeMin"]),
                estimated_charging_time_min=int(s["EstimatedChargingTime"]),
                rated_capacity_raw=round(s["RatedBatteryCapacity"] * 10),
            )
        if arbitration_id == EvStatus.ARBITRATION_ID:
            return EvStatus(
                protocol_number=int(s["ControlProtocolNumberEV"]),
                target_battery_voltage_v=int(s["TargetBatteryVoltage"]),
                charging_current_request_a=int(s["ChargingCurrentRequest"]),
                faults=_flags(s, _EV_FAULTS, EvFault.NONE),
                status=_flags(s, _EV_STATUS, EvStatusFlag.NONE),
                state_of_charge_pct=int(s["StateOfCharge"]),
            )
        return EvExtendedFunctions(_flags(s, _EXTENDED, ExtendedFunction.NONE, "EV"))

    def decode_charger(self, arbitration_id: int, data: bytes) -> ChargerFrame:
        if arbitration_id not in CHARGER_FRAME_TYPES:
            raise UnknownFrameId(f"0x{arbitration_id:03X} is not a charger->EV CHAdeMO frame")
        s = self.signals(arbitration_id, data)
        if arbitration_id == ChargerCapability.ARBITRATION_ID:
            return ChargerCapability(
                welding_detection_supported=bool(s["WeldingDetectionSupported"]),
                available_voltage_v=int(s["AvailableOutputVoltage"]),
                available_current_a=int(s["AvailableOutputCurrent"]),
                threshold_voltage_v=int(s["ThresholdVoltage"]),
            )
        if arbitration_id == ChargerStatus.ARBITRATION_ID:
            return ChargerStatus(
                protocol_number=int(s["ControlProtocolNumberCharger"]),
                present_voltage_v=int(s["PresentOutputVoltage"]),
                present_current_a=int(s["PresentChargingCurrent"]),
                discharge_compatible=bool(s["DischargeCompatible"]),
                status=_flags(s, _CHARGER_STATUS, ChargerStatusFlag.NONE),
                remaining_time_10s=round(s["RemainingChargingTime10s"] / 10),
                remaining_time_min=int(s["RemainingChargingTimeMin"]),
            )
        return ChargerExtendedFunctions(_flags(s, _EXTENDED, ExtendedFunction.NONE, "Charger"))

    def encode(self, frame: Frame) -> bytes:
        signals: Signals
        if isinstance(frame, EvChargingLimits):
            signals = {
                "MinimumChargeCurrent": frame.minimum_current_a,
                "MinimumBatteryVoltage": frame.minimum_battery_voltage_v,
                "MaximumBatteryVoltage": frame.maximum_battery_voltage_v,
                "ChargingRateConstant": frame.charging_rate_constant_pct,
            }
        elif isinstance(frame, EvBatteryInfo):
            signals = {
                "MaxChargingTime10s": frame.max_charging_time_10s * 10,
                "MaxChargingTimeMin": frame.max_charging_time_min,
                "EstimatedChargingTime": frame.estimated_charging_time_min,
                "RatedBatteryCapacity": frame.rated_capacity_raw / 10,
            }
        elif isinstance(frame, EvStatus):
            signals = {
                "ControlProtocolNumberEV": frame.protocol_number,
                "TargetBatteryVoltage": frame.target_battery_voltage_v,
                "ChargingCurrentRequest": frame.charging_current_request_a,
                "StateOfCharge": frame.state_of_charge_pct,
                **_bits(frame.faults, _EV_FAULTS),
                **_bits(frame.status, _EV_STATUS),
            }
        elif isinstance(frame, EvExtendedFunctions):
            signals = _bits(frame.functions, _EXTENDED, "EV")
        elif isinstance(frame, ChargerCapability):
            signals = {
                "WeldingDetectionSupported": int(frame.welding_detection_supported),
                "AvailableOutputVoltage": frame.available_voltage_v,
                "AvailableOutputCurrent": frame.available_current_a,
                "ThresholdVoltage": frame.threshold_voltage_v,
            }
        elif isinstance(frame, ChargerStatus):
            signals = {
                "ControlProtocolNumberCharger": frame.protocol_number,
                "PresentOutputVoltage": frame.present_voltage_v,
                "PresentChargingCurrent": frame.present_current_a,
                "DischargeCompatible": int(frame.discharge_compatible),
                "RemainingChargingTime10s": frame.remaining_time_10s * 10,
                "RemainingChargingTimeMin": frame.remaining_time_min,
                **_bits(frame.status, _CHARGER_STATUS),
            }
        else:
            signals = _bits(frame.functions, _EXTENDED, "Charger")
        return bytes(self.database.encode_message(frame.ARBITRATION_ID, signals))

    @staticmethod
    def _check(arbitration_id: int, data: bytes) -> None:
        if arbitration_id not in EV_FRAME_TYPES and arbitration_id not in CHARGER_FRAME_TYPES:
            raise UnknownFrameId(f"0x{arbitration_id:03X} is not a modelled CHAdeMO frame")
        if len(data) != FRAME_LENGTH:
            raise FrameError(
                f"frame 0x{arbitration_id:03X} has {len(data)} data bytes, "
                f"CHAdeMO needs {FRAME_LENGTH}"
            )
