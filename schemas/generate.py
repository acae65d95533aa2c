"""Write the JSON Schema files of the MQTT payloads: ``python -m schemas.generate [--check]``.

The files in ``schemas/json/`` are generated from `schemas.telemetry` and committed, so partners can
validate messages without Python; a test fails when they are stale. ``--check`` only compares and
exits 1 when a file differs.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter

from schemas.telemetry import (
    SCHEMA_VERSION,
    MeterMessage,
    SessionTopicMessage,
    ShadowUpdate,
    SignalMessage,
    StatusTopicMessage,
    TelemetryMessage,
)

JSON_DIR = Path(__file__).parent / "json"
DRAFT = "https://json-schema.org/draft/2020-12/schema"
ID_BASE = "https://evcharge.invalid/schemas/"

# file stem -> (payload type, title, description)
DOCUMENTS: dict[str, tuple[Any, str, str]] = {
    "status": (
        StatusTopicMessage,
        "dt/evcharge/{station}/status",
        "Connector status changes and station connection changes.",
    ),
    "meter": (MeterMessage, "dt/evcharge/{station}/meter", "Sampled meter values of one EVSE."),
    "session": (
        SessionTopicMessage,
        "dt/evcharge/{station}/session",
        "Charging sessions started and ended, and their receipts.",
    ),
    "signal": (SignalMessage, "dt/evcharge/{station}/signal", "Mobile network signal strength."),
    "shadow-update": (
        ShadowUpdate,
        "$aws/things/{thing}/shadow/update",
        "Device-shadow update: the station's last known state, reported.",
    ),
    "telemetry": (
        TelemetryMessage,
        "dt/evcharge/{station}/#",
        "Any message on the telemetry topics (discriminated by 'event').",
    ),
}


def schema_document(stem: str) -> dict[str, Any]:
    payload_type, title, description = DOCUMENTS[stem]
    schema = TypeAdapter(payload_type).json_schema(mode="serialization")
    return {
        "$schema": DRAFT,
        "$id": f"{ID_BASE}v{SCHEMA_VERSION}/{stem}.schema.json",
        "title": title,
        "description": description,
        **{key: value for key, value in schema.items() if key not in ("title", "description")},
    }


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def expected_files() -> dict[str, str]:
    """File name -> content, as this version of the models generates them."""
    return {f"{stem}.schema.json": render(schema_document(stem)) for stem in DOCUMENTS}


def stale_files(directory: Path = JSON_DIR) -> list[str]:
    """Names of the files that are missing, different, or no longer generated."""
    expected = expected_files()
    stale = [
        name
        for name, content in expected.items()
        if not (directory / name).is_file()
        or (directory / name).read_text(encoding="utf-8") != content
    ]
    if directory.is_dir():
        stale += sorted(
            path.name for path in directory.glob("*.schema.json") if path.name not in expected
        )
    return stale


def write(directory: Path = JSON_DIR) -> list[str]:
    directory.mkdir(parents=True, exist_ok=True)
    expected = expected_files()
    for path in directory.glob("*.schema.json"):
        if path.name not in expected:
            path.unlink()
    for name, content in expected.items():
        (directory / name).write_text(content, encoding="utf-8")
    return sorted(expected)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m schemas.generate", description=__doc__)
    parser.add_argument("--check", action="store_true", help="compare only; exit 1 when stale")
    args = parser.parse_args(argv)
    if args.check:
        stale = stale_files()
        if stale:
            print(
                f"stale JSON Schema files in {JSON_DIR}: {', '.join(stale)}; "
                "run `python -m schemas.generate`",
                file=sys.stderr,
            )
            return 1
        print("JSON Schema files are up to date")
        return 0
    for name in write():
        print(JSON_DIR / name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
