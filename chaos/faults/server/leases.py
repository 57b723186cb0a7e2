"""Leases: faults that undo themselves when the harness that set them stops renewing.

A leased toxic is removed, and a proxy disabled under a lease is re-enabled, once its lease runs
out on the server's clock — so a SIGKILLed harness leaves nothing behind. ``LeaseBook`` is the
pure core (deadlines by key, over a caller's clock); ``LeaseKeeper`` is the edge: one task that
sleeps until the next deadline and undoes what is due under the API lock.

Keys are the live objects (a proxy, or a proxy and one of its toxic entries), not names: a toxic
deleted and created again under the same name is a new object, so an old lease cannot remove it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Hashable, Iterable
from typing import Any, Generic, TypeVar

from chaos.faults.server.collection import ToxicEntry
from chaos.faults.server.proxy_base import ProxyBase
from chaos.faults.server.registry import ProxyRegistry
from chaos.runner.run_tag import run_id_of

log = logging.getLogger(__name__)

K = TypeVar("K", bound=Hashable)


class LeaseBook(Generic[K]):
    """Deadlines by key, in seconds on the caller's clock."""

    def __init__(self) -> None:
        self._deadlines: dict[K, float] = {}

    def grant(self, key: K, lease_ms: int, now: float) -> None:
        self._deadlines[key] = now + lease_ms / 1000

    def drop(self, key: K) -> None:
        self._deadlines.pop(key, None)

    def renew(self, keys: Iterable[K], lease_ms: int, now: float) -> int:
        """Extend the leases of those ``keys`` that hold one; how many were extended."""
        renewed = 0
        for key in keys:
            if key in self._deadlines:
                self.grant(key, lease_ms, now)
                renewed += 1
        return renewed

    def leased(self) -> list[K]:
        return list(self._deadlines)

    def next_deadline(self) -> float | None:
        return min(self._deadlines.values(), default=None)

    def due(self, now: float) -> list[K]:
        """Remove and return the keys whose lease has run out, earliest first."""
        expired = sorted(
            (key for key, deadline in self._deadlines.items() if deadline <= now),
            key=self._deadlines.__getitem__,
        )
        for key in expired:
            self.drop(key)
        return expired


LeaseKey = tuple[ProxyBase, ToxicEntry[Any] | None]
"""A leased toxic (its proxy and entry), or a proxy disabled under a lease (entry None)."""


class LeaseKeeper:
    def __init__(
        self,
        registry: ProxyRegistry,
        lock: asyncio.Lock,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.registry = registry
        self.lock = lock
        self.clock = clock
        self.book: LeaseBook[LeaseKey] = LeaseBook()
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def _alive(self, key: LeaseKey) -> bool:
        proxy, entry = key
        if self.registry.proxies.get(proxy.name) is not proxy:
            return False
        return entry is None or entry in proxy.toxics.entries()

    @staticmethod
    def _show(key: LeaseKey, lease_ms: int | None) -> None:
        """What the API echoes as the object's ``lease_ms`` (absent when it has no lease)."""
        proxy, entry = key
        if entry is None:
            proxy.lease_ms = lease_ms
        else:
            entry.lease_ms = lease_ms

    def grant(self, key: LeaseKey, lease_ms: int) -> None:
        self.book.grant(key, lease_ms, self.clock())
        self._show(key, lease_ms)
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._expire())
        self._changed.set()

    def drop(self, key: LeaseKey) -> None:
        self.book.drop(key)
        self._show(key, None)

    def drop_proxy(self, proxy: ProxyBase) -> None:
        """Forget every lease of a proxy (deleted, replaced, or reset)."""
        for key in self.book.leased():
            if key[0] is proxy:
                self.drop(key)

    def renew(self, run: str, lease_ms: int) -> int:
        """Extend every live leased object of ``run``; nothing else changes (no re-roll)."""
        keys = [key for key in self.book.leased() if self._alive(key) and self._run_of(key) == run]
        renewed = self.book.renew(keys, lease_ms, self.clock())
        for key in keys:
            self._show(key, lease_ms)
        self._changed.set()
        return renewed

    @staticmethod
    def _run_of(key: LeaseKey) -> str | None:
        proxy, entry = key
        return proxy.run if entry is None else run_id_of(entry.name)

    async def _expire(self) -> None:
        while True:
            self._changed.clear()
            deadline = self.book.next_deadline()
            timeout = None if deadline is None else max(deadline - self.clock(), 0)
            try:
                await asyncio.wait_for(self._changed.wait(), timeout)
                continue
            except TimeoutError:
                pass
            async with self.lock:
                for key in self.book.due(self.clock()):
                    self._show(key, None)
                    await self._undo(key)

    async def _undo(self, key: LeaseKey) -> None:
        if not self._alive(key):
            return
        proxy, entry = key
        try:
            if entry is None:
                log.info("lease of disabled proxy %s ran out: enabling it", proxy.name)
                await proxy.start()
            else:
                log.info("lease of toxic %s on %s ran out: removing it", entry.name, proxy.name)
                await proxy.toxics.remove(entry)
        except Exception:  # one failed undo (a port taken meanwhile) must not end the keeper
            log.exception("could not undo the expired lease of %s", proxy.name)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.wait({self._task})
            self._task = None
