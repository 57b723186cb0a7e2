"""The edges' HLS output, without I/O: the mix's frames in, segments, parts and playlists out.

An edge keeps one ``Packager`` per room it receives. Frames are decoded to PCM, encoded once to
AAC (``soundstage.aac``) and cut into packed-audio segments (RFC 8216 §3.4: ADTS frames after an
ID3 tag carrying the first sample's MPEG-2 timestamp), each dated by the capture time of its
first sample (``EXT-X-PROGRAM-DATE-TIME``), so a listener can tell how far behind live it plays.
With ``part_s`` set the playlist is LL-HLS (RFC 8216bis): each segment is made of parts listed as
``EXT-X-PART`` while recent, an ``EXT-X-PRELOAD-HINT`` names the next part, and the server
control says the edge holds blocking reloads (``_HLS_msn``/``_HLS_part``, answered by ``has``).

The packager runs on the frames' timeline, not the wall clock, as a live packager does: a frame
missing from the sequence (lost upstream) is filled with silence so the media stays as long as
the time it covers, and a gap of ``max_gap_s`` or more, or a timeline that went back (a new
mixer), closes the segment and starts the next with ``EXT-X-DISCONTINUITY``. When frames stop
coming, nothing new is published: the playlist goes stale, which is what listeners must see.
"""

from __future__ import annotations

import struct
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt

from soundstage.aac import FRAME_S, RATE, SAMPLES, AacEncoder

#: Samples a soundstage frame carries (20 ms at 16 kHz).
FRAME_SAMPLES = 320
PLAYLIST_TYPE = "application/vnd.apple.mpegurl"
SEGMENT_TYPE = "audio/aac"
#: LL-HLS: parts are listed for this many of the newest complete segments (about 3 target
#: durations, RFC 8216bis §4.4.4.9).
PART_SEGMENTS = 3
#: How far ahead a blocking request may ask before it is a bad request (RFC 8216bis §6.2.5.2).
ADVANCE_SEGMENTS = 2


def id3_timestamp(pts90k: int) -> bytes:
    """The ID3v2.4 tag with Apple's ``transportStreamTimestamp`` PRIV frame (RFC 8216 §3.4)."""
    owner = b"com.apple.streaming.transportStreamTimestamp\x00"
    data = owner + struct.pack(">Q", pts90k & ((1 << 33) - 1))
    frame = b"PRIV" + _syncsafe(len(data)) + b"\x00\x00" + data
    return b"ID3\x04\x00\x00" + _syncsafe(len(frame)) + frame


def _syncsafe(n: int) -> bytes:
    return bytes(((n >> 21) & 0x7F, (n >> 14) & 0x7F, (n >> 7) & 0x7F, n & 0x7F))


@dataclass(frozen=True, slots=True)
class HlsConfig:
    segment_s: float = 2.0
    """Target length of a segment; segments are whole AAC frames (64 ms), so 2 s is 1.984 s."""
    part_s: float = 0.0
    """LL-HLS part length (whole AAC frames, 0.2 s is 0.192 s); 0: plain HLS, no parts."""
    window: int = 6
    """Complete segments listed in the playlist."""
    keep: int = 3
    """Segments still served after they left the playlist (a listener a little behind)."""
    bitrate: int = 64_000
    max_gap_s: float = 1.0

    @property
    def part_frames(self) -> int:
        return max(1, round(self.part_s / FRAME_S)) if self.part_s > 0 else 0

    @property
    def segment_frames(self) -> int:
        part = self.part_frames
        if part:
            return part * max(1, round(self.segment_s / (part * FRAME_S)))
        return max(1, int(self.segment_s / FRAME_S + 1e-9))

    @property
    def target_duration(self) -> int:
        """EXT-X-TARGETDURATION: every EXTINF rounded to the nearest integer is at most it."""
        return max(1, round(self.segment_frames * FRAME_S))


@dataclass(slots=True)
class Part:
    index: int
    data: bytes
    duration: float


@dataclass(slots=True)
class Segment:
    sequence: int
    date: float
    """Capture time (Unix seconds) of its first sample."""
    discontinuity: bool
    parts: list[Part] = field(default_factory=list)
    complete: bool = False
    data: bytes = b""

    @property
    def duration(self) -> float:
        return sum(p.duration for p in self.parts)


