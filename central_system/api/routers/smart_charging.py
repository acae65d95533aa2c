"""Charging profiles of a station you manage, with the station's real answer: set, list, clear,
ask the station what it holds (2.x GetChargingProfiles), its composite schedule, and the
running cost of a transaction (TC_056/057/066/067, K01, K08-K10, I02)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from central_system.api.control_common import audited
from central_system.api.deps import Ctx, Operator, Pages
from central_system.api.problems import error_responses
from central_system.api.schemas import PageOut
from central_system.domain.accounts import Principal
from central_system.domain.load_management import LOAD_MANAGEMENT_PROFILE_ID
from central_system.domain.smart_charging import (
    ChargingLimitSource,
    ClearCriteria,
    ProfileRecord,
    ProfileSource,
    ProfileStatus,
    ReportCriteria,
)
from central_system.services.errors import Conflict, InvalidRequest, NotFound
from schemas.charging_profiles import (
    ChargingProfile,
    ProfileKind,
    ProfilePurpose,
    RateUnit,
    Recurrency,
    SchedulePeriod,
)

router = APIRouter(prefix="/api/v1/stations/{station_id}", tags=["smart charging"])

StationPath = Annotated[str, Path(min_length=1, max_length=48, description="Station id")]
ERRORS = error_responses(401, 403, 404, 409, 422, 502, 504)
Purpose = Literal["ChargingStationMaxProfile", "TxDefaultProfile", "TxProfile"]
T = TypeVar("T")


class PeriodIn(BaseModel):
    start_s: int = Field(ge=0, le=31 * 24 * 3600, description="Seconds from the schedule start.")
    limit: Decimal = Field(ge=0, le=10_000_000, max_digits=12, decimal_places=1)
    number_phases: int | None = Field(default=None, ge=1, le=3)


class ChargingProfileIn(BaseModel):
    """A charging profile, the same for OCPP 1.6 and 2.x (1.6 ChargePointMaxProfile is
    ChargingStationMaxProfile here). Limits are in the rate unit: W or A."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "purpose": "TxDefaultProfile",
                    "evse_id": 1,
                    "rate_unit": "A",
                    "periods": [{"start_s": 0, "limit": "16"}, {"start_s": 3600, "limit": "8"}],
                }
            ]
        }
    )
    id: int | None = Field(
        default=None,
        ge=1,
        lt=LOAD_MANAGEMENT_PROFILE_ID,
        description="chargingProfileId; a new one when absent. The same id replaces a profile.",
    )
    stack_level: int = Field(default=0, ge=0, le=100)
    purpose: Purpose
    kind: Literal["Absolute", "Recurring", "Relative"] = "Absolute"
    recurrency: Literal["Daily", "Weekly"] | None = None
    rate_unit: Literal["W", "A"] = "W"
    periods: list[PeriodIn] = Field(min_length=1, max_length=1024)
    evse_id: int = Field(default=0, ge=0, le=100, description="0: the whole station.")
    start_schedule: datetime | None = Field(
        default=None, description="Absolute / Recurring: when the schedule starts (default now)."
    )
    duration_s: int | None = Field(default=None, ge=1)
    valid_from: datetime | None = None
    valid_to: datetime | None = None
    transaction_id: str | None = Field(default=None, min_length=1, max_length=36)
    min_charging_rate: Decimal | None = Field(default=None, ge=0, max_digits=12, decimal_places=1)


class PeriodOut(BaseModel):
    start_s: int
    limit: Decimal
    number_phases: int | None = None


class ChargingProfileOut(BaseModel):
    id: int
    stack_level: int
    purpose: str
    kind: str
    recurrency: str | None
    rate_unit: str
    periods: list[PeriodOut]
    evse_id: int
    start_schedule: datetime | None
    duration_s: int | None
    valid_from: datetime | None
    valid_to: datetime | None
    transaction_id: str | None
    source: str = Field(description="operator, load_management, report or external")
    status: str = Field(
        description="sent, accepted, rejected, failed, replaced, cleared or reported"
    )
    status_info: str | None
    limit_source: str | None = Field(description="Reported / external: CSO, EMS, SO, Other")
    request_id: int | None
    created_at: datetime
    updated_at: datetime


class SetProfileOut(BaseModel):
    status: str | None = Field(description="The station's answer: Accepted or Rejected.")
    response: dict[str, Any] = Field(description="The station's answer as it was sent.")
    profile: ChargingProfileOut


