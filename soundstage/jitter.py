"""Per-speaker jitter buffer: turns frames arriving at network times into one frame per tick.

Sans-IO: ``push`` when a datagram arrives, ``pop`` once per 20 ms mixer tick. The buffer waits
for ``prebuffer`` frames before it starts (absorbing that much jitter), then plays sequence
numbers in order: a frame missing at its tick is concealed (the mixer hears silence) and, if it
turns up later, it is late and discarded, as a real-time mixer must. Latency stays bounded: when
more than ``capacity`` frames are held the oldest go. A speaker that goes quiet for
``idle_ticks`` or jumps in sequence (a restart) starts over with a fresh prebuffer.

Every frame pushed is accounted for exactly once:
``received == played + late + duplicate + dropped + buffered``.
"""

from __future__ import annotations

from dataclasses import dataclass

from soundstage.frames import SEQUENCE_MODULUS, Flags, Frame, sequence_distance


@dataclass(slots=True)
class JitterStats:
    received: int = 0
    played: int = 0
    concealed: int = 0
    """Ticks at which the next frame was missing (it was lost, or it will be late)."""
    late: int = 0
    duplicate: int = 0
    dropped: int = 0
    """Discarded to bound latency (overflow) or by a restart of the timeline."""
    resets: int = 0


class JitterBuffer:
    def __init__(
        self,
        prebuffer: int = 3,
        capacity: int = 25,
        idle_ticks: int = 25,
        max_jump: int = 500,
    ) -> None:
        if not 1 <= prebuffer <= capacity:
            raise ValueError(f"need 1 <= prebuffer ({prebuffer}) <= capacity ({capacity})")
        self.prebuffer = prebuffer
        self.capacity = capacity
        self.idle_ticks = idle_ticks
        self.max_jump = max_jump
        self.stats = JitterStats()
        self._frames: dict[int, Frame] = {}
        self._next: int | None = None
        self._missing_run = 0

    @property
    def buffered(self) -> int:
        return len(self._frames)

    @property
    def playing(self) -> bool:
        return self._next is not None

    def push(self, frame: Frame) -> None:
        self.stats.received += 1
        seq = frame.sequence
        if self._frames and (
            frame.flags & Flags.DISCONTINUITY
            or abs(sequence_distance(seq, self._anchor())) > self.max_jump
        ):
            self._restart()
        if self._next is not None:
            distance = sequence_distance(seq, self._next)
            if distance < 0:
                self.stats.late += 1
                return
            if distance > self.max_jump:
                self._restart()
            elif distance >= self.capacity:
                self._skip_to((seq - self.capacity + 1) % SEQUENCE_MODULUS)
        if seq in self._frames:
            self.stats.duplicate += 1
            return
        self._frames[seq] = frame
        while len(self._frames) > self.capacity:
            oldest = self._oldest()
            del self._frames[oldest]
            self.stats.dropped += 1
            if self._next is not None and sequence_distance(oldest, self._next) >= 0:
                self._next = (oldest + 1) % SEQUENCE_MODULUS

    def pop(self) -> Frame | None:
        """The frame for this tick, or None (not started yet, or concealed)."""
        if self._next is None:
            if len(self._frames) < self.prebuffer:
                return None
            self._next = self._oldest()
        seq = self._next
        self._next = (seq + 1) % SEQUENCE_MODULUS
        frame = self._frames.pop(seq, None)
        if frame is not None:
            self.stats.played += 1
            self._missing_run = 0
            return frame
        self.stats.concealed += 1
        self._missing_run += 1
        if self._missing_run >= self.idle_ticks and not self._frames:
            self._next = None
            self._missing_run = 0
        return None

    def _anchor(self) -> int:
        return next(iter(self._frames))

    def _oldest(self) -> int:
        anchor = self._anchor()
        return min(self._frames, key=lambda s: sequence_distance(s, anchor))

    def _skip_to(self, sequence: int) -> None:
        """Jump the playout point forward, discarding what it passes over."""
        for old in [s for s in self._frames if sequence_distance(s, sequence) < 0]:
            del self._frames[old]
            self.stats.dropped += 1
        self._next = sequence

    def _restart(self) -> None:
        self.stats.resets += 1
        self.stats.dropped += len(self._frames)
        self._frames.clear()
        self._next = None
        self._missing_run = 0
