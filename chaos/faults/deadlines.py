"""Pending deadlines in release order: the pure core of the data path's precise timer.

A min-heap of (deadline, push order): what is due comes out earliest first, and deadlines that
tie come out in the order they were pushed, so two datagrams a toxic gave the same due time
leave in the order they arrived. Nothing is released before its deadline: the caller passes the
time, and ``pop_due(now)`` never returns an entry whose deadline is after ``now``. Cancelling
only marks an entry; it is dropped when it reaches the head (cheaper than removing it from the
middle of the heap, and a cancelled deadline never wakes anyone).
"""

from __future__ import annotations

import heapq
import itertools
import math
from typing import Generic, TypeVar

T = TypeVar("T")


class Entry(Generic[T]):
    """One pushed deadline; ``cancel()`` keeps its item from ever being released."""

    __slots__ = ("cancelled", "deadline", "item", "order")

    def __init__(self, deadline: float, order: int, item: T) -> None:
        self.deadline = deadline
        self.order = order
        self.item = item
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True

    def __lt__(self, other: Entry[T]) -> bool:
        return (self.deadline, self.order) < (other.deadline, other.order)


class DeadlineQueue(Generic[T]):
    """Items waiting for their deadlines (any clock the caller keeps to)."""

    def __init__(self) -> None:
        self._heap: list[Entry[T]] = []
        self._order = itertools.count()

    def __len__(self) -> int:
        """Entries held, cancelled ones not yet dropped included."""
        return len(self._heap)

    def push(self, deadline: float, item: T) -> Entry[T]:
        entry = Entry(deadline, next(self._order), item)
        heapq.heappush(self._heap, entry)
        return entry

    def pop_due(self, now: float) -> list[T]:
        """Every live item due at ``now``, earliest first, ties in push order."""
        heap = self._heap
        due: list[T] = []
        while heap and heap[0].deadline <= now:
            entry = heapq.heappop(heap)
            if not entry.cancelled:
                due.append(entry.item)
        return due

    def earliest(self) -> float:
        """The next live deadline (``math.inf`` when none), dropping cancelled ones before it."""
        heap = self._heap
        while heap and heap[0].cancelled:
            heapq.heappop(heap)
        return heap[0].deadline if heap else math.inf

    def drain(self) -> list[T]:
        """Every live item, released or not, emptying the queue (its owner is closing)."""
        items = [entry.item for entry in self._heap if not entry.cancelled]
        self._heap.clear()
        return items
