"""Blocking Toxiproxy client: the shared operations driven over ``httpx.Client``.

For scripts, tests and the CLI. Every method is one operation from ``protocol.Api``; ``run``
drives any operation, including composed ones such as rollback.
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


class ToxiproxyClient:
    """Talks to a Toxiproxy API (a real Toxiproxy or gameday's embedded server).

    ``url`` defaults to ``$TOXIPROXY_URL``, then ``http://127.0.0.1:8474``; ``timeout`` bounds
    every call in seconds.
    """

    def __init__(self, url: str | None = None, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.url = resolve_url(url)
        self.timeout = timeout
        self.api = Api(self.url)
        self._http = httpx.Client(**client_settings(self.url, timeout))

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _send(self, request: HttpRequest) -> HttpResponse:
        try:
            answer = self._http.request(request.method, request.path, content=request.body)
        except httpx.TransportError as exc:
            raise transport_error(self.url, self.timeout, exc) from exc
        return HttpResponse(answer.status_code, answer.content)

    def run(self, operation: Operation[T]) -> T:
        """Drive a sans-IO operation to its result, one HTTP exchange per yielded request."""
        request = next(operation)
        while True:
            response = self._send(request)
            try:
                request = operation.send(response)
            except StopIteration as done:
                result: T = done.value
                return result

    def version(self) -> str:
        return self.run(self.api.version())

    def server_info(self) -> ServerInfo:
        return self.run(self.api.server_info())

    def list_proxies(self) -> dict[str, Proxy]:
        return self.run(self.api.list_proxies())

    def get_proxy(self, name: str) -> Proxy:
        return self.run(self.api.get_proxy(name))

    def create_proxy(
        self,
        name: str,
        upstream: str,
        *,
        listen: str = "127.0.0.1:0",
        enabled: bool = True,
        protocol: ProxyProtocol | None = None,
        run: str | None = None,
    ) -> Proxy:
        return self.run(
            self.api.create_proxy(
                name, upstream, listen=listen, enabled=enabled, protocol=protocol, run=run
            )
        )

    def update_proxy(
        self,
        name: str,
        *,
        listen: str | None = None,
        upstream: str | None = None,
        enabled: bool | None = None,
        run: str | None = None,
        lease_ms: int | None = None,
    ) -> Proxy:
        return self.run(
            self.api.update_proxy(
                name, listen=listen, upstream=upstream, enabled=enabled, run=run, lease_ms=lease_ms
            )
        )

    def enable_proxy(self, name: str) -> Proxy:
        return self.run(self.api.update_proxy(name, enabled=True))

    def disable_proxy(self, name: str) -> Proxy:
        return self.run(self.api.update_proxy(name, enabled=False))

    def delete_proxy(self, name: str) -> None:
        self.run(self.api.delete_proxy(name))

    def list_toxics(self, proxy: str) -> list[Toxic]:
        return self.run(self.api.list_toxics(proxy))

    def get_toxic(self, proxy: str, name: str) -> Toxic:
        return self.run(self.api.get_toxic(proxy, name))

    def add_toxic(
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
        return self.run(
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

    def update_toxic(
        self,
        proxy: str,
        name: str,
        attributes: ToxicAttributes | Mapping[str, Any] | None = None,
        *,
        toxicity: float | None = None,
    ) -> Toxic:
        return self.run(self.api.update_toxic(proxy, name, attributes, toxicity=toxicity))

    def remove_toxic(self, proxy: str, name: str) -> None:
        self.run(self.api.remove_toxic(proxy, name))

    def populate(self, proxies: Iterable[ProxySpec]) -> list[Proxy]:
        return self.run(self.api.populate(proxies))

    def reset(self) -> None:
        self.run(self.api.reset())

    def renew_leases(self, run: str, lease_ms: int) -> int:
        return self.run(self.api.renew_leases(run, lease_ms))

    def set_seed(self, seed: int) -> None:
        self.run(self.api.set_seed(seed))

    def flood_ingress(self, proxy: str) -> str:
        return self.run(self.api.flood_ingress(proxy))
