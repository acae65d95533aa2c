"""Where the station's mobile signal quality comes from.

`SimulatedModem` (the default) gives a deterministic random walk per seed, so a fleet of
simulated stations shows varied but reproducible signal. `SerialModem` asks a real modem with
AT+CSQ over its tty; it uses only termios and runs the blocking exchange in a worker thread so the
event loop never waits on a serial port.
"""

from __future__ import annotations

import asyncio
import os
import random
import select
import termios
import time
from typing import Protocol

from charge_point.domain.modem import (
    CSQ_UNKNOWN,
    CsqError,
    SignalQuality,
    parse_csq,
    signal_quality,
)


class ModemError(RuntimeError):
    """The modem did not answer, answered ERROR, or the port could not be used."""


class SignalSource(Protocol):
    async def read(self) -> SignalQuality: ...


class SimulatedModem:
    """CSQ wandering by -2..+2 per reading within [min_csq, max_csq]; 99 now and then if
    `unknown_probability` is set (a modem between cells)."""

    def __init__(
        self,
        *,
        seed: int = 0,
        start_csq: int = 18,
        min_csq: int = 2,
        max_csq: int = 31,
        unknown_probability: float = 0.0,
    ) -> None:
        if not 0 <= min_csq <= start_csq <= max_csq <= 31:
            raise ValueError("need 0 <= min_csq <= start_csq <= max_csq <= 31")
        self._random = random.Random(seed)
        self._csq = start_csq
        self._min = min_csq
        self._max = max_csq
        self._unknown_probability = unknown_probability

    async def read(self) -> SignalQuality:
        return self.next()

    def next(self) -> SignalQuality:
        """The same as `read()` without the event loop (for synchronous callers)."""
        if self._unknown_probability and self._random.random() < self._unknown_probability:
            return signal_quality(CSQ_UNKNOWN, CSQ_UNKNOWN)
        self._csq = min(self._max, max(self._min, self._csq + self._random.randint(-2, 2)))
        return signal_quality(self._csq, self._random.randint(0, 7))


class SerialModem:
    """AT+CSQ over a serial device such as /dev/ttyUSB2 (one exchange at a time)."""

    def __init__(self, device: str, *, baudrate: int = 115200, timeout_s: float = 2.0) -> None:
        speed = getattr(termios, f"B{baudrate}", None)
        if speed is None:
            raise ValueError(f"unsupported baud rate {baudrate}")
        self.device = device
        self._speed: int = speed
        self._timeout_s = timeout_s
        self._lock = asyncio.Lock()

    async def read(self) -> SignalQuality:
        async with self._lock:
            return await asyncio.to_thread(self.query)

    def query(self) -> SignalQuality:
        """Blocking: open the port, send AT+CSQ, parse the answer, close the port."""
        try:
            fd = os.open(self.device, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        except OSError as error:
            raise ModemError(f"cannot open {self.device}: {error}") from error
        try:
            self._configure(fd)
            termios.tcflush(fd, termios.TCIOFLUSH)
            os.write(fd, b"AT+CSQ\r")
            return self._answer(fd)
        except (OSError, termios.error) as error:
            raise ModemError(f"{self.device}: {error}") from error
        finally:
            os.close(fd)

    def _configure(self, fd: int) -> None:
        """Raw 8N1 at the configured speed (what tty.cfmakeraw does, which 3.11 lacks)."""
        attrs = termios.tcgetattr(fd)
        attrs[0] &= ~(
            termios.IGNBRK
            | termios.BRKINT
            | termios.PARMRK
            | termios.ISTRIP
            | termios.INLCR
            | termios.IGNCR
            | termios.ICRNL
            | termios.IXON
        )
        attrs[1] &= ~termios.OPOST
        attrs[2] &= ~(termios.CSIZE | termios.PARENB)
        attrs[2] |= termios.CS8 | termios.CREAD | termios.CLOCAL
        attrs[3] &= ~(
            termios.ECHO | termios.ECHONL | termios.ICANON | termios.ISIG | termios.IEXTEN
        )
        attrs[4] = self._speed
        attrs[5] = self._speed
        attrs[6][termios.VMIN] = 0
        attrs[6][termios.VTIME] = 0
        termios.tcsetattr(fd, termios.TCSANOW, attrs)

    def _answer(self, fd: int) -> SignalQuality:
        deadline = time.monotonic() + self._timeout_s
        buffer = b""
        quality: SignalQuality | None = None
        while True:
            *lines, buffer = buffer.split(b"\n")
            for raw in lines:
                line = raw.decode("ascii", errors="replace").strip()
                if not line or line == "AT+CSQ":  # blank or the modem's echo
                    continue
                if line == "OK":
                    if quality is None:
                        raise ModemError(f"{self.device}: OK without a +CSQ line")
                    return quality
                if line == "ERROR" or line.startswith(("+CME ERROR", "+CMS ERROR")):
                    raise ModemError(f"{self.device}: modem answered {line}")
                if line.startswith("+CSQ"):
                    quality = parse_csq(line)  # CsqError for a malformed value
                # anything else (URCs such as +CREG) is not ours
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ModemError(f"{self.device}: no answer to AT+CSQ in {self._timeout_s} s")
            ready, _, _ = select.select([fd], [], [], remaining)
            if ready:
                chunk = os.read(fd, 256)
                if not chunk:
                    raise ModemError(f"{self.device}: port closed")
                buffer += chunk


__all__ = ["CsqError", "ModemError", "SerialModem", "SignalSource", "SimulatedModem"]
