"""Raw PCM over HTTP: ``audio/L16`` (RFC 2586, big-endian) or a streamed WAV file, sans-IO.

PCM's media time is its byte count over the byte rate the format states, exactly; the only
parsing is the WAV header (RIFF, ``fmt `` and the start of ``data``; a live WAV's sizes are
placeholders, so they are ignored). 16-bit samples only: what streaming servers send.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from chaos.audio.coded import CodecInfo, CodedPacket, SplitterStats, StreamFormatError

#: A WAV header longer than this (chunks before ``data``) is not a stream we can play.
MAX_WAV_HEADER = 64 * 1024


def l16_info(parameters: dict[str, str]) -> CodecInfo:
    """``audio/L16; rate=44100; channels=2`` (the RFC's default: one channel)."""
    try:
        rate = int(parameters["rate"])
        channels = int(parameters.get("channels", "1"))
    except (KeyError, ValueError):
        raise StreamFormatError("audio/L16 needs a numeric rate= parameter") from None
    if rate <= 0 or channels <= 0:
        raise StreamFormatError(f"audio/L16 with rate={rate} channels={channels}")
    return CodecInfo("pcm_s16be", rate, channels, pcm="s16be")


@dataclass(slots=True)
class PcmSplitter:
    """``info`` given (L16) or read from a WAV header (None)."""

    info: CodecInfo | None = None
    stats: SplitterStats = field(default_factory=SplitterStats)
    _buf: bytearray = field(default_factory=bytearray)

    def feed(self, data: bytes) -> list[CodedPacket]:
        if self.info is None:
            self._buf += data
            data = self._wav_header()
            if self.info is None:
                return []
        info = self.info
        frame = 2 * info.channels
        buf = self._buf
        buf += data
        usable = len(buf) // frame * frame
        if not usable:
            return []
        chunk = bytes(buf[:usable])
        del buf[:usable]
        return [CodedPacket(chunk, usable / frame / info.rate, info)]

    def measure(self, data: bytes) -> float:
        return sum(p.seconds or 0.0 for p in self.feed(data))

    def _wav_header(self) -> bytes:
        """Parse the header once it is all here; return the audio bytes after it."""
        buf = self._buf
        if len(buf) < 12:
            return b""
        if buf[:4] != b"RIFF" or buf[8:12] != b"WAVE":
            raise StreamFormatError("not a WAV stream (no RIFF/WAVE header)")
        pos, fmt = 12, None
        while len(buf) - pos >= 8:
            chunk, size = struct.unpack_from("<4sI", buf, pos)
            if chunk == b"data":
                if fmt is None:
                    raise StreamFormatError("WAV data before its fmt chunk")
                self.info = fmt
                rest = bytes(buf[pos + 8 :])
                buf.clear()
                return rest
            if len(buf) < pos + 8 + size:
                break
            if chunk == b"fmt ":
                tag, channels, rate, _, _, bits = struct.unpack_from("<HHIIHH", buf, pos + 8)
                if tag not in (1, 0xFFFE) or bits != 16 or not channels or not rate:
                    raise StreamFormatError(
                        f"WAV format {tag} with {bits}-bit samples; only 16-bit PCM is played"
                    )
                fmt = CodecInfo("pcm_s16le", rate, channels, pcm="s16le")
            pos += 8 + size + (size & 1)
        if len(buf) > MAX_WAV_HEADER:
            raise StreamFormatError(f"no WAV data chunk in the first {MAX_WAV_HEADER} bytes")
        return b""
