"""A proxy's toxics per direction and, on TCP proxies, the live links they are attached to.

On a TCP proxy every change is applied to the configuration first and then to each live link of
that direction, so a toxic takes effect on open connections immediately, as in Toxiproxy. A UDP
proxy reads its configuration for every datagram, so there is nothing live to update.
"""

from __future__ import annotations

from typing import Generic, TypeVar

from chaos.faults.server.gojson import Float32
from chaos.faults.server.link import Direction, Link
from chaos.faults.toxics import Toxic, ToxicSchema

S = TypeVar("S", bound=ToxicSchema)


class ToxicEntry(Generic[S]):
    """A configured toxic (Toxiproxy's ToxicWrapper): identity for the chains that run it."""

    __slots__ = ("direction", "lease_ms", "name", "stream", "toxic", "toxicity", "type")

    def __init__(self, name: str, type: str, stream: str, toxicity: float, toxic: S) -> None:
        self.name = name
        self.type = type
        self.stream = stream
        self.direction = Direction(stream.lower())
        self.toxicity = toxicity
        self.toxic = toxic
        self.lease_ms: int | None = None
        """Our extension: the toxic removes itself when this lease runs out (see leases.py)."""

    def to_json(self) -> dict[str, object]:
        shown: dict[str, object] = {
            "attributes": self.toxic.values(),
            "name": self.name,
            "type": self.type,
            "stream": self.stream,
            "toxicity": Float32(self.toxicity),
        }
        if self.lease_ms is not None:
            shown["lease_ms"] = self.lease_ms
        return shown


class ToxicCollection(Generic[S]):
    """The configuration: entries per direction, in creation order."""

    def __init__(self, kind: type[S]) -> None:
        self.kind = kind
        self.chains: dict[Direction, list[ToxicEntry[S]]] = {d: [] for d in Direction}

    def find(self, name: str) -> ToxicEntry[S] | None:
        for entry in self.entries():
            if entry.name == name:
                return entry
        return None

    def entries(self) -> list[ToxicEntry[S]]:
        """Upstream toxics first, each stream in creation order (Toxiproxy's listing order)."""
        return [*self.chains[Direction.UPSTREAM], *self.chains[Direction.DOWNSTREAM]]

    def _own(self, toxic: ToxicSchema) -> S:
        """The request decoder only offers the proxy's own types, so this always holds."""
        assert isinstance(toxic, self.kind), f"{type(toxic).__name__} on a {self.kind} proxy"
        return toxic

    def entry(
        self, name: str, type: str, stream: str, toxicity: float, toxic: ToxicSchema
    ) -> ToxicEntry[S]:
        return ToxicEntry(name, type, stream, toxicity, self._own(toxic))

    async def add(self, entry: ToxicEntry[S]) -> None:
        self.chains[entry.direction].append(entry)

    async def update(self, entry: ToxicEntry[S], toxic: ToxicSchema, toxicity: float) -> None:
        own = self._own(toxic)
        own.succeed(entry.toxic)
        entry.toxic = own
        entry.toxicity = toxicity

    async def remove(self, entry: ToxicEntry[S]) -> None:
        self.chains[entry.direction].remove(entry)

    async def reset(self) -> None:
        for entry in self.entries():
            await self.remove(entry)


class StreamToxics(ToxicCollection[Toxic]):
    """A TCP proxy's toxics, also applied to every live link of their direction."""

    def __init__(self) -> None:
        super().__init__(Toxic)  # type: ignore[type-abstract]  # only for isinstance
        self.links: dict[Direction, set[Link]] = {d: set() for d in Direction}

    def _live(self, direction: Direction) -> list[Link]:
        return [link for link in self.links[direction] if not link.done]

    async def add(self, entry: ToxicEntry[Toxic]) -> None:
        await super().add(entry)
        for link in self._live(entry.direction):
            await link.add_toxic(entry)

    async def update(self, entry: ToxicEntry[Toxic], toxic: ToxicSchema, toxicity: float) -> None:
        await super().update(entry, toxic, toxicity)
        for link in self._live(entry.direction):
            await link.update_toxic(entry)

    async def remove(self, entry: ToxicEntry[Toxic]) -> None:
        await super().remove(entry)
        for link in self._live(entry.direction):
            await link.remove_toxic(entry)
