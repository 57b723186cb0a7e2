"""The acoustic echo path of a host's second device: what it plays comes back into the mic.

A host who listens to the live room on a phone next to the microphone closes a loop: mix →
edge → phone speaker → air → microphone → origin → mix. With loop gain ≥ 1 every trip round the
loop is at least as loud as the last, and the room fills with growing feedback (the 2023 launch
incident). Sans-IO: ``hear`` what arrived (at its arrival time), ``take`` what the microphone
picks up for the next tick: the heard audio ``delay_us`` later, scaled by ``gain``.

A real loudspeaker-room-microphone path is not flat: a phone speaker and the room resonate, so
the loop gain peaks at one frequency and that is where feedback rings, as a growing sinusoid.
With ``resonance_hz`` the path is a band-pass (RBJ biquad, 0 dB at its peak, quality ``q``)
scaled by ``gain``: ``gain`` is the loop gain at the resonance, and audio away from it decays.
Without it the path is flat, and a loop with gain > 1 grows into broadband noise instead.
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np

from soundstage.codec import RATE, Samples


class _BandPass:
    """RBJ constant-0-dB-peak band-pass, state carried from one ``take`` to the next."""

    def __init__(self, hz: float, q: float) -> None:
        w0 = 2 * math.pi * hz / RATE
        alpha = math.sin(w0) / (2 * q)
        a0 = 1 + alpha
        self.b0, self.b2 = alpha / a0, -alpha / a0
        self.a1, self.a2 = -2 * math.cos(w0) / a0, (1 - alpha) / a0
        self.x1 = self.x2 = self.y1 = self.y2 = 0.0

    def run(self, x: list[float]) -> list[float]:
        b0, b2, a1, a2 = self.b0, self.b2, self.a1, self.a2
        x1, x2, y1, y2 = self.x1, self.x2, self.y1, self.y2
        out = []
        for sample in x:
            y = b0 * sample + b2 * x2 - a1 * y1 - a2 * y2
            out.append(y)
            x2, x1, y2, y1 = x1, sample, y1, y
        self.x1, self.x2, self.y1, self.y2 = x1, x2, y1, y2
        return out


class EchoPath:
    def __init__(
        self,
        gain: float,
        delay_us: int,
        max_backlog_samples: int = 16_000 * 5,
        *,
        resonance_hz: float | None = None,
        q: float = 8.0,
    ) -> None:
        if gain < 0 or delay_us < 0:
            raise ValueError("echo gain and delay must be non-negative")
        if resonance_hz is not None and not 50 <= resonance_hz <= RATE / 2 * 0.9:
            raise ValueError(f"echo resonance must be within 50-{RATE * 0.45:.0f} Hz")
        if q <= 0:
            raise ValueError("echo resonance quality q must be positive")
        self.gain = gain
        self.delay_us = delay_us
        self.resonance_hz = resonance_hz
        self.max_backlog_samples = max_backlog_samples
        self._filter = None if resonance_hz is None else _BandPass(resonance_hz, q)
        self._heard: deque[tuple[int, Samples]] = deque()
        self._held = 0
        self._partial: Samples = np.zeros(0, dtype=np.int16)

    def hear(self, samples: Samples, arrival_us: int) -> None:
        """Audio the device played at ``arrival_us``; the oldest goes if the backlog is too long."""
        self._heard.append((arrival_us, samples))
        self._held += samples.size
        while self._held > self.max_backlog_samples and self._heard:
            self._held -= self._heard.popleft()[1].size

    def take(self, count: int, now_us: int) -> Samples:
        """The next ``count`` samples of echo due by ``now_us`` (silence where none is due)."""
        pieces = [self._partial]
        have = self._partial.size
        while have < count and self._heard and self._heard[0][0] + self.delay_us <= now_us:
            _arrival, samples = self._heard.popleft()
            self._held -= samples.size
            pieces.append(samples)
            have += samples.size
        joined = np.concatenate(pieces) if len(pieces) > 1 else self._partial
        out = np.zeros(count, dtype=np.float64)
        n = min(count, joined.size)
        out[:n] = joined[:n]
        self._partial = joined[n:]
        if self._filter is not None:
            out = np.array(self._filter.run(out.tolist()))
        return np.clip(np.round(out * self.gain), -32768, 32767).astype(np.int16)
