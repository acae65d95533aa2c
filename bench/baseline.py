"""The naive baseline: a central system written the way the `ocpp` package's documentation shows
(its "Central System" quick start and "Server side usage" pages), for 1.6 and 2.0.1 on one port.

Exactly what it does per message (bench/README.md repeats this):
* a `websockets.serve` server with the versions as subprotocols and websockets' defaults;
* per connection the docs' `on_connect`: check the requested subprotocol, take the station id
  from the path, build an `ocpp.v16.ChargePoint` / `ocpp.v201.ChargePoint` subclass and
  `await cp.start()`;
* `@on` handlers for BootNotification, Heartbeat, StatusNotification, StartTransaction,
  StopTransaction, MeterValues (1.6) and TransactionEvent, MeterValues (2.0.1) that return the
  library's `call_result` dataclasses. The library validates every request and response against
  the official JSON schemas (`jsonschema`, in the default thread pool) and converts every key
  between camelCase and snake_case;
* with `--store sqlite:///FILE` (the `baseline_orm` server of the benchmark), each handler also
  does what the docs' style invites: it stores every sampled value as a SQLAlchemy ORM row and
  commits, inline, once per message (SQLite with its default settings);
* logging at WARNING: the docs' example sets INFO, which makes the library log every frame
  twice; we leave that out so that the baseline is not slowed down by logging.

    python -m bench.baseline --port 9200 [--store sqlite:///baseline.db]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

import websockets
from ocpp.routing import on as _on
from ocpp.v16 import call_result as result16
from ocpp.v16.enums import AuthorizationStatus, RegistrationStatus
from ocpp.v201 import call_result as result201
from ocpp.v201.enums import RegistrationStatusEnumType
from sqlalchemy import DateTime, Integer, String, create_engine
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column
from websockets.typing import Subprotocol

if TYPE_CHECKING:  # the ocpp package has no type hints

    class _ChargePoint:
        id: str

        def __init__(self, id: str, connection: Any) -> None: ...
        async def start(self) -> None: ...

    class ChargePoint16Base(_ChargePoint): ...

    class ChargePoint201Base(_ChargePoint): ...
else:
    from ocpp.v16 import ChargePoint as ChargePoint16Base
    from ocpp.v201 import ChargePoint as ChargePoint201Base

F = TypeVar("F", bound=Callable[..., Any])
on: Callable[[str], Callable[[F], F]] = _on

_transaction_ids = itertools.count(1)
_engine: Engine | None = None


class Base(DeclarativeBase):
    pass


class MeterValue(Base):
    """One sampled value, the way a tutorial would model it."""

    __tablename__ = "meter_value"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    charge_point_id: Mapped[str] = mapped_column(String(48))
    transaction_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    timestamp: Mapped[datetime] = mapped_column(DateTime)
    measurand: Mapped[str | None] = mapped_column(String(40), nullable=True)
    phase: Mapped[str | None] = mapped_column(String(8), nullable=True)
    unit: Mapped[str | None] = mapped_column(String(20), nullable=True)
    value: Mapped[str] = mapped_column(String(32))


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _store(charge_point_id: str, transaction_id: Any, meter_value: list[dict[str, Any]]) -> None:
    """Persist every sampled value with one ORM commit (only with --store)."""
    if _engine is None:
        return
    with Session(_engine) as session:
        for mv in meter_value:
            at = datetime.fromisoformat(mv["timestamp"].replace("Z", "+00:00"))
            for sv in mv["sampled_value"]:
                unit = sv.get("unit") or (sv.get("unit_of_measure") or {}).get("unit")
                session.add(
                    MeterValue(
                        charge_point_id=charge_point_id,
                        transaction_id=str(transaction_id) if transaction_id else None,
                        timestamp=at,
                        measurand=sv.get("measurand"),
                        phase=sv.get("phase"),
                        unit=unit,
                        value=str(sv["value"]),
                    )
                )
        session.commit()


class ChargePoint16(ChargePoint16Base):
    @on("BootNotification")
    async def on_boot_notification(
        self, charge_point_vendor: str, charge_point_model: str, **kwargs: Any
    ) -> result16.BootNotification:
        return result16.BootNotification(
            current_time=_now(), interval=300, status=RegistrationStatus.accepted
        )

    @on("Heartbeat")
    async def on_heartbeat(self) -> result16.Heartbeat:
        return result16.Heartbeat(current_time=_now())

    @on("StatusNotification")
    async def on_status_notification(self, **kwargs: Any) -> result16.StatusNotification:
        return result16.StatusNotification()

    @on("StartTransaction")
    async def on_start_transaction(
        self, connector_id: int, id_tag: str, meter_start: int, timestamp: str, **kwargs: Any
    ) -> result16.StartTransaction:
        return result16.StartTransaction(
            transaction_id=next(_transaction_ids),
            id_tag_info={"status": AuthorizationStatus.accepted},
        )

    @on("StopTransaction")
    async def on_stop_transaction(self, **kwargs: Any) -> result16.StopTransaction:
        return result16.StopTransaction()

    @on("MeterValues")
    async def on_meter_values(
        self, connector_id: int, meter_value: list[dict[str, Any]], **kwargs: Any
    ) -> result16.MeterValues:
        _store(self.id, kwargs.get("transaction_id"), meter_value)
        return result16.MeterValues()


class ChargePoint201(ChargePoint201Base):
    @on("BootNotification")
    async def on_boot_notification(
        self, charging_station: dict[str, Any], reason: str, **kwargs: Any
    ) -> result201.BootNotification:
        return result201.BootNotification(
            current_time=_now(), interval=300, status=RegistrationStatusEnumType.accepted
        )

    @on("Heartbeat")
    async def on_heartbeat(self) -> result201.Heartbeat:
        return result201.Heartbeat(current_time=_now())

    @on("StatusNotification")
    async def on_status_notification(self, **kwargs: Any) -> result201.StatusNotification:
        return result201.StatusNotification()

    @on("TransactionEvent")
    async def on_transaction_event(
        self,
        event_type: str,
        timestamp: str,
        trigger_reason: str,
        seq_no: int,
        transaction_info: dict[str, Any],
        **kwargs: Any,
    ) -> result201.TransactionEvent:
        _store(self.id, transaction_info["transaction_id"], kwargs.get("meter_value", []))
        return result201.TransactionEvent()

    @on("MeterValues")
    async def on_meter_values(
        self, evse_id: int, meter_value: list[dict[str, Any]], **kwargs: Any
    ) -> result201.MeterValues:
        _store(self.id, None, meter_value)
        return result201.MeterValues()


async def on_connect(websocket: Any) -> None:
    """For every new charge point that connects, create a ChargePoint instance and start
    listening for messages (the docs' handler)."""
    try:
        requested_protocols = websocket.request.headers["Sec-WebSocket-Protocol"]
    except KeyError:
        logging.error("Client hasn't requested any Subprotocol. Closing Connection")
        await websocket.close()
        return
    if websocket.subprotocol:
        logging.info("Protocols Matched: %s", websocket.subprotocol)
    else:
        logging.warning(
            "Protocols Mismatched | Expected Subprotocols: %s, but client supports %s | "
            "Closing connection",
            websocket.available_subprotocols,
            requested_protocols,
        )
        await websocket.close()
        return
    charge_point_id = websocket.request.path.strip("/")
    cls = ChargePoint16 if websocket.subprotocol == "ocpp1.6" else ChargePoint201
    charge_point = cls(charge_point_id, websocket)
    with contextlib.suppress(websockets.exceptions.ConnectionClosed):
        await charge_point.start()


async def main_async(host: str, port: int) -> None:
    subprotocols = [Subprotocol("ocpp1.6"), Subprotocol("ocpp2.0.1")]
    server = await websockets.serve(on_connect, host, port, subprotocols=subprotocols)
    bound = server.sockets[0].getsockname()[1]
    print(f"BASELINE listening on ws://{host}:{bound}", flush=True)
    await server.wait_closed()


def main(argv: list[str] | None = None) -> int:
    global _engine
    parser = argparse.ArgumentParser(description="the ocpp documentation's central system")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9200)
    parser.add_argument(
        "--store", default=None, help="SQLAlchemy URL: store meter values, one commit each"
    )
    parser.add_argument("--log-level", default="WARNING", help="the docs use INFO")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper())
    if args.store:
        _engine = create_engine(args.store)
        Base.metadata.create_all(_engine)
    asyncio.run(main_async(args.host, args.port))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
