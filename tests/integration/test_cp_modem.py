"""The modem signal sources. SerialModem talks to a real pseudo-terminal pair: the test plays
the modem on the master side, so termios setup, echo handling and timeouts are exercised for
real, without hardware."""

from __future__ import annotations

import asyncio
import contextlib
import os

import pytest

from charge_point.domain.modem import CsqError, SignalCondition
from charge_point.hardware.modem import ModemError, SerialModem, SimulatedModem


@contextlib.asynccontextmanager
async def fake_modem(*answers: bytes):
    """A pty whose master answers each AT command with the next of `answers` (b"" = silence).

    Yields the slave's path, which SerialModem opens like /dev/ttyUSB2.
    """
    master, slave = os.openpty()
    os.set_blocking(master, False)
    pending = list(answers)
    commands: list[bytes] = []
    loop = asyncio.get_running_loop()

    def on_readable() -> None:
        try:
            data = os.read(master, 1024)
        except OSError:
            return
        commands.append(data)
        if b"\r" in data and pending:
            os.write(master, pending.pop(0))

    loop.add_reader(master, on_readable)
    try:
        yield os.ttyname(slave), commands
    finally:
        loop.remove_reader(master)
        os.close(master)
        os.close(slave)


async def test_serial_modem_reads_csq():
    async with fake_modem(b"AT+CSQ\r\r\n+CSQ: 18,99\r\n\r\nOK\r\n") as (path, commands):
        quality = await SerialModem(path, timeout_s=2).read()
    assert b"AT+CSQ\r" in b"".join(commands)
    assert (quality.csq, quality.rssi_dbm, quality.ber) == (18, -77, None)
    assert quality.condition is SignalCondition.GOOD


async def test_serial_modem_ignores_unsolicited_lines():
    answer = b"\r\n+CREG: 1\r\n+CSQ: 7,2\r\nOK\r\n"
    async with fake_modem(answer) as (path, _):
        quality = await SerialModem(path).read()
    assert quality.condition is SignalCondition.MARGINAL
    assert quality.weak


async def test_serial_modem_error_answer():
    async with fake_modem(b"\r\n+CME ERROR: SIM not inserted\r\n") as (path, _):
        with pytest.raises(ModemError, match="SIM not inserted"):
            await SerialModem(path).read()


async def test_serial_modem_malformed_value():
    async with fake_modem(b"\r\n+CSQ: 45,0\r\nOK\r\n") as (path, _):
        with pytest.raises(CsqError, match="45"):
            await SerialModem(path).read()


async def test_serial_modem_silence_times_out():
    async with fake_modem(b"") as (path, _):
        with pytest.raises(ModemError, match="no answer"):
            await SerialModem(path, timeout_s=0.3).read()


async def test_serial_modem_missing_device():
    with pytest.raises(ModemError, match="cannot open"):
        await SerialModem("/dev/does-not-exist-evcharge").read()
    with pytest.raises(ValueError, match="baud"):
        SerialModem("/dev/null", baudrate=12345)


async def test_simulated_modem_is_deterministic_per_seed_and_stays_in_range():
    def series(seed: int) -> list[int]:
        modem = SimulatedModem(seed=seed, start_csq=15, min_csq=5, max_csq=25)
        return [modem.next().csq for _ in range(200)]

    assert series(1) == series(1)
    assert series(1) != series(2)
    assert all(5 <= csq <= 25 for csq in series(3))
    assert len(set(series(3))) > 5  # it does wander
    quality = await SimulatedModem(seed=4).read()
    assert quality.rssi_dbm == -113 + 2 * quality.csq


async def test_simulated_modem_can_report_unknown():
    modem = SimulatedModem(seed=5, unknown_probability=0.5)
    conditions = {modem.next().condition for _ in range(50)}
    assert SignalCondition.UNKNOWN in conditions
    assert len(conditions) > 1
