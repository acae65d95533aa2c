"""App charging sessions: pay, start, watch, stop, receipt (the driver flow of the REST API).

start: pre-authorize the card -> issue a short-lived charging authorization (an id token of type
Central, registered for this session only) -> remote start. The station's transaction with that
token links to the session. When the transaction ends: capture the final price, write the receipt
(insert-only) and delete the charging authorization, in one unit of work with a ReceiptIssued
event. A failed start releases the hold. `reconcile` repeats whatever a crash interrupted; every
payment call carries an idempotency key, so repeating one changes nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import timedelta
from decimal import Decimal

from central_system.domain import sessions as rules
from central_system.domain.accounts import (
    Principal,
    Role,
    may_charge,
    may_control_session,
    may_view_session,
)
from central_system.domain.authorization import AuthorizationStatus, IdToken, IdTokenRecord
from central_system.domain.connectors import ConnectorStatus
from central_system.domain.events import ReceiptIssued
from central_system.domain.payments import (
    PaymentEventKind,
    PreauthPolicy,
    Settlement,
    preauthorization_amount,
    settle,
)
from central_system.domain.receipts import Receipt, issue
from central_system.domain.reservations import ReservationStatus
from central_system.domain.sessions import ChargingSession, LiveView, SessionStatus
from central_system.domain.tariffs import price
from central_system.domain.transactions import Transaction
from central_system.services.errors import (
    Conflict,
    Forbidden,
    InvalidRequest,
    NotFound,
    PaymentRequired,
)
from central_system.services.ports import (
    Clock,
    DuplicateReceipt,
    IdGenerator,
    Page,
    PaymentDeclined,
    PaymentEvent,
    PaymentProvider,
    StationCallError,
    StationCallTimeout,
    StationControl,
    StationOffline,
    UnitOfWork,
    UnitOfWorkFactory,
)

log = logging.getLogger(__name__)

CHARGING_AUTHORIZATION_TYPE = "Central"
# Connector states in which a remote start can work (Reserved: for the holder's reservation).
STARTABLE = frozenset(
    {ConnectorStatus.AVAILABLE, ConnectorStatus.PREPARING, ConnectorStatus.RESERVED}
)
MAX_BATTERY_CAPACITY_WH = rules.MAX_BATTERY_WH


@dataclass(frozen=True, slots=True)
class SessionView:
    """A session as the app shows it: the session, its live values and its receipt, if any."""

    session: ChargingSession
    live: LiveView
    receipt_id: str | None = None


@dataclass(frozen=True, slots=True)
class StopResult:
    session: ChargingSession
    station_status: str | None


class ChargingService:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        clock: Clock,
        control: StationControl,
        payments: PaymentProvider,
        ids: IdGenerator,
        *,
        authorization_lifetime: timedelta,
        start_timeout: timedelta,
        preauth_policy: PreauthPolicy | None = None,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._control = control
        self._payments = payments
        self._ids = ids
        self._authorization_lifetime = authorization_lifetime
        self._start_timeout = start_timeout
        self._policy = preauth_policy or PreauthPolicy()

    # --- start ---------------------------------------------------------------------------------

    async def start(
        self,
        principal: Principal,
        *,
        station_id: str,
        evse_id: int,
        card_token: str,
        battery_capacity_wh: int | None = None,
        reservation_id: int | None = None,
    ) -> ChargingSession:
        """Pre-authorize, issue the charging authorization, send the remote start.

        Raises NotFound, InvalidRequest, Conflict, PaymentRequired, or the station errors
        (StationOffline, StationCallTimeout, StationCallError): on any failure after the hold the
        hold is released and the authorization deleted."""
        if not may_charge(principal):
            raise Forbidden("you may not charge")
        if (
            battery_capacity_wh is not None
            and not 0 < battery_capacity_wh <= MAX_BATTERY_CAPACITY_WH
        ):
            raise InvalidRequest(f"battery capacity is between 1 and {MAX_BATTERY_CAPACITY_WH} Wh")
        now = self._clock.now()
        session_id = self._ids.uuid()
        async with self._uow() as uow:
            site = await uow.catalog.get_site(station_id)
            station = await uow.stations.get(station_id)
            if site is None or station is None:
                raise NotFound(f"no station {station_id}")
            if evse_id not in {c.evse_id for c in site.connectors}:
                raise InvalidRequest(f"station {station_id} has no EVSE {evse_id}")
            if not station.connected:
                raise StationOffline(f"station {station_id} is not connected")
            tariff = await uow.catalog.current_tariff(station_id, now)
            if tariff is None:
                raise Conflict("the station has no tariff yet", problem="no-tariff")
            states = [s for s in await uow.connectors.list(station_id) if s.key.evse_id == evse_id]
            busy = [s.status for s in states if s.status not in STARTABLE]
            if busy:
                raise Conflict(
                    f"the connector is {busy[0].value}",
                    problem="connector-unavailable",
                    connector_status=busy[0].value,
                )
            if await uow.charging_sessions.open_for_evse(station_id, evse_id) is not None:
                raise Conflict("another session is starting here", problem="connector-busy")
            reservation = await uow.reservations.active_for_evse(station_id, evse_id, now)
            if reservation is not None and reservation.user_id != principal.user_id:
                raise Conflict("the connector is reserved", problem="connector-reserved")
            if reservation_id is not None and (
                reservation is None or reservation.id != reservation_id
            ):
                raise InvalidRequest(
                    f"reservation {reservation_id} is not active for this connector"
                )
            token = reservation.id_token if reservation is not None else self._ids.token()
            session = ChargingSession(
                id=session_id,
                user_id=principal.user_id,
                station_id=station_id,
                evse_id=evse_id,
                id_token=token,
                remote_start_id=self._ids.integer(),
                tariff_id=tariff.id,
                tariff=tariff.tariff,
                status=SessionStatus.STARTING,
                created_at=now,
                battery_capacity_wh=battery_capacity_wh,
                reservation_id=reservation.id if reservation is not None else None,
            )
            await uow.charging_sessions.add(session)
            await uow.commit()

        amount = preauthorization_amount(tariff.tariff, self._policy)
        try:
            hold = await self._payments.preauthorize(
                card_token, amount, tariff.tariff.currency, idempotency_key=f"{session_id}:hold"
            )
        except PaymentDeclined as error:
            async with self._uow() as uow:
                await uow.payments.add(self._payment(session, PaymentEventKind.DECLINED, amount))
                await uow.charging_sessions.save(
                    rules.fail(session, f"payment declined: {error}", self._clock.now())
                )
                await uow.commit()
            raise PaymentRequired(f"the payment was declined: {error}") from error

        session = replace(session, payment_reference=hold.reference, preauthorized_amount=amount)
        async with self._uow() as uow:
            await uow.payments.add(
                self._payment(session, PaymentEventKind.PREAUTHORIZED, amount, hold.reference)
            )
            await uow.tokens.save(
                IdTokenRecord(
                    value=token,
                    status=AuthorizationStatus.ACCEPTED,
                    type=CHARGING_AUTHORIZATION_TYPE,
                    expires_at=now + self._authorization_lifetime,
                )
            )
            if reservation is not None:
                await uow.reservations.save(
                    replace(reservation, status=ReservationStatus.USED, ended_at=now)
                )
            await uow.charging_sessions.save(session)
            await uow.commit()

        try:
            answer = await self._control.remote_start(
                station_id,
                IdToken(token, CHARGING_AUTHORIZATION_TYPE),
                evse_id=evse_id,
                remote_start_id=session.remote_start_id,
            )
        except (StationOffline, StationCallTimeout, StationCallError, ValueError) as error:
            await self.abandon(session.id, f"remote start failed: {type(error).__name__}")
            raise
        if not answer.accepted:
            await self.abandon(session.id, f"the station answered {answer.status}")
            raise Conflict(
                f"the station answered {answer.status} to the remote start",
                problem="remote-start-rejected",
                station_status=answer.status,
            )
        async with self._uow() as uow:
            current = await uow.charging_sessions.get(session.id, for_update=True)
            assert current is not None
            if current.status is SessionStatus.STARTING:
                current = replace(current, status=SessionStatus.PENDING)
                await uow.charging_sessions.save(current)
                await uow.commit()
        return current

    def _payment(
        self,
        session: ChargingSession,
        kind: PaymentEventKind,
        amount: Decimal,
        reference: str | None = None,
    ) -> PaymentEvent:
        return PaymentEvent(
            session_id=session.id,
            kind=kind,
            amount=amount,
            currency=session.tariff.currency,
            provider=self._payments.name,
            reference=reference or session.payment_reference,
            at=self._clock.now(),
        )

    async def abandon(self, session_id: str, reason: str) -> None:
        """End a session that never charged: release the hold, delete the authorization."""
        async with self._uow() as uow:
            session = await uow.charging_sessions.get(session_id)
        if session is None or not session.open or session.transaction_row_id is not None:
            return
        if session.payment_reference is not None:
            await self._payments.release(
                session.payment_reference, idempotency_key=f"{session.id}:release"
            )
        async with self._uow() as uow:
            current = await uow.charging_sessions.get(session_id, for_update=True)
            if current is None or not current.open or current.transaction_row_id is not None:
                return
            if current.payment_reference is not None:
                await uow.payments.add(
                    self._payment(
                        current,
                        PaymentEventKind.RELEASED,
                        current.preauthorized_amount or Decimal(0),
                    )
                )
            await uow.token_registry.delete(current.id_token)
            await uow.charging_sessions.save(rules.fail(current, reason, self._clock.now()))
            await uow.commit()
        log.info("session %s failed: %s", session_id, reason)

    # --- stop ----------------------------------------------------------------------------------

    async def stop(self, principal: Principal, session_id: str) -> StopResult:
        """Remote stop. A session whose transaction has not started is cancelled instead."""
        session = await self._visible(principal, session_id)
        if not may_control_session(principal, session.user_id):
            raise Forbidden("only the driver who started the session stops it")
        if not session.open:
            raise Conflict(f"the session is {session.status.value}", problem="session-ended")
        if session.transaction_id is None:
            await self.abandon(session.id, "cancelled by the driver")
            return StopResult(await self._get(session.id), None)
        answer = await self._control.remote_stop(session.station_id, session.transaction_id)
        if not answer.accepted:
            raise Conflict(
                f"the station answered {answer.status} to the remote stop",
                problem="remote-stop-rejected",
                station_status=answer.status,
            )
        async with self._uow() as uow:
            current = await uow.charging_sessions.get(session.id, for_update=True)
            assert current is not None
            if current.status is SessionStatus.CHARGING:
                current = replace(current, status=SessionStatus.STOPPING)
                await uow.charging_sessions.save(current)
                await uow.commit()
        return StopResult(current, answer.status)

    # --- transactions -> sessions --------------------------------------------------------------

    async def transaction_started(self, transaction: Transaction) -> None:
        """Link the session whose charging authorization started this transaction."""
        if transaction.id_token is None:
            return
        async with self._uow() as uow:
            session = await uow.charging_sessions.open_for_token(
                transaction.station_id, transaction.id_token.value
            )
            if session is None or session.transaction_row_id is not None:
                return
            session = await uow.charging_sessions.get(session.id, for_update=True)
            if session is None or session.transaction_row_id is not None:
                return
            await uow.charging_sessions.save(rules.link_transaction(session, transaction))
            await uow.commit()
        log.info("session %s: transaction %s started", session.id, transaction.transaction_id)

    async def transaction_ended(self, transaction: Transaction) -> Receipt | None:
        """Capture, write the receipt and delete the charging authorization (idempotent)."""
        if transaction.id_token is None:
            return None
        async with self._uow() as uow:
            session = await uow.charging_sessions.open_for_token(
                transaction.station_id, transaction.id_token.value
            )
        if session is None:
            return None
        if session.transaction_row_id is None:
            await self.transaction_started(transaction)
            session = await self._get(session.id)
        if session.transaction_row_id != transaction.row_id:
            return None
        return await self._finish(session, transaction)

    async def _finish(self, session: ChargingSession, transaction: Transaction) -> Receipt | None:
        if transaction.stopped_at is None:
            return None
        breakdown_total = price(
            session.tariff,
            energy_wh=transaction.energy_wh or 0,
            duration=transaction.stopped_at - transaction.started_at,
        ).total
        authorized = session.preauthorized_amount or Decimal(0)
        settlement = settle(authorized, breakdown_total)
        captured_reference: str | None = None
        if session.payment_reference is not None:
            if settlement.release_only:
                await self._payments.release(
                    session.payment_reference, idempotency_key=f"{session.id}:release"
                )
            else:
                try:
                    captured_reference = await self._payments.capture(
                        session.payment_reference,
                        settlement.capture,
                        idempotency_key=f"{session.id}:capture",
                    )
                except PaymentDeclined as error:
                    log.warning("session %s: capture refused (%s); releasing", session.id, error)
                    await self._payments.release(
                        session.payment_reference, idempotency_key=f"{session.id}:release"
                    )
                    settlement = Settlement(Decimal(0), breakdown_total)
        else:
            settlement = Settlement(Decimal(0), breakdown_total)
        now = self._clock.now()
        receipt = issue(self._ids.uuid(), session, transaction, settlement, now)
        async with self._uow() as uow:
            current = await uow.charging_sessions.get(session.id, for_update=True)
            if current is None or current.status is SessionStatus.COMPLETED:
                return None
            try:
                await uow.receipts.add(receipt)
            except DuplicateReceipt:
                return None
            kind = (
                PaymentEventKind.RELEASED if settlement.release_only else PaymentEventKind.CAPTURED
            )
            if session.payment_reference is not None:
                amount = authorized if settlement.release_only else settlement.capture
                await uow.payments.add(self._payment(session, kind, amount, captured_reference))
            await uow.token_registry.delete(session.id_token)
            await uow.charging_sessions.save(
                replace(current, status=SessionStatus.COMPLETED, ended_at=transaction.stopped_at)
            )
            uow.record(ReceiptIssued(receipt))
            await uow.commit()
        log.info(
            "session %s: receipt %s, %s Wh, %s %s",
            session.id,
            receipt.id,
            receipt.price.energy_wh,
            receipt.price.total,
            receipt.price.currency,
        )
        return receipt

    async def reconcile(self) -> int:
        """Bring every open session up to date with its transaction: link started ones, finish
        ended ones (a receipt is never lost to a crash), abandon those that never started.
        Returns the number of sessions changed.

        It reads in reading units of work, and the transactions of the sessions it already
        linked in one query: most of them are running and need nothing, and on SQLite a
        write-locking read per session every few seconds held up the group-commit writer
        (every station's answer) once per open session."""
        async with self._uow.reading() as uow:
            sessions = await uow.charging_sessions.open_sessions()
            linked = await uow.transaction_queries.by_row_ids(
                {s.transaction_row_id for s in sessions if s.transaction_row_id is not None}
            )
        changed = 0
        for session in sessions:
            running = linked.get(session.transaction_row_id or 0)
            if running is not None and not running.ended:
                continue  # started, linked and not ended: nothing to bring up to date
            try:
                changed += await self._reconcile_one(session)
            except Exception:
                log.exception("session %s could not be reconciled", session.id)
        return changed

    async def _reconcile_one(self, session: ChargingSession) -> int:
        async with self._uow.reading() as uow:
            transaction = await self._transaction_of(uow, session)
        if transaction is None:
            if rules.start_timed_out(session, self._clock.now(), self._start_timeout):
                await self.abandon(session.id, "no transaction started in time")
                return 1
            return 0
        if session.transaction_row_id is None:
            await self.transaction_started(transaction)
            session = await self._get(session.id)
            if not transaction.ended:
                return 1
        if transaction.ended:
            return 1 if await self._finish(session, transaction) is not None else 0
        return 0

    @staticmethod
    async def _transaction_of(uow: UnitOfWork, session: ChargingSession) -> Transaction | None:
        if session.transaction_row_id is not None:
            return await uow.transaction_queries.get_by_row_id(session.transaction_row_id)
        if session.status is SessionStatus.STARTING:
            return None  # still being started by its request
        found = await uow.transaction_queries.by_token(session.station_id, session.id_token)
        if found is not None and found.started_at >= session.created_at - timedelta(minutes=5):
            return found
        return None

    # --- views ---------------------------------------------------------------------------------

    async def _get(self, session_id: str) -> ChargingSession:
        async with self._uow.reading() as uow:
            session = await uow.charging_sessions.get(session_id)
        if session is None:
            raise NotFound(f"no session {session_id}")
        return session

    async def _visible(self, principal: Principal, session_id: str) -> ChargingSession:
        """The session if the caller may see it; NotFound otherwise (its existence is not told)."""
        async with self._uow.reading() as uow:
            session = await uow.charging_sessions.get(session_id)
            site = await uow.catalog.get_site(session.station_id) if session else None
        if session is None or not may_view_session(
            principal, session.user_id, site.owner_id if site else None
        ):
            raise NotFound(f"no session {session_id}")
        return session

    async def view(self, principal: Principal, session_id: str) -> SessionView:
        session = await self._visible(principal, session_id)
        return await self.view_of(session)

    async def view_of(self, session: ChargingSession) -> SessionView:
        async with self._uow.reading() as uow:
            transaction = None
            if session.transaction_row_id is not None:
                transaction = await uow.transaction_queries.get_by_row_id(
                    session.transaction_row_id
                )
            receipt = await uow.receipts.latest_for_session(session.id)
        live = rules.live_view(session, transaction, self._clock.now())
        return SessionView(session, live, receipt.id if receipt else None)

    async def visible(self, principal: Principal, session_id: str) -> ChargingSession:
        return await self._visible(principal, session_id)

    async def list(
        self,
        principal: Principal,
        *,
        status: SessionStatus | None,
        limit: int,
        offset: int,
    ) -> Page[ChargingSession]:
        """A driver's own sessions; an owner's own and those on their stations; all for admins."""
        user = None if principal.is_admin else principal.user_id
        owner = principal.user_id if principal.role is Role.OWNER else None
        async with self._uow() as uow:
            return await uow.charging_sessions.list(
                user_id=user, owner_id=owner, status=status, limit=limit, offset=offset
            )

    # --- receipts ------------------------------------------------------------------------------

    async def receipt(self, principal: Principal, receipt_id: str) -> Receipt:
        async with self._uow() as uow:
            receipt = await uow.receipts.get(receipt_id)
            site = await uow.catalog.get_site(receipt.station_id) if receipt else None
        if receipt is None or not may_view_session(
            principal, receipt.user_id, site.owner_id if site else None
        ):
            raise NotFound(f"no receipt {receipt_id}")
        return receipt

    async def receipt_of_session(self, principal: Principal, session_id: str) -> Receipt:
        session = await self._visible(principal, session_id)
        async with self._uow() as uow:
            receipt = await uow.receipts.latest_for_session(session.id)
        if receipt is None:
            raise NotFound(f"session {session_id} has no receipt yet", problem="no-receipt-yet")
        return receipt

    async def receipts(self, principal: Principal, *, limit: int, offset: int) -> Page[Receipt]:
        user = None if principal.is_admin else principal.user_id
        owner = principal.user_id if principal.role is Role.OWNER else None
        async with self._uow() as uow:
            return await uow.receipts.list(user_id=user, owner_id=owner, limit=limit, offset=offset)

    async def get_session(self, session_id: str) -> ChargingSession:
        return await self._get(session_id)

    def live_of(self, session: ChargingSession, transaction: Transaction) -> LiveView:
        """The live view from a transaction as an event carried it (no database read)."""
        return rules.live_view(session, transaction, self._clock.now())

    async def station_transactions(
        self, station_id: str, *, limit: int, offset: int
    ) -> Page[Transaction]:
        async with self._uow() as uow:
            return await uow.transaction_queries.list_for_station(
                station_id, limit=limit, offset=offset
            )

    async def count_active_transactions(self) -> int:
        async with self._uow() as uow:
            return await uow.transaction_queries.count_active()
