"""The embedded Toxiproxy-compatible server: API, proxies and data path on one event loop."""

from __future__ import annotations

import asyncio
import secrets
from types import TracebackType

from chaos.faults import timer
from chaos.faults.server import addr, splice
from chaos.faults.server.api import Api
from chaos.faults.server.errors import ApiError
from chaos.faults.server.http_server import HttpServer, Limits
from chaos.faults.server.metrics import ServerMetrics
from chaos.faults.server.registry import ProxyRegistry
from chaos.faults.server.requests import populate
from chaos.faults.server.runtime import Runtime

DEFAULT_PORT = 8474


class ToxiproxyServer:
    """Run inside the current event loop: ``async with ToxiproxyServer(port=0) as s: s.url``.

    ``seed`` makes every random decision (toxicity rolls, jitter, slicer cuts) reproducible;
    ``limits`` bound the API's clients (timeouts, body size, open connections; Go's defaults).
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = DEFAULT_PORT,
        *,
        seed: int | None = None,
        proxy_metrics: bool = False,
        runtime_metrics: bool = False,
        limits: Limits | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.metrics = ServerMetrics(proxy_metrics=proxy_metrics, runtime_metrics=runtime_metrics)
        pipes = splice.PipePool() if splice.available() else None
        self.runtime = Runtime(secrets.randbits(63) if seed is None else seed, pipes, self.metrics)
        self.registry = ProxyRegistry(self.runtime)
        self.api = Api(self.registry, self.metrics)
        self.http = HttpServer(self.api.handle, limits)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def start(self) -> None:
        """Bind the API; raises ``addr.AddrError`` (Go's wording) when it cannot listen."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        sock = await addr.listen(f"{host}:{self.port}")
        self.port = sock.getsockname()[1]
        try:
            await self.http.start(sock)
        except BaseException:
            sock.close()
            raise

    async def load(self, config: bytes) -> list[str]:
        """Apply a JSON array of proxies with /populate semantics; return the problems found."""
        try:
            specs = populate(config)
        except ApiError as exc:
            return [exc.message]
        async with self.api.lock:
            _, error = await self.registry.populate(specs)
        return [] if error is None else [error.message]

    async def close(self) -> None:
        await self.api.leases.close()
        self.registry.close()
        await self.http.close()
        if self.runtime.pipes is not None:
            self.runtime.pipes.close()
        timer.release(asyncio.get_running_loop())

    async def __aenter__(self) -> ToxiproxyServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
