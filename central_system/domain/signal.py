"""Mobile network signal of a station's modem, as stations report it (1.6 DataTransfer
org.evcharge/SignalStrength; 2.0.1 DataLink.SignalStrength events and reports).

Bands follow the conventional AT+CSQ table: -109..-95 dBm marginal, -93..-85 ok, -83..-75 good,
-73 and above excellent; at or below -111 dBm there is no usable signal.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from central_system.domain.clock import parse_timestamp

VENDOR_ID = "org.evcharge"
MESSAGE_ID = "SignalStrength"


class SignalQuality(StrEnum):
    EXCELLENT = "excellent"
    GOOD = "good"
    OK = "ok"
    MARGINAL = "marginal"
    NO_SIGNAL = "no_signal"
    UNKNOWN = "unknown"


def quality_for_dbm(dbm: int | None) -> SignalQuality:
    if dbm is None:
        return SignalQuality.UNKNOWN
    if dbm >= -73:
        return SignalQuality.EXCELLENT
    if dbm >= -83:
        return SignalQuality.GOOD
    if dbm >= -93:
        return SignalQuality.OK
    if dbm >= -109:
        return SignalQuality.MARGINAL
    return SignalQuality.NO_SIGNAL


@dataclass(frozen=True, slots=True)
class SignalReading:
    at: datetime
    rssi_dbm: int | None
    quality: SignalQuality
    csq: int | None = None
    ber: int | None = None


def _optional_int(data: dict[str, Any], key: str, low: int, high: int) -> int | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise ValueError(f"{key} must be an integer in {low}..{high}")
    return value


def reading_from_report(data: dict[str, Any], received_at: datetime) -> SignalReading:
    """A reading from the DataTransfer JSON a station sends; raises ValueError for bad data.

    CSQ 99 (unknown) and out-of-band values become None; the band is derived from the dBm
    value so that every station is judged by the same table.
    """
    csq = data.get("csq")
    if csq == 99:
        csq = None
    rssi_dbm = _optional_int(data, "rssiDbm", -140, 0)
    csq = _optional_int({"csq": csq}, "csq", 0, 31)
    if rssi_dbm is None and csq is not None:
        rssi_dbm = -113 + 2 * csq
    at = parse_timestamp(data["timestamp"]) if data.get("timestamp") else received_at
    return SignalReading(
        at=at,
        rssi_dbm=rssi_dbm,
        quality=quality_for_dbm(rssi_dbm),
        csq=csq,
        ber=_optional_int(data, "ber", 0, 7) if data.get("ber") != 99 else None,
    )
