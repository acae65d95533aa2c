"""The central system as a user runs it: `evcharge` commands in their own processes."""

from __future__ import annotations

import asyncio
import signal
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import websockets
from ocpp.v16 import call as call16
from ocpp.v201 import call as call201
from sqlalchemy import select

from central_system.persistence.database import create_engine, session_factory
from central_system.persistence.migrate import head_revision
from central_system.persistence.models import OutboxRow, StationRow, TransactionRow
from tests.e2e.cli import cli_env, run, serve
from tests.helpers import connect, wait_for

T0 = datetime.now(UTC).replace(microsecond=0)


def ts(offset_s: float) -> str:
    return (T0 + timedelta(seconds=offset_s)).isoformat()


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return cli_env(database_url=f"sqlite+aiosqlite:///{tmp_path / 'cs.db'}", ocpp_port="0")


async def transactions(env: dict[str, str]) -> list[Any]:
    engine = create_engine(env["EVCHARGE_DATABASE_URL"])
    try:
        async with session_factory(engine)() as session:
            return list((await session.scalars(select(TransactionRow))).all())
    finally:
        await engine.dispose()


async def test_registry_commands_and_serve(env: dict[str, str]) -> None:
    code, out = await run("stations", "add", "CP-1", "--password", "0123456789abcdef", env=env)
    assert code == 0 and "security profile 1" in out
    code, out = await run(
        "tokens", "add", "TAG-1", "--status", "Blocked", "--group", "FLEET", env=env
    )
    assert code == 0 and "Blocked" in out
    code, out = await run("tokens", "add", "TAG-2", "--expires", "not-a-date", env=env)
    assert code == 2 and "ISO 8601" in out
    code, out = await run("stations", "add", "BAD:ID", env=env)
    assert code == 2 and "':'" in out
    async with serve(env) as server:
        assert server.ocpp_url.startswith("ws://127.0.0.1:")
        with pytest.raises(websockets.InvalidStatus):
            await connect(server.ocpp_url, "CP-1", password="wrong-password!!")
        client = await connect(server.ocpp_url, "CP-1", password="0123456789abcdef")
        try:
            boot = await client.call(
                call16.BootNotification(charge_point_model="M", charge_point_vendor="V")
            )
            assert boot.status == "Accepted"
            assert (await client.call(call16.Authorize(id_tag="TAG-1"))).id_tag_info[
                "status"
            ] == "Blocked"
        finally:
            await client.close()


async def test_db_upgrade_is_idempotent(env: dict[str, str]) -> None:
    head = head_revision(env["EVCHARGE_DATABASE_URL"])
    for _ in range(2):
        code, out = await run("db", "upgrade", env=env)
        assert code == 0 and f"database schema is at {head} (head)" in out
    code, _ = await run("stations", "add", "CP-9", env=env)
    assert code == 0


async def test_db_upgrade_says_the_revision_the_database_is_at(env: dict[str, str]) -> None:
    """An upgrade to an older revision than the database's changes nothing, and says so: it
    printed the revision asked for."""
    code, out = await run("db", "upgrade", "--revision", "0008", env=env)
    assert code == 0 and "database schema is at 0008\n" in out
    code, out = await run("db", "upgrade", env=env)
    head = head_revision(env["EVCHARGE_DATABASE_URL"])
    assert code == 0 and f"database schema is at {head} (head)" in out
    code, out = await run("db", "upgrade", "--revision", "0008", env=env)
    assert code == 0 and f"database schema is at {head} (head)" in out


async def _kill(server: Any) -> None:
    server.process.send_signal(signal.SIGKILL)
    await asyncio.wait_for(server.process.wait(), 10)


async def test_restart_in_the_middle_of_a_16_transaction(env: dict[str, str]) -> None:
    """The central system is killed (SIGKILL) mid-transaction and started again on the same
    database file; the transaction finishes with the right energy."""
    await run("stations", "add", "CP-1", env=env)
    await run("tokens", "add", "TAG", env=env)
    async with serve(env) as first:
        client = await connect(first.ocpp_url, "CP-1")
        await client.call(call16.BootNotification(charge_point_model="M", charge_point_vendor="V"))
        start = await client.call(
            call16.StartTransaction(
                connector_id=1, id_tag="TAG", meter_start=40_000, timestamp=ts(0)
            )
        )
        await client.call(
            call16.MeterValues(
                connector_id=1,
                transaction_id=start.transaction_id,
                meter_value=[
                    {"timestamp": ts(60), "sampledValue": [{"value": "41.2", "unit": "kWh"}]}
                ],
            )
        )
        await _kill(first)
        await client.close()
    async with serve(env) as second:
        client = await connect(second.ocpp_url, "CP-1")
        try:
            await client.call(
                call16.MeterValues(
                    connector_id=1,
                    transaction_id=start.transaction_id,
                    meter_value=[
                        {"timestamp": ts(120), "sampledValue": [{"value": "42.0", "unit": "kWh"}]}
                    ],
                )
            )
            stop = await client.call(
                call16.StopTransaction(
                    transaction_id=start.transaction_id,
                    meter_stop=42_750,
                    timestamp=ts(180),
                    id_tag="TAG",
                )
            )
            assert stop.id_tag_info["status"] == "Accepted"
        finally:
            await client.close()
    (tx,) = await transactions(env)
    assert (tx.meter_start_wh, tx.meter_stop_wh, tx.live_energy_register_wh) == (
        40_000,
        42_750,
        42_000,
    )
    assert tx.stopped_at is not None


