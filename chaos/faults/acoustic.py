"""The air between a loudspeaker and a microphone, as the harness's feedback fault models it.

Sans-IO: ``hear`` what the second device played (with its arrival time), ``take`` what reaches
the microphone by now: the heard audio ``delay`` later, through a resonance (RBJ band-pass,
0 dB at ``resonance_hz``, quality ``q``) and scaled by ``gain``, so ``gain`` is the loop gain
where the path peaks and the loop rings there as a growing sinusoid, as real feedback does. The
harness never imports the reference stack, so this is its own model of what soundstage's
speaker simulator does with its echo device.
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np
import numpy.typing as npt

Floats = npt.NDArray[np.float64]


class AcousticPath:
    def __init__(
        self,
        rate: int,
        gain: float,
        delay: float,
        resonance_hz: float,
        q: float = 8.0,
        max_backlog: float = 5.0,
    ) -> None:
        if gain < 0 or delay < 0:
            raise ValueError("gain and delay must be non-negative")
        if not 0 < resonance_hz < rate / 2:
            raise ValueError(f"resonance {resonance_hz} Hz is outside 0-{rate // 2} Hz")
        self.rate, self.gain, self.delay = rate, gain, delay
        self.max_backlog = int(max_backlog * rate)
        w0 = 2 * math.pi * resonance_hz / rate
        alpha = math.sin(w0) / (2 * q)
        a0 = 1 + alpha
        self._b = (alpha / a0, -alpha / a0)
        self._a = (-2 * math.cos(w0) / a0, (1 - alpha) / a0)
        self._state = [0.0, 0.0, 0.0, 0.0]  # x1, x2, y1, y2
        self._heard: deque[tuple[float, Floats]] = deque()
        self._held = 0
        self._partial: Floats = np.zeros(0)

    def hear(self, samples: Floats, at: float) -> None:
        """Audio the device played at ``at`` (seconds); the oldest goes past the backlog."""
        self._heard.append((at, samples))
        self._held += samples.size
        while self._held > self.max_backlog and self._heard:
            self._held -= self._heard.popleft()[1].size

    def take(self, count: int, now: float) -> Floats:
        """``count`` samples reaching the mic by ``now`` (silence where none is due yet)."""
        pieces = [self._partial]
        have = self._partial.size
        while have < count and self._heard and self._heard[0][0] + self.delay <= now:
            samples = self._heard.popleft()[1]
            self._held -= samples.size
            pieces.append(samples)
            have += samples.size
        joined = np.concatenate(pieces)
        out = np.zeros(count)
        n = min(count, joined.size)
        out[:n] = joined[:n]
        self._partial = joined[n:]
        return self._resonate(out) * self.gain

    def _resonate(self, x: Floats) -> Floats:
        b0, b2 = self._b
        a1, a2 = self._a
        x1, x2, y1, y2 = self._state
        out = np.empty(x.size)
        for i, sample in enumerate(x.tolist()):
            y = b0 * sample + b2 * x2 - a1 * y1 - a2 * y2
            out[i] = y
            x2, x1, y2, y1 = x1, sample, y1, y
        self._state = [x1, x2, y1, y2]
        return out
