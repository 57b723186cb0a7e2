"""The soundstage audio frame: one 20 ms unit of audio with the header a receiver needs.

The same bytes travel in every leg (speaker→origin datagrams, origin→edge TCP, edge→listener
HTTP chunks) so that a listener can tell a lost frame (a sequence gap) from a late one (capture
timestamp) without knowing which leg hurt it. The layout is documented for outside decoders in
``docs/audio-format.md``; change both together and bump ``VERSION``.

Pure code over bytes (sans-IO): ``encode``/``decode`` for datagrams, ``FrameDecoder`` for byte
streams that split and join frames arbitrarily.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum, IntFlag

MAGIC = b"SS"
VERSION = 1
HEADER = struct.Struct("!2sBBBBHIIIQ")
HEADER_SIZE = HEADER.size
MAX_PAYLOAD = 8192
"""Upper bound on a payload: 20 ms of L16 at 16 kHz is 640 bytes; far more is garbage."""
FRAME_MS = 20
FRAME_US = FRAME_MS * 1000
SEQUENCE_MODULUS = 1 << 32


class PayloadType(IntEnum):
    PCMU_8K = 0
    """G.711 µ-law, 8 kHz, mono: 160 bytes per 20 ms."""
    L16_16K = 1
    """16-bit linear PCM, big-endian (network order, as RTP L16), 16 kHz, mono: 640 bytes."""


class Flags(IntFlag):
    NONE = 0
    DISCONTINUITY = 1
    """The timeline restarted here (a new mixer, a speaker reset): do not count a gap before it."""
    SILENCE = 2
    """No speaker contributed to this mix frame; the payload is silence."""
    CLIPPED = 4
    """The mix saturated the 16-bit range in this frame: loud, and a hint of feedback."""


class FrameError(ValueError):
    """Bytes that are not a soundstage frame; a stream that yields one must be dropped."""


@dataclass(frozen=True, slots=True)
class Frame:
    room: int
    source: int
    """Who produced it: a speaker's id, or 0 for the origin's mix."""
    sequence: int
    capture_us: int
    """Capture time of the first sample, microseconds since the Unix epoch."""
    payload_type: PayloadType
    payload: bytes
    flags: Flags = Flags.NONE

    def encode(self) -> bytes:
        if len(self.payload) > MAX_PAYLOAD:
            raise FrameError(f"payload of {len(self.payload)} bytes exceeds {MAX_PAYLOAD}")
        head = HEADER.pack(
            MAGIC,
            VERSION,
            int(self.payload_type),
            int(self.flags),
            0,
            len(self.payload),
            self.room,
            self.source,
            self.sequence % SEQUENCE_MODULUS,
            self.capture_us,
        )
        return head + self.payload


def _parse_header(data: bytes | bytearray, offset: int = 0) -> tuple[int, ...]:
    """Validate a header and return (payload_type, flags, length, room, source, seq, capture)."""
    magic, version, ptype, flags, _rsv, length, room, source, seq, capture = HEADER.unpack_from(
        data, offset
    )
    if magic != MAGIC:
        raise FrameError(f"bad magic {bytes(magic)!r}, expected {MAGIC!r}")
    if version != VERSION:
        raise FrameError(f"unsupported frame version {version}, this decoder reads {VERSION}")
    if ptype not in _PAYLOAD_TYPES:
        raise FrameError(f"unknown payload type {ptype}")
    if length > MAX_PAYLOAD:
        raise FrameError(f"payload length {length} exceeds {MAX_PAYLOAD}")
    return ptype, flags, length, room, source, seq, capture


_PAYLOAD_TYPES = {int(p) for p in PayloadType}


def _build(fields: tuple[int, ...], payload: bytes) -> Frame:
    ptype, flags, _length, room, source, seq, capture = fields
    return Frame(room, source, seq, capture, PayloadType(ptype), payload, Flags(flags))


def decode(datagram: bytes) -> Frame:
    """Decode exactly one frame (a UDP datagram); trailing or missing bytes are an error."""
    if len(datagram) < HEADER_SIZE:
        raise FrameError(f"{len(datagram)} bytes is shorter than the {HEADER_SIZE}-byte header")
    fields = _parse_header(datagram)
    end = HEADER_SIZE + fields[2]
    if len(datagram) != end:
        raise FrameError(f"datagram of {len(datagram)} bytes, header says {end}")
    return _build(fields, bytes(datagram[HEADER_SIZE:end]))


class FrameDecoder:
    """Incremental decoder for a byte stream of back-to-back frames.

    Holds at most one partial frame. A malformed header raises ``FrameError`` and the decoder is
    then unusable: a stream has no resync marker worth trusting, so the connection must go.
    """

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._failed = False

    def feed(self, data: bytes | bytearray) -> list[Frame]:
        if self._failed:
            raise FrameError("decoder already failed; open a new stream")
        self._buffer += data
        frames: list[Frame] = []
        offset = 0
        buf = self._buffer
        try:
            while len(buf) - offset >= HEADER_SIZE:
                fields = _parse_header(buf, offset)
                end = offset + HEADER_SIZE + fields[2]
                if end > len(buf):
                    break
                frames.append(_build(fields, bytes(buf[offset + HEADER_SIZE : end])))
                offset = end
        except FrameError:
            self._failed = True
            raise
        del buf[:offset]
        return frames

    @property
    def pending(self) -> int:
        """Bytes held for a frame not yet complete."""
        return len(self._buffer)


def sequence_distance(newer: int, older: int) -> int:
    """Signed distance from ``older`` to ``newer`` in 32-bit serial arithmetic (RFC 1982)."""
    delta = (newer - older) % SEQUENCE_MODULUS
    return delta - SEQUENCE_MODULUS if delta >= SEQUENCE_MODULUS // 2 else delta