class Packager:
    """One room's HLS stream. ``feed`` frames in capture order; it returns True when it
    published something (a part or a segment), which is when held requests may be answered."""

    def __init__(self, config: HlsConfig) -> None:
        self.config = config
        self.segments: deque[Segment] = deque()
        self.discontinuity_sequence = 0
        self.published_segments = 0
        self.published_parts = 0
        self.filled_frames = 0
        """Frames missing upstream, packaged as silence."""
        self.discontinuities = 0
        self._encoder: AacEncoder | None = None
        self._origin_us = 0
        """Capture time of the timeline's first sample (the encoder's timestamp 0)."""
        self._next_us: int | None = None
        """Capture time the next frame should have."""
        self._frames: list[bytes] = []
        """ADTS frames of the part (or segment) being built."""
        self._frames_in_segment = 0
        self._next_sequence = 0
        self._discontinuity = False
        self._playlists: dict[bool, bytes] = {}

    # --- input ------------------------------------------------------------------------

    def feed(self, capture_us: int, samples: npt.NDArray[np.int16]) -> bool:
        expected = self._next_us
        published = False
        if expected is not None:
            gap = capture_us - expected
            if gap <= -self.config.max_gap_s * 1e6 or gap >= self.config.max_gap_s * 1e6:
                published = self._restart()
                expected = None
            elif gap < -FRAME_SAMPLES / RATE * 1e6 / 2:
                return False  # a frame older than the timeline (duplicate or late): skip it
            elif gap > FRAME_SAMPLES / RATE * 1e6 / 2:
                missing = round(gap / 1e6 * RATE / FRAME_SAMPLES)
                self.filled_frames += missing
                published |= self._encode(np.zeros(missing * FRAME_SAMPLES, dtype=np.int16))
        if expected is None:
            self._encoder = AacEncoder(self.config.bitrate)
            self._origin_us = capture_us
            self._next_us = capture_us
        published |= self._encode(samples)
        return published

    def _encode(self, samples: npt.NDArray[np.int16]) -> bool:
        assert self._encoder is not None and self._next_us is not None
        self._next_us += round(len(samples) / RATE * 1e6)
        return self._take(self._encoder.encode(samples))

    def _take(self, frames: list[tuple[int, bytes]]) -> bool:
        cfg = self.config
        per_part = cfg.part_frames or cfg.segment_frames
        published = False
        for timestamp, frame in frames:
            if not self._frames and self._frames_in_segment == 0:
                self._open_segment(timestamp)
            self._frames.append(frame)
            self._frames_in_segment += 1
            if len(self._frames) >= per_part:
                self._close_part()
                published = True
            if self._frames_in_segment >= cfg.segment_frames:
                self._close_segment()
        return published

    def _restart(self) -> bool:
        """The timeline broke: publish what is encoded, then begin anew after a discontinuity."""
        published = False
        if self._encoder is not None:
            published = self._take(self._encoder.flush())
        if self._frames:
            self._close_part()
            published = True
        if self.segments and not self.segments[-1].complete:
            if self.segments[-1].parts:
                self._close_segment()
            else:
                self.segments.pop()
        self._frames_in_segment = 0
        self._encoder = None
        self._next_us = None
        self._discontinuity = True
        self.discontinuities += 1
        return published

    def _open_segment(self, timestamp: int) -> None:
        date = (self._origin_us + timestamp * 1e6 / RATE) / 1e6
        self.segments.append(Segment(self._next_sequence, date, self._discontinuity))
        self._next_sequence += 1
        self._discontinuity = False

    def _close_part(self) -> None:
        segment = self.segments[-1]
        index = len(segment.parts)
        date = segment.date + sum(p.duration for p in segment.parts)
        pts = round(date * 90_000)
        body = id3_timestamp(pts) + b"".join(self._frames)
        segment.parts.append(Part(index, body, len(self._frames) * SAMPLES / RATE))
        self._frames = []
        self.published_parts += 1
        self._playlists.clear()

    def _close_segment(self) -> None:
        segment = self.segments[-1]
        segment.complete = True
        first = segment.parts[0].data
        tag = len(id3_timestamp(0))
        segment.data = first[:tag] + b"".join(p.data[tag:] for p in segment.parts)
        if not self.config.part_frames:
            segment.parts = [Part(0, b"", segment.parts[0].duration)]  # whole segments only
        self._frames_in_segment = 0
        self.published_segments += 1
        complete = [s for s in self.segments if s.complete]
        limit = self.config.window + self.config.keep
        while len(complete) > limit:
            gone = self.segments.popleft()
            complete.pop(0)
            if gone.discontinuity:
                self.discontinuity_sequence += 1
        self._playlists.clear()

    # --- output -----------------------------------------------------------------------

    @property
    def ready(self) -> bool:
        """The playlist lists at least one segment (or, LL-HLS, one part)."""
        return any(s.complete or s.parts for s in self.segments)

    def has(self, sequence: int, part: int | None) -> bool:
        """Is segment ``sequence`` (with ``part``: that part of it) published? What a blocking
        reload or a request for the hinted part waits for."""
        for segment in reversed(self.segments):
            if segment.sequence > sequence:
                return True  # a later segment exists: the one asked for is done
            if segment.sequence == sequence:
                return segment.complete or (part is not None and part < len(segment.parts))
        return False

    def too_far(self, sequence: int, part: int | None) -> bool:
        """A request for media further ahead than a server may be asked to wait for."""
        return sequence > self._next_sequence + ADVANCE_SEGMENTS - 1

    def segment(self, sequence: int) -> bytes | None:
        for segment in self.segments:
            if segment.sequence == sequence and segment.complete:
                return segment.data
        return None

    def part(self, sequence: int, index: int) -> bytes | None:
        if not self.config.part_frames:
            return None
        for segment in self.segments:
            if segment.sequence == sequence and index < len(segment.parts):
                return segment.parts[index].data
        return None

    def playlist(self, low_latency: bool | None = None) -> bytes:
        """The media playlist (LL-HLS when the packager makes parts)."""
        parts = bool(self.config.part_frames) if low_latency is None else low_latency
        cached = self._playlists.get(parts)
        if cached is None:
            cached = self._playlists[parts] = self._render(parts and bool(self.config.part_frames))
        return cached

    def _render(self, parts: bool) -> bytes:
        cfg = self.config
        complete = [s for s in self.segments if s.complete][-cfg.window :]
        listed = complete
        current = self.segments[-1] if self.segments and not self.segments[-1].complete else None
        if complete:
            first = complete[0]
            before = [s for s in self.segments if s.sequence < first.sequence and s.discontinuity]
            media_sequence = first.sequence
        else:
            before, media_sequence = [], current.sequence if current else 0
        lines = [
            "#EXTM3U",
            f"#EXT-X-VERSION:{9 if parts else 3}",
            f"#EXT-X-TARGETDURATION:{cfg.target_duration}",
        ]
        part_target = cfg.part_frames * FRAME_S
        if parts:
            lines.append(
                f"#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK={3 * part_target:.3f}"
            )
            lines.append(f"#EXT-X-PART-INF:PART-TARGET={part_target:.3f}")
        lines.append(f"#EXT-X-MEDIA-SEQUENCE:{media_sequence}")
        discontinuities = self.discontinuity_sequence + len(before)
        if discontinuities:
            lines.append(f"#EXT-X-DISCONTINUITY-SEQUENCE:{discontinuities}")
        recent = {s.sequence for s in listed[-PART_SEGMENTS:]}
        for segment in [*listed, *([current] if current is not None and parts else [])]:
            if segment.discontinuity:
                lines.append("#EXT-X-DISCONTINUITY")
            lines.append(f"#EXT-X-PROGRAM-DATE-TIME:{_date(segment.date)}")
            if parts and (segment.sequence in recent or not segment.complete):
                for part in segment.parts:
                    lines.append(
                        f"#EXT-X-PART:DURATION={part.duration:.3f},"
                        f'URI="{segment.sequence}.{part.index}.aac",INDEPENDENT=YES'
                    )
            if segment.complete:
                lines += [f"#EXTINF:{segment.duration:.3f},", f"{segment.sequence}.aac"]
        if parts:
            sequence, index = self._next_part()
            lines.append(f'#EXT-X-PRELOAD-HINT:TYPE=PART,URI="{sequence}.{index}.aac"')
        return ("\n".join(lines) + "\n").encode()

    def _next_part(self) -> tuple[int, int]:
        last = self.segments[-1] if self.segments else None
        if last is None:
            return self._next_sequence, 0
        if last.complete:
            return last.sequence + 1, 0
        return last.sequence, len(last.parts)


def _date(seconds: float) -> str:
    moment = datetime.fromtimestamp(seconds, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
