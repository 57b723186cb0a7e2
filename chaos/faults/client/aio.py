"""Asyncio Toxiproxy client: the shared operations driven over ``httpx.AsyncClient``.

For the run timeline, guards and rollback inside the event loop. Every method is one operation
from ``protocol.Api``; ``run`` drives any operation, including composed ones such as rollback.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import Any, Self, TypeVar

import httpx

from chaos.faults.client.models import Protocol as ProxyProtocol
from chaos.faults.client.models import Proxy, ProxySpec, ServerInfo, Stream, Toxic, ToxicAttributes
from chaos.faults.client.protocol import Api, HttpRequest, HttpResponse, Operation, resolve_url
from chaos.faults.client.transport import DEFAULT_TIMEOUT, client_settings, transport_error

T = TypeVar("T")


class AsyncToxiproxyClient:
    """Talks to a Toxiproxy API (a real Toxiproxy or gameday's embedded server).

    ``url`` defaults to ``$TOXIPROXY_URL``, then ``http://127.0.0.1:8474``; ``timeout`` bounds
    every call in seconds.
    """

    def __init__(self, url: str | None = None, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.url = resolve_url(url)
        self.timeout = timeout
        self.api = Api(self.url)
        self._http = httpx.AsyncClient(**client_settings(self.url, timeout))

    def set_timeout(self, timeout: float) -> None:
        """Bound every later call by ``timeout`` seconds (e.g. short, once the server is lost)."""
        self.timeout = timeout
        self._http.timeout = httpx.Timeout(timeout)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _send(self, request: HttpRequest) -> HttpResponse:
        try:
            answer = await self._http.request(request.method, request.path, content=request.body)
        except httpx.TransportError as exc:
            raise transport_error(self.url, self.timeout, exc) from exc
        return HttpResponse(answer.status_code, answer.content)

    async def run(self, operation: Operation[T]) -> T:
        """Drive a sans-IO operation to its result, one HTTP exchange per yielded request."""
        request = next(operation)
        while True:
            response = await self._send(request)
            try:
                request = operation.send(response)
            except StopIteration as done:
                result: T = done.value
                return result

    async def version(self) -> str:
        return await self.run(self.api.version())

    async def server_info(self) -> ServerInfo:
        return await self.run(self.api.server_info())

    async def list_proxies(self) -> dict[str, Proxy]:
        return await self.run(self.api.list_proxies())

    async def get_proxy(self, name: str) -> Proxy:
        return await self.run(self.api.get_proxy(name))

    async def create_proxy(
        self,
        name: str,
        upstream: str,
        *,
        listen: str = "127.0.0.1:0",
        enabled: bool = True,
        protocol: ProxyProtocol | None = None,
        run: str | None = None,
    ) -> Proxy:
        return await self.run(
            self.api.create_proxy(
                name, upstream, listen=listen, enabled=enabled, protocol=protocol, run=run
            )
        )

    async def update_proxy(
        self,
        name: str,
        *,
        listen: str | None = None,
        upstream: str | None = None,
        enabled: bool | None = None,
        run: str | None = None,
        lease_ms: int | None = None,
    ) -> Proxy:
        return await self.run(
            self.api.update_proxy(
                name, listen=listen, upstream=upstream, enabled=enabled, run=run, lease_ms=lease_ms
            )
        )

    async def enable_proxy(self, name: str) -> Proxy:
        return await self.run(self.api.update_proxy(name, enabled=True))

    async def disable_proxy(self, name: str) -> Proxy:
        return await self.run(self.api.update_proxy(name, enabled=False))

    async def delete_proxy(self, name: str) -> None:
        await self.run(self.api.delete_proxy(name))

    async def list_toxics(self, proxy: str) -> list[Toxic]:
        return await self.run(self.api.list_toxics(proxy))

    async def get_toxic(self, proxy: str, name: str) -> Toxic:
        return await self.run(self.api.get_toxic(proxy, name))

    async def add_toxic(
        self,
        proxy: str,
        attributes: ToxicAttributes | Mapping[str, Any],
        *,
        type: str | None = None,
        name: str | None = None,
        stream: Stream = "downstream",
        toxicity: float = 1.0,
        lease_ms: int | None = None,
    ) -> Toxic:
        return await self.run(
            self.api.add_toxic(
                proxy,
                attributes,
                type=type,
                name=name,
                stream=stream,
                toxicity=toxicity,
                lease_ms=lease_ms,
            )
        )

    async def update_toxic(
        self,
        proxy: str,
        name: str,
        attributes: ToxicAttributes | Mapping[str, Any] | None = None,
        *,
        toxicity: float | None = None,
    ) -> Toxic:
        return await self.run(self.api.update_toxic(proxy, name, attributes, toxicity=toxicity))

    async def remove_toxic(self, proxy: str, name: str) -> None:
        await self.run(self.api.remove_toxic(proxy, name))

    async def populate(self, proxies: Iterable[ProxySpec]) -> list[Proxy]:
        return await self.run(self.api.populate(proxies))

    async def reset(self) -> None:
        await self.run(self.api.reset())

    async def renew_leases(self, run: str, lease_ms: int) -> int:
        return await self.run(self.api.renew_leases(run, lease_ms))

    async def set_seed(self, seed: int) -> None:
        await self.run(self.api.set_seed(seed))

    async def flood_ingress(self, proxy: str) -> str:
        return await self.run(self.api.flood_ingress(proxy))
