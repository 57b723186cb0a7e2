"""Ogg (Vorbis, Opus) page and packet splitting, sans-IO, with media time from the stream.

An Ogg stream is pages of packets; each page's granule position is the media time (in samples)
at the end of the last packet that completes on it, so the media time of a VBR stream comes
from the stream itself. Opus packets say their own duration (the TOC byte); Vorbis packets get
their page's granule delta shared between them. A listener that joins a live mount mid-way
gets the stream headers again (Icecast replays them), then pages whose granule does not start
at 0: the first audio page's duration is taken at the second page's seconds per packet, the
only estimate in here (an ear measures it exactly, decoding).

Only the first Vorbis or Opus logical stream is followed; a new one after its end (a chained
stream: a source reconnected, or a new track) resets the codec.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field

from chaos.audio.coded import CodecInfo, CodedPacket, SplitterStats, StreamFormatError

#: A page is at most 27 + 255 + 255·255 bytes.
MAX_PAGE = 27 + 255 + 255 * 255
_HEADER = struct.Struct("<4sBBqIIIB")
_OPUS_FRAME_MS = (10, 20, 40, 60) * 3 + (10, 20) * 2 + (2.5, 5, 10, 20) * 4


_REVERSED_BITS = bytes(int(f"{i:08b}"[::-1], 2) for i in range(256))


def page_crc(page: bytes) -> int:
    """Ogg's CRC-32 (polynomial 0x04C11DB7, unreflected, no init or final XOR), computed by
    zlib's reflected CRC-32 over bit-reversed bytes: C speed, unlike a table loop in Python."""
    raw = zlib.crc32(page.translate(_REVERSED_BITS), 0xFFFFFFFF) ^ 0xFFFFFFFF
    return int.from_bytes(raw.to_bytes(4, "little").translate(_REVERSED_BITS), "big")


def opus_seconds(packet: bytes) -> float:
    """An Opus packet's duration from its TOC byte (RFC 6716 §3.1)."""
    if not packet:
        return 0.0
    toc = packet[0]
    code = toc & 3
    frames = (
        1 if code == 0 else 2 if code in (1, 2) else (packet[1] & 0x3F if len(packet) > 1 else 0)
    )
    return frames * _OPUS_FRAME_MS[toc >> 3] / 1000


