"""A py-spy profile of a running server, summarised as a short table: where the server's CPU
goes per message (self time by component, and inclusive time of the busiest functions).

py-spy's `raw` output is one collapsed stack per line: `frame;frame;...;leaf COUNT`, each frame
`function (path/file.py:line)`.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from bench import proc

# (component, path fragment), first match from the leaf upwards wins.
COMPONENTS: tuple[tuple[str, str], ...] = (
    ("schema validation (jsonschema-rs)", "central_system/transport/validation.py"),
    ("OCPP-J parse/serialise (orjson)", "central_system/transport/ocppj.py"),
    ("SQLite driver (aiosqlite threads)", "aiosqlite/"),
    ("SQLite driver (aiosqlite threads)", "sqlite3/"),
    ("PostgreSQL driver (asyncpg)", "asyncpg/"),
    ("SQLAlchemy ORM/Core", "sqlalchemy/"),
    ("SQLModel", "sqlmodel/"),
    ("pydantic (outbox messages, settings)", "pydantic"),
    ("websockets", "websockets/"),
    ("logging", "logging/"),
    ("domain (metering, transactions)", "central_system/domain/"),
    ("services", "central_system/services/"),
    ("persistence (repositories, outbox)", "central_system/persistence/"),
    ("transport (connection, handlers)", "central_system/transport/"),
    ("asyncio event loop", "asyncio/"),
    ("uuid/datetime/decimal (stdlib)", "uuid.py"),
    ("threading (thread pool hand-off)", "threading.py"),
    ("threading (thread pool hand-off)", "concurrent/futures/"),
)
OTHER = "other"
_FRAME = re.compile(r"^(?P<function>.*?) \((?P<path>[^()]*?)(?::(?P<line>\d+))?\)$")


def py_spy_executable() -> str | None:
    candidate = Path(sys.executable).parent / "py-spy"
    if candidate.exists():
        return str(candidate)
    return shutil.which("py-spy")


def record(
    pid: int, seconds: float, output: Path, *, rate: int = 250, cpu: int | None = None
) -> subprocess.Popen[bytes]:
    """Start py-spy sampling `pid` (all threads, idle ones excluded) for `seconds`."""
    executable = py_spy_executable()
    if executable is None:
        raise FileNotFoundError("py-spy is not installed (.venv/bin/pip install py-spy)")
    return subprocess.Popen(
        [
            executable,
            "record",
            "--pid",
            str(pid),
            "--duration",
            str(max(1, round(seconds))),
            "--rate",
            str(rate),
            "--format",
            "raw",
            "--output",
            str(output),
            "--nonblocking",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        preexec_fn=lambda: proc.pin_and_raise(cpu),
    )


def parse_raw(lines: Iterable[str]) -> list[tuple[list[tuple[str, str]], int]]:
    """[(frames root..leaf as (function, path)), count] from py-spy raw output."""
    stacks = []
    for line in lines:
        line = line.rstrip("\n")
        if not line:
            continue
        stack_text, _, count_text = line.rpartition(" ")
        if not count_text.isdigit():
            continue
        frames = []
        for frame in stack_text.split(";"):
            match = _FRAME.match(frame)
            if match:
                frames.append((match.group("function"), match.group("path")))
            else:
                frames.append((frame, ""))
        stacks.append((frames, int(count_text)))
    return stacks


def component_of(frames: list[tuple[str, str]]) -> str:
    for function, path in reversed(frames):
        for name, fragment in COMPONENTS:
            if fragment in path:
                return name
        if path.endswith(("uuid.py", "_pydecimal.py", "datetime.py")) or function in (
            "uuid4",
            "now",
        ):
            return "uuid/datetime/decimal (stdlib)"
    return OTHER


def _short(function: str, path: str) -> str:
    marker = "site-packages/"
    if marker in path:
        path = path.split(marker, 1)[1]
    elif "/work/" in path or path.startswith("/"):
        for root in ("central_system/", "bench/", "lib/python"):
            if root in path:
                path = path[path.index(root) :]
                break
    return f"{function} ({path})"


@dataclass(frozen=True, slots=True)
class Profile:
    samples: int
    self_by_component: list[tuple[str, float]]  # (component, share 0..1)
    inclusive: list[tuple[str, float]]  # (function, share 0..1)


_UNINTERESTING = (
    "asyncio/",
    "threading.py",
    "concurrent/futures/",
    "<module>",
    "contextlib.py",
)


def summarise(stacks: list[tuple[list[tuple[str, str]], int]], top: int = 14) -> Profile:
    total = sum(count for _, count in stacks)
    components: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    for frames, count in stacks:
        components[component_of(frames)] += count
        seen = set()
        for function, path in frames:
            if not path or any(u in path or u == function for u in _UNINTERESTING):
                continue
            if "central_system/" not in path and "sqlalchemy/" not in path:
                continue
            key = _short(function, path)
            if key not in seen:
                seen.add(key)
                inclusive[key] += count
    if not total:
        return Profile(0, [], [])
    return Profile(
        samples=total,
        self_by_component=[(name, n / total) for name, n in components.most_common()],
        inclusive=[(name, n / total) for name, n in inclusive.most_common(top)],
    )


def load(path: Path) -> Profile:
    return summarise(parse_raw(path.read_text(errors="replace").splitlines()))
