"""A local Mosquitto for `evcharge demo`: started on a free port of 127.0.0.1 when the binary is
installed, so that the demo can run the bridge and show a `mosquitto_sub` command to watch it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

_SBIN = ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto", "/opt/homebrew/sbin/mosquitto")
WATCH_TOPICS = ("dt/evcharge/#", "$aws/things/+/shadow/update")


def find_mosquitto() -> str | None:
    """The mosquitto binary on PATH or in the usual sbin directories, or None."""
    return shutil.which("mosquitto") or next((p for p in _SBIN if os.access(p, os.X_OK)), None)


@dataclass(frozen=True, slots=True)
class LocalBroker:
    host: str
    port: int

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    @property
    def watch_command(self) -> str:
        topics = " ".join(f"-t '{topic}'" for topic in WATCH_TOPICS)
        return f"mosquitto_sub -h {self.host} -p {self.port} -q 1 -v {topics}"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _accepts(port: int) -> bool:
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return False
    writer.close()
    return True


def _write_config(directory: Path, port: int) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    config = directory / "mosquitto.conf"
    config.write_text(
        f"listener {port} 127.0.0.1\n"
        "allow_anonymous true\n"
        "persistence false\n"
        f"log_dest file {directory / 'mosquitto.log'}\n"
    )
    return config


@contextlib.asynccontextmanager
async def local_broker(
    directory: Path, binary: str | None, *, timeout: float = 10.0
) -> AsyncIterator[LocalBroker | None]:
    """Run `binary` (a mosquitto) listening on 127.0.0.1 only, anonymous and without TLS, for
    as long as the block runs; yields None when there is no binary."""
    if binary is None:
        yield None
        return
    broker = LocalBroker("127.0.0.1", _free_port())
    config = _write_config(directory, broker.port)
    process = await asyncio.create_subprocess_exec(
        binary,
        "-c",
        str(config),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        async with asyncio.timeout(timeout):
            while not await _accepts(broker.port):
                if process.returncode is not None:
                    raise RuntimeError(f"mosquitto exited ({process.returncode}); see {directory}")
                await asyncio.sleep(0.05)
        log.info("local MQTT broker at %s", broker.url)
        yield broker
    finally:
        if process.returncode is None:
            process.terminate()
            await process.wait()
