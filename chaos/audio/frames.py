"""The harness's own reader of soundstage's framed audio (``docs/audio-format.md``), no I/O.

``chaos`` never imports ``soundstage``: a harness that borrowed the stack's decoder would share
its bugs. This reads the documented wire format: a 28-byte big-endian header

    magic "SS" · version u8 · payload type u8 · flags u8 · reserved u8 · payload length u16 ·
    room u32 · source u32 · sequence u32 · capture time u64 (µs since the Unix epoch)

followed by the payload (G.711 µ-law at 8 kHz, or L16 big-endian at 16 kHz; 20 ms a frame).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum, IntFlag

MAGIC = b"SS"
VERSION = 1
HEADER = struct.Struct("!2sBBBBHIIIQ")
MAX_PAYLOAD = 8192
SEQUENCE_MODULUS = 1 << 32


class PayloadType(IntEnum):
    PCMU_8K = 0
    L16_16K = 1

    @property
    def bytes_per_second(self) -> int:
        return 8000 if self is PayloadType.PCMU_8K else 32000


class Flags(IntFlag):
    NONE = 0
    DISCONTINUITY = 1  # the timeline restarted: a sequence jump here is not a loss
    SILENCE = 2
    CLIPPED = 4


class FrameFormatError(ValueError):
    """Bytes that are not a frame of the documented format; the stream cannot be trusted."""


@dataclass(frozen=True, slots=True)
class AudioFrame:
    room: int
    source: int
    sequence: int
    capture_us: int
    payload_type: PayloadType
    flags: Flags
    payload: bytes

    @property
    def duration(self) -> float:
        return len(self.payload) / self.payload_type.bytes_per_second

    def encode(self) -> bytes:
        """The frame on the wire (what a speaker sends: the harness's feedback fault does)."""
        head = HEADER.pack(
            MAGIC,
            VERSION,
            self.payload_type,
            self.flags,
            0,
            len(self.payload),
            self.room,
            self.source,
            self.sequence % SEQUENCE_MODULUS,
            self.capture_us,
        )
        return head + self.payload


class FrameReader:
    """Incremental reader: feed stream bytes (split anywhere), get whole frames."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[AudioFrame]:
        buf = self._buffer
        buf += data
        frames: list[AudioFrame] = []
        offset, size = 0, HEADER.size
        while len(buf) - offset >= size:
            magic, version, ptype, flags, _, length, room, source, seq, capture = (
                HEADER.unpack_from(buf, offset)
            )
            if magic != MAGIC:
                raise FrameFormatError(f"bad magic {bytes(magic)!r} (expected {MAGIC!r})")
            if version != VERSION:
                raise FrameFormatError(f"frame version {version}; this reader knows {VERSION}")
            if length > MAX_PAYLOAD:
                raise FrameFormatError(f"payload length {length} exceeds {MAX_PAYLOAD}")
            try:
                payload_type = PayloadType(ptype)
            except ValueError:
                raise FrameFormatError(f"unknown payload type {ptype}") from None
            end = offset + size + length
            if end > len(buf):
                break
            payload = bytes(buf[offset + size : end])
            frames.append(
                AudioFrame(room, source, seq, capture, payload_type, Flags(flags), payload)
            )
            offset = end
        del buf[:offset]
        return frames


class SequenceUnwrapper:
    """32-bit wrapping sequence numbers → an ever-growing index the playout model can order.

    A frame flagged DISCONTINUITY starts a new timeline right after the newest frame seen, so
    a restarted mixer is not mistaken for thousands of lost frames.
    """

    def __init__(self) -> None:
        self._last_raw: int | None = None
        self._last: int = 0

    def unwrap(self, raw: int, discontinuity: bool = False) -> int:
        if self._last_raw is None or discontinuity:
            index = self._last + 1 if self._last_raw is not None else 0
        else:
            delta = (raw - self._last_raw) % SEQUENCE_MODULUS
            if delta >= SEQUENCE_MODULUS // 2:
                delta -= SEQUENCE_MODULUS
            index = self._last + delta
        if self._last_raw is None or index > self._last or discontinuity:
            self._last_raw, self._last = raw, index
        return index