class ClearIn(BaseModel):
    """ClearChargingProfile criteria; all absent: every profile (not a site's limit)."""

    evse_id: int | None = Field(default=None, ge=0, le=100)
    purpose: Purpose | None = None
    stack_level: int | None = Field(default=None, ge=0, le=100)


class ClearOut(BaseModel):
    status: str | None = Field(description="The station's answer: Accepted or Unknown.")
    response: dict[str, Any]
    cleared: list[ChargingProfileOut]


class ReportIn(BaseModel):
    evse_id: int | None = Field(default=None, ge=0, le=100)
    purpose: (
        Literal[
            "ChargingStationMaxProfile",
            "TxDefaultProfile",
            "TxProfile",
            "ChargingStationExternalConstraints",
        ]
        | None
    ) = None
    stack_level: int | None = Field(default=None, ge=0, le=100)
    profile_ids: list[int] = Field(default_factory=list, max_length=100)
    limit_sources: list[Literal["EMS", "Other", "SO", "CSO"]] = Field(
        default_factory=list, max_length=4
    )
    wait_s: float = Field(default=5.0, ge=0, le=30, description="How long to wait for reports.")


class ReportOut(BaseModel):
    status: str | None = Field(description="The station's answer: Accepted or NoProfiles.")
    response: dict[str, Any]
    request_id: int
    complete: bool = Field(description="The station's last ReportChargingProfiles arrived.")
    profiles: list[ChargingProfileOut]


class CompositeOut(BaseModel):
    status: str
    evse_id: int
    schedule_start: datetime | None
    duration_s: int | None
    rate_unit: str | None
    periods: list[PeriodOut]
    response: dict[str, Any] = Field(description="The station's answer as it was sent.")


class CostOut(BaseModel):
    transaction_id: str
    currency: str
    energy_kwh: Decimal
    duration_s: int
    energy_cost: Decimal
    time_cost: Decimal
    session_fee: Decimal
    total: Decimal
    ended: bool


def _aware(moment: datetime | None) -> datetime | None:
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


def profile_from_body(body: ChargingProfileIn, profile_id: int, now: datetime) -> ChargingProfile:
    kind = ProfileKind(body.kind)
    start = _aware(body.start_schedule)
    if start is None and kind is not ProfileKind.RELATIVE:
        start = now.replace(microsecond=0)
    try:
        return ChargingProfile(
            id=profile_id,
            stack_level=body.stack_level,
            purpose=ProfilePurpose(body.purpose),
            kind=kind,
            rate_unit=RateUnit(body.rate_unit),
            periods=tuple(
                SchedulePeriod(p.start_s, p.limit, p.number_phases) for p in body.periods
            ),
            evse_id=body.evse_id,
            start_schedule=start,
            duration_s=body.duration_s,
            recurrency=Recurrency(body.recurrency) if body.recurrency else None,
            valid_from=_aware(body.valid_from),
            valid_to=_aware(body.valid_to),
            transaction_id=body.transaction_id,
            min_charging_rate=body.min_charging_rate,
        )
    except ValueError as error:
        raise InvalidRequest(str(error), problem="invalid-charging-profile") from error


def profile_out(record: ProfileRecord) -> ChargingProfileOut:
    p = record.profile
    return ChargingProfileOut(
        id=p.id,
        stack_level=p.stack_level,
        purpose=p.purpose.value,
        kind=p.kind.value,
        recurrency=p.recurrency.value if p.recurrency else None,
        rate_unit=p.rate_unit.value,
        periods=[
            PeriodOut(start_s=x.start_s, limit=x.limit, number_phases=x.number_phases)
            for x in p.periods
        ],
        evse_id=p.evse_id,
        start_schedule=p.start_schedule,
        duration_s=p.duration_s,
        valid_from=p.valid_from,
        valid_to=p.valid_to,
        transaction_id=p.transaction_id,
        source=record.source.value,
        status=record.status.value,
        status_info=record.status_info,
        limit_source=record.limit_source.value if record.limit_source else None,
        request_id=record.request_id,
        created_at=record.created_at,
        updated_at=record.updated_at,
    )


