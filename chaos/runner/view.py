"""What a person watching a run sees: a live panel on a terminal, plain lines in CI logs.

It answers what a game-day lead asks: is it T-minus 2 minutes, what happens next, which
faults are on and for how long, how close each abort guard is to tripping, how the joins
fail, how long people wait for audio right now, whether every target answers, and how each
SLO stands (no verdict before its window closes: ``chaos.slo.live``). Everything counts from
T0, values carry the unit their SLO was written in.

The runner updates one ``Snapshot``; rendering is pure (``status_line``/``panel``), and the
two outputs differ only in how often and where they draw: a rich ``Live`` panel redrawn a
few times a second on a TTY; one line every few seconds plus one per event when not a TTY,
each one record on one line (never wrapped), so CI logs stay greppable.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import TracebackType

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from chaos.report.clock import duration, since_t0, utc
from chaos.runner.guards import GuardStatus
from chaos.slo.display import ValueFormat
from chaos.slo.live import LiveState, SloNow

_STYLE = {
    LiveState.WAITING: "dim",
    LiveState.PENDING: "cyan",
    LiveState.ON_TRACK: "green",
    LiveState.AT_RISK: "yellow",
    LiveState.PASS: "bold green",
    LiveState.FAIL: "bold red",
    LiveState.NO_DATA: "bold yellow",
}
_PLAIN = ValueFormat()


@dataclass(frozen=True, slots=True)
class FaultNow:
    name: str
    what: str
    """As the file wrote it: ``latency 150ms ± 40ms, downstream on listener->edge``."""
    ends: float | None
    """Seconds from T0 when it is scheduled to end (None: it does not, e.g. a restart)."""


@dataclass
class Snapshot:
    title: str
    run_id: str = ""
    phase: str = "starting"
    t0_wall: float | None = None
    """Wall-clock time of T0, once it is scheduled (when the baseline starts)."""
    now: float = 0.0
    """Seconds from T0 (negative before it); before T0 is scheduled, seconds of start-up."""
    end: float = 0.0
    """Seconds from T0 at which the run ends."""
    waiting_for: list[str] = field(default_factory=list)
    """During start-up: what the run is waiting for (components not yet healthy)."""
    next_event: tuple[float, str] | None = None
    active_faults: list[FaultNow] = field(default_factory=list)
    listeners: dict[str, int] = field(default_factory=dict)
    failures: dict[str, int] = field(default_factory=dict)
    """Joins that failed, by reason."""
    ttfa_p95: float | None = None
    """p95 time to first audio over the last few seconds."""
    targets: tuple[int, int, list[str]] = (0, 0, [])
    """(up, scraped, names down)."""
    guards: list[GuardStatus] = field(default_factory=list)
    slos: list[SloNow] = field(default_factory=list)
    formats: Mapping[str, ValueFormat] = field(default_factory=dict)
    closing: str | None = None
    """Once rollback has run: what it did (the faults are no longer on)."""

    @property
    def clock(self) -> str:
        if self.t0_wall is None:
            return f"start-up {duration(self.now)}"
        return since_t0(self.now)

    def slo_text(self, slo: SloNow) -> str:
        fmt = self.formats.get(slo.name, _PLAIN)
        value = "" if slo.result.value is None else f" {fmt(slo.result.value)}"
        if slo.state is LiveState.WAITING:
            return f"{slo.name} waiting (opens {self._at_wall(slo.opens)})"
        if slo.state in (LiveState.PENDING, LiveState.ON_TRACK, LiveState.AT_RISK):
            closes = self._at_wall(slo.closes)
            return f"{slo.name} {slo.state.value}{value} (closes {closes})"
        return f"{slo.name} {slo.state.value}{value}"

    def guard_text(self, guard: GuardStatus, *, named: bool = True) -> str:
        fmt = self.formats.get(guard.label, _PLAIN)
        value = "no data" if guard.value is None else fmt(guard.value)
        if guard.crossed_for is not None:
            left = max(guard.trips_after - guard.crossed_for, 0.0)
            state = f"CROSSED {duration(guard.crossed_for)}, trips in {duration(left)}"
        elif guard.margin is not None:
            state = f"{fmt.change(guard.margin).lstrip('+')} from its limit"
        else:
            state = "waiting for data"
        trips = f"trips {guard.limit} for {duration(guard.trips_after)}"
        return f"{guard.label + ' ' if named else ''}{value} ({trips}: {state})"

    def fault_text(self, fault: FaultNow) -> str:
        left = "" if fault.ends is None else f", {duration(max(fault.ends - self.now, 0))} left"
        return f"{fault.name} ({fault.what}{left})"

    def _at_wall(self, wall: float) -> str:
        if self.t0_wall is None:
            return "?"
        return since_t0(wall - self.t0_wall)

    def _targets(self) -> str:
        up, total, down = self.targets
        if not total:
            return "-"
        return f"{up}/{total}" + (f" (down: {', '.join(down)})" if down else "")

    def status_line(self) -> str:
        """One record on one line for CI logs."""
        if self.t0_wall is None:
            waiting = ", ".join(self.waiting_for) or "the stack"
            return f"[{self.clock}] {self.phase}: waiting for {waiting}"
        parts = [f"[{self.clock}] {self.phase}"]
        if self.closing is not None:
            parts.append(self.closing)
        elif self.next_event is not None:
            at, what = self.next_event
            parts.append(f"next {since_t0(at)} {what}")
        faults = ", ".join(self.fault_text(f) for f in self.active_faults)
        parts.append(f"faults: {faults or 'none'}")
        people = " ".join(f"{k} {v}" for k, v in self.listeners.items())
        parts.append(f"listeners: {people or '-'}")
        if self.failures:
            parts.append("failed joins: " + " ".join(f"{k} {v}" for k, v in self.failures.items()))
        p95 = "-" if self.ttfa_p95 is None else f"{self.ttfa_p95:.3g} s"
        parts.append(f"p95 time to audio {p95}")
        parts.append(f"targets up {self._targets()}")
        if self.guards:
            parts.append("guards: " + "; ".join(self.guard_text(g) for g in self.guards))
        if self.slos:
            parts.append("SLOs: " + "; ".join(self.slo_text(s) for s in self.slos))
        return " | ".join(parts)


def panel(snapshot: Snapshot) -> Group:
    head = Text.assemble((snapshot.title, "bold"), f"   run {snapshot.run_id}")
    info = Table.grid(padding=(0, 2))
    if snapshot.t0_wall is None:
        info.add_row("now", f"{snapshot.clock}, {snapshot.phase}")
        info.add_row("waiting for", ", ".join(snapshot.waiting_for) or "the stack")
        return Group(head, info)
    now = f"{snapshot.clock}  ({utc(snapshot.t0_wall + snapshot.now)})   phase {snapshot.phase}"
    info.add_row("now", now + f"   ends {since_t0(snapshot.end)}")
    if snapshot.closing is not None:
        info.add_row("rollback", snapshot.closing)
    elif snapshot.next_event is not None:
        at, what = snapshot.next_event
        info.add_row("next", f"{since_t0(at)} (in {duration(at - snapshot.now)}) {what}")
    faults = [snapshot.fault_text(f) for f in snapshot.active_faults]
    info.add_row("active faults", "\n".join(faults) or "none")
    info.add_row("listeners", "  ".join(f"{k} {v}" for k, v in snapshot.listeners.items()) or "-")
    failures = "  ".join(f"{k} {v}" for k, v in snapshot.failures.items())
    info.add_row("failed joins", failures or "none")
    p95 = "-" if snapshot.ttfa_p95 is None else f"{snapshot.ttfa_p95:.3g} s"
    info.add_row("p95 time to audio", f"{p95} (last 10 s)")
    info.add_row("targets up", snapshot._targets())
    for guard in snapshot.guards:
        style = "bold red" if guard.crossed_for is not None else ""
        text = snapshot.guard_text(guard, named=False)
        info.add_row(f"guard {guard.label}", Text(text, style=style))
    slos = Table("SLO", "now", "value", "must be", "window", box=None, pad_edge=False)
    for slo in snapshot.slos:
        fmt = snapshot.formats.get(slo.name, _PLAIN)
        window = f"{snapshot._at_wall(slo.opens)} → {snapshot._at_wall(slo.closes)}"
        slos.add_row(
            slo.name,
            Text(slo.state.value, style=_STYLE[slo.state]),
            "-" if slo.result.value is None else fmt(slo.result.value),
            fmt.threshold_text(slo.result.threshold.comparison.value, slo.result.threshold.value),
            window,
        )
    return Group(head, info, slos)


class LiveView:
    """``with LiveView(console, snapshot) as view: ... view.refresh(); view.event("...")``."""

    def __init__(
        self,
        console: Console,
        snapshot: Snapshot,
        *,
        line_every: float = 5.0,
        now: Callable[[], float] | None = None,
    ) -> None:
        """``now``: the snapshot's clock (seconds from T0), read at every draw and event."""
        self.console = console
        self.snapshot = snapshot
        self.line_every = line_every
        self.now = now
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
            self._tick()
            self._live.update(panel(self.snapshot))
            self._live.__exit__(exc_type, exc, tb)
            self._live = None

    def _tick(self) -> None:
        if self.now is not None:
            self.snapshot.now = self.now()

    def refresh(self, *, force: bool = False) -> None:
        self._tick()
        if self._live is not None:
            self._live.update(panel(self.snapshot))
            return
        now = time.monotonic()
        if force or self._last_line is None or now - self._last_line >= self.line_every:
            self._last_line = now
            self._print(self.snapshot.status_line())

    def event(self, message: str) -> None:
        """Something happened (a fault applied, a guard tripped): one line, above the panel,
        with both clocks once T0 is scheduled."""
        self._tick()
        snap = self.snapshot
        stamp = snap.clock
        if snap.t0_wall is not None:
            stamp += f" {utc(snap.t0_wall + snap.now)}"
        self._print(f"[{stamp}] {message}")

    def _print(self, line: str) -> None:
        self.console.print(line, markup=False, highlight=False, soft_wrap=True)
