"""Load-management sites (admins): a grid connection's limit shared by the stations behind it,
their members and priorities, and the limits in force."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Response, status
from pydantic import BaseModel, Field

from central_system.api.deps import Admin, Ctx
from central_system.api.problems import error_responses
from central_system.domain.load_management import SharePolicy
from central_system.services.load_management import RebalanceReport, SiteView
from central_system.services.ports import SiteRecord

router = APIRouter(prefix="/api/v1/sites", tags=["load management"])

SitePath = Annotated[str, Path(min_length=1, max_length=48, description="Site id")]
StationPath = Annotated[str, Path(min_length=1, max_length=48, description="Station id")]
ERRORS = error_responses(401, 403, 404, 409, 422)
Kilowatts = Annotated[Decimal, Field(ge=0, le=100_000, max_digits=12, decimal_places=3)]
_W_PER_KW = Decimal(1000)


def _watts(kw: Decimal) -> int:
    return int(kw * _W_PER_KW)


def _kw(watts: Decimal | int | None) -> Decimal | None:
    if watts is None:
        return None
    return (Decimal(watts) / _W_PER_KW).quantize(Decimal("0.001"))


class SiteIn(BaseModel):
    model_config = {
        "json_schema_extra": {
            "examples": [
                {"id": "DEPOT-1", "name": "Depot", "grid_limit_kw": "60", "policy": "equal"}
            ]
        }
    }
    id: Annotated[str, Field(min_length=1, max_length=48, pattern=r"^[A-Za-z0-9._-]+$")]
    name: Annotated[str, Field(max_length=100)] = ""
    grid_limit_kw: Kilowatts
    policy: Literal["equal", "priority"] = "equal"


class SiteUpdateIn(BaseModel):
    name: Annotated[str | None, Field(max_length=100)] = None
    grid_limit_kw: Kilowatts | None = None
    policy: Literal["equal", "priority"] | None = None


class MemberIn(BaseModel):
    priority: int = Field(
        default=0, ge=0, le=100, description="Higher first under the priority policy."
    )
    max_power_kw: Kilowatts | None = Field(
        default=None,
        description="The station's total output; default: its connectors' sum from the "
        "catalogue, else EVCHARGE_LOAD_MANAGEMENT_DEFAULT_EVSE_W per EVSE.",
    )


class MemberOut(BaseModel):
    station_id: str
    priority: int
    max_power_kw: Decimal | None = Field(description="As configured for the site (if at all).")
    effective_max_kw: Decimal = Field(description="The maximum load management assumes.")
    online: bool
    in_force_kw: Decimal | None = Field(
        description="The limit the station last accepted; null: none (it may draw its maximum)."
    )
    active_sessions: int


class SiteOut(BaseModel):
    id: str
    name: str
    grid_limit_kw: Decimal
    policy: str
    in_force_total_kw: Decimal = Field(description="What the members may draw together now.")
    members: list[MemberOut]


class LimitChangeOut(BaseModel):
    station_id: str
    previous_kw: Decimal | None
    target_kw: Decimal
    sent_kw: Decimal | None
    outcome: str = Field(
        description="The station's answer (Accepted / Rejected), offline, timeout, a CALLERROR "
        "code, or deferred (a lowering it waited for failed)."
    )


class RebalanceOut(BaseModel):
    site_id: str
    grid_limit_kw: Decimal
    targets_kw: dict[str, Decimal]
    changes: list[LimitChangeOut]
    in_force_kw: dict[str, Decimal]


def _site_out(view: SiteView) -> SiteOut:
    return SiteOut(
        id=view.site.id,
        name=view.site.name,
        grid_limit_kw=_kw(view.site.grid_limit_w) or Decimal(0),
        policy=view.site.policy.value,
        in_force_total_kw=_kw(view.in_force_total_w) or Decimal(0),
        members=[
            MemberOut(
                station_id=m.member.station_id,
                priority=m.member.priority,
                max_power_kw=_kw(m.member.max_power_w),
                effective_max_kw=_kw(m.max_w) or Decimal(0),
                online=m.online,
                in_force_kw=_kw(m.in_force_w),
                active_sessions=m.active_sessions,
            )
            for m in view.members
        ],
    )


def _report_out(report: RebalanceReport) -> RebalanceOut:
    return RebalanceOut(
        site_id=report.site_id,
        grid_limit_kw=_kw(report.budget_w) or Decimal(0),
        targets_kw={k: _kw(v) or Decimal(0) for k, v in report.targets.items()},
        changes=[
            LimitChangeOut(
                station_id=c.station_id,
                previous_kw=_kw(c.previous_w),
                target_kw=_kw(c.target_w) or Decimal(0),
                sent_kw=_kw(c.sent_w),
                outcome=c.outcome,
            )
            for c in report.changes
        ],
        in_force_kw={k: _kw(v) or Decimal(0) for k, v in report.in_force.items()},
    )


@router.post("", response_model=SiteOut, status_code=status.HTTP_201_CREATED, responses=ERRORS)
async def create_site(ctx: Ctx, caller: Admin, body: SiteIn) -> SiteOut:
    site = SiteRecord(body.id, _watts(body.grid_limit_kw), SharePolicy(body.policy), body.name)
    return _site_out(await ctx.core.load_management.create_site(site))


@router.get("", response_model=list[SiteOut], responses=error_responses(401, 403))
async def list_sites(ctx: Ctx, caller: Admin) -> list[SiteOut]:
    service = ctx.core.load_management
    return [_site_out(await service.view(site.id)) for site in await service.sites()]


@router.get("/{site_id}", response_model=SiteOut, responses=ERRORS)
async def get_site(ctx: Ctx, caller: Admin, site_id: SitePath) -> SiteOut:
    return _site_out(await ctx.core.load_management.view(site_id))


@router.patch("/{site_id}", response_model=SiteOut, responses=ERRORS)
async def update_site(ctx: Ctx, caller: Admin, site_id: SitePath, body: SiteUpdateIn) -> SiteOut:
    """A new limit or policy takes effect at once (limits are lowered before any is raised)."""
    view = await ctx.core.load_management.update_site(
        site_id,
        name=body.name,
        grid_limit_w=_watts(body.grid_limit_kw) if body.grid_limit_kw is not None else None,
        policy=SharePolicy(body.policy) if body.policy else None,
    )
    return _site_out(view)


@router.delete("/{site_id}", status_code=status.HTTP_204_NO_CONTENT, responses=ERRORS)
async def delete_site(ctx: Ctx, caller: Admin, site_id: SitePath) -> Response:
    """The members' site limits are cleared (an offline member keeps its last one)."""
    await ctx.core.load_management.delete_site(site_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.put("/{site_id}/members/{station_id}", response_model=SiteOut, responses=ERRORS)
async def set_member(
    ctx: Ctx, caller: Admin, site_id: SitePath, station_id: StationPath, body: MemberIn
) -> SiteOut:
    """Add a station to the site (or change its priority or maximum); the site is rebalanced."""
    view = await ctx.core.load_management.set_member(
        site_id,
        station_id,
        priority=body.priority,
        max_power_w=_watts(body.max_power_kw) if body.max_power_kw is not None else None,
    )
    return _site_out(view)


@router.delete(
    "/{site_id}/members/{station_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=ERRORS,
)
async def remove_member(
    ctx: Ctx, caller: Admin, site_id: SitePath, station_id: StationPath
) -> Response:
    await ctx.core.load_management.remove_member(site_id, station_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/{site_id}/rebalance", response_model=RebalanceOut, responses=ERRORS)
async def rebalance(ctx: Ctx, caller: Admin, site_id: SitePath) -> RebalanceOut:
    """Recompute now and send what changed; the answer lists each station's reply."""
    return _report_out(await ctx.core.load_management.rebalance(site_id))
