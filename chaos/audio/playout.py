"""What a listener hears: a jitter buffer and a playout clock over timestamped frames, no I/O.

The harness cannot listen, so it replays the player's decision at every frame boundary: is the
next frame there (play it), is a later one there (conceal the gap, as a decoder's PLC would), or
is the buffer empty (the playout pauses: a stall, until the buffer is back at its target delay).
Everything a probe reports about continuity — stalls, freezes, concealment, late, duplicate and
reordered frames — falls out of that one loop, so the adapters only translate bytes into frames.

Time is whatever clock the caller feeds (seconds, monotonic); the model never reads a clock, which
is what lets hypothesis drive it with exact synthetic arrival times.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

#: Agora's definition: a render pause longer than this is a freeze (reference §2).
FREEZE_THRESHOLD = 0.2
#: Float slack so that a frame arriving on the very instant it is due counts as on time.
EPSILON = 1e-9
#: How many concealed sequence numbers are remembered to tell "late" from "duplicate".
_CONCEALED_MEMORY = 4096


@dataclass(frozen=True, slots=True)
class Frame:
    """A unit of media: ``seq`` orders it, ``duration`` is how long it plays (seconds).

    ``payload`` is the adapter's own unit (a decoded framed-audio frame, say), opaque here and
    handed back to the play sink; progressive streams carry none. ``captured_at``: the wall-clock
    time (Unix seconds) the frame's first sample was captured or produced at the source, where
    the stream says (framed capture times, HLS program date-times): the delay behind live.
    """

    seq: int
    duration: float
    payload: object = None
    captured_at: float | None = None


PlaySink = Callable[[Frame | None, float, float], None]
"""Receives each frame as it plays, or ``None`` for concealed audio, with its duration and
the time its slot starts playing (the caller's clock): what an ear needs to say when a
listener heard something."""


@dataclass(slots=True)
class PlayoutModel:
    """A jitter buffer that starts once ``target_delay`` seconds of media are buffered.

    After an underrun it rebuffers to the same target before playing again, like a player does,
    so a delivery gap of G seconds on a stream buffered D seconds deep pauses playout G − D.
    """

    target_delay: float
    on_play: PlaySink | None = None
    first_audio_at: float | None = None
    stalls: list[float] = field(default_factory=list)
    played_seconds: float = 0.0
    concealed_seconds: float = 0.0
    concealment_events: int = 0
    frames_received: int = 0
    late_frames: int = 0
    duplicate_frames: int = 0
    out_of_order_frames: int = 0
    last_played: Frame | None = None  # the newest frame played, and when its playout began
    last_played_at: float = 0.0
    _buffer: dict[int, Frame] = field(default_factory=dict)
    _buffered: float = 0.0
    _next_seq: int | None = None
    _highest_seq: int = -1
    _playing: bool = False
    _slot_end: float = 0.0
    _stall_start: float | None = None
    _last_duration: float = 0.0
    _concealing: bool = False
    _concealed: dict[int, None] = field(default_factory=dict)  # insertion-ordered

    def __post_init__(self) -> None:
        if self.target_delay < 0:
            raise ValueError(f"target_delay must be >= 0, got {self.target_delay}")

    def receive(self, now: float, frame: Frame) -> None:
        """A frame arrived at ``now``; play out everything due before it, then buffer it."""
        self.advance(now)
        self.frames_received += 1
        seq = frame.seq
        if self._next_seq is not None and seq < self._next_seq and self.first_audio_at is not None:
            if seq in self._concealed:
                del self._concealed[seq]
                self.late_frames += 1
            else:
                self.duplicate_frames += 1
            return
        if seq in self._buffer:
            self.duplicate_frames += 1
            return
        if seq < self._highest_seq:
            self.out_of_order_frames += 1
        else:
            self._highest_seq = seq
        self._buffer[seq] = frame
        self._buffered += frame.duration
        if self.first_audio_at is None and (self._next_seq is None or seq < self._next_seq):
            self._next_seq = seq
        if not self._playing and self._buffered >= self.target_delay - EPSILON:
            self._start(now)

    def advance(self, now: float) -> None:
        """Play out every frame slot that ends strictly before ``now``."""
        while self._playing and self._slot_end < now - EPSILON:
            self._play_next_slot()

    def finish(self, now: float) -> None:
        """The session ended at ``now``: play out what is due and close an open stall."""
        self.advance(now)
        if self._stall_start is not None:
            self._record_stall(max(0.0, now - self._stall_start))
            self._stall_start = None
        self._playing = False

    def remaining(self, now: float) -> float:
        """Seconds of received media still to play at ``now`` (a stream that ended plays on)."""
        current = max(0.0, self._slot_end - now) if self._playing else 0.0
        return self._buffered + current

    def stall_seconds(self, now: float) -> float:
        """Total paused playout so far, counting a stall still in progress at ``now``."""
        ongoing = now - self._stall_start if self._stall_start is not None else 0.0
        return sum(self.stalls) + max(0.0, ongoing)

    @property
    def stalled(self) -> bool:
        return self._stall_start is not None

    @property
    def freezes(self) -> list[float]:
        return [s for s in self.stalls if s > FREEZE_THRESHOLD]

    def stall_ratio(self, now: float) -> float:
        """Σ stall / (play time + Σ stall): the rebuffering ratio of reference §2."""
        stalled = self.stall_seconds(now)
        total = self.played_seconds + self.concealed_seconds + stalled
        return stalled / total if total > 0 else 0.0

    def _start(self, now: float) -> None:
        if self.first_audio_at is None:
            self.first_audio_at = now
        elif self._stall_start is not None:
            self._record_stall(now - self._stall_start)
            self._stall_start = None
        self._playing = True
        self._slot_end = now

    def _record_stall(self, duration: float) -> None:
        if duration > EPSILON:
            self.stalls.append(duration)

    def _play_next_slot(self) -> None:
        assert self._next_seq is not None
        frame = self._buffer.pop(self._next_seq, None)
        if frame is not None:
            self._buffered -= frame.duration
            self._last_duration = frame.duration
            self._concealing = False
            self.played_seconds += frame.duration
            self.last_played, self.last_played_at = frame, self._slot_end
            self._slot_end += frame.duration
            if self.on_play is not None:
                self.on_play(frame, frame.duration, self.last_played_at)
        elif self._buffer:
            self._conceal_slot()
        else:
            self._playing = False
            self._stall_start = self._slot_end
            return
        self._next_seq += 1

    def _conceal_slot(self) -> None:
        """The next frame is missing but later ones are here: fill its slot as PLC would."""
        assert self._next_seq is not None
        duration = self._last_duration
        if duration <= 0:  # nothing played yet to size the gap: skip to the next frame we have
            self._next_seq = min(self._buffer) - 1
            return
        if not self._concealing:
            self.concealment_events += 1
            self._concealing = True
        self.concealed_seconds += duration
        start = self._slot_end
        self._slot_end += duration
        self._concealed[self._next_seq] = None
        if len(self._concealed) > _CONCEALED_MEMORY:
            del self._concealed[next(iter(self._concealed))]
        if self.on_play is not None:
            self.on_play(None, duration, start)
