"""One clock for everything a person reads: time from T0, with UTC wall-clock time beside it.

T0 is the scheduled start: the experiment file counts from it, `--dry-run` prints it, the
people on the launch call count down to it (``T-00:20``). Wall-clock time in ISO 8601 UTC is
what Grafana, a pager and a chat log line up with. The live view, the CI log, summary.md, the
HTML report and ``gameday report`` all speak this clock, so a moment means the same in each.
The journal keeps both clocks: every event has ``wall`` and ``mono``, and the baseline phase
records T0 on both (``t0``, ``t0_mono``), which is how a report finds T0 again.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime


def since_t0(seconds: float, *, decimals: int = 0) -> str:
    """``T-00:20``, ``T+01:05``, ``T+1:02:03``; ``decimals=1`` adds tenths (``T+00:10.2``).

    Rounded to the shown precision first, so nothing prints as ``T-00:00``: a moment that
    rounds to T0 is T0.
    """
    if not math.isfinite(seconds):
        return "T?"
    shown = round(seconds, decimals)
    sign = "-" if shown < 0 else "+"
    rest = abs(shown)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    width = 2 + (decimals + 1 if decimals else 0)
    text = f"{int(minutes):02d}:{secs:0{width}.{decimals}f}"
    if hours:
        text = f"{int(hours)}:{text}"
    return f"T{sign}{text}"


def utc(wall: float, *, millis: bool = False) -> str:
    """``2026-11-24T15:00:20Z`` (ISO 8601, UTC); ``millis`` adds ``.123``."""
    try:
        moment = datetime.fromtimestamp(wall, UTC)
    except (OverflowError, OSError, ValueError):
        return str(wall)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if millis:
        text += f".{moment.microsecond // 1000:03d}"
    return text + "Z"


def utc_time(wall: float) -> str:
    """``15:00:20Z``: the wall-clock time of day, for axis ticks under a dated heading."""
    return utc(wall)[11:]


def duration(seconds: float) -> str:
    """A length of time as people say it: ``45s``, ``1m05s``, ``1h02m``."""
    if not math.isfinite(seconds):
        return "?"
    whole = round(seconds)
    if whole < 60:
        return f"{seconds:.0f}s" if seconds >= 10 else f"{seconds:.1f}s".replace(".0s", "s")
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


@dataclass(frozen=True, slots=True)
class RunClock:
    """T0 of one run on both clocks; converts journal times into T0 time."""

    t0_wall: float
    t0_mono: float
    known: bool = True
    """False when the journal never reached T0 (it was killed before the baseline): times
    then count from the journal's opening, which the report says."""

    def from_mono(self, mono: float) -> float:
        return mono - self.t0_mono

    def from_wall(self, wall: float) -> float:
        return wall - self.t0_wall

    def wall(self, since: float) -> float:
        return self.t0_wall + since

    def stamp(self, since: float, *, decimals: int = 0) -> str:
        """``T+00:10 (2026-11-24T15:00:20Z)``: where a timeline is drawn, both clocks."""
        return f"{since_t0(since, decimals=decimals)} ({utc(self.wall(since))})"