def xiph_lacing(packets: list[bytes]) -> bytes:
    """Codec setup packets as FFmpeg's Vorbis decoder wants its extradata."""
    out = bytearray([len(packets) - 1])
    for p in packets[:-1]:
        out += b"\xff" * (len(p) // 255) + bytes([len(p) % 255])
    return bytes(out) + b"".join(packets)


@dataclass(slots=True)
class _Stream:
    serial: int
    codec: str
    headers: list[bytes] = field(default_factory=list)
    info: CodecInfo | None = None
    granule: int | None = None  # of the last page that completed a packet
    waiting: list[bytes] = field(default_factory=list)  # Vorbis packets of the current page
    held: list[bytes] = field(default_factory=list)  # of the first audio page: duration unknown


@dataclass(slots=True)
class OggSplitter:
    stats: SplitterStats = field(default_factory=SplitterStats)
    _buf: bytearray = field(default_factory=bytearray)
    _partial: bytearray = field(default_factory=bytearray)  # a packet continued on the next page
    _whole: bool = False  # ``_partial`` holds the start of a packet
    _stream: _Stream | None = None
    _ended: bool = False
    _synced: bool = False
    _searched: int = 0

    def feed(self, data: bytes) -> list[CodedPacket]:
        buf = self._buf
        buf += data
        out: list[CodedPacket] = []
        pos = 0
        while len(buf) - pos >= 27:
            if buf[pos : pos + 4] != b"OggS":
                pos = self._lose_sync(buf, pos)
                continue
            _, version, flags, granule, serial, _, crc, count = _HEADER.unpack_from(buf, pos)
            if version != 0:
                pos = self._lose_sync(buf, pos)
                continue
            if len(buf) - pos < 27 + count:
                break
            lacing = bytes(buf[pos + 27 : pos + 27 + count])
            body = pos + 27 + count
            end = body + sum(lacing)
            if len(buf) < end:
                break
            page = bytearray(buf[pos:end])
            page[22:26] = b"\0\0\0\0"
            if page_crc(bytes(page)) != crc:  # a cut page, or "OggS" inside a packet
                pos = self._lose_sync(buf, pos)
                continue
            self._synced = True
            self._page(flags, granule, serial, lacing, bytes(buf[body:end]), out)
            pos = end
        del buf[:pos]
        if self._stream is None or self._stream.info is None:
            self._searched += pos
            if self._searched > MAX_PAGE * 4:
                raise StreamFormatError("no Vorbis or Opus stream in the first Ogg pages")
        return out

    def measure(self, data: bytes) -> float:
        return sum(p.seconds or 0.0 for p in self.feed(data))

    def _lose_sync(self, buf: bytearray, pos: int) -> int:
        """Skip to the next "OggS"; after pages were read, that is a discontinuity."""
        nxt = buf.find(b"OggS", pos + 1)
        stop = len(buf) - 3 if nxt < 0 else nxt
        if self._synced:
            self.stats.resyncs += 1
            self._synced = False
            self._partial.clear()
            self._whole = False
        stream = self._stream
        if stream is not None:
            self.stats.skipped_bytes += stop - pos
            # The granule delta across the gap would count the lost pages as heard.
            stream.granule, stream.waiting, stream.held = None, [], []
        return stop

    def _page(
        self,
        flags: int,
        granule: int,
        serial: int,
        lacing: bytes,
        body: bytes,
        out: list[CodedPacket],
    ) -> None:
        packets: list[bytes] = []
        partial = self._partial
        if not flags & 1:
            partial.clear()  # a continuation that never came: the packet is lost
            self._whole = True
        # A continued page whose packet began where we were not (a join, a lost sync): its
        # first piece is the tail of a packet, not one.
        whole = self._whole
        offset = 0
        for size in lacing:
            partial += body[offset : offset + size]
            offset += size
            if size < 255:
                if whole:
                    packets.append(bytes(partial))
                partial.clear()
                whole = True
        self._whole = whole
        stream = self._stream
        beginning = flags & 2 and packets and (stream is None or self._ended)
        codec = _codec_of(packets[0]) if beginning else None
        if codec is not None:  # the (next) logical stream we follow
            if stream is not None:
                self.stats.resets += 1
            self._stream = stream = _Stream(serial, codec)
            self._ended = False
        if stream is None or serial != stream.serial:
            return
        if flags & 4:
            self._ended = True
        for packet in packets:
            if stream.info is None:
                stream.headers.append(packet)
                self._header_done(stream)
                continue
            self._audio(stream, packet, out)
        if stream.codec == "vorbis" and stream.waiting and granule >= 0:
            self._vorbis_page(stream, granule, out)

    def _header_done(self, stream: _Stream) -> None:
        h = stream.headers
        if stream.codec == "opus" and len(h) == 2:
            channels = h[0][9] if len(h[0]) > 9 else 2
            stream.info = CodecInfo("opus", 48000, channels or 2, h[0])
        elif stream.codec == "vorbis" and len(h) == 3:
            if len(h[0]) < 16:
                raise StreamFormatError("truncated Vorbis identification header")
            channels = h[0][11]
            rate = struct.unpack_from("<I", h[0], 12)[0]
            if not rate or not channels:
                raise StreamFormatError("Vorbis identification header without rate or channels")
            stream.info = CodecInfo("vorbis", rate, channels, xiph_lacing(h))

    def _audio(self, stream: _Stream, packet: bytes, out: list[CodedPacket]) -> None:
        assert stream.info is not None
        if stream.codec == "opus":
            out.append(CodedPacket(packet, opus_seconds(packet), stream.info))
        else:
            stream.waiting.append(packet)

    def _vorbis_page(self, stream: _Stream, granule: int, out: list[CodedPacket]) -> None:
        """Share the page's granule delta between the packets completed on it; the first audio
        page's packets wait for the second page and are timed at its seconds per packet."""
        info = stream.info
        assert info is not None
        packets, stream.waiting = stream.waiting, []
        if stream.granule is None:
            stream.granule, stream.held = granule, packets
            return
        each = max(0, granule - stream.granule) / info.rate / len(packets)
        stream.granule = granule
        out.extend(CodedPacket(p, each, info) for p in stream.held + packets)
        stream.held = []


def _codec_of(packet: bytes) -> str | None:
    if packet.startswith(b"OpusHead"):
        return "opus"
    if packet.startswith(b"\x01vorbis"):
        return "vorbis"
    return None
