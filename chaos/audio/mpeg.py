"""MPEG audio (MP1/2/3) and ADTS (AAC) frame splitting from headers alone, sans-IO.

Both are self-synchronising streams of frames, each with a header that says its length and
how many samples it holds, so a stream's media time is the sum of its frames' sample counts
whatever the bitrate does (VBR) and whatever the server announced. Icecast starts a listener's
burst mid-frame, so the splitter searches for a sync word and trusts it only when the frame it
announces is followed by another valid header (or the data ends first, and we wait). ID3v2
tags (at the start of a file-backed stream, or of a packed-audio HLS segment) are skipped.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from chaos.audio.coded import CodecInfo, CodedPacket, SplitterStats, StreamFormatError

#: Longest frame either format allows (ADTS: 13-bit length; MPEG-1 layer II at 384 kb/s and
#: 32 kHz: 1728 bytes); a buffer this long without a confirmed frame is not audio.
MAX_FRAME = 8192
#: Bytes searched for a sync word before the stream is declared not to be this format.
MAX_SEARCH = 64 * 1024

_MPEG_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}
_KBPS = {
    (3, 3): (0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448),  # V1 L1
    (3, 2): (0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384),  # V1 L2
    (3, 1): (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),  # V1 L3
    (2, 3): (0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256),  # V2 L1
    (2, 2): (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),  # V2 L2, L3
}
_ADTS_RATES = (
    96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350,
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class FrameHeader:
    length: int
    samples: int
    rate: int
    channels: int
    codec: str


def mpeg_header(b: bytes | bytearray | memoryview, pos: int) -> FrameHeader | None:
    """The MPEG audio frame header at ``pos`` (4 bytes needed), or None if it is not one."""
    if b[pos] != 0xFF or b[pos + 1] & 0xE0 != 0xE0:
        return None
    version = (b[pos + 1] >> 3) & 3  # 0: MPEG-2.5, 2: MPEG-2, 3: MPEG-1
    layer = (b[pos + 1] >> 1) & 3  # 1: III, 2: II, 3: I
    bitrate_index = b[pos + 2] >> 4
    rate_index = (b[pos + 2] >> 2) & 3
    if version == 1 or layer == 0 or bitrate_index in (0, 15) or rate_index == 3:
        return None  # reserved values, or free format (no length in the header)
    kbps = _KBPS[(3, layer) if version == 3 else (2, 3) if layer == 3 else (2, 2)][bitrate_index]
    rate = _MPEG_RATES[version][rate_index]
    padding = (b[pos + 2] >> 1) & 1
    channels = 1 if b[pos + 3] >> 6 == 3 else 2
    if layer == 3:
        return FrameHeader((12 * kbps * 1000 // rate + padding) * 4, 384, rate, channels, "mp1")
    samples = 576 if layer == 1 and version != 3 else 1152
    length = samples // 8 * kbps * 1000 // rate + padding
    return FrameHeader(length, samples, rate, channels, "mp3" if layer == 1 else "mp2")


def adts_header(b: bytes | bytearray | memoryview, pos: int) -> FrameHeader | None:
    """The ADTS header at ``pos`` (7 bytes needed), or None if it is not one."""
    if b[pos] != 0xFF or b[pos + 1] & 0xF6 != 0xF0:  # sync, layer 00
        return None
    rate_index = (b[pos + 2] >> 2) & 0xF
    channels = ((b[pos + 2] & 1) << 2) | (b[pos + 3] >> 6)
    length = ((b[pos + 3] & 3) << 11) | (b[pos + 4] << 3) | (b[pos + 5] >> 5)
    header = 7 if b[pos + 1] & 1 else 9
    if rate_index >= len(_ADTS_RATES) or length < header:
        return None
    blocks = (b[pos + 6] & 3) + 1
    return FrameHeader(length, 1024 * blocks, _ADTS_RATES[rate_index], channels or 2, "aac")


def id3_length(b: bytes | bytearray | memoryview, pos: int) -> int | None:
    """Total length of the ID3v2 tag at ``pos`` (10 bytes needed), or None if none is there."""
    if bytes(b[pos : pos + 3]) != b"ID3":
        return None
    size = b[pos + 6 : pos + 10]
    if any(x & 0x80 for x in size):
        return None
    footer = 10 if b[pos + 5] & 0x10 else 0
    return 10 + footer + (size[0] << 21 | size[1] << 14 | size[2] << 7 | size[3])


@dataclass(slots=True)
class FrameSplitter:
    """Splits an MPEG audio (``adts=False``) or ADTS (``adts=True``) byte stream into frames."""

    adts: bool = False
    stats: SplitterStats = field(default_factory=SplitterStats)
    _buf: bytearray = field(default_factory=bytearray)
    _locked: bool = False
    _skip: int = 0  # bytes of an ID3 tag still to discard
    _codec: CodecInfo | None = None
    _searched: int = 0
    _lost: bool = False
    _frames: dict[int, tuple[float, int]] = field(default_factory=dict)
    """Header bits → (seconds, length; 0 for ADTS, whose header holds it): see ``measure``."""

    def measure(self, data: bytes) -> float:
        """The fast path of a locked stream: a frame's length from its header bits and its
        duration from a cache of the headers seen (a stream repeats a handful), no packets.
        Anything unexpected (a lost sync, a new rate, an ID3 tag) goes the way of ``feed``."""
        if not self._locked or self._skip:
            return sum(p.seconds or 0.0 for p in self.feed(data))
        buf = self._buf
        buf += data
        end, pos, seconds = len(buf), 0, 0.0
        cache, adts = self._frames, self.adts
        parse = adts_header if adts else mpeg_header
        while end - pos >= 7:
            if buf[pos] != 0xFF:
                break
            b1, b2, b3 = buf[pos + 1], buf[pos + 2], buf[pos + 3]
            if adts:  # the key leaves out the 13 length bits, which are read directly
                key = b1 << 24 | (b2 & 0xFD) << 16 | (b3 & 0xC0) << 8 | (buf[pos + 6] & 3)
            else:
                key = b1 << 16 | b2 << 8 | (b3 & 0xC0)
            hit = cache.get(key)
            if hit is None:
                header = parse(buf, pos)
                codec = self._codec
                if header is None or self._info(header) is not codec:
                    break
                hit = cache[key] = (header.samples / header.rate, 0 if adts else header.length)
            seconds_of, length = hit
            if adts:
                length = (b3 & 3) << 11 | buf[pos + 4] << 3 | buf[pos + 5] >> 5
            if length < 7 or end - pos < length:
                break
            seconds += seconds_of
            pos += length
        del buf[:pos]
        if end - pos >= 7 and self._locked:  # stopped on something unexpected: the slow way
            seconds += sum(p.seconds or 0.0 for p in self.feed(b""))
        return seconds

    def feed(self, data: bytes) -> list[CodedPacket]:
        buf = self._buf
        if self._skip:
            dropped = min(self._skip, len(data))
            self._skip -= dropped
            data = data[dropped:]
        buf += data
        out: list[CodedPacket] = []
        parse = adts_header if self.adts else mpeg_header
        need = 7 if self.adts else 4
        pos = 0
        end = len(buf)
        while end - pos >= max(need, 10):
            header = parse(buf, pos)
            if header is None:
                tag = id3_length(buf, pos)
                if tag is not None:
                    if end - pos < tag:
                        self._skip = tag - (end - pos)
                        pos = end
                        break
                    pos += tag
                    continue
                pos = self._resync(buf, pos, end)
                continue
            stop = pos + header.length
            if not self._locked:
                # A sync word may be a coincidence: trust it when the next header follows.
                if end - stop < need:
                    if end - pos > MAX_FRAME:
                        pos = self._resync(buf, pos + 1, end)
                        continue
                    break
                follower = parse(buf, stop)
                if follower is None or follower.rate != header.rate:
                    pos = self._resync(buf, pos + 1, end)
                    continue
                self._locked, self._lost, self._searched = True, False, 0
            if end < stop:
                break
            out.append(
                CodedPacket(bytes(buf[pos:stop]), header.samples / header.rate, self._info(header))
            )
            pos = stop
        del buf[:pos]
        if not self._locked and not self._lost:
            self._searched += pos
            if self._searched > MAX_SEARCH:
                kind = "ADTS (AAC)" if self.adts else "MPEG audio"
                raise StreamFormatError(f"no {kind} frame in the first {MAX_SEARCH} bytes")
        return out

    def _resync(self, buf: bytearray, pos: int, end: int) -> int:
        """Skip to the next byte that could start a frame. A stream that had frames has lost
        sync (a discontinuity); before the first frame, skipping is how a join starts."""
        if self._locked:
            self._locked = False
            self._lost = True
            self.stats.resyncs += 1
        nxt = buf.find(b"\xff", pos + 1, end)
        stop = end - 1 if nxt < 0 else nxt
        if self._lost:
            self.stats.skipped_bytes += stop - pos
        return stop

    def _info(self, header: FrameHeader) -> CodecInfo:
        codec = self._codec
        if (
            codec is None
            or codec.rate != header.rate
            or codec.channels != header.channels
            or codec.codec != header.codec
        ):
            if codec is not None:
                self.stats.resets += 1
            codec = self._codec = CodecInfo(header.codec, header.rate, header.channels)
        return codec
