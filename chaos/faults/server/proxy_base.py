"""What every proxy is, whatever it carries: identity, addresses, toxics, extension fields.

Start/stop/update follow Toxiproxy's rules: a change of listen or upstream stops the proxy —
closing the listener and every open connection or session — and starts it again if it stays
enabled; the toxics survive. ``listen`` shows the real bound address once started.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar

from chaos.faults.server import addr
from chaos.faults.server.collection import ToxicCollection
from chaos.faults.server.errors import internal
from chaos.faults.server.extensions import ProxyExtensions
from chaos.faults.server.runtime import Runtime
from chaos.faults.toxics import ToxicSchema


class ProxyBase(ABC):
    toxic_types: ClassVar[Mapping[str, type[ToxicSchema]]]
    """The toxic types this kind of proxy takes (TCP: Toxiproxy's and ours; UDP: datagram)."""

    def __init__(
        self, runtime: Runtime, name: str, listen: str, upstream: str, ext: ProxyExtensions
    ) -> None:
        self.runtime = runtime
        self.name = name
        self.listen = listen
        self.upstream = upstream
        self.enabled = False
        self.ext = ext
        """Extension fields as given at creation: echoed only when set."""
        self.run = ext.run
        self.lease_ms: int | None = None
        """Set while the proxy is disabled under a lease (see leases.py)."""
        self.toxics: ToxicCollection[Any] = self._toxics()

    @abstractmethod
    def _toxics(self) -> ToxicCollection[Any]:
        """This kind's toxic collection."""

    @abstractmethod
    async def start(self) -> None:
        """Bind and serve; on failure the proxy stays disabled and the error is a 500."""

    @abstractmethod
    def stop(self) -> None:
        """Close the listener and every connection or session."""

    def close(self) -> None:
        """Stop for good (the proxy is deleted or replaced): also what outlives a disable."""
        self.stop()

    def to_json(self) -> dict[str, object]:
        shown: dict[str, object] = {
            "name": self.name,
            "listen": self.listen,
            "upstream": self.upstream,
            "enabled": self.enabled,
            "Logger": {},
            "toxics": [entry.to_json() for entry in self.toxics.entries()],
        }
        extensions = {"protocol": self.ext.protocol, "run": self.run, "lease_ms": self.lease_ms}
        shown.update((key, value) for key, value in extensions.items() if value is not None)
        return shown

    async def differs(self, listen: str, upstream: str) -> bool:
        """Toxiproxy's test: resolved new listen differs from the current, or upstream does."""
        try:
            resolved = await addr.resolve(listen)
        except addr.AddrError as exc:
            raise internal(str(exc)) from None
        return str(resolved) != self.listen or upstream != self.upstream

    async def update(self, listen: str, upstream: str, enabled: bool) -> None:
        if await self.differs(listen, upstream):
            self.stop()
            self.listen = listen
            self.upstream = upstream
        if enabled != self.enabled:
            if enabled:
                await self.start()
            else:
                self.stop()
