"""A proxy's toxics per direction, and the live links they are attached to.

Every change is applied to the configuration first and then to each live link of that direction,
so a toxic takes effect on open connections immediately, as in Toxiproxy.
"""

from __future__ import annotations

from chaos.faults.server.gojson import Float32
from chaos.faults.server.link import Direction, Link
from chaos.faults.toxics import Toxic


class ToxicEntry:
    """A configured toxic (Toxiproxy's ToxicWrapper): identity for the chains that run it."""

    __slots__ = ("direction", "name", "stream", "toxic", "toxicity", "type")

    def __init__(self, name: str, type: str, stream: str, toxicity: float, toxic: Toxic) -> None:
        self.name = name
        self.type = type
        self.stream = stream
        self.direction = Direction(stream.lower())
        self.toxicity = toxicity
        self.toxic = toxic

    def to_json(self) -> dict[str, object]:
        return {
            "attributes": dict(self.toxic.attributes),
            "name": self.name,
            "type": self.type,
            "stream": self.stream,
            "toxicity": Float32(self.toxicity),
        }


class ToxicCollection:
    def __init__(self) -> None:
        self.chains: dict[Direction, list[ToxicEntry]] = {d: [] for d in Direction}
        self.links: dict[Direction, set[Link]] = {d: set() for d in Direction}

    def find(self, name: str) -> ToxicEntry | None:
        for entry in self.entries():
            if entry.name == name:
                return entry
        return None

    def entries(self) -> list[ToxicEntry]:
        """Upstream toxics first, each stream in creation order (Toxiproxy's listing order)."""
        return [*self.chains[Direction.UPSTREAM], *self.chains[Direction.DOWNSTREAM]]

    def _live(self, direction: Direction) -> list[Link]:
        return [link for link in self.links[direction] if not link.done]

    async def add(self, entry: ToxicEntry) -> None:
        self.chains[entry.direction].append(entry)
        for link in self._live(entry.direction):
            await link.add_toxic(entry)

    async def update(self, entry: ToxicEntry, toxic: Toxic, toxicity: float) -> None:
        entry.toxic = toxic
        entry.toxicity = toxicity
        for link in self._live(entry.direction):
            await link.update_toxic(entry)

    async def remove(self, entry: ToxicEntry) -> None:
        self.chains[entry.direction].remove(entry)
        for link in self._live(entry.direction):
            await link.remove_toxic(entry)

    async def reset(self) -> None:
        for entry in self.entries():
            await self.remove(entry)
