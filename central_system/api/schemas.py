"""Request and response bodies of the REST API (pydantic), with examples for /docs.

Money is a decimal string ("12.34"), energy in kWh is a decimal string with three decimals
(exact Wh), power in kW likewise, durations in whole seconds, times UTC ISO 8601."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from central_system.domain.accounts import Role
from central_system.domain.authorization import REGISTRY_STATUSES
from central_system.services.ports import CommandOutcome

T = TypeVar("T")

Price = Annotated[Decimal, Field(ge=0, le=1000, max_digits=12, decimal_places=6)]
StationId = Annotated[str, Field(min_length=1, max_length=48, pattern=r"^[^:\s]+$")]
EvseId = Annotated[int, Field(ge=1, le=100)]
Email = Annotated[str, Field(min_length=3, max_length=254)]
Password = Annotated[str, Field(min_length=1, max_length=256)]


def _examples(*examples: dict[str, Any]) -> ConfigDict:
    return ConfigDict(json_schema_extra={"examples": list(examples)})


class PageOut(BaseModel, Generic[T]):
    items: list[T]
    total: int = Field(description="Number of items in the whole list.")
    limit: int
    offset: int


# --- auth ----------------------------------------------------------------------------------------


class TokenOut(BaseModel):
    model_config = _examples(
        {
            "access_token": "eyJhbGciOiJIUzI1NiIs...",
            "token_type": "bearer",
            "expires_in": 900,
            "refresh_token": "eyJhbGciOiJIUzI1NiIs...",
            "refresh_expires_in": 1209600,
        }
    )
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int
    refresh_token: str
    refresh_expires_in: int


class RegisterIn(BaseModel):
    model_config = _examples({"email": "driver@example.com", "password": "correct horse 42"})
    email: Email
    password: Password


class GuestIn(BaseModel):
    model_config = _examples({"email": "guest@example.com"})
    email: Email


class RefreshIn(BaseModel):
    refresh_token: Annotated[str, Field(min_length=1, max_length=4096)]


class UserCreateIn(BaseModel):
    model_config = _examples(
        {"email": "owner@example.com", "password": "a long owner password", "role": "owner"}
    )
    email: Email
    password: Password
    role: Role = Role.DRIVER


class AccountOut(BaseModel):
    model_config = _examples(
        {
            "id": "5b0f7c5e-3f6f-4c7d-9d69-3c1b1c0f4a11",
            "email": "driver@example.com",
            "role": "driver",
            "guest": False,
            "created_at": "2026-01-01T12:00:00Z",
        }
    )
    id: str
    email: str
    role: Role
    guest: bool
    created_at: datetime | None


# --- stations ------------------------------------------------------------------------------------


class Location(BaseModel):
    latitude: Annotated[float, Field(ge=-90, le=90)]
    longitude: Annotated[float, Field(ge=-180, le=180)]


class TariffIn(BaseModel):
    model_config = _examples(
        {"currency": "EUR", "per_kwh": "0.39", "per_minute": "0.05", "session_fee": "1.00"}
    )
    currency: Annotated[str, Field(pattern=r"^[A-Za-z]{3}$")]
    per_kwh: Price = Decimal(0)
    per_minute: Price = Decimal(0)
    session_fee: Price = Decimal(0)


class TariffOut(TariffIn):
    valid_from: datetime | None = None


class ConnectorIn(BaseModel):
    evse_id: EvseId
    connector_id: Annotated[int, Field(ge=1, le=10)] = 1
    standard: Literal["CCS", "CHAdeMO", "Type2", "Type1", "GB/T", "NACS", "Schuko"]
    max_power_kw: Annotated[Decimal, Field(gt=0, le=1000, max_digits=10, decimal_places=3)]


class ConnectorOut(BaseModel):
    evse_id: int
    connector_id: int
    standard: str
    max_power_kw: Decimal
    status: str | None = Field(description="Live status; null until the station reported it.")
    error_code: str | None = None


class StationIn(BaseModel):
    model_config = _examples(
        {
            "id": "CP-1",
            "name": "Main Street",
            "location": {"latitude": 52.52, "longitude": 13.405},
            "address": "Main Street 1, Berlin",
            "password": "0123456789abcdef0123",
            "security_profile": 1,
            "connectors": [
                {"evse_id": 1, "standard": "CCS", "max_power_kw": "150"},
                {"evse_id": 2, "standard": "CHAdeMO", "max_power_kw": "50"},
            ],
            "tariff": {
                "currency": "EUR",
                "per_kwh": "0.39",
                "per_minute": "0.00",
                "session_fee": "1.00",
            },
        }
    )
    id: StationId
    name: Annotated[str, Field(max_length=100)] = ""
    location: Location
    address: Annotated[str, Field(max_length=300)] = ""
    password: Annotated[str | None, Field(min_length=16, max_length=40)] = None
    security_profile: Annotated[int | None, Field(ge=0, le=3)] = None
    connectors: Annotated[list[ConnectorIn], Field(max_length=20)] = []
    tariff: TariffIn | None = None
    owner_id: Annotated[str | None, Field(max_length=36)] = Field(
        default=None, description="Admins only: the owning account (owners own what they add)."
    )


class StationPatch(BaseModel):
    name: Annotated[str | None, Field(max_length=100)] = None
    location: Location | None = None
    address: Annotated[str | None, Field(max_length=300)] = None
    connectors: Annotated[list[ConnectorIn] | None, Field(max_length=20)] = None


class StationOut(BaseModel):
    model_config = _examples(
        {
            "id": "CP-1",
            "name": "Main Street",
            "location": {"latitude": 52.52, "longitude": 13.405},
            "address": "Main Street 1, Berlin",
            "online": True,
            "ocpp_version": "1.6",
            "distance_km": 0.8,
            "connectors": [
                {
                    "evse_id": 1,
                    "connector_id": 1,
                    "standard": "CCS",
                    "max_power_kw": "150",
                    "status": "Available",
                    "error_code": None,
                }
            ],
            "tariff": {
                "currency": "EUR",
                "per_kwh": "0.39",
                "per_minute": "0",
                "session_fee": "1",
                "valid_from": "2026-01-01T00:00:00Z",
            },
        }
    )
    id: str
    name: str
    location: Location
    address: str
    online: bool
    ocpp_version: str | None
    distance_km: float | None = None
    connectors: list[ConnectorOut]
    tariff: TariffOut | None


class StationStatusOut(StationOut):
    """What an owner sees of their station."""

    owner_id: str | None
    registration_status: str
    security_profile: int
    vendor: str | None
    model: str | None
    firmware_version: str | None
    last_boot_at: datetime | None
    last_heartbeat_at: datetime | None
    last_connected_at: datetime | None
    last_disconnected_at: datetime | None
    faults: list[ConnectorOut]
    signal: dict[str, Any] | None = Field(
        default=None, description="Latest mobile signal report, when the station sends one."
    )


class TransactionOut(BaseModel):
    transaction_id: str
    evse_id: int
    connector_id: int
    started_at: datetime
    stopped_at: datetime | None
    id_token: str | None
    energy_wh: int | None
    stop_reason: str | None


# --- reservations --------------------------------------------------------------------------------


class ReservationIn(BaseModel):
    model_config = _examples({"station_id": "CP-1", "evse_id": 1, "minutes": 15})
    station_id: StationId
    evse_id: EvseId
    minutes: Annotated[int, Field(ge=1, le=1440)]


class ReservationOut(BaseModel):
    model_config = _examples(
        {
            "id": 17,
            "station_id": "CP-1",
            "evse_id": 1,
            "status": "Accepted",
            "created_at": "2026-01-01T12:00:00Z",
            "expires_at": "2026-01-01T12:15:00Z",
            "ended_at": None,
        }
    )
    id: int
    station_id: str
    evse_id: int
    status: str
    created_at: datetime
    expires_at: datetime
    ended_at: datetime | None


# --- sessions ------------------------------------------------------------------------------------


class PaymentIn(BaseModel):
    card_token: Annotated[str, Field(min_length=1, max_length=64)] = Field(
        description="A tokenized card from the payment provider (test provider: tok_visa)."
    )


class SessionIn(BaseModel):
    model_config = _examples(
        {
            "station_id": "CP-1",
            "evse_id": 1,
            "payment": {"card_token": "tok_visa"},
            "battery_capacity_kwh": "64",
        }
    )
    station_id: StationId
    evse_id: EvseId
    payment: PaymentIn
    battery_capacity_kwh: Annotated[
        Decimal | None, Field(gt=0, le=300, max_digits=7, decimal_places=3)
    ] = None
    reservation_id: Annotated[int | None, Field(ge=1, le=2**31 - 1)] = None


class CostOut(BaseModel):
    currency: str
    energy: Decimal
    time: Decimal
    session_fee: Decimal
    total: Decimal


class LiveOut(BaseModel):
    soc_percent: Decimal | None
    power_kw: Decimal | None
    energy_kwh: Decimal
    elapsed_s: int
    cost: CostOut
    eta_80_s: int | None = Field(description="Estimated seconds to 80 % SoC.")
    eta_full_s: int | None = Field(description="Estimated seconds to 100 % SoC.")
    sampled_at: datetime | None
    battery_capacity_kwh: Decimal | None


class PaymentOut(BaseModel):
    reference: str | None
    preauthorized: Decimal | None
    currency: str


class ChargingAuthorizationOut(BaseModel):
    id_token: str
    type: str = "Central"
    active: bool = Field(description="False once the session has ended: the token is deleted.")


class SessionOut(BaseModel):
    model_config = _examples(
        {
            "id": "0d5f3c9e-2a8b-4f0e-9a51-1e6a2d7f9b10",
            "status": "Charging",
            "station_id": "CP-1",
            "evse_id": 1,
            "transaction_id": "42",
            "created_at": "2026-01-01T12:00:00Z",
            "started_at": "2026-01-01T12:00:05Z",
            "ended_at": None,
            "failure_reason": None,
            "tariff": {
                "currency": "EUR",
                "per_kwh": "0.39",
                "per_minute": "0",
                "session_fee": "1",
            },
            "payment": {"reference": "pi_test_...", "preauthorized": "32.20", "currency": "EUR"},
            "charging_authorization": {"id_token": "EVA1F2E...", "type": "Central", "active": True},
            "live": {
                "soc_percent": "46",
                "power_kw": "48.5",
                "energy_kwh": "5.120",
                "elapsed_s": 420,
                "cost": {
                    "currency": "EUR",
                    "energy": "2.00",
                    "time": "0.00",
                    "session_fee": "1.00",
                    "total": "3.00",
                },
                "eta_80_s": 1690,
                "eta_full_s": 3270,
                "sampled_at": "2026-01-01T12:07:05Z",
                "battery_capacity_kwh": "64",
            },
            "receipt_id": None,
        }
    )
    id: str
    status: str
    station_id: str
    evse_id: int
    transaction_id: str | None
    created_at: datetime
    started_at: datetime | None
    ended_at: datetime | None
    failure_reason: str | None
    tariff: TariffIn
    payment: PaymentOut
    charging_authorization: ChargingAuthorizationOut
    live: LiveOut | None = None
    receipt_id: str | None = None


class StopOut(BaseModel):
    session: SessionOut
    station_status: str | None = Field(description="The station's answer to the remote stop.")


class ReceiptOut(BaseModel):
    model_config = _examples(
        {
            "id": "9c1d...",
            "session_id": "0d5f...",
            "sequence": 0,
            "corrects": None,
            "note": None,
            "station_id": "CP-1",
            "evse_id": 1,
            "transaction_id": "42",
            "started_at": "2026-01-01T12:00:05Z",
            "stopped_at": "2026-01-01T12:40:05Z",
            "duration_s": 2400,
            "energy_wh": 30500,
            "energy_kwh": "30.500",
            "tariff": {
                "currency": "EUR",
                "per_kwh": "0.39",
                "per_minute": "0",
                "session_fee": "1",
            },
            "cost": {
                "currency": "EUR",
                "energy": "11.90",
                "time": "0.00",
                "session_fee": "1.00",
                "total": "12.90",
            },
            "captured": "12.90",
            "uncollected": "0.00",
            "payment_reference": "pi_test_...",
            "issued_at": "2026-01-01T12:40:06Z",
            "keep_until": "2036-01-01T12:40:06Z",
        }
    )
    id: str
    session_id: str
    sequence: int
    corrects: str | None
    note: str | None
    station_id: str
    evse_id: int
    transaction_id: str
    started_at: datetime
    stopped_at: datetime
    duration_s: int
    energy_wh: int
    energy_kwh: Decimal
    tariff: TariffIn
    cost: CostOut
    captured: Decimal
    uncollected: Decimal
    payment_reference: str | None
    issued_at: datetime
    keep_until: datetime


# --- operations ----------------------------------------------------------------------------------


class CommandOut(BaseModel):
    """A command's result: the station's status and its whole answer as it was sent."""

    model_config = _examples({"status": "Accepted", "response": {"status": "Accepted"}})
    status: str | None = Field(description="The status field of the station's answer, if any.")
    response: dict[str, Any] = Field(description="The station's answer as it was sent.")

    @classmethod
    def of(cls, outcome: CommandOutcome) -> CommandOut:
        return cls(status=outcome.status, response=outcome.payload)


class ResetIn(BaseModel):
    type: Literal["soft", "hard"] = "soft"
    evse_id: EvseId | None = None


class UnlockIn(BaseModel):
    evse_id: EvseId
    connector_id: Annotated[int, Field(ge=1, le=10)] = 1


class AvailabilityIn(BaseModel):
    operative: bool
    evse_id: Annotated[int | None, Field(ge=0, le=100)] = None
    connector_id: Annotated[int | None, Field(ge=1, le=10)] = None


class TriggerIn(BaseModel):
    model_config = _examples({"message": "StatusNotification", "evse_id": 1})
    message: Annotated[str, Field(min_length=1, max_length=50)]
    evse_id: EvseId | None = None
    connector_id: Annotated[int | None, Field(ge=1, le=10, description="2.x, with evse_id")] = None


class ConfigurationChangeIn(BaseModel):
    key: Annotated[str, Field(min_length=1, max_length=50)]
    value: Annotated[str, Field(max_length=500)]


class VariablesIn(BaseModel):
    model_config = _examples(
        {
            "variables": [
                {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}}
            ]
        }
    )
    variables: Annotated[list[dict[str, Any]], Field(min_length=1, max_length=50)]


class IdTokenIn(BaseModel):
    model_config = _examples(
        {"status": "Accepted", "type": "ISO14443", "expires_at": None, "group_id": "FLEET-1"}
    )
    status: Literal[tuple(s.value for s in REGISTRY_STATUSES)] = "Accepted"  # type: ignore[valid-type]
    type: Annotated[str | None, Field(max_length=20)] = None
    expires_at: datetime | None = None
    group_id: Annotated[str | None, Field(max_length=36)] = None


class IdTokenOut(IdTokenIn):
    value: str


class AuditOut(BaseModel):
    id: int | None
    at: datetime
    action: str
    outcome: str
    actor_id: str | None
    actor: str | None
    target: str | None
    source: str | None
    details: dict[str, Any] | None