async def test_restart_in_the_middle_of_a_201_transaction(env: dict[str, str]) -> None:
    await run("stations", "add", "CS-1", env=env)

    def event(
        kind: str, seq: int, wh: int, context: str = "Sample.Periodic"
    ) -> call201.TransactionEvent:
        return call201.TransactionEvent(
            event_type=kind,
            timestamp=ts(seq * 60),
            trigger_reason="MeterValuePeriodic",
            seq_no=seq,
            transaction_info={"transactionId": "T-1"},
            evse={"id": 2, "connectorId": 1},
            meter_value=[
                {"timestamp": ts(seq * 60), "sampledValue": [{"value": wh, "context": context}]}
            ],
        )

    async with serve(env) as first:
        client = await connect(first.ocpp_url, "CS-1", version="2.0.1")
        await client.call(
            call201.BootNotification(
                charging_station={"model": "M", "vendor_name": "V"}, reason="PowerUp"
            )
        )
        await client.call(event("Started", 0, 10_000, "Transaction.Begin"))
        await client.call(event("Updated", 1, 12_000))
        await _kill(first)
        await client.close()
    async with serve(env) as second:
        # The station reconnects without booting again and replays what it was not sure about.
        client = await connect(second.ocpp_url, "CS-1", version="2.0.1")
        try:
            await client.call(event("Updated", 1, 12_000))
            await client.call(event("Ended", 2, 15_500, "Transaction.End"))
        finally:
            await client.close()
    (tx,) = await transactions(env)
    assert (tx.meter_start_wh, tx.meter_stop_wh, tx.evse_id) == (10_000, 15_500, 2)


async def test_serve_refuses_production_without_jwt_secret(env: dict[str, str]) -> None:
    without_secret = {k: v for k, v in env.items() if k != "EVCHARGE_JWT_SECRET"}
    code, out = await run("serve", env=without_secret)
    assert code == 2 and "EVCHARGE_JWT_SECRET is required in production" in out


async def test_serve_refuses_a_node_timeout_a_live_process_could_exceed(
    env: dict[str, str],
) -> None:
    too_short = {
        **env,
        "EVCHARGE_NODE_HEARTBEAT_INTERVAL": "30",
        "EVCHARGE_NODE_TIMEOUT": "45",
    }
    code, out = await run("serve", env=too_short)
    assert code == 2 and "EVCHARGE_NODE_TIMEOUT must be at least twice" in out


async def test_users_add_then_sign_in_over_the_api(env: dict[str, str]) -> None:
    import re

    import httpx

    code, out = await run(
        "users",
        "add",
        "root@example.com",
        "--role",
        "admin",
        "--password",
        "root password 1",
        env=env,
    )
    assert code == 0 and "admin" in out
    async with serve(env) as server:
        match = await wait_for(
            lambda: re.search(r"API listening on (http://\S+)", "".join(server.output)),
            timeout=20,
            what="the API's start line",
        )
        async with httpx.AsyncClient(base_url=match.group(1)) as client:
            token = await client.post(
                "/api/v1/auth/token",
                data={"username": "root@example.com", "password": "root password 1"},
            )
            assert token.status_code == 200
            me = await client.get(
                "/api/v1/auth/me",
                headers={"Authorization": f"Bearer {token.json()['access_token']}"},
            )
            assert me.json()["role"] == "admin"


async def station_row(env: dict[str, str], station_id: str) -> Any:
    engine = create_engine(env["EVCHARGE_DATABASE_URL"])
    try:
        async with session_factory(engine)() as session:
            return await session.get(StationRow, station_id)
    finally:
        await engine.dispose()


async def test_stations_of_a_killed_process_are_marked_disconnected(tmp_path: Path) -> None:
    """Two central-system processes share a database; one is killed (SIGKILL) with a station
    connected. The other notices the process is gone (not seen for EVCHARGE_NODE_TIMEOUT) and
    records the station as disconnected, with its StationDisconnected outbox row for the
    bridge; a station connected to the living process stays connected."""
    env = cli_env(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'cs.db'}",
        ocpp_port="0",
        outbox="true",
        node_heartbeat_interval="0.2",
        node_timeout="1",
    )
    for station_id in ("CP-1", "CP-2"):
        await run("stations", "add", station_id, env=env)
    async with serve(env) as survivor, serve(env) as doomed:
        on_doomed = await connect(doomed.ocpp_url, "CP-1")
        on_survivor = await connect(survivor.ocpp_url, "CP-2")
        try:
            for client in (on_doomed, on_survivor):
                await client.call(
                    call16.BootNotification(charge_point_model="M", charge_point_vendor="V")
                )
            assert (await station_row(env, "CP-1")).connected
            await _kill(doomed)

            async def released() -> bool:
                return not (await station_row(env, "CP-1")).connected

            await wait_for(released, 20, what="CP-1 recorded as disconnected")
            assert (await station_row(env, "CP-2")).connected
            assert (await station_row(env, "CP-1")).connected_node is None
            engine = create_engine(env["EVCHARGE_DATABASE_URL"])
            try:
                async with session_factory(engine)() as session:
                    payloads = list(
                        await session.scalars(
                            select(OutboxRow.payload)
                            .where(OutboxRow.station_id == "CP-1")
                            .order_by(OutboxRow.id)  # type: ignore[arg-type]
                        )
                    )
            finally:
                await engine.dispose()
            assert '"event":"disconnected"' in payloads[-1].replace(" ", ""), payloads
        finally:
            await on_doomed.close()
            await on_survivor.close()
