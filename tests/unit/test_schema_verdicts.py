"""Our compiled validators (jsonschema-rs) give the same verdict as the `ocpp` package's own
validation (jsonschema, Draft 4, with its Decimal handling of the 1.6 charging schedules) on a
corpus of valid and invalid payloads: for every request and response schema of 1.6 and 2.0.1, a
minimal and a complete payload built from the schema, and mutations of each (a key removed, a
value of the wrong type, out of range, too long, not in the enumeration, an unknown key)."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from importlib.resources import files
from typing import Any

import orjson
import pytest
from ocpp.exceptions import OCPPError
from ocpp.messages import Call, CallResult, _validate_payload

from central_system.transport.ocppj import OcppVersion, RpcError
from central_system.transport.validation import actions, validate

Path = tuple[str | int, ...]
TIMESTAMP = "2026-11-27T10:00:00Z"


def schema_of(version: OcppVersion, action: str, response: bool) -> dict[str, Any] | None:
    suffix = "Response" if response else ("" if version is OcppVersion.V16 else "Request")
    package = {OcppVersion.V16: "ocpp.v16", OcppVersion.V201: "ocpp.v201"}[version]
    path = files(package).joinpath("schemas", f"{action}{suffix}.json")
    if not path.is_file():
        return None
    schema: dict[str, Any] = json.loads(path.read_text(encoding="utf-8-sig"))
    return schema


def resolve(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        target: Any = root
        for part in schema["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        schema = target
    return schema


def example(schema: dict[str, Any], root: dict[str, Any], complete: bool, depth: int = 0) -> Any:
    """A value the schema accepts: required properties only, or every property."""
    schema = resolve(schema, root)
    kind = schema.get("type")
    if "enum" in schema:
        return schema["enum"][-1 if complete else 0]
    if kind == "object" or "properties" in schema:
        names = schema.get("properties", {})
        wanted = names if complete and depth < 4 else schema.get("required", [])
        return {name: example(names[name], root, complete, depth + 1) for name in wanted}
    if kind == "array":
        count = max(schema.get("minItems", 1 if complete else 0), 0)
        return [example(schema["items"], root, complete, depth + 1) for _ in range(count)]
    if kind == "string":
        if schema.get("format") == "date-time":
            return TIMESTAMP
        return "x" * max(schema.get("minLength", 1), min(schema.get("maxLength", 8), 8))
    if kind == "integer":
        return int(schema.get("minimum", 1))
    if kind == "number":
        return 21.4 if "multipleOf" in schema else 1.5
    if kind == "boolean":
        return True
    return "x"


def paths(value: Any, prefix: Path = ()) -> Iterator[Path]:
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from paths(item, (*prefix, index))


def replaced(payload: Any, path: Path, new: Any) -> Any:
    result = copy.deepcopy(payload)
    target = result
    for part in path[:-1]:
        target = target[part]
    if new is _REMOVE:
        del target[path[-1]]
    else:
        target[path[-1]] = new
    return result


_REMOVE = object()


def wrong_values(value: Any) -> list[Any]:
    if isinstance(value, bool):
        return ["true", 1]
    if isinstance(value, int):
        return ["1", 1.5, -1, 10**12, None]
    if isinstance(value, float):
        return ["1.5", 4.11, -0.1, True]
    if isinstance(value, str):
        return [42, "", "y" * 600, "NotInTheEnumeration", None]
    if isinstance(value, list):
        return [{}, [], "x"]
    if isinstance(value, dict):
        return [[], "x", {**value, "unknownKey": 1}]
    return [None]


def corpus(schema: dict[str, Any]) -> Iterator[Any]:
    for complete in (False, True):
        payload = example(schema, schema, complete)
        yield payload
        for path in list(paths(payload))[1:]:
            yield replaced(payload, path, _REMOVE)
            for wrong in wrong_values(_at(payload, path)):
                yield replaced(payload, path, wrong)
        yield {**payload, "unknownKey": 1}


def _at(payload: Any, path: Path) -> Any:
    for part in path:
        payload = payload[part]
    return payload


def official_accepts(version: OcppVersion, action: str, response: bool, payload: Any) -> bool:
    message: Call | CallResult = (
        CallResult("1", copy.deepcopy(payload), action)
        if response
        else Call("1", action, copy.deepcopy(payload))
    )
    try:
        _validate_payload(message, version.value)
    except OCPPError:
        return False
    return True


def ours_accepts(version: OcppVersion, action: str, response: bool, payload: Any) -> bool:
    try:
        validate(version, action, orjson.loads(orjson.dumps(payload)), response=response)
    except RpcError:
        return False
    return True


@pytest.mark.parametrize("version", [OcppVersion.V16, OcppVersion.V201])
def test_same_verdicts_as_the_ocpp_package_on_a_corpus(version: OcppVersion) -> None:
    checked = valid = 0
    disagreements = []
    for action in sorted(actions(version)):
        for response in (False, True):
            schema = schema_of(version, action, response)
            if schema is None:
                continue
            for payload in corpus(schema):
                official = official_accepts(version, action, response, payload)
                checked += 1
                valid += official
                if ours_accepts(version, action, response, payload) != official:
                    disagreements.append((action, response, official, payload))
    assert disagreements == []
    # the corpus has both kinds in numbers (the examples built from the schemas are valid)
    assert valid > 2 * len(actions(version)) and checked - valid > 20 * len(actions(version))
