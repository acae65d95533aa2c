"""DataTransfer from stations, routed by vendor id and message id (TC_064, TC_P_02)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from central_system.domain.data_transfer import DataTransferResult, DataTransferStatus, route_status

log = logging.getLogger(__name__)

# handler(station_id, data) -> result. `data` is the DataTransfer data field (any JSON in 2.0.1,
# text in 1.6).
DataTransferHandler = Callable[[str, Any], Awaitable[DataTransferResult]]


class DataTransferService:
    def __init__(self) -> None:
        self._handlers: dict[tuple[str, str], DataTransferHandler] = {}

    def register(self, vendor_id: str, message_id: str, handler: DataTransferHandler) -> None:
        self._handlers[(vendor_id, message_id)] = handler

    def _known(self) -> dict[str, frozenset[str]]:
        known: dict[str, set[str]] = {}
        for vendor_id, message_id in self._handlers:
            known.setdefault(vendor_id, set()).add(message_id)
        return {vendor: frozenset(ids) for vendor, ids in known.items()}

    async def handle(
        self, station_id: str, vendor_id: str, message_id: str | None, data: Any
    ) -> DataTransferResult:
        unroutable = route_status(self._known(), vendor_id, message_id)
        if unroutable is not None:
            log.info(
                "%s: DataTransfer %s/%s answered %s", station_id, vendor_id, message_id, unroutable
            )
            return DataTransferResult(unroutable)
        handler = self._handlers[(vendor_id, message_id or "")]
        try:
            return await handler(station_id, data)
        except ValueError as error:
            log.warning(
                "%s: DataTransfer %s/%s rejected: %s", station_id, vendor_id, message_id, error
            )
            return DataTransferResult(DataTransferStatus.REJECTED, str(error))
