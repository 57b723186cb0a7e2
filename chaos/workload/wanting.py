"""Seconds a listener wanted audio and heard none: the outage as the audience lives it.

A stall ratio (stalled per second played) says "no data" exactly when it matters most: when the
server drops everyone, nobody plays, and a dropped, reconnecting or refused listener is not
"stalled". A listener wants audio from its first join attempt until it leaves, gives up or the
run ends; every second of that in which it heard none — joining, stalled, concealed, dropped,
waiting to reconnect, refused — is *unheard*, whatever the cause. Pure: the caller feeds times
and what the listener's attempts played.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class Wanting:
    """One listener's wish to hear, across all its attempts."""

    since: float
    """When its first join attempt started (the caller's clock)."""
    heard_before: float = 0.0
    """Seconds of audio played by its attempts that ended."""
    until: float | None = None
    """When it stopped wanting (left, gave up, the run ended); None while it wants."""
    _unheard: float = 0.0
    """The most unheard time measured so far: a counter never goes back, though a frame's
    slot is counted as played when it starts (up to one frame ahead of the clock)."""

    def attempt_ended(self, played: float) -> None:
        self.heard_before += played

    def stop(self, now: float) -> None:
        if self.until is None:
            self.until = now

    def measure(self, now: float, playing: float = 0.0) -> tuple[float, float]:
        """(seconds wanted, seconds of those unheard) up to ``now``; ``playing``: what the
        attempt still going has played so far."""
        end = now if self.until is None else min(now, self.until)
        wanted = max(0.0, end - self.since)
        heard = self.heard_before + playing
        self._unheard = min(wanted, max(self._unheard, wanted - heard))
        return wanted, self._unheard
