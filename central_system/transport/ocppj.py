"""OCPP-J RPC framing (OCPP-J 1.6 section 4, 2.0.1/2.1 Part 4 section 4).

CALL `[2, id, action, {payload}]`, CALLRESULT `[3, id, {payload}]`, CALLERROR
`[4, id, code, description, {details}]`; 2.1 adds CALLRESULTERROR `[5, ...]` and SEND
`[6, id, action, {payload}]`. Error codes differ in spelling between 1.6 and 2.x; errors are
raised as kinds and spelled per version when they are sent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum, IntEnum, StrEnum
from typing import Any

import orjson

MAX_DESCRIPTION_LENGTH = 255
UNREADABLE_ID = "-1"


class OcppVersion(StrEnum):
    V16 = "1.6"
    V201 = "2.0.1"
    V21 = "2.1"

    @property
    def subprotocol(self) -> str:
        return "ocpp" + self.value

    @classmethod
    def from_subprotocol(cls, subprotocol: str) -> OcppVersion:
        return cls(subprotocol.removeprefix("ocpp"))


SUBPROTOCOLS = {version.subprotocol: version for version in OcppVersion}


class MessageType(IntEnum):
    CALL = 2
    CALLRESULT = 3
    CALLERROR = 4
    CALLRESULTERROR = 5  # 2.1 only
    SEND = 6  # 2.1 only


class ErrorKind(Enum):
    FORMAT = ("FormationViolation", "FormatViolation")
    OCCURRENCE = ("OccurenceConstraintViolation", "OccurrenceConstraintViolation")
    PROPERTY = ("PropertyConstraintViolation", "PropertyConstraintViolation")
    TYPE = ("TypeConstraintViolation", "TypeConstraintViolation")
    PROTOCOL = ("ProtocolError", "ProtocolError")
    NOT_IMPLEMENTED = ("NotImplemented", "NotImplemented")
    NOT_SUPPORTED = ("NotSupported", "NotSupported")
    INTERNAL = ("InternalError", "InternalError")
    SECURITY = ("SecurityError", "SecurityError")
    GENERIC = ("GenericError", "GenericError")
    # 1.6 has no code for a frame that is not an RPC message; FormationViolation ("not conform
    # the PDU structure") is the closest it defines.
    RPC_FRAMEWORK = ("FormationViolation", "RpcFrameworkError")
    MESSAGE_TYPE_NOT_SUPPORTED = ("FormationViolation", "MessageTypeNotSupported")

    def code(self, version: OcppVersion) -> str:
        return self.value[0] if version is OcppVersion.V16 else self.value[1]


class RpcError(Exception):
    """An error to answer with a CALLERROR."""

    def __init__(
        self,
        kind: ErrorKind,
        description: str,
        *,
        unique_id: str = UNREADABLE_ID,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(description)
        self.kind = kind
        self.description = description[:MAX_DESCRIPTION_LENGTH]
        self.unique_id = unique_id
        self.details = details or {}


@dataclass(frozen=True, slots=True)
class Call:
    unique_id: str
    action: str
    payload: dict[str, Any]
    # 2.1 SEND: a call that is never answered.
    unconfirmed: bool = False


@dataclass(frozen=True, slots=True)
class CallResult:
    unique_id: str
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class CallError:
    unique_id: str
    code: str
    description: str
    details: dict[str, Any] = field(default_factory=dict)


Frame = Call | CallResult | CallError


def parse_frame(raw: str | bytes, version: OcppVersion) -> Frame | None:
    """Parse one websocket message. Returns None for a frame to ignore (2.1 CALLRESULTERROR is
    logged by the caller). Raises RpcError with the id to answer with ("-1" when unreadable)."""
    if isinstance(raw, bytes):
        raise RpcError(ErrorKind.RPC_FRAMEWORK, "OCPP-J messages are text frames, got binary")
    try:
        message = orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise RpcError(ErrorKind.RPC_FRAMEWORK, f"message is not valid JSON: {error}") from None
    if not isinstance(message, list) or len(message) < 3:
        raise RpcError(
            ErrorKind.RPC_FRAMEWORK, "message is not a JSON array [type, id, ...] of 3-5 elements"
        )
    type_id, unique_id = message[0], message[1]
    if not isinstance(unique_id, str) or not unique_id:
        raise RpcError(ErrorKind.RPC_FRAMEWORK, "messageId is not a non-empty string")
    if not isinstance(type_id, int) or isinstance(type_id, bool):
        raise RpcError(
            ErrorKind.RPC_FRAMEWORK, "messageTypeId is not an integer", unique_id=unique_id
        )
    if type_id == MessageType.CALL or (type_id == MessageType.SEND and version is OcppVersion.V21):
        if len(message) != 4 or not isinstance(message[2], str):
            raise RpcError(
                ErrorKind.RPC_FRAMEWORK,
                "a CALL is [2, messageId, action, payload]",
                unique_id=unique_id,
            )
        if not isinstance(message[3], dict):
            raise RpcError(
                ErrorKind.FORMAT, "the CALL payload is not a JSON object", unique_id=unique_id
            )
        return Call(unique_id, message[2], message[3], type_id == MessageType.SEND)
    if type_id == MessageType.CALLRESULT:
        if len(message) != 3 or not isinstance(message[2], dict):
            raise RpcError(
                ErrorKind.RPC_FRAMEWORK,
                "a CALLRESULT is [3, messageId, payload]",
                unique_id=unique_id,
            )
        return CallResult(unique_id, message[2])
    if type_id == MessageType.CALLERROR:
        if len(message) != 5 or not isinstance(message[2], str):
            raise RpcError(
                ErrorKind.RPC_FRAMEWORK,
                "a CALLERROR is [4, messageId, errorCode, errorDescription, errorDetails]",
                unique_id=unique_id,
            )
        details = message[4] if isinstance(message[4], dict) else {}
        return CallError(unique_id, message[2], str(message[3]), details)
    if type_id == MessageType.CALLRESULTERROR and version is OcppVersion.V21:
        return None
    raise RpcError(
        ErrorKind.MESSAGE_TYPE_NOT_SUPPORTED,
        f"messageTypeId {type_id} is not supported",
        unique_id=unique_id,
    )


# Frames are dumped as UTF-8 and sent as text frames as they are (the websocket's
# send(text=True)): a str would be decoded here and encoded again for the socket.


def dump_call(unique_id: str, action: str, payload: dict[str, Any]) -> bytes:
    return orjson.dumps([MessageType.CALL, unique_id, action, payload])


def dump_result(unique_id: str, payload: dict[str, Any]) -> bytes:
    return orjson.dumps([MessageType.CALLRESULT, unique_id, payload])


def dump_error(error: RpcError, version: OcppVersion) -> bytes:
    return orjson.dumps(
        [
            MessageType.CALLERROR,
            error.unique_id,
            error.kind.code(version),
            error.description,
            error.details,
        ]
    )
