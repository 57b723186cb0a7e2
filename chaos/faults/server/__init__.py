"""The embedded Toxiproxy-compatible server.

In a coroutine: ``async with ToxiproxyServer(port=0, seed=42) as server: ... server.url``.
From synchronous code or tests: ``with EmbeddedToxiproxy(port=0) as proxy: ... proxy.url``.
"""

from __future__ import annotations

from chaos.faults.server.embedded import EmbeddedToxiproxy
from chaos.faults.server.server import DEFAULT_PORT, ToxiproxyServer

__all__ = ["DEFAULT_PORT", "EmbeddedToxiproxy", "ToxiproxyServer"]
