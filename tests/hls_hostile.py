"""A hostile HLS server, for the bad-input test and ``benchmarks/hls.py``: aiohttp on 127.0.0.1
in a thread, serving a 50 MB playlist, a playlist whose segment is the playlist, a segment that
never ends, and a multivariant playlist whose variant is on another host (127.0.0.2, where a
second server counts the connections it gets: none may come). ``requests`` is every path asked
for, so a check can tell that no request left what the playlists named."""

from __future__ import annotations

import asyncio
import threading
import time

from aiohttp import web

from chaos.workload.arrivals import Storm, build_schedule
from chaos.workload.swarm import ListenerConfig, StreamFormat, Swarm

FOREIGN = "127.0.0.2"
CASES = {  # case: (playlist path, the failure reason every listener must get)
    "50 MB playlist": ("/big.m3u8", "playlist_too_large"),
    "looping playlist": ("/loop.m3u8", "playlist_loop"),
    "never-ending segment": ("/endless.m3u8", "segment_timeout"),
    "variant on another host": ("/foreign.m3u8", "foreign_host"),
}
LISTED = {"/big.m3u8", "/loop.m3u8", "/endless.m3u8", "/endless.aac", "/foreign.m3u8"}


class Hostile:
    """The hostile server, in a thread: what it was asked, and what the other host saw."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        self.foreign_connections = 0
        self.port = 0
        self.foreign_port = 0
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=lambda: asyncio.run(self._serve()), daemon=True)

    def __enter__(self) -> Hostile:
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._loop is not None and self._stop is not None
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)

    async def _serve(self) -> None:
        self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        app = web.Application()
        app.router.add_get("/{name}", self._answer)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self.port = runner.addresses[0][1]

        def counted(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.foreign_connections += 1
            writer.close()

        foreign = await asyncio.start_server(counted, FOREIGN, 0)
        self.foreign_port = foreign.sockets[0].getsockname()[1]
        self._ready.set()
        await self._stop.wait()
        foreign.close()
        await runner.cleanup()

    async def _answer(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        self.requests.append(path)
        media = "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:1\n"
        if path == "/big.m3u8":
            response = web.StreamResponse(headers={"Content-Type": "application/vnd.apple.mpegurl"})
            await response.prepare(request)
            line = b"#EXTINF:2.0,\nsegment.aac\n" * 4096
            with_head = b"#EXTM3U\n#EXT-X-TARGETDURATION:2\n" + line
            sent = 0
            try:
                while sent < 50 * 1024 * 1024:
                    await response.write(with_head if sent == 0 else line)
                    sent += len(line)
            except (ConnectionError, RuntimeError):
                pass
            return response
        if path == "/loop.m3u8":
            return web.Response(text=media + "#EXTINF:2.0,\nloop.m3u8\n" * 3)
        if path == "/endless.m3u8":
            return web.Response(text=media + "#EXTINF:2.0,\nendless.aac\n")
        if path == "/endless.aac":
            response = web.StreamResponse(headers={"Content-Type": "audio/aac"})
            await response.prepare(request)
            try:
                while True:
                    await response.write(b"\xff\xf1" + b"\0" * 100)
                    await asyncio.sleep(0.5)
            except (ConnectionError, RuntimeError):
                pass
            return response
        if path == "/foreign.m3u8":
            variant = f"http://{FOREIGN}:{self.foreign_port}/elsewhere.m3u8"
            return web.Response(text=f"#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=64000\n{variant}\n")
        return web.Response(status=404)


async def bad_input(per_case: int) -> tuple[dict[str, tuple[int, dict[str, int], float]], Hostile]:
    """Per case: (listeners, failures by reason, seconds the swarm took); and the server, to
    check what it was asked."""
    results: dict[str, tuple[int, dict[str, int], float]] = {}
    with Hostile() as hostile:

        async def one(case: str, path: str) -> None:
            began = time.monotonic()
            config = ListenerConfig(
                f"http://127.0.0.1:{hostile.port}{path}", stream=StreamFormat.HLS,
                join_timeout=40, ears=0,
            )  # fmt: skip
            swarm = Swarm(
                build_schedule([Storm(per_case, at=0.0, spread=1.0)], seed=2), config,
                seed=2, duration=30.0, workers=1, sample=0,
            )  # fmt: skip
            stats = (await swarm.run()).stats
            results[case] = (stats.join_attempts, dict(stats.failures), time.monotonic() - began)

        await asyncio.gather(*(one(case, path) for case, (path, _) in CASES.items()))
    return results, hostile
