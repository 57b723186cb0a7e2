"""What a person watching a run sees: a live panel on a terminal, plain lines in CI logs.

The runner updates one ``Snapshot``; rendering is pure (``lines``/``panel``), and the two
outputs differ only in how often and where they draw: a rich ``Live`` panel redrawn a few
times a second on a TTY, one line every few seconds (plus one per event) when not a TTY, so
CI logs stay short and greppable.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from types import TracebackType

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from chaos.slo.evaluate import SloResult, Status

_STYLE = {Status.PASS: "green", Status.FAIL: "red", Status.NO_DATA: "yellow"}


@dataclass
class Snapshot:
    title: str
    total: float
    phase: str = "starting"
    elapsed: float = 0.0
    """Seconds since the baseline started."""
    active_faults: list[str] = field(default_factory=list)
    listeners: dict[str, int] = field(default_factory=dict)
    slos: list[SloResult] = field(default_factory=list)
    guards: list[tuple[str, float | None, bool]] = field(default_factory=list)

    def status_line(self) -> str:
        faults = ", ".join(self.active_faults) or "none"
        people = " ".join(f"{k} {v}" for k, v in self.listeners.items()) or "-"
        slos = " ".join(f"{r.name}={r.status.value}" for r in self.slos) or "-"
        return (
            f"[{self.elapsed:6.1f}s/{self.total:.0f}s] {self.phase:<9} faults: {faults} | "
            f"listeners: {people} | SLOs: {slos}"
        )


def panel(snapshot: Snapshot) -> Group:
    head = Text.assemble(
        (snapshot.title, "bold"),
        f"   phase {snapshot.phase}   {snapshot.elapsed:.0f}s / {snapshot.total:.0f}s",
    )
    info = Table.grid(padding=(0, 2))
    info.add_row("active faults", ", ".join(snapshot.active_faults) or "none")
    info.add_row("listeners", "  ".join(f"{k} {v}" for k, v in snapshot.listeners.items()) or "-")
    for label, value, crossed in snapshot.guards:
        shown = "-" if value is None else f"{value:g}"
        info.add_row(f"guard {label}", Text(shown, style="red" if crossed else ""))
    slos = Table("SLO", "now", "value", "must be", box=None, pad_edge=False)
    for result in snapshot.slos:
        slos.add_row(
            result.name,
            Text(result.status.value, style=_STYLE[result.status]),
            "-" if result.value is None else f"{result.value:g}",
            result.threshold.describe(),
        )
    return Group(head, info, slos)


class LiveView:
    """``with LiveView(console, snapshot) as view: ... view.refresh(); view.event("...")``."""

    def __init__(self, console: Console, snapshot: Snapshot, *, line_every: float = 5.0) -> None:
        self.console = console
        self.snapshot = snapshot
        self.line_every = line_every
        self._live: Live | None = None
        self._last_line: float | None = None

    def __enter__(self) -> LiveView:
        if self.console.is_terminal:
            self._live = Live(panel(self.snapshot), console=self.console, refresh_per_second=4)
            self._live.__enter__()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._live is not None:
            self._live.update(panel(self.snapshot))
            self._live.__exit__(exc_type, exc, tb)
            self._live = None

    def refresh(self) -> None:
        if self._live is not None:
            self._live.update(panel(self.snapshot))
            return
        now = time.monotonic()
        if self._last_line is None or now - self._last_line >= self.line_every:
            self._last_line = now
            self.console.print(self.snapshot.status_line(), markup=False, highlight=False)

    def event(self, message: str) -> None:
        """Something happened (a fault applied, a guard tripped): one line, above the panel."""
        stamp = f"[{self.snapshot.elapsed:6.1f}s]"
        self.console.print(f"{stamp} {message}", markup=False, highlight=False)
