"""A raw stream server for swarm tests: /gap sends 1 s of audio, 1.5 s of nothing, then goes on;
/drop sends 1 s of audio, then hangs up. Zeros are no audio format: timed at the listeners'
nominal bitrate (``RATE`` bytes/s, one write per ``TICK``)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

RATE = 8000  # bytes/s: 64 kb/s
TICK = 0.1


async def _serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        request = await reader.readuntil(b"\r\n\r\n")
        path = request.split(b" ")[1]
        writer.write(b"HTTP/1.0 200 OK\r\nContent-Type: application/octet-stream\r\n\r\n")
        for tick in range(80):
            if path == b"/drop" and tick == 10:
                break
            if path == b"/gap" and 10 <= tick < 25:
                await asyncio.sleep(TICK)
                continue
            writer.write(b"\0" * int(RATE * TICK))
            await writer.drain()
            await asyncio.sleep(TICK)
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        writer.close()


@contextlib.asynccontextmanager
async def gap_stream_server() -> AsyncIterator[str]:
    """The server's base URL on loopback while the block runs."""
    srv = await asyncio.start_server(_serve, "127.0.0.1", 0)
    port = srv.sockets[0].getsockname()[1]
    async with srv:
        yield f"http://127.0.0.1:{port}"
