"""HLS segments for ears: what an HLS adapter hands an ear, decoded once per edge.

The adapter fetches; the ear decodes. For each segment (or LL-HLS part) an ear's listener
received, the adapter builds a ``ReceivedSegment`` and calls ``Ear.segment``; what that returns
is the payload of the playout frame the adapter makes for the segment, so the ear hears the
segment's PCM exactly when the playout model plays that frame (and silence when it conceals
it). Decoding goes through the edge's ``EdgeSegments``: every ear of one edge that receives the
same URI gets the one decode, so ears cost one decode per segment per edge, not per ear.

Segments are decoded in the order the edge's ears first receive them, by one decoder kept
across segments that follow each other (the next media sequence number, or the next part of
one), as a player's decoder runs on; a discontinuity, a jump, or a different codec restarts it.
"""

from __future__ import annotations

import io
from collections import OrderedDict
from dataclasses import dataclass
from enum import StrEnum

import av

from chaos.audio.coded import CodecInfo, CodedPacket, StreamFormatError
from chaos.audio.decode import EMPTY, Decoded, PacketDecoder
from chaos.audio.mpeg import FrameSplitter

#: Decoded segments kept per edge: ears of one edge are within a few segments of each other.
KEEP = 32


class Container(StrEnum):
    """How a segment's bytes are packed (RFC 8216 §3)."""

    TS = "ts"  # MPEG-2 transport stream
    FMP4 = "fmp4"  # fragmented MP4 / CMAF, with an EXT-X-MAP init section
    ADTS = "adts"  # packed audio: AAC in ADTS, usually after an ID3 timestamp tag
    MP3 = "mp3"  # packed audio: MPEG audio frames


def container_of(uri: str, content_type: str = "") -> Container:
    """A segment's container from its ``Content-Type``, else its URI's extension (``.ts``,
    ``.m4s``/``.mp4``/``.cmfa``, ``.aac``, ``.mp3``); MPEG-TS when neither says."""
    kind = content_type.split(";")[0].strip().lower()
    by_type = {
        "video/mp2t": Container.TS,
        "audio/mp2t": Container.TS,
        "audio/mp4": Container.FMP4,
        "video/mp4": Container.FMP4,
        "audio/aac": Container.ADTS,
        "audio/mpeg": Container.MP3,
    }
    if kind in by_type:
        return by_type[kind]
    path = uri.split("?")[0].lower()
    for suffixes, container in (
        ((".m4s", ".mp4", ".m4a", ".cmfa"), Container.FMP4),
        ((".aac", ".adts"), Container.ADTS),
        ((".mp3",), Container.MP3),
    ):
        if path.endswith(suffixes):
            return container
    return Container.TS


@dataclass(frozen=True, slots=True)
class ReceivedSegment:
    """One segment (or part) as an ear's listener received it.

    ``uri``: absolute, the cache key. ``media_sequence``: its EXT-X-MEDIA-SEQUENCE number;
    ``part``: its index among the segment's LL-HLS parts (None for a whole segment).
    ``duration``: EXTINF (or the part's DURATION). ``discontinuity``: EXT-X-DISCONTINUITY
    came before it. ``slot``: the sequence number of the playout frame the adapter gives it.
    ``init``: the EXT-X-MAP init section an fMP4 segment needs."""

    uri: str
    data: bytes
    container: Container
    media_sequence: int
    duration: float
    discontinuity: bool = False
    slot: int = 0
    part: int | None = None
    init: bytes = b""

    def follows(self, previous: ReceivedSegment) -> bool:
        """Does this segment carry on where ``previous`` stopped?"""
        if self.discontinuity:
            return False
        if self.part is not None and self.media_sequence == previous.media_sequence:
            return previous.part is not None and self.part == previous.part + 1
        return self.media_sequence == previous.media_sequence + 1 and self.part in (None, 0)


class EdgeSegments:
    """The decoded segments of one edge, shared by its ears (one per edge per process)."""

    def __init__(self, keep: int = KEEP) -> None:
        self.keep = keep
        self.decodes = 0
        """Segments decoded (cache misses): what the ears of this edge cost."""
        self._cache: OrderedDict[str, Decoded] = OrderedDict()
        self._decoder = PacketDecoder()
        self._last: ReceivedSegment | None = None

    def decode(self, segment: ReceivedSegment) -> Decoded:
        hit = self._cache.get(segment.uri)
        if hit is not None:
            self._cache.move_to_end(segment.uri)
            return hit
        self.decodes += 1
        last = self._last
        if last is not None and not segment.follows(last):
            self._decoder.restart()
        self._last = segment
        try:
            packets = _packets(segment)
        except (StreamFormatError, av.FFmpegError):
            decoded = Decoded(EMPTY, 0.0, errors=1, reset=segment.discontinuity)
            self._decoder.restart()
        else:
            decoded = self._decoder.decode(packets)
            if segment.discontinuity and not decoded.reset:
                decoded = Decoded(decoded.pcm, decoded.seconds, decoded.errors, True, decoded.lost)
        self._cache[segment.uri] = decoded
        if len(self._cache) > self.keep:
            self._cache.popitem(last=False)
        return decoded


def _packets(segment: ReceivedSegment) -> list[CodedPacket]:
    """The segment's audio packets, demuxed (TS, fMP4) or split (packed audio)."""
    if segment.container in (Container.ADTS, Container.MP3):
        splitter = FrameSplitter(adts=segment.container is Container.ADTS)
        return splitter.feed(segment.data)
    data = segment.init + segment.data if segment.container is Container.FMP4 else segment.data
    fmt = "mp4" if segment.container is Container.FMP4 else "mpegts"
    with av.open(io.BytesIO(data), mode="r", format=fmt) as container:
        if not container.streams.audio:
            raise StreamFormatError(f"no audio stream in {segment.uri}")
        stream = container.streams.audio[0]
        context = stream.codec_context
        info = CodecInfo(
            context.name, context.sample_rate, context.channels, bytes(context.extradata or b"")
        )
        base = stream.time_base
        return [
            CodedPacket(bytes(p), float(p.duration * base) if p.duration and base else None, info)
            for p in container.demux(stream)
            if p.size
        ]
