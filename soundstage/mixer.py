"""The origin's audio mixer (an MCU, like Janus AudioBridge): many speakers in, one mix out.

Sans-IO: the origin pushes speaker frames as they arrive and calls ``tick`` on its 20 ms clock;
``RoomMixer`` owns one jitter buffer per speaker, sums what each buffer plays for the tick,
saturates to 16 bits (flagging ``CLIPPED``, which is what runaway feedback looks like) and
numbers the mix frames it emits. With a ``HowlGuard`` each speaker's audio passes through it
before the sum, so a speaker whose input rings is ducked or muted (howl suppression).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from soundstage import codec
from soundstage.codec import Samples
from soundstage.frames import Flags, Frame, FrameError, PayloadType
from soundstage.howl import HowlGuard
from soundstage.jitter import JitterBuffer, JitterStats

_INT16_MIN = -32768
_INT16_MAX = 32767
FULL_SCALE = 32124
"""The largest µ-law magnitude: a sample this loud is at the top of the range, i.e. clipped."""


def mix(tracks: Sequence[Samples], length: int = codec.SAMPLES_PER_FRAME) -> tuple[Samples, bool]:
    """Sum tracks sample by sample, saturating; returns (mix, whether it reached full scale).

    Full scale counts whether the sum overflowed here or a speaker's own input was already
    saturated (runaway feedback clips at the microphone first).
    """
    total = np.zeros(length, dtype=np.int32)
    for track in tracks:
        n = min(length, track.size)
        total[:n] += track[:n]
    clipped = bool(np.abs(total).max(initial=0) >= FULL_SCALE)
    return np.clip(total, _INT16_MIN, _INT16_MAX).astype(np.int16), clipped


@dataclass(slots=True)
class TickResult:
    frame: Frame
    speakers: int
    """Speakers whose audio is in this mix."""


class RoomMixer:
    """One room's mix. Speakers silent for ``speaker_timeout_ticks`` are forgotten."""

    def __init__(
        self,
        room: int,
        payload_type: PayloadType = PayloadType.PCMU_8K,
        *,
        prebuffer: int = 3,
        capacity: int = 25,
        speaker_timeout_ticks: int = 250,
        guard: HowlGuard | None = None,
    ) -> None:
        self.room = room
        self.payload_type = payload_type
        self.prebuffer = prebuffer
        self.capacity = capacity
        self.speaker_timeout_ticks = speaker_timeout_ticks
        self.guard = guard
        self.buffers: dict[int, JitterBuffer] = {}
        self.retired = JitterStats()
        """Counters of speakers already forgotten, so totals never go backwards."""
        self.undecodable = 0
        self._quiet_ticks: dict[int, int] = {}
        self._sequence = 0
        self._started = False

    def push(self, frame: Frame) -> None:
        buffer = self.buffers.get(frame.source)
        if buffer is None:
            buffer = JitterBuffer(self.prebuffer, self.capacity)
            self.buffers[frame.source] = buffer
            self._quiet_ticks[frame.source] = 0
        buffer.push(frame)

    def tick(self, capture_us: int) -> TickResult:
        tracks: list[Samples] = []
        for source, buffer in list(self.buffers.items()):
            frame = buffer.pop()
            if frame is None:
                self._quiet_ticks[source] += 1
                if self._quiet_ticks[source] >= self.speaker_timeout_ticks and not buffer.buffered:
                    self._retire(source)
                continue
            self._quiet_ticks[source] = 0
            try:
                track = codec.decode(frame.payload_type, frame.payload)
            except FrameError:
                self.undecodable += 1
                continue
            if self.guard is not None:
                track = self.guard.process(source, track)
            tracks.append(track)
        samples, clipped = mix(tracks)
        flags = Flags.NONE
        if not self._started:
            flags |= Flags.DISCONTINUITY
            self._started = True
        if not tracks:
            flags |= Flags.SILENCE
        if clipped:
            flags |= Flags.CLIPPED
        frame = Frame(
            room=self.room,
            source=0,
            sequence=self._sequence,
            capture_us=capture_us,
            payload_type=self.payload_type,
            payload=codec.encode(self.payload_type, samples),
            flags=flags,
        )
        self._sequence = (self._sequence + 1) % (1 << 32)
        return TickResult(frame, len(tracks))

    def _retire(self, source: int) -> None:
        stats = self.buffers.pop(source).stats
        del self._quiet_ticks[source]
        if self.guard is not None:
            self.guard.forget(source)
        for name in JitterStats.__slots__:
            setattr(self.retired, name, getattr(self.retired, name) + getattr(stats, name))

    def totals(self) -> JitterStats:
        """Jitter-buffer counters summed over every speaker this room has had."""
        total = JitterStats(**{n: getattr(self.retired, n) for n in JitterStats.__slots__})
        for buffer in self.buffers.values():
            for name in JitterStats.__slots__:
                setattr(total, name, getattr(total, name) + getattr(buffer.stats, name))
        return total
