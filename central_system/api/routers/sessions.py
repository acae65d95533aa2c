"""App charging sessions: start with a payment, watch live (GET and Server-Sent Events), stop,
receipt."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterable
from typing import Annotated

from fastapi import APIRouter, Path, Query, status
from fastapi.responses import StreamingResponse

from central_system.api import convert
from central_system.api import schemas as s
from central_system.api.context import ApiContext
from central_system.api.deps import Caller, Ctx, Pages
from central_system.api.problems import error_responses
from central_system.domain.events import (
    DomainEvent,
    MeterValuesReceived,
    ReceiptIssued,
    TransactionEnded,
    TransactionStarted,
)
from central_system.domain.sessions import ChargingSession, SessionStatus
from central_system.domain.transactions import Transaction

router = APIRouter(prefix="/api/v1/sessions", tags=["sessions"])

SessionPath = Annotated[str, Path(min_length=1, max_length=36)]
START_ERRORS = error_responses(401, 402, 403, 404, 409, 422, 502, 504)


@router.post(
    "",
    response_model=s.SessionOut,
    status_code=status.HTTP_201_CREATED,
    summary="Pay and start charging",
    responses=START_ERRORS,
)
async def start(ctx: Ctx, caller: Caller, body: s.SessionIn) -> s.SessionOut:
    """Pre-authorizes the card for the station's tariff, issues a charging authorization valid
    for this session only and sends the remote start. 201: the station accepted and the session
    is Pending until the car starts charging (then Charging). 402: payment declined; 409: the
    station is offline, busy or refused (`station_status`); 504: no answer in time."""
    capacity = body.battery_capacity_kwh
    session = await ctx.charging.start(
        caller,
        station_id=body.station_id,
        evse_id=body.evse_id,
        card_token=body.payment.card_token,
        battery_capacity_wh=int(capacity * 1000) if capacity is not None else None,
        reservation_id=body.reservation_id,
    )
    return convert.session_view(await ctx.charging.view_of(session))


@router.get(
    "",
    response_model=s.PageOut[s.SessionOut],
    summary="Your sessions (owners: also those on their stations; admins: all)",
    responses=error_responses(401, 422),
)
async def list_sessions(
    ctx: Ctx,
    caller: Caller,
    pages: Pages,
    status_filter: Annotated[SessionStatus | None, Query(alias="status")] = None,
) -> s.PageOut[s.SessionOut]:
    found = await ctx.charging.list(
        caller, status=status_filter, limit=pages.limit, offset=pages.offset
    )
    return convert.page([convert.session(x) for x in found.items], found, pages.limit, pages.offset)


@router.get(
    "/{session_id}",
    response_model=s.SessionOut,
    summary="Live view: SoC, power, energy, elapsed time, cost so far, time to 80 % and full",
    responses=error_responses(401, 404, 422),
)
async def get_session(ctx: Ctx, caller: Caller, session_id: SessionPath) -> s.SessionOut:
    return convert.session_view(await ctx.charging.view(caller, session_id))


@router.post(
    "/{session_id}/stop",
    response_model=s.StopOut,
    summary="Stop charging (remote stop); a session not yet charging is cancelled",
    responses=error_responses(401, 403, 404, 409, 422, 502, 504),
)
async def stop(ctx: Ctx, caller: Caller, session_id: SessionPath) -> s.StopOut:
    """The session ends when the station reports the transaction's end; then the receipt is
    written and the charging authorization deleted."""
    result = await ctx.charging.stop(caller, session_id)
    view = await ctx.charging.view_of(result.session)
    return s.StopOut(session=convert.session_view(view), station_status=result.station_status)


@router.get(
    "/{session_id}/receipt",
    response_model=s.ReceiptOut,
    summary="The session's receipt (the latest correction, if any)",
    responses=error_responses(401, 404, 422),
)
async def session_receipt(ctx: Ctx, caller: Caller, session_id: SessionPath) -> s.ReceiptOut:
    return convert.receipt(await ctx.charging.receipt_of_session(caller, session_id))


@router.get(
    "/{session_id}/stream",
    summary="Server-Sent Events: every new meter value, state changes, the receipt",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "`text/event-stream`: events `session` (a state change), `meter` "
            "(a new meter value) and `receipt` (the last one), each with a session as in "
            "GET /sessions/{id}; comments as keep-alives.",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        },
        **error_responses(401, 404, 422),
    },
)
async def stream(ctx: Ctx, caller: Caller, session_id: SessionPath) -> StreamingResponse:
    session = await ctx.charging.visible(caller, session_id)
    queue: asyncio.Queue[DomainEvent | None] = asyncio.Queue()

    def relevant(event: DomainEvent) -> bool:
        if isinstance(event, ReceiptIssued):
            return event.receipt.session_id == session.id
        if isinstance(event, MeterValuesReceived | TransactionStarted | TransactionEnded):
            return _ours(session, event.transaction)
        return False

    def on_events(events: Iterable[DomainEvent]) -> None:
        for event in events:
            if relevant(event):
                queue.put_nowait(event)

    ctx.events.subscribe(  # before the first snapshot: nothing falls in between
        on_events, ReceiptIssued, MeterValuesReceived, TransactionStarted, TransactionEnded
    )
    ctx.streams.add(queue)
    return StreamingResponse(
        _events(ctx, session, queue, on_events),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def _ours(session: ChargingSession, transaction: Transaction | None) -> bool:
    if transaction is None or transaction.station_id != session.station_id:
        return False
    if session.transaction_row_id is not None:
        return transaction.row_id == session.transaction_row_id
    return transaction.id_token is not None and transaction.id_token.value == session.id_token


def _sse(event: str, number: int, body: s.SessionOut) -> str:
    data = json.dumps(json.loads(body.model_dump_json()), separators=(",", ":"))
    return f"event: {event}\nid: {number}\ndata: {data}\n\n"


async def _events(
    ctx: ApiContext,
    session: ChargingSession,
    queue: asyncio.Queue[DomainEvent | None],
    subscriber: object,
) -> AsyncIterator[str]:
    number = 0
    try:
        view = await ctx.charging.view_of(session)
        number += 1
        yield _sse("session", number, convert.session_view(view))
        if view.receipt_id is not None or session.status is SessionStatus.FAILED:
            return
        while not ctx.shutting_down.is_set():
            try:
                event = await asyncio.wait_for(queue.get(), ctx.settings.sse_keepalive)
            except TimeoutError:
                yield ": keep-alive\n\n"
                current = await ctx.charging.get_session(session.id)
                if current.status is SessionStatus.FAILED:  # never started: nothing will come
                    number += 1
                    view = await ctx.charging.view_of(current)
                    yield _sse("session", number, convert.session_view(view))
                    return
                continue
            if event is None:  # shutting down
                return
            number += 1
            if isinstance(event, MeterValuesReceived) and event.transaction is not None:
                session = await ctx.charging.get_session(session.id)
                live = ctx.charging.live_of(session, event.transaction)
                yield _sse("meter", number, convert.session(session, live))
            elif isinstance(event, ReceiptIssued):
                view = await ctx.charging.view_of(await ctx.charging.get_session(session.id))
                yield _sse("receipt", number, convert.session_view(view))
                return
            else:
                view = await ctx.charging.view_of(await ctx.charging.get_session(session.id))
                session = view.session
                yield _sse("session", number, convert.session_view(view))
    finally:
        ctx.events.unsubscribe(subscriber)  # type: ignore[arg-type]
        ctx.streams.discard(queue)
