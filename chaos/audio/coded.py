"""Coded audio as a stream splitter sees it: packets a decoder takes, with their media time.

A progressive body (one long GET) is a byte stream in one container (MPEG audio frames, ADTS,
Ogg pages, raw PCM). A ``Splitter`` finds its packets and their durations from the stream's own
headers (frame headers, granule positions, PCM format) without decoding, which is what lets
every listener measure real media time cheaply, VBR or not; an ear hands the same packets to a
decoder. Splitters are sans-IO: bytes in, packets out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


class StreamFormatError(Exception):
    """The bytes are not the format they claim to be; the message says what was expected."""


@dataclass(frozen=True, slots=True)
class CodecInfo:
    """What a decoder needs: FFmpeg's codec name, the sample rate, channels, and the codec's
    setup data (Vorbis headers, ``OpusHead``) where it has some. ``pcm``: the sample layout of
    raw PCM (``s16le`` or ``s16be``), decoded without FFmpeg."""

    codec: str
    rate: int
    channels: int
    extradata: bytes = b""
    pcm: str | None = None


@dataclass(frozen=True, slots=True)
class CodedPacket:
    """One packet for the decoder and the media seconds it plays (None: not known until
    decoded, the first Vorbis page of a stream joined mid-way)."""

    data: bytes
    seconds: float | None
    codec: CodecInfo


@dataclass(slots=True)
class SplitterStats:
    """What a splitter had to skip or restart: the stream's discontinuities as received.

    ``skipped_bytes``: garbage between frames (a lost sync, a server that cut a frame);
    ``resyncs``: times the splitter lost and found the frame sync again; ``resets``: the codec
    or its parameters changed mid-stream (a new Ogg chain, a sample-rate change)."""

    skipped_bytes: int = 0
    resyncs: int = 0
    resets: int = 0


class Splitter(Protocol):
    stats: SplitterStats

    def feed(self, data: bytes) -> list[CodedPacket]:
        """Consume body bytes; return the packets they completed."""

    def measure(self, data: bytes) -> float:
        """Consume body bytes; return the media seconds they completed (``feed`` without the
        packets: what a listener that only times the stream needs, as cheaply as it can)."""
