"""The runner's side of the load generator: one or more `python -m bench.load` processes,
commands sent to all of them with the same start time, answers merged."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

from bench.frames import V16, V201

STATION_PREFIX = {V16: "B16-", V201: "B201-"}
REPO_ROOT = str(Path(__file__).resolve().parent.parent)


class GeneratorProcess:
    def __init__(self, process: asyncio.subprocess.Process, source: str) -> None:
        self.process = process
        self.source = source

    @classmethod
    async def start(
        cls, port: int, source: str, cpu: int | None, log_path: Path
    ) -> GeneratorProcess:
        argv = [sys.executable, "-m", "bench.load", "--port", str(port), "--source", source]
        if cpu is not None:
            argv += ["--cpu", str(cpu)]
        log = log_path.open("ab")
        process = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=log,
            limit=1 << 28,
            cwd=REPO_ROOT,
        )
        log.close()
        return cls(process, source)

    @property
    def pid(self) -> int:
        return self.process.pid

    async def request(self, command: dict[str, Any]) -> dict[str, Any]:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps(command).encode() + b"\n")
        await self.process.stdin.drain()
        line = await self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"the load generator {self.pid} exited")
        reply: dict[str, Any] = json.loads(line)
        if not reply.get("ok"):
            raise RuntimeError(f"the load generator failed: {reply.get('error')}")
        return reply

    async def quit(self) -> None:
        if self.process.returncode is None:
            try:
                await asyncio.wait_for(self.request({"cmd": "quit"}), 10)
                await asyncio.wait_for(self.process.wait(), 10)
            except (TimeoutError, RuntimeError, BrokenPipeError, ConnectionResetError):
                self.process.kill()
                await self.process.wait()


class Fleet:
    """Stations spread over generator processes; process k uses source address 127.0.0.(k+2)."""

    def __init__(self, generators: list[GeneratorProcess]) -> None:
        self.generators = generators
        self.next_index = {V16: 0, V201: 0}

    @classmethod
    async def start(cls, port: int, processes: int, cpu: int | None, log_path: Path) -> Fleet:
        generators = [
            await GeneratorProcess.start(port, f"127.0.0.{k + 2}", cpu, log_path)
            for k in range(processes)
        ]
        return cls(generators)

    async def setup(
        self,
        version: str,
        count: int,
        *,
        transaction: bool = True,
        prime: int = 0,
        concurrency: int = 32,
        timeout: float = 120.0,
    ) -> dict[str, Any]:
        """Connect `count` new stations of `version`, spread evenly over the processes."""
        first = self.next_index[version]
        self.next_index[version] += count
        shares = [count // len(self.generators)] * len(self.generators)
        for k in range(count % len(self.generators)):
            shares[k] += 1
        commands = []
        index = first
        for share in shares:
            prefix = STATION_PREFIX[version]
            stations = [[i, f"{prefix}{i:05d}", version] for i in range(index, index + share)]
            index += share
            commands.append(
                {
                    "cmd": "setup",
                    "stations": stations,
                    "transaction": transaction,
                    "prime": prime,
                    "concurrency": concurrency,
                    "timeout": timeout,
                }
            )
        started = time.perf_counter()
        replies = await asyncio.gather(
            *(g.request(c) for g, c in zip(self.generators, commands, strict=True))
        )
        failures: dict[str, int] = {}
        for reply in replies:
            for reason, n in reply["failures"].items():
                failures[reason] = failures.get(reason, 0) + n
        return {
            "connected": sum(r["connected"] for r in replies),
            "failed": sum(r["failed"] for r in replies),
            "failures": failures,
            "seconds": time.perf_counter() - started,
        }

    async def broadcast(self, command: dict[str, Any]) -> list[dict[str, Any]]:
        return list(await asyncio.gather(*(g.request(dict(command)) for g in self.generators)))

    async def loop(self, command: dict[str, Any]) -> dict[str, Any]:
        """A closed or open loop on every process; the total rate is split between them."""
        per_process = dict(command)
        if "rate" in command:
            per_process["rate"] = command["rate"] / len(self.generators)
        replies = await self.broadcast(per_process)
        errors: list[str] = []
        for reply in replies:
            errors.extend(reply["error_samples"])
        return {
            "completed": sum(r["completed"] for r in replies),
            "rate": sum(r["rate"] for r in replies),
            "latencies_us": [v for r in replies for v in r["latencies_us"]],
            "errors": sum(r["errors"] for r in replies),
            "error_samples": errors[:5],
            "lost": sum(r["lost"] for r in replies),
            "stations": sum(r["stations"] for r in replies),
            "generator_cpu": max(r["generator_cpu"] for r in replies),
            "unexpected_disconnects": sum(r["unexpected_disconnects"] for r in replies),
            "late_answers": sum(r["late_answers"] for r in replies),
            "scheduled": sum(r.get("scheduled", 0) for r in replies),
        }

    async def status(self) -> dict[str, Any]:
        replies = await self.broadcast({"cmd": "status"})
        return {
            "stations": sum(r["stations"] for r in replies),
            "open": sum(r["open"] for r in replies),
            "pings": sum(r["pings"] for r in replies),
            "unexpected_disconnects": sum(r["unexpected_disconnects"] for r in replies),
            "meter_answered": {
                V16: sum(r["meter_answered"][V16] for r in replies),
                V201: sum(r["meter_answered"][V201] for r in replies),
            },
            "meter_sent": sum(r["meter_sent"] for r in replies),
            "with_transaction": sum(r["with_transaction"] for r in replies),
            "remote_start_failures": [f for r in replies for f in r["remote_start_failures"]],
            "server_calls": sum(r["server_calls"] for r in replies),
            "cpu_s": sum(r["cpu_s"] for r in replies),
        }

    async def quit(self) -> None:
        await asyncio.gather(*(g.quit() for g in self.generators))
