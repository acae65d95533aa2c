"""A py-spy profile of a running server, summarised as a short table: where the server's CPU
goes per message, by component.

py-spy's `raw` output is one collapsed stack per line: `frame;frame;...;leaf COUNT`, each frame
`function (path/file.py:line)`. Samples of threads that only wait (the event loop in epoll,
aiosqlite's worker threads waiting for work) are counted as idle and left out of the shares,
so that the shares times the measured CPU per message give microseconds per message.

SQLAlchemy's asyncio layer runs ORM code in greenlets, whose stacks py-spy shows without the
caller's frames; components are therefore decided from the frames a stack has, not from which
handler called it.
"""

from __future__ import annotations

import inspect
import re
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from bench import proc

Frame = tuple[str, str, int]  # function, path, line

IDLE = "idle"
OTHER = "other"
_FRAME = re.compile(r"^(?P<function>.*?) \((?P<path>[^()]*?)(?::(?P<line>\d+))?\)$")

_SELECT = ("EpollSelector.select", "PollSelector.select", "KqueueSelector.select", "select")
_WAITS = ("SimpleQueue.get", "Queue.get", "Condition.wait", "Event.wait", "_worker")
_HAND_OFF = (
    "call_soon_threadsafe",
    "_write_to_self",
    "_read_from_self",
    "_process_self_data",
    "run_in_executor",
    "set_result",
)
_COMPILE = ("_compile_w_cache", "Compiled.__init__", "SQLCompiler.__init__")

# Leaf-package components: (name, path fragment), checked from the leaf upwards.
PACKAGES: tuple[tuple[str, str], ...] = (
    ("schema validation (jsonschema-rs)", "central_system/transport/validation.py"),
    ("OCPP-J parse/serialise (orjson)", "central_system/transport/ocppj.py"),
    ("PostgreSQL driver (asyncpg)", "asyncpg/"),
    ("SQLAlchemy ORM/Core: sessions, flush, rows", "sqlalchemy/"),
    ("SQLAlchemy ORM/Core: sessions, flush, rows", "sqlmodel/"),
    ("SQLAlchemy ORM/Core: sessions, flush, rows", "greenlet"),
    ("pydantic (outbox messages)", "pydantic"),
    ("websockets (framing, I/O)", "websockets/"),
    ("websockets (framing, I/O)", "central_system/transport/websocket.py"),
    ("logging", "logging/"),
    ("our code: domain, services, repositories, handlers", "central_system/"),
    ("asyncio event loop, tasks, futures", "asyncio/"),
    ("asyncio event loop, tasks, futures", "selectors.py"),
)


@cache
def _aiosqlite_lines() -> tuple[int, int]:
    """(line of `tx.get()`, line of `function()`) in aiosqlite's worker thread loop."""
    try:
        from aiosqlite import core

        lines, first = inspect.getsourcelines(core._connection_worker_thread)
    except (ImportError, AttributeError, OSError, TypeError):
        return (-1, -1)
    wait = work = -1
    for offset, text in enumerate(lines):
        if "tx.get()" in text and wait < 0:
            wait = first + offset
        if "result = function()" in text and work < 0:
            work = first + offset
    return wait, work


def py_spy_executable() -> str | None:
    candidate = Path(sys.executable).parent / "py-spy"
    if candidate.exists():
        return str(candidate)
    return shutil.which("py-spy")


def record(
    pid: int,
    seconds: float,
    output: Path,
    *,
    rate: int = 250,
    cpu: int | None = None,
    nonblocking: bool = False,
) -> subprocess.Popen[bytes]:
    """Start py-spy sampling `pid` (all threads, idle ones left out) for `seconds`. By default
    py-spy pauses the process for each sample (consistent stacks, a few % overhead)."""
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
            "--threads",
            "--output",
            str(output),
            *(["--nonblocking"] if nonblocking else []),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        preexec_fn=lambda: proc.pin_and_raise(cpu),
    )


Stack = tuple[str, list[Frame], int]  # thread name, frames root..leaf, count
_THREAD = re.compile(r"^thread \((?P<tid>\w+)\)(?:: (?P<name>.*))?$")


def thread_ids(lines: Iterable[str]) -> dict[str, int]:
    """Thread name -> OS thread id, from the `thread (TID): NAME` frames of py-spy's raw
    output (the ids of /proc/PID/task)."""
    ids: dict[str, int] = {}
    for line in lines:
        match = _THREAD.match(line.split(";", 1)[0])
        if match and match.group("name") and match.group("tid").isdigit():
            ids[match.group("name")] = int(match.group("tid"))
    return ids


