"""Remote-control commands beyond StationCommands: GetTransactionStatus (2.x, E14, TC_E_29-34) and
DataTransfer to the station (1.6 Core, 2.x P01)."""

from __future__ import annotations

import json
from typing import Any

from central_system.services.control_ports import TransactionStatusAnswer
from central_system.transport.commands import CommandResult, UnsupportedByVersion
from central_system.transport.handlers import drop_none
from central_system.transport.ocppj import OcppVersion
from central_system.transport.versioned import VersionedCommands


class RemoteCommands(VersionedCommands):
    async def get_transaction_status(
        self, station_id: str, transaction_id: str | None
    ) -> TransactionStatusAnswer:
        """Whether the transaction is still going on, and whether the station still has
        messages of it (or of any transaction, without an id) queued."""
        if self._version(station_id) is OcppVersion.V16:
            raise UnsupportedByVersion("GetTransactionStatus is OCPP 2.x")
        answer = await self._send(
            station_id, "GetTransactionStatus", drop_none({"transactionId": transaction_id})
        )
        return TransactionStatusAnswer(
            ongoing=answer.get("ongoingIndicator"),
            messages_in_queue=bool(answer["messagesInQueue"]),
            payload=answer,
        )

    async def data_transfer(
        self, station_id: str, vendor_id: str, message_id: str | None, data: Any
    ) -> CommandResult:
        """1.6 data is a string: anything else is sent as its JSON text."""
        if self._version(station_id) is OcppVersion.V16 and data is not None:
            data = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
        payload = drop_none({"vendorId": vendor_id, "messageId": message_id, "data": data})
        answer = await self._send(station_id, "DataTransfer", payload)
        return CommandResult(answer.get("status"), answer)
