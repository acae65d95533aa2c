"""Run the `evcharge` console script as a user does, and wait for what it prints."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

EVCHARGE = str(Path(sys.executable).parent / "evcharge")
LISTENING = re.compile(r"OCPP listening on (ws://\S+?)/\{station_id\}")


# The API refuses to start in production without a JWT secret; a free port keeps tests apart.
API_DEFAULTS = {"api_port": "0", "jwt_secret": "e2e-test-secret-" + "0" * 32}


def cli_env(**settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EVCHARGE_")}
    env.update(
        {f"EVCHARGE_{key.upper()}": value for key, value in {**API_DEFAULTS, **settings}.items()}
    )
    return env


async def run(*args: str, env: dict[str, str]) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        EVCHARGE, *args, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    output, _ = await asyncio.wait_for(process.communicate(), 60)
    return process.returncode or 0, output.decode()


class Server:
    def __init__(self, process: asyncio.subprocess.Process, ocpp_url: str, output: list[str]):
        self.process = process
        self.ocpp_url = ocpp_url
        self.output = output


@contextlib.asynccontextmanager
async def serve(env: dict[str, str], *args: str) -> AsyncIterator[Server]:
    """Start `evcharge serve` and wait until it says where OCPP listens."""
    process = await asyncio.create_subprocess_exec(
        EVCHARGE,
        "serve",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    assert process.stdout is not None
    output: list[str] = []

    async def until_listening() -> str:
        assert process.stdout is not None
        while line := (await process.stdout.readline()).decode():
            output.append(line)
            if match := LISTENING.search(line):
                return match.group(1)
        raise AssertionError("evcharge serve exited:\n" + "".join(output))

    url = await asyncio.wait_for(until_listening(), 30)

    async def drain() -> None:
        assert process.stdout is not None
        while line := (await process.stdout.readline()).decode():
            output.append(line)

    drainer = asyncio.create_task(drain())
    try:
        yield Server(process, url, output)
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), 15)
            except TimeoutError:
                process.kill()
                await process.wait()
        await drainer
