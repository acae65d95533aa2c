"""Operator remote control with the station's own answer: remote start and stop (1.6 TC_010-012,
TC_026, TC_028; 2.0.1 F01-F04, TC_F_01-04), GetTransactionStatus (E14, TC_E_29-34) and
DataTransfer to a station (1.6 Core, 2.0.1 P01)."""

from __future__ import annotations

from typing import Any

from central_system.domain.authorization import MAX_ID_TOKEN_LENGTH, IdToken
from central_system.services.control_ports import RemoteControl, TransactionStatusAnswer
from central_system.services.errors import InvalidRequest
from central_system.services.ports import (
    CommandOutcome,
    IdGenerator,
    StationControl,
    UnitOfWorkFactory,
)


class RemoteControlService:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        control: StationControl,
        remote: RemoteControl,
        ids: IdGenerator,
    ) -> None:
        self._uow = uow
        self._control = control
        self._remote = remote
        self._ids = ids

    async def start(
        self,
        station_id: str,
        id_token: str,
        *,
        evse_id: int | None = None,
        charging_profile: dict[str, Any] | None = None,
    ) -> tuple[int, CommandOutcome]:
        """RemoteStartTransaction / RequestStartTransaction for a token of the registry (its
        type goes along in 2.0.1); returns the remoteStartId and the station's answer."""
        if not 0 < len(id_token) <= MAX_ID_TOKEN_LENGTH:
            raise InvalidRequest(f"an id token has 1 to {MAX_ID_TOKEN_LENGTH} characters")
        async with self._uow() as uow:
            record = await uow.tokens.get(id_token)
        remote_start_id = self._ids.integer()
        outcome = await self._control.remote_start(
            station_id,
            IdToken(id_token, record.type if record else None),
            evse_id=evse_id,
            remote_start_id=remote_start_id,
            charging_profile=charging_profile,
        )
        return remote_start_id, outcome

    async def stop(self, station_id: str, transaction_id: str) -> CommandOutcome:
        """RemoteStopTransaction / RequestStopTransaction (TC_012, TC_028); ValueError for an
        id the station's version cannot carry (1.6 ids are numbers)."""
        return await self._control.remote_stop(station_id, transaction_id)

    async def transaction_status(
        self, station_id: str, transaction_id: str | None
    ) -> TransactionStatusAnswer:
        return await self._remote.get_transaction_status(station_id, transaction_id)

    async def data_transfer(
        self, station_id: str, vendor_id: str, message_id: str | None, data: Any
    ) -> CommandOutcome:
        return await self._remote.data_transfer(station_id, vendor_id, message_id, data)
