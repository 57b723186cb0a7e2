"""The embedded server on a background thread, for tests and for harness code that is not async.

``EmbeddedToxiproxy(port=0).start()`` returns once the API answers; ``.url`` is then the address
to give a client; ``.stop()`` (or leaving the ``with`` block) closes every proxy and connection.
The thread runs its own event loop (uvloop when installed) so the data path never competes with
the caller's loop, and at real-time priority when the system allows it (``priority``; the
thread alone, ``realtime=False`` to keep the default): it still shares the interpreter lock with
the caller, so a caller busy in Python delays it by up to ``sys.getswitchinterval()``; a
separate process (``gameday proxy serve``, what runs use) does not.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from types import TracebackType

from chaos.faults.server import priority
from chaos.faults.server.http_server import Limits
from chaos.faults.server.server import DEFAULT_PORT, ToxiproxyServer


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop]:
    """uvloop's event loop when installed (faster data path), else asyncio's."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


class EmbeddedToxiproxy:
    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = DEFAULT_PORT,
        *,
        seed: int | None = None,
        proxy_metrics: bool = False,
        runtime_metrics: bool = False,
        limits: Limits | None = None,
        realtime: bool = True,
    ) -> None:
        self.realtime = realtime
        self.server = ToxiproxyServer(
            host,
            port,
            seed=seed,
            proxy_metrics=proxy_metrics,
            runtime_metrics=runtime_metrics,
            limits=limits,
        )
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopped: asyncio.Event | None = None

    @property
    def url(self) -> str:
        return self.server.url

    def start(self) -> EmbeddedToxiproxy:
        ready = threading.Event()
        failure: list[BaseException] = []

        async def main() -> None:
            self._stopped = asyncio.Event()
            try:
                await self.server.start()
            except BaseException as exc:
                failure.append(exc)
                ready.set()
                return
            self._loop = asyncio.get_running_loop()
            ready.set()
            try:
                await self._stopped.wait()
            finally:
                await self.server.close()

        def run() -> None:
            if self.realtime:
                priority.raise_priority()
            try:
                with asyncio.Runner(loop_factory=loop_factory()) as runner:
                    runner.run(main())
            except BaseException as exc:  # reported to start(), which would otherwise wait forever
                failure.append(exc)
            finally:
                ready.set()

        self._thread = threading.Thread(target=run, name="embedded-toxiproxy", daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            self._thread.join()
            raise failure[0]
        return self

    def stop(self) -> None:
        loop, stopped, thread = self._loop, self._stopped, self._thread
        if loop is None or stopped is None or thread is None:
            return
        loop.call_soon_threadsafe(stopped.set)
        thread.join()
        self._loop = self._thread = None

    def __enter__(self) -> EmbeddedToxiproxy:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
