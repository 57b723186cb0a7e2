"""The acoustic echo path of a host's second device: what it plays comes back into the mic.

A host who listens to the live room on a phone next to the microphone closes a loop: mix →
edge → phone speaker → air → microphone → origin → mix. With loop gain ≥ 1 every trip round the
loop is at least as loud as the last, and the room fills with growing feedback (the 2023 launch
incident). Sans-IO: ``hear`` what arrived (at its arrival time), ``take`` what the microphone
picks up for the next tick: the heard audio ``delay_us`` later, scaled by ``gain``.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from soundstage.codec import Samples


class EchoPath:
    def __init__(self, gain: float, delay_us: int, max_backlog_samples: int = 16_000 * 5) -> None:
        if gain < 0 or delay_us < 0:
            raise ValueError("echo gain and delay must be non-negative")
        self.gain = gain
        self.delay_us = delay_us
        self.max_backlog_samples = max_backlog_samples
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
        return np.clip(np.round(out * self.gain), -32768, 32767).astype(np.int16)
