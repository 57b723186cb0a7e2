"""What every proxy of one server shares: the seed and per-link randomness, pipes, metrics."""

from __future__ import annotations

import hashlib
import random
from collections import Counter
from dataclasses import dataclass, field

from chaos.faults.server.metrics import ServerMetrics
from chaos.faults.server.splice import PipePool


@dataclass
class Runtime:
    """What every proxy of one server shares: the seed, the pipe pool, metrics.

    Randomness is not one shared generator: each connection-link draws from its own, derived
    from the seed, the proxy, the link's direction and the connection's ordinal on that proxy.
    So the same seed and the same traffic give the same decisions however the event loop
    interleaves connections (Toxiproxy #274: its ``-seed`` changes nothing).
    """

    seed: int
    pipes: PipePool | None
    metrics: ServerMetrics
    ordinals: Counter[str] = field(default_factory=Counter)
    """Connections accepted per proxy name since the last (re)seed."""

    generation: int = 0
    """Counts reseeds, so holders of long-lived generators (UDP proxies) know to start over."""

    def reseed(self, seed: int) -> None:
        """Start over: connections after this draw as on a server started with ``seed``."""
        self.seed = seed
        self.generation += 1
        self.ordinals.clear()

    def next_ordinal(self, proxy: str) -> int:
        self.ordinals[proxy] += 1
        return self.ordinals[proxy]

    def rng_for(self, *key: object) -> random.Random:
        material = repr((self.seed, *key)).encode()
        return random.Random(int.from_bytes(hashlib.sha256(material).digest()[:16], "big"))
