"""Domain objects -> response bodies."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, TypeVar

from central_system.api import schemas as s
from central_system.domain.accounts import Account
from central_system.domain.connectors import ConnectorState, ConnectorStatus
from central_system.domain.receipts import Receipt
from central_system.domain.reservations import Reservation
from central_system.domain.sessions import ChargingSession, LiveView
from central_system.domain.tariffs import PriceBreakdown, Tariff
from central_system.domain.transactions import Transaction
from central_system.services.catalog import StationView
from central_system.services.charging import SessionView
from central_system.services.ports import AuditEntry, Page, TariffRecord

T = TypeVar("T")
KILO = Decimal(1000)
ENERGY_KWH = Decimal("0.001")
WHOLE = Decimal(1)


def kwh(wh: int) -> Decimal:
    return (Decimal(wh) / KILO).quantize(ENERGY_KWH)


def kw(w: Decimal | None) -> Decimal | None:
    return None if w is None else (w / KILO).quantize(ENERGY_KWH)


def percent(value: Decimal | None) -> Decimal | None:
    """An SoC as stations send it ("40", "55.5"), whether it comes from a meter value in memory
    or from its NUMERIC(9, 3) column ("40.000")."""
    if value is None:
        return None
    normal = value.normalize()
    return normal.quantize(WHOLE) if normal == normal.to_integral_value() else normal


def page(items: list[T], source: Page[Any], limit: int, offset: int) -> s.PageOut[T]:
    return s.PageOut[T](items=items, total=source.total, limit=limit, offset=offset)


def account(a: Account) -> s.AccountOut:
    return s.AccountOut(id=a.id, email=a.email, role=a.role, guest=a.guest, created_at=a.created_at)


def tariff(t: Tariff) -> s.TariffIn:
    return s.TariffIn(
        currency=t.currency, per_kwh=t.per_kwh, per_minute=t.per_minute, session_fee=t.session_fee
    )


def tariff_record(t: TariffRecord | None) -> s.TariffOut | None:
    if t is None:
        return None
    return s.TariffOut(**tariff(t.tariff).model_dump(), valid_from=t.valid_from)


def connectors(view: StationView) -> list[s.ConnectorOut]:
    states = {(c.key.evse_id, c.key.connector_id): c for c in view.connectors}
    return [
        s.ConnectorOut(
            evse_id=spec.evse_id,
            connector_id=spec.connector_id,
            standard=spec.standard,
            max_power_kw=kw(Decimal(spec.max_power_w)) or Decimal(0),
            status=state.status.value
            if (state := states.get((spec.evse_id, spec.connector_id)))
            else None,
            error_code=state.error_code if state else None,
        )
        for spec in view.site.connectors
    ]


def station(view: StationView) -> s.StationOut:
    return s.StationOut(
        id=view.site.station_id,
        name=view.site.name,
        location=s.Location(
            latitude=view.site.position.latitude, longitude=view.site.position.longitude
        ),
        address=view.site.address,
        online=view.record.connected,
        ocpp_version=view.record.ocpp_version,
        distance_km=round(view.distance_km, 3) if view.distance_km is not None else None,
        connectors=connectors(view),
        tariff=tariff_record(view.tariff),
    )


def _fault(state: ConnectorState) -> s.ConnectorOut:
    return s.ConnectorOut(
        evse_id=state.key.evse_id,
        connector_id=state.key.connector_id,
        standard="",
        max_power_kw=Decimal(0),
        status=state.status.value,
        error_code=state.error_code,
    )


def station_status(view: StationView, signal: dict[str, object] | None) -> s.StationStatusOut:
    record = view.record
    boot = record.boot_info
    faults = [
        _fault(c)
        for c in view.connectors
        if c.status is ConnectorStatus.FAULTED or c.error_code is not None
    ]
    return s.StationStatusOut(
        **station(view).model_dump(),
        owner_id=view.site.owner_id,
        registration_status=record.registration_status.value,
        security_profile=int(record.security_profile),
        vendor=boot.vendor if boot else None,
        model=boot.model if boot else None,
        firmware_version=boot.firmware_version if boot else None,
        last_boot_at=record.last_boot_at,
        last_heartbeat_at=record.last_heartbeat_at,
        last_connected_at=record.last_connected_at,
        last_disconnected_at=record.last_disconnected_at,
        faults=faults,
        signal=signal,
    )


def transaction(t: Transaction) -> s.TransactionOut:
    return s.TransactionOut(
        transaction_id=t.transaction_id,
        evse_id=t.key.evse_id,
        connector_id=t.key.connector_id,
        started_at=t.started_at,
        stopped_at=t.stopped_at,
        id_token=t.id_token.value if t.id_token else None,
        energy_wh=t.energy_wh,
        stop_reason=t.stop_reason,
    )


def reservation(r: Reservation) -> s.ReservationOut:
    return s.ReservationOut(
        id=r.id,
        station_id=r.station_id,
        evse_id=r.evse_id,
        status=r.status.value,
        created_at=r.created_at,
        expires_at=r.expires_at,
        ended_at=r.ended_at,
    )


def cost(p: PriceBreakdown) -> s.CostOut:
    return s.CostOut(
        currency=p.currency,
        energy=p.energy_cost,
        time=p.time_cost,
        session_fee=p.session_fee,
        total=p.total,
    )


def live(v: LiveView) -> s.LiveOut:
    return s.LiveOut(
        soc_percent=percent(v.soc_percent),
        power_kw=kw(v.power_w),
        energy_kwh=kwh(v.energy_wh),
        elapsed_s=int(v.elapsed.total_seconds()),
        cost=cost(v.cost),
        eta_80_s=int(v.time_to_80.total_seconds()) if v.time_to_80 is not None else None,
        eta_full_s=int(v.time_to_full.total_seconds()) if v.time_to_full is not None else None,
        sampled_at=v.sampled_at,
        battery_capacity_kwh=kwh(v.battery_capacity_wh) if v.battery_capacity_wh else None,
    )


def session(
    x: ChargingSession, live_view: LiveView | None = None, receipt_id: str | None = None
) -> s.SessionOut:
    return s.SessionOut(
        id=x.id,
        status=x.status.value,
        station_id=x.station_id,
        evse_id=x.evse_id,
        transaction_id=x.transaction_id,
        created_at=x.created_at,
        started_at=x.started_at,
        ended_at=x.ended_at,
        failure_reason=x.failure_reason,
        tariff=tariff(x.tariff),
        payment=s.PaymentOut(
            reference=x.payment_reference,
            preauthorized=x.preauthorized_amount,
            currency=x.tariff.currency,
        ),
        charging_authorization=s.ChargingAuthorizationOut(
            id_token=x.id_token, active=x.open and x.payment_reference is not None
        ),
        live=live(live_view) if live_view is not None else None,
        receipt_id=receipt_id,
    )


def session_view(v: SessionView) -> s.SessionOut:
    return session(v.session, v.live, v.receipt_id)


def receipt(r: Receipt) -> s.ReceiptOut:
    return s.ReceiptOut(
        id=r.id,
        session_id=r.session_id,
        sequence=r.sequence,
        corrects=r.corrects,
        note=r.note,
        station_id=r.station_id,
        evse_id=r.evse_id,
        transaction_id=r.transaction_id,
        started_at=r.started_at,
        stopped_at=r.stopped_at,
        duration_s=int(r.duration.total_seconds()),
        energy_wh=r.price.energy_wh,
        energy_kwh=kwh(r.price.energy_wh),
        tariff=tariff(r.tariff),
        cost=cost(r.price),
        captured=r.captured,
        uncollected=r.uncollected,
        payment_reference=r.payment_reference,
        issued_at=r.issued_at,
        keep_until=r.keep_until,
    )


def audit(e: AuditEntry) -> s.AuditOut:
    return s.AuditOut(
        id=e.id,
        at=e.at,
        action=e.action,
        outcome=e.outcome,
        actor_id=e.actor_id,
        actor=e.actor,
        target=e.target,
        source=e.source,
        details=e.details,
    )