@router.get("/charging-profiles", response_model=PageOut[ChargingProfileOut], responses=ERRORS)
async def list_profiles(
    ctx: Ctx,
    caller: Operator,
    station_id: StationPath,
    pages: Pages,
    status: Annotated[ProfileStatus | None, Query(description="Only in this state.")] = None,
    source: Annotated[ProfileSource | None, Query(description="Only from this source.")] = None,
) -> PageOut[ChargingProfileOut]:
    """The profiles the central system sent to the station, that the station reported, or
    that an EMS set there, newest first."""
    await ctx.catalog.manageable(caller, station_id)
    records = await ctx.core.smart_charging.profiles(
        station_id, statuses=[status] if status else None, source=source
    )
    records.reverse()
    page = records[pages.offset : pages.offset + pages.limit]
    return PageOut(
        items=[profile_out(r) for r in page],
        total=len(records),
        limit=pages.limit,
        offset=pages.offset,
    )


@router.post("/charging-profiles", response_model=SetProfileOut, responses=ERRORS)
async def set_profile(
    request: Request,
    ctx: Ctx,
    caller: Operator,
    station_id: StationPath,
    body: ChargingProfileIn,
) -> SetProfileOut:
    """SetChargingProfile (1.6 TC_056/057, 2.x K01): the station's answer, and the profile as
    recorded (accepted, or rejected with the station's reason)."""
    await ctx.catalog.manageable(caller, station_id)
    service = ctx.core.smart_charging
    profile_id = body.id or await service.new_profile_id(station_id)
    profile = profile_from_body(body, profile_id, service.now())
    result = await audited(
        request,
        ctx,
        caller,
        station_id,
        "set-charging-profile",
        service.set_profile(station_id, profile),
        {"id": profile_id, "purpose": body.purpose, "evse_id": body.evse_id},
    )
    return SetProfileOut(
        status=result.outcome.status,
        response=result.outcome.payload,
        profile=profile_out(result.record),
    )


async def _clear(
    request: Request, ctx: Ctx, caller: Principal, station_id: str, criteria: ClearCriteria
) -> ClearOut:
    await ctx.catalog.manageable(caller, station_id)
    result = await audited(
        request,
        ctx,
        caller,
        station_id,
        "clear-charging-profile",
        ctx.core.smart_charging.clear(station_id, criteria),
    )
    return ClearOut(
        status=result.outcome.status,
        response=result.outcome.payload,
        cleared=[profile_out(r) for r in result.cleared],
    )


@router.delete("/charging-profiles/{profile_id}", response_model=ClearOut, responses=ERRORS)
async def clear_profile(
    request: Request,
    ctx: Ctx,
    caller: Operator,
    station_id: StationPath,
    profile_id: Annotated[int, Path(ge=1)],
) -> ClearOut:
    """ClearChargingProfile by id (TC_067, TC_K_05); Unknown when the station has none."""
    return await _clear(request, ctx, caller, station_id, ClearCriteria(profile_id=profile_id))


@router.post("/charging-profiles/clear", response_model=ClearOut, responses=ERRORS)
async def clear_profiles(
    request: Request, ctx: Ctx, caller: Operator, station_id: StationPath, body: ClearIn
) -> ClearOut:
    """ClearChargingProfile by EVSE, purpose and stack level (TC_067, TC_K_06)."""
    criteria = ClearCriteria(
        evse_id=body.evse_id,
        purpose=ProfilePurpose(body.purpose) if body.purpose else None,
        stack_level=body.stack_level,
    )
    return await _clear(request, ctx, caller, station_id, criteria)


@router.post("/charging-profiles/report", response_model=ReportOut, responses=ERRORS)
async def report_profiles(
    request: Request, ctx: Ctx, caller: Operator, station_id: StationPath, body: ReportIn
) -> ReportOut:
    """OCPP 2.x GetChargingProfiles (K09): the station's answer and the profiles it reported
    for this request (waiting up to `wait_s` for its ReportChargingProfiles)."""
    await ctx.catalog.manageable(caller, station_id)
    criteria = ReportCriteria(
        evse_id=body.evse_id,
        purpose=ProfilePurpose(body.purpose) if body.purpose else None,
        stack_level=body.stack_level,
        profile_ids=tuple(body.profile_ids),
        limit_sources=tuple(ChargingLimitSource(s) for s in body.limit_sources),
    )
    result = await audited(
        request,
        ctx,
        caller,
        station_id,
        "get-charging-profiles",
        ctx.core.smart_charging.request_report(station_id, criteria, wait_s=body.wait_s),
    )
    return ReportOut(
        status=result.outcome.status,
        response=result.outcome.payload,
        request_id=result.request_id,
        complete=result.complete,
        profiles=[profile_out(r) for r in result.profiles],
    )


