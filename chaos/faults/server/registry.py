"""All proxies of a server by name, with Toxiproxy's create, populate and reset semantics."""

from __future__ import annotations

from chaos.faults.server.errors import ApiError, proxy_exists, proxy_not_found
from chaos.faults.server.proxy import Proxy
from chaos.faults.server.proxy_base import ProxyBase
from chaos.faults.server.requests import ProxyInput
from chaos.faults.server.runtime import Runtime
from chaos.faults.server.udp import UdpProxy


class ProxyRegistry:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.proxies: dict[str, ProxyBase] = {}

    def get(self, name: str) -> ProxyBase:
        proxy = self.proxies.get(name)
        if proxy is None:
            raise proxy_not_found()
        return proxy

    def _new(self, spec: ProxyInput) -> ProxyBase:
        kind = UdpProxy if spec.ext.protocol == "udp" else Proxy
        return kind(self.runtime, spec.name, spec.listen, spec.upstream, spec.ext)

    async def create(self, spec: ProxyInput) -> ProxyBase:
        if spec.name in self.proxies:
            raise proxy_exists()
        proxy = self._new(spec)
        if spec.enabled:
            await proxy.start()
        self.proxies[spec.name] = proxy
        return proxy

    def delete(self, name: str) -> None:
        self.get(name).close()
        del self.proxies[name]

    async def populate(self, specs: list[ProxyInput]) -> tuple[list[ProxyBase], ApiError | None]:
        """Create or replace in order; an unchanged proxy is kept as it is (toxics, state).

        The first failure stops the run; what was done so far stays done and is reported.
        """
        done: list[ProxyBase] = []
        for spec in specs:
            try:
                done.append(await self._add_or_replace(spec))
            except ApiError as exc:
                return done, exc
        return done, None

    async def _add_or_replace(self, spec: ProxyInput) -> ProxyBase:
        existing = self.proxies.get(spec.name)
        if existing is not None:
            same_kind = (existing.ext.protocol or "tcp") == (spec.ext.protocol or "tcp")
            if same_kind and not await existing.differs(spec.listen, spec.upstream):
                if spec.ext.run is not None:
                    existing.run = spec.ext.run
                return existing
            existing.close()
        proxy = self._new(spec)
        if spec.enabled:
            await proxy.start()
        self.proxies[spec.name] = proxy
        return proxy

    async def reset(self) -> list[ApiError]:
        """Remove every toxic, then re-enable every proxy; what could not listen again.

        Toxiproxy re-enables and clears proxy by proxy and stops at the first that cannot
        re-bind, leaving every fault in place: for a chaos tool the worst outcome. Here the
        faults go first, everywhere, and each proxy that cannot listen is reported (in name
        order) while the others are enabled. Connections without toxics stay open.
        """
        for name in sorted(self.proxies):
            await self.proxies[name].toxics.reset()
        failures: list[ApiError] = []
        for name in sorted(self.proxies):
            try:
                await self.proxies[name].start()
            except ApiError as exc:
                failures.append(exc)
        return failures

    def close(self) -> None:
        for proxy in self.proxies.values():
            proxy.close()
        self.proxies.clear()
