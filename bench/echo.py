"""The ceiling: a bare websockets server that answers every CALL with a fixed, empty CALLRESULT.

No JSON parsing (the message id is cut out of the frame's text), no validation, no storage: what
is left is the cost of websockets and asyncio per round trip, which no Python central system on
the same stack can beat. It speaks the same subprotocols and keeps websockets' defaults (20 s
pings; compression is not negotiated because the load generator does not offer it).

    python -m bench.echo --port 9100
"""

from __future__ import annotations

import argparse
import asyncio
import logging

from websockets.asyncio.server import ServerConnection, serve
from websockets.typing import Subprotocol

SUBPROTOCOLS = [Subprotocol("ocpp1.6"), Subprotocol("ocpp2.0.1"), Subprotocol("ocpp2.1")]


def answer(message: str | bytes) -> str:
    """`[3,"<id of the CALL>",{}]` for a CALL `[2,"<id>",...]`."""
    text = message.decode() if isinstance(message, bytes) else message
    start = text.index('"') + 1
    end = text.index('"', start)
    return '[3,"' + text[start:end] + '",{}]'


async def handler(websocket: ServerConnection) -> None:
    async for message in websocket:
        await websocket.send(answer(message))


async def run(host: str, port: int) -> None:
    async with serve(handler, host, port, subprotocols=SUBPROTOCOLS) as server:
        bound = server.sockets[0].getsockname()[1]
        print(f"ECHO listening on ws://{host}:{bound}", flush=True)
        await server.serve_forever()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9100)
    parser.add_argument("--uvloop", action="store_true", help="run on uvloop (if installed)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    if args.uvloop:
        import uvloop

        uvloop.run(run(args.host, args.port))
    else:
        asyncio.run(run(args.host, args.port))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
