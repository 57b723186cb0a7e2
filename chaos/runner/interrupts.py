"""SIGINT and SIGTERM during a run: stop the experiment at once, never the rollback.

The first signal cancels the run's main task, whose ``finally`` rolls every fault back. Once
rollback has begun (``protect()``), further signals only print that it is finishing: a second
Ctrl-C from an impatient operator must not leave a toxic on a production-like link. Only
SIGKILL can stop a rollback, and leases (or the next run's sweep) cover that case.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable
from types import TracebackType

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupts:
    def __init__(self, task: asyncio.Task[object], say: Callable[[str], None]) -> None:
        self.task = task
        self.say = say
        self.received: signal.Signals | None = None
        self.protected = False
        self._loop = asyncio.get_running_loop()

    def __enter__(self) -> Interrupts:
        for sig in SIGNALS:
            self._loop.add_signal_handler(sig, self._on_signal, sig)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for sig in SIGNALS:
            self._loop.remove_signal_handler(sig)

    def _on_signal(self, sig: signal.Signals) -> None:
        if self.protected:
            self.say(f"{sig.name}: rolling back, please wait (it finishes even if interrupted)")
            return
        if self.received is None:
            self.received = sig
            self.say(f"{sig.name}: stopping the run and rolling back every fault")
            self.task.cancel()

    def protect(self) -> None:
        """From here on (rollback, evaluation), signals no longer cancel anything."""
        self.protected = True
        if self.received is not None:
            # The cancellation we asked for has been handled; let the rollback's awaits run.
            while self.task.uncancel():
                pass
