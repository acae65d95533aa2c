"""Mobile signal quality from AT+CSQ (3GPP TS 27.007), as reported to the CSMS and the app.

Operators act on the condition band, not on raw numbers, and a CSQ of 99 means "not known",
which must never be mistaken for a strong signal: it maps to `None` dBm and UNKNOWN.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

CSQ_UNKNOWN = 99


class SignalCondition(StrEnum):
    """Bands of the conventional signal-quality table (m2msupport.net)."""

    UNKNOWN = "unknown"
    NO_SIGNAL = "no_signal"
    MARGINAL = "marginal"
    OK = "ok"
    GOOD = "good"
    EXCELLENT = "excellent"


class CsqError(ValueError):
    """A modem answer that is not a usable +CSQ line."""


def csq_to_dbm(rssi: int) -> int | None:
    """RSSI in dBm: -113 + 2*CSQ for 0..31 (0 means <= -113, 31 means >= -51), None for 99.

    Quectel EC2x also reports 100..199 for TD-SCDMA RSCP (dBm = -116 + (v - 100)).
    """
    if 0 <= rssi <= 31:
        return -113 + 2 * rssi
    if rssi == CSQ_UNKNOWN:
        return None
    if 100 <= rssi <= 199:
        return -116 + (rssi - 100)
    raise CsqError(f"CSQ rssi {rssi} is outside 0..31, 99 and 100..199")


def condition_for_dbm(dbm: int | None) -> SignalCondition:
    """Band for a dBm value; the thresholds are the CSQ table's (2-9, 10-14, 15-19, 20-31)."""
    if dbm is None:
        return SignalCondition.UNKNOWN
    if dbm >= -73:
        return SignalCondition.EXCELLENT
    if dbm >= -83:
        return SignalCondition.GOOD
    if dbm >= -93:
        return SignalCondition.OK
    if dbm >= -109:
        return SignalCondition.MARGINAL
    return SignalCondition.NO_SIGNAL


def condition(rssi: int) -> SignalCondition:
    return condition_for_dbm(csq_to_dbm(rssi))


@dataclass(frozen=True, slots=True)
class SignalQuality:
    csq: int
    ber: int | None
    """RXQUAL class 0..7, None when the modem reports 99."""
    rssi_dbm: int | None
    condition: SignalCondition

    @property
    def weak(self) -> bool:
        """Worth an OCPP 1.6 `WeakSignal` error code."""
        return self.condition in (SignalCondition.NO_SIGNAL, SignalCondition.MARGINAL)


def signal_quality(rssi: int, ber: int = CSQ_UNKNOWN) -> SignalQuality:
    """Build from raw numbers; raises CsqError for values the standard does not define."""
    if not (0 <= ber <= 7 or ber == CSQ_UNKNOWN):
        raise CsqError(f"CSQ ber {ber} is outside 0..7 and 99")
    dbm = csq_to_dbm(rssi)
    return SignalQuality(rssi, None if ber == CSQ_UNKNOWN else ber, dbm, condition_for_dbm(dbm))


_CSQ_LINE = re.compile(r"^\s*\+CSQ:\s*(\d{1,3})\s*,\s*(\d{1,2})\s*$")


def parse_csq(line: str) -> SignalQuality:
    """Parse one `+CSQ: <rssi>,<ber>` response line (surrounding whitespace and CR allowed)."""
    match = _CSQ_LINE.match(line)
    if match is None:
        raise CsqError(f"not a +CSQ response: {line!r}")
    return signal_quality(int(match.group(1)), int(match.group(2)))
