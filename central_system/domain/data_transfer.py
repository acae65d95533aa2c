"""DataTransfer routing (1.6 section 4.3, 2.0.1 P01/P02, TC_064, TC_P_02)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class DataTransferStatus(StrEnum):
    ACCEPTED = "Accepted"
    REJECTED = "Rejected"
    UNKNOWN_MESSAGE_ID = "UnknownMessageId"
    UNKNOWN_VENDOR_ID = "UnknownVendorId"


@dataclass(frozen=True, slots=True)
class DataTransferResult:
    status: DataTransferStatus
    data: str | None = None


def route_status(
    known: dict[str, frozenset[str]], vendor_id: str, message_id: str | None
) -> DataTransferStatus | None:
    """Status for a vendor/message we cannot route, or None when a handler is registered.

    A vendor we do not know is UnknownVendorId; a known vendor with a message id it does not
    define (or none) is UnknownMessageId.
    """
    messages = known.get(vendor_id)
    if messages is None:
        return DataTransferStatus.UNKNOWN_VENDOR_ID
    if message_id is None or message_id not in messages:
        return DataTransferStatus.UNKNOWN_MESSAGE_ID
    return None
