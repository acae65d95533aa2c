"""JSON-schema validation of OCPP payloads with the official schemas shipped in the `ocpp`
package, compiled once (jsonschema-rs) and mapped to the CALLERROR the spec names.

`format` keywords are not asserted (as with the `ocpp` package's Draft-4 validator): timestamps
are parsed, and rejected with a clear error, where they are used.
"""

from __future__ import annotations

import json
from functools import cache
from importlib.resources import files
from typing import Any

import jsonschema_rs

from central_system.transport.ocppj import ErrorKind, OcppVersion, RpcError

_SCHEMA_PACKAGES = {
    OcppVersion.V16: "ocpp.v16",
    OcppVersion.V201: "ocpp.v201",
    OcppVersion.V21: "ocpp.v21",
}

_KIND_BY_KEYWORD = {
    "Type": ErrorKind.TYPE,
    "MaxLength": ErrorKind.TYPE,  # CiStringNType: the length is part of the data type
    "MinLength": ErrorKind.TYPE,
    "Required": ErrorKind.OCCURRENCE,
    "MinItems": ErrorKind.OCCURRENCE,
    "MaxItems": ErrorKind.OCCURRENCE,
    "MinProperties": ErrorKind.OCCURRENCE,
    "MaxProperties": ErrorKind.OCCURRENCE,
    "AdditionalProperties": ErrorKind.FORMAT,
    "Enum": ErrorKind.PROPERTY,
    "Constant": ErrorKind.PROPERTY,
    "Pattern": ErrorKind.PROPERTY,
    "Minimum": ErrorKind.PROPERTY,
    "Maximum": ErrorKind.PROPERTY,
    "ExclusiveMinimum": ErrorKind.PROPERTY,
    "ExclusiveMaximum": ErrorKind.PROPERTY,
    "MultipleOf": ErrorKind.PROPERTY,
    "Format": ErrorKind.PROPERTY,
    "UniqueItems": ErrorKind.PROPERTY,
}


def _schema_name(version: OcppVersion, action: str, response: bool) -> str:
    if version is OcppVersion.V16:
        return action + ("Response" if response else "")
    return action + ("Response" if response else "Request")


def _schema_dir(version: OcppVersion) -> Any:
    return files(_SCHEMA_PACKAGES[version]).joinpath("schemas")


@cache
def actions(version: OcppVersion) -> frozenset[str]:
    """Every action the version defines (in either direction)."""
    names = {entry.name.removesuffix(".json") for entry in _schema_dir(version).iterdir()}
    if version is OcppVersion.V16:
        return frozenset(n for n in names if not n.endswith("Response"))
    return frozenset(
        n.removesuffix("Request")
        for n in names
        if n.endswith("Request") or (not n.endswith("Response") and n + "Response" not in names)
    )


@cache
def _validator(version: OcppVersion, action: str, response: bool) -> Any:
    path = _schema_dir(version).joinpath(_schema_name(version, action, response) + ".json")
    schema = json.loads(path.read_text(encoding="utf-8-sig"))
    return jsonschema_rs.validator_for(schema, validate_formats=False)


def has_schema(version: OcppVersion, action: str) -> bool:
    return action in actions(version)


def validate(
    version: OcppVersion,
    action: str,
    payload: dict[str, Any],
    *,
    response: bool = False,
    unique_id: str = "-1",
) -> None:
    """Raise RpcError (with the CALLERROR kind the violation calls for) if `payload` breaks the
    schema of `action`."""
    validator = _validator(version, action, response)
    error = next(iter(validator.iter_errors(payload)), None)
    if error is None:
        return
    keyword = type(error.kind).__name__
    kind = _KIND_BY_KEYWORD.get(keyword, ErrorKind.FORMAT)
    where = "/".join(str(part) for part in error.instance_path) or "(payload)"
    raise RpcError(
        kind,
        f"{action}: {where}: {error.message}",
        unique_id=unique_id,
        details={"path": where, "keyword": keyword},
    )


def preload(version: OcppVersion) -> None:
    """Compile every validator of a version up front (start-up, not the first message)."""
    for action in actions(version):
        for response in (False, True):
            try:
                _validator(version, action, response)
            except FileNotFoundError:
                continue