def parse_raw(lines: Iterable[str]) -> list[Stack]:
    """[(thread name, frames root..leaf, count)] from py-spy raw output (`--threads` puts a
    `thread (TID): NAME` frame first; without it the thread is "")."""
    stacks: list[Stack] = []
    for line in lines:
        line = line.rstrip("\n")
        if not line:
            continue
        stack_text, _, count_text = line.rpartition(" ")
        if not count_text.isdigit():
            continue
        frames: list[Frame] = []
        parts = stack_text.split(";")
        thread = ""
        if parts and (match := _THREAD.match(parts[0])):
            thread = match.group("name") or match.group("tid")
            parts = parts[1:]
        for frame in parts:
            match = _FRAME.match(frame)
            if match:
                number = match.group("line")
                frames.append(
                    (match.group("function"), match.group("path"), int(number) if number else 0)
                )
            else:
                frames.append((frame, "", 0))
        stacks.append((thread, frames, int(count_text)))
    return stacks


# The group-commit writer's thread (central_system/persistence/batch_store.py, SQLite).
WRITER_THREAD = "sqlite-writer_0"
WRITER_SQLITE = "SQLite library: inserts, indexes, WAL writes, commit"
WRITER_BINDING = "rows bound to the statements (bind processors, tuples)"
_BATCH_STORE = "persistence/batch_store.py"


def _writer_component(frames: list[Frame]) -> str | None:
    """The writer thread's components (None: not the writer's code)."""
    if not any(path.endswith(_BATCH_STORE) for _, path, _ in frames):
        return None
    function, path, _ = frames[-1]
    if path.endswith(_BATCH_STORE) and function.endswith("._write"):
        return WRITER_SQLITE  # py-spy shows sqlite3's C code as its Python caller
    if any("pydantic" in p or p.endswith("persistence/outbox.py") for _, p, _ in frames):
        return "pydantic (outbox messages)"
    return WRITER_BINDING


def component_of(frames: list[Frame]) -> str:
    if not frames:
        return OTHER
    function, path, line = frames[-1]
    wait_line, work_line = _aiosqlite_lines()
    if function in _SELECT and path.endswith("selectors.py"):
        return IDLE
    if (writer := _writer_component(frames)) is not None:
        return writer
    if function.endswith(_WAITS) and path.endswith(("threading.py", "queue.py", "thread.py")):
        return IDLE
    if function == "_connection_worker_thread":
        if line == wait_line:
            return IDLE
        if line == work_line:
            return "SQLite library (execute, commit) in aiosqlite threads"
    names = [f for f, _, _ in frames]
    if any(any(name.endswith(h) for h in _HAND_OFF) for name in names) or any(
        "aiosqlite/" in p for _, p, _ in frames
    ):
        return "thread hand-offs (aiosqlite futures, self-pipe wake-ups)"
    if any(any(c in name for c in _COMPILE) for name in names):
        return "SQLAlchemy: compiling SQL statements"
    for _function, path, _line in reversed(frames):
        for name, fragment in PACKAGES:
            if fragment in path:
                return name
    return OTHER


def _short(function: str, path: str) -> str:
    marker = "site-packages/"
    if marker in path:
        path = path.split(marker, 1)[1]
    else:
        for root in ("central_system/", "bench/", "python3"):
            if root in path:
                path = path[path.index(root) :]
                break
    return f"{function} ({path})"


MAIN_THREAD = "MainThread"


@dataclass(frozen=True, slots=True)
class Profile:
    samples: int
    idle: int
    by_component: list[tuple[str, float]]  # (component, share of busy samples 0..1)
    top_functions: list[tuple[str, float]]  # (leaf function, share of busy samples)


def summarise(stacks: list[Stack], top: int = 12, thread: str | None = MAIN_THREAD) -> Profile:
    """Components of the busy samples of `thread` (the event loop's; None: every thread; stacks
    recorded without thread names are all taken)."""
    components: Counter[str] = Counter()
    leaves: Counter[str] = Counter()
    idle = 0
    for name, frames, count in stacks:
        if thread is not None and name and name != thread:
            continue
        component = component_of(frames)
        if component == IDLE:
            idle += count
            continue
        components[component] += count
        if frames:
            function, path, _ = frames[-1]
            leaves[_short(function, path)] += count
    busy = sum(components.values())
    if not busy:
        return Profile(idle, idle, [], [])
    return Profile(
        samples=busy + idle,
        idle=idle,
        by_component=[(name, n / busy) for name, n in components.most_common()],
        top_functions=[(name, n / busy) for name, n in leaves.most_common(top)],
    )


def load(path: Path, thread: str | None = MAIN_THREAD) -> Profile:
    return summarise(parse_raw(path.read_text(errors="replace").splitlines()), thread=thread)
