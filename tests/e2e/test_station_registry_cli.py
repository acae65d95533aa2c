"""A running `evcharge serve` keeps the stations it admitted in memory; `evcharge stations add`,
run in another process, changes a station under it: the new credentials work at once, the old
ones stop working (the server reads the change feed), and a station added by the CLI is
admitted at its first attempt."""

from __future__ import annotations

from pathlib import Path

import pytest
import websockets
from ocpp.v16 import call as call16

from tests.e2e.cli import cli_env, run, serve
from tests.helpers import connect, wait_for

OLD = "old-password-0123456789"
NEW = "new-password-9876543210"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return cli_env(database_url=f"sqlite+aiosqlite:///{tmp_path / 'cs.db'}", ocpp_port="0")


async def status_of(url: str, station_id: str, password: str | None) -> int:
    """101 when admitted (then closed again), else the HTTP status of the refusal."""
    try:
        client = await connect(url, station_id, password=password)
    except websockets.InvalidStatus as refused:
        return refused.response.status_code
    try:
        await client.call(call16.Heartbeat())
    finally:
        await client.close()
    return 101


async def test_registry_changes_by_the_cli_reach_a_running_server(env: dict[str, str]) -> None:
    assert (await run("stations", "add", "CP-1", "--password", OLD, env=env))[0] == 0
    async with serve(env) as server:
        url = server.ocpp_url
        assert await status_of(url, "CP-1", OLD) == 101
        assert await status_of(url, "CP-1", OLD) == 101  # from the server's memory now
        assert await status_of(url, "CP-2", None) == 404
        assert (await run("stations", "add", "CP-1", "--password", NEW, env=env))[0] == 0
        assert (await run("stations", "add", "CP-2", env=env))[0] == 0
        assert await status_of(url, "CP-2", None) == 101  # unknown stations are not remembered

        async def old_password_refused() -> bool:
            return await status_of(url, "CP-1", OLD) == 401

        await wait_for(old_password_refused, timeout=10, what="the old password refused")
        assert await status_of(url, "CP-1", NEW) == 101
        # the CLI moves the station to a profile that needs no password: admitted without one
        assert (await run("stations", "add", "CP-1", "--security-profile", "0", env=env))[0] == 0
        assert await status_of(url, "CP-1", None) == 101