@router.get("/composite-schedule", response_model=CompositeOut, responses=ERRORS)
async def composite_schedule(
    request: Request,
    ctx: Ctx,
    caller: Operator,
    station_id: StationPath,
    evse_id: Annotated[int, Query(ge=0, le=100, description="0: the whole station.")] = 0,
    duration_s: Annotated[int, Query(ge=1, le=7 * 24 * 3600)] = 3600,
    rate_unit: Annotated[Literal["W", "A"] | None, Query()] = None,
) -> CompositeOut:
    """GetCompositeSchedule (TC_066, TC_K_43/44): the limits the station will apply."""
    await ctx.catalog.manageable(caller, station_id)
    reply = await audited(
        request,
        ctx,
        caller,
        station_id,
        "get-composite-schedule",
        ctx.core.smart_charging.composite_schedule(
            station_id, evse_id, duration_s, RateUnit(rate_unit) if rate_unit else None
        ),
    )
    schedule = reply.schedule
    return CompositeOut(
        status=reply.status,
        evse_id=reply.evse_id,
        schedule_start=schedule.start if schedule else None,
        duration_s=schedule.duration_s if schedule else None,
        rate_unit=schedule.rate_unit.value if schedule else None,
        periods=[
            PeriodOut(start_s=p.start_s, limit=p.limit, number_phases=p.number_phases)
            for p in (schedule.periods if schedule else ())
        ],
        response=dict(reply.payload),
    )


@router.get("/transactions/{transaction_id}/cost", response_model=CostOut, responses=ERRORS)
async def transaction_cost(
    ctx: Ctx,
    caller: Operator,
    station_id: StationPath,
    transaction_id: Annotated[str, Path(min_length=1, max_length=36)],
) -> CostOut:
    """What a transaction costs so far (or in total) with the station's tariff: the amount
    2.x stations show their driver (CostUpdated, totalCost; I02)."""
    await ctx.catalog.manageable(caller, station_id)
    transaction = await ctx.core.transactions.get(station_id, transaction_id)
    if transaction is None:
        raise NotFound(f"no transaction {transaction_id} at {station_id}")
    cost = await ctx.core.costs.cost(transaction)
    if cost is None:
        raise Conflict("the station has no tariff", problem="no-tariff")
    return CostOut(
        transaction_id=transaction_id,
        currency=cost.currency,
        energy_kwh=Decimal(cost.energy_wh) / 1000,
        duration_s=int(cost.duration.total_seconds()),
        energy_cost=cost.energy_cost,
        time_cost=cost.time_cost,
        session_fee=cost.session_fee,
        total=cost.total,
        ended=transaction.ended,
    )


class OfferIn(BaseModel):
    limit_w: Decimal | None = Field(
        default=None,
        ge=0,
        le=10_000_000,
        max_digits=12,
        decimal_places=1,
        description="The new limit; default: what the EV, the EVSE and the site allow.",
    )


@router.post("/evses/{evse_id}/charging-schedule", response_model=SetProfileOut, responses=ERRORS)
async def offer_schedule(
    request: Request,
    ctx: Ctx,
    caller: Operator,
    station_id: StationPath,
    evse_id: Annotated[int, Path(ge=1, le=100)],
    body: OfferIn,
) -> SetProfileOut:
    """Send the transaction on the EVSE a new TxProfile: a renegotiation started by the CSMS
    (2.x K16, TC_K_58); an ISO 15118 EV then answers with a new schedule."""
    await ctx.catalog.manageable(caller, station_id)
    result = await audited(
        request,
        ctx,
        caller,
        station_id,
        "offer-charging-schedule",
        ctx.core.smart_charging.offer_schedule(station_id, evse_id, limit_w=body.limit_w),
    )
    if result is None:
        raise Conflict(f"no transaction on EVSE {evse_id}", problem="no-transaction")
    return SetProfileOut(
        status=result.outcome.status,
        response=result.outcome.payload,
        profile=profile_out(result.record),
    )
