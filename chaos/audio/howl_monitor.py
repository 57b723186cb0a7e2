"""What one listener heard of howling: a play sink that runs the detector on played audio.

Attach it to a probe's playout (``on_play``): every played frame is decoded to PCM and every
concealed slot becomes silence (what a listener hears when concealment gives up), so the
detector hears exactly the listener's timeline. Samples are fed to the detector in batches of
``batch_seconds`` because the detector's cost is per call, not per sample; howl *times* stay
exact (they count audio samples), only the report lags by at most one batch.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from chaos.audio.frames import AudioFrame
from chaos.audio.howl import HowlDetector, HowlEnd, HowlEvent
from chaos.audio.pcm import Samples, decode, sample_rate
from chaos.audio.playout import Frame


@dataclass
class HowlMonitor:
    batch_seconds: float = 1.0
    events: list[HowlEvent] = field(default_factory=list)
    """Every onset and end so far, in audio seconds since this listener's first played frame
    (a payload-rate change restarts the detector and keeps the clock)."""
    _detector: HowlDetector | None = None
    _pending: list[Samples] = field(default_factory=list)
    _held: int = 0
    _offset: float = 0.0
    """Audio seconds played before the current detector started."""
    _earlier_seconds: float = 0.0
    _earlier_longest: float = 0.0
    _earlier_howls: int = 0

    def __call__(self, frame: Frame | None, duration: float) -> None:
        detector = self._detector
        if frame is None:
            if detector is not None:
                self._push(np.zeros(round(duration * detector.rate), dtype=np.int16))
            return
        audio = frame.payload
        if not isinstance(audio, AudioFrame):
            return  # progressive bytes cannot be decoded here: nothing to judge
        rate = sample_rate(audio.payload_type)
        if detector is None or detector.rate != rate:
            self._restart(rate)
        self._push(decode(audio.payload_type, audio.payload))

    def _restart(self, rate: int) -> None:
        old = self._detector
        if old is not None:
            self._flush()
            self._collect(old.finish(), self._offset)
            self._earlier_seconds += old.howl_seconds_done
            self._earlier_longest = max(self._earlier_longest, old.longest_seconds)
            self._earlier_howls += old.howls
            self._offset += old.audio_seconds
        self._detector = HowlDetector(rate)

    def _push(self, samples: Samples) -> None:
        self._pending.append(samples)
        self._held += samples.size
        assert self._detector is not None
        if self._held >= self.batch_seconds * self._detector.rate:
            self._flush()

    def _flush(self) -> None:
        if self._detector is None or not self._pending:
            return
        batch = np.concatenate(self._pending)
        self._pending, self._held = [], 0
        self._collect(self._detector.feed(batch), self._offset)

    def _collect(self, events: list[HowlEvent], offset: float) -> None:
        for event in events:
            if isinstance(event, HowlEnd):
                event = replace(event, started_at=event.started_at + offset)
            self.events.append(replace(event, at=event.at + offset))

    def finish(self) -> None:
        """The listener stopped: judge what is still buffered and close a howl still going."""
        self._flush()
        if self._detector is not None:
            self._collect(self._detector.finish(), self._offset)

    @property
    def howling(self) -> bool:
        return self._detector is not None and self._detector.howling

    @property
    def howls(self) -> int:
        current = 0 if self._detector is None else self._detector.howls
        return self._earlier_howls + current

    def howl_seconds(self) -> float:
        """Seconds of howling heard, a howl still going included."""
        current = 0.0 if self._detector is None else self._detector.howl_seconds()
        return self._earlier_seconds + current

    def longest_seconds(self) -> float:
        """The longest howl heard, a howl still going included."""
        d = self._detector
        if d is None:
            return self._earlier_longest
        ongoing = d.howl_seconds() - d.howl_seconds_done
        return max(self._earlier_longest, d.longest_seconds, ongoing)
