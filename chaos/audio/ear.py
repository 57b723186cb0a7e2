"""An ear: what one listener heard, judged by detectors, on the listener's own playout timeline.

An ear is a play sink (``PlayoutModel.on_play``): every frame its listener plays arrives as PCM
at ``EAR_RATE`` (decoded by the adapter's decoder, or from soundstage's framed payloads), every
concealed slot as silence, which is what a listener hears when concealment gives up. So the
detectors hear exactly the listener's timeline, stalls excluded (a paused playout plays
nothing; stalls are the playout model's to count). Detectors: howling (``howl``), silence
(``silence``), loudness out of range (``loudness``), and glitches: the discontinuities the
stream itself reveals — a concealed dropout, a lost frame sync (bytes missing mid-stream), a
packet the decoder refused, a decoder reset (a codec change, an HLS discontinuity).

PCM is fed to the detectors in batches of ``batch_seconds`` (their cost is per call); event
times stay exact, in audio seconds, and map back to the probe's clock through the slot start
times the playout reports, so a howl onset is journaled at the moment the listener heard it.

For HLS, the adapter hands each segment an ear's listener received to ``Ear.segment``; it
returns the decoded audio (shared per edge, ``EdgeSegments``) to carry in the playout frame.
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from chaos.audio.decode import EAR_RATE, Decoded, Pcm
from chaos.audio.frames import AudioFrame
from chaos.audio.howl import HowlDetector, HowlEnd, HowlEvent, HowlOnset
from chaos.audio.loudness import LoudnessMeter
from chaos.audio.pcm import decode, sample_rate
from chaos.audio.playout import Frame
from chaos.audio.segments import EdgeSegments, ReceivedSegment
from chaos.audio.silence import SilenceDetector, SilenceEnd, SilenceEvent, SilenceStart

#: Audio a decoded HLS segment may fall short of its EXTINF before the rest is heard as silence.
SHORTFALL = 0.05
#: Events an ear keeps for the journal between two drains (a pathological stream cannot
#: flood the journal; the metrics still count everything).
EVENTS_KEPT = 200
#: Seconds of slot start times kept to map detector times back to the probe's clock.
_ANCHOR_SECONDS = 30.0


class Glitch:
    """Glitch kinds (the ``kind`` label of ``gameday_listener_glitches_total``)."""

    DROPOUT = "dropout"
    LOST_SYNC = "lost_sync"
    DECODE_ERROR = "decode_error"
    RESET = "reset"


GLITCH_KINDS = (Glitch.DROPOUT, Glitch.LOST_SYNC, Glitch.DECODE_ERROR, Glitch.RESET)


@dataclass(frozen=True, slots=True)
class EarEvent:
    """Something an ear heard, for the journal: ``kind`` is ``howl``, ``howl_end``,
    ``silence``, ``silence_end`` or ``on_air`` (its first sound); ``at`` on the probe's clock,
    ``audio_at`` in seconds of audio since the ear's first."""

    kind: str
    at: float
    audio_at: float
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass
class Ear:
    edge: str = ""
    listener: int = 0
    segments: EdgeSegments | None = None
    batch_seconds: float = 0.5
    rate: int = EAR_RATE
    glitches: Counter[str] = field(default_factory=Counter)
    howl_events: list[HowlEvent] = field(default_factory=list)
    """Every howl onset and end, in audio seconds (what the feedback fault reads)."""
    events: list[EarEvent] = field(default_factory=list)
    """Events not yet drained to the journal (at most ``EVENTS_KEPT``)."""
    dropped_events: int = 0
    heard_samples: int = 0
    late_seconds: float = 0.0
    """How late its listener began against the schedule (the load generator's lateness)."""
    on_air: bool = False
    """True once the ear heard sound (a 20 ms block above the silence threshold): the host's
    first audio reached this listener. The moment is the ``on_air`` event, once per ear."""

    def __post_init__(self) -> None:
        self.howl = HowlDetector(self.rate)
        self.silence = SilenceDetector(self.rate)
        self.loudness = LoudnessMeter(self.rate)
        self._pending: list[Pcm] = []
        self._held = 0
        self._fed = 0  # samples handed to the detectors
        # (first sample, slot start on the probe's clock, the slot's segment URI for HLS)
        self._anchors: deque[tuple[int, float, str | None]] = deque()
        self._concealing = False
        self._segment_of: dict[int, str] = {}  # playout slot → segment URI (HLS)
        self._uri: str | None = None  # of the slot playing

    # ------------------------------------------------------------------ what the adapter calls

    def segment(self, segment: ReceivedSegment) -> Decoded:
        """Decode an HLS segment (once per edge) for the playout frame of ``segment.slot``."""
        if self.segments is None:
            self.segments = EdgeSegments()
        self._segment_of[segment.slot] = segment.uri
        if len(self._segment_of) > 64:
            del self._segment_of[next(iter(self._segment_of))]
        decoded = self.segments.decode(segment)
        short = segment.duration - decoded.seconds
        if short > SHORTFALL:  # a broken or short segment: the rest of its slot is silence
            pad = np.zeros(round(short * self.rate), dtype=np.int16)
            decoded = Decoded(
                np.concatenate([decoded.pcm, pad]),
                decoded.seconds,
                decoded.errors,
                decoded.reset,
                decoded.lost,
            )
        return decoded

    # ------------------------------------------------------------------ the play sink

    def __call__(self, frame: Frame | None, duration: float, at: float = 0.0) -> None:
        if frame is None:
            if not self._concealing:
                self._concealing = True
                self.glitches[Glitch.DROPOUT] += 1
            self._push(np.zeros(round(duration * self.rate), dtype=np.int16), at)
            return
        self._concealing = False
        self._uri = self._segment_of.get(frame.seq)
        payload = frame.payload
        if isinstance(payload, Decoded):
            if payload.errors:
                self.glitches[Glitch.DECODE_ERROR] += payload.errors
            if payload.lost:
                self.glitches[Glitch.LOST_SYNC] += payload.lost
            if payload.reset:
                self.glitches[Glitch.RESET] += 1
            self._push(payload.pcm, at)
        elif isinstance(payload, AudioFrame):
            self._push(_framed_pcm(payload, self.rate), at)
        # Anything else was not decoded (a stream timed at a nominal bitrate): nothing heard.

    def finish(self) -> None:
        """The listener stopped: judge what is buffered, close a howl or silence going on."""
        self._flush()
        self._howl_events(self.howl.finish())
        self._silence_events(self.silence.finish())

    # ------------------------------------------------------------------ what it heard

    @property
    def howling(self) -> bool:
        return self.howl.howling

    @property
    def heard_seconds(self) -> float:
        return self.heard_samples / self.rate

    def howl_seconds(self) -> float:
        return self.howl.howl_seconds()

    def longest_howl_seconds(self) -> float:
        d = self.howl
        return max(d.longest_seconds, d.howl_seconds() - d.howl_seconds_done)

    def drain(self) -> list[EarEvent]:
        events, self.events = self.events, []
        return events

    # ------------------------------------------------------------------ inside

    def _push(self, samples: Pcm, at: float) -> None:
        if not samples.size:
            return
        anchors = self._anchors
        anchors.append((self.heard_samples, at, self._uri))
        horizon = self.heard_samples - _ANCHOR_SECONDS * self.rate
        while len(anchors) > 1 and anchors[1][0] < horizon:
            anchors.popleft()
        self.heard_samples += samples.size
        self._pending.append(samples)
        self._held += samples.size
        if self._held >= self.batch_seconds * self.rate:
            self._flush()

    def _flush(self) -> None:
        if not self._pending:
            return
        batch = np.concatenate(self._pending)
        self._pending, self._held = [], 0
        if not self.on_air:
            self._first_sound(batch)
        self._fed += batch.size
        self._howl_events(self.howl.feed(batch))
        self._silence_events(self.silence.feed(batch))
        self.loudness.feed(batch)

    def _first_sound(self, batch: Pcm) -> None:
        block = self.rate // 50
        floor = (32768 * 10 ** (self.silence.config.threshold_dbfs / 20)) ** 2
        blocks = batch[: batch.size - batch.size % block].astype(np.float64).reshape(-1, block)
        loud = np.flatnonzero(np.mean(blocks**2, axis=1) > floor)
        if loud.size:
            self.on_air = True
            self._record("on_air", (self._fed + int(loud[0]) * block) / self.rate, {})

    def _howl_events(self, events: list[HowlEvent]) -> None:
        for event in events:
            self.howl_events.append(event)
            if isinstance(event, HowlOnset):
                detail = {"frequency_hz": round(event.frequency_hz, 1),
                          "level_dbfs": round(event.level_dbfs, 1)}  # fmt: skip
                self._record("howl", event.at, detail)
            elif isinstance(event, HowlEnd):
                detail = {"seconds": round(event.seconds, 3),
                          "frequency_hz": round(event.frequency_hz, 1),
                          "peak_level_dbfs": round(event.peak_level_dbfs, 1)}  # fmt: skip
                self._record("howl_end", event.at, detail)

    def _silence_events(self, events: list[SilenceEvent]) -> None:
        for event in events:
            if isinstance(event, SilenceStart):
                self._record("silence", event.at, {})
            elif isinstance(event, SilenceEnd):
                self._record("silence_end", event.at, {"seconds": round(event.seconds, 3)})

    def _record(self, kind: str, audio_at: float, detail: dict[str, Any]) -> None:
        if len(self.events) >= EVENTS_KEPT:
            self.dropped_events += 1
            return
        at, uri = self._locate(audio_at)
        if uri is not None:
            detail["segment"] = uri
        self.events.append(EarEvent(kind, at, round(audio_at, 3), detail))

    def _locate(self, audio_at: float) -> tuple[float, str | None]:
        """When (probe clock) the listener heard audio second ``audio_at``, and in which
        segment."""
        position = audio_at * self.rate
        anchors = self._anchors
        if not anchors:
            return audio_at, None
        first, at, uri = anchors[0]
        for anchor in reversed(anchors):
            if anchor[0] <= position:
                first, at, uri = anchor
                break
        return at + (position - first) / self.rate, uri


def _framed_pcm(frame: AudioFrame, rate: int) -> Pcm:
    """A soundstage frame's payload at ``rate`` (8 kHz µ-law upsampled by interpolation)."""
    samples = decode(frame.payload_type, frame.payload)
    source = sample_rate(frame.payload_type)
    if source == rate:
        return samples
    fine = np.arange(samples.size * rate // source) * source / rate
    return np.interp(fine, np.arange(samples.size), samples).astype(np.int16)
