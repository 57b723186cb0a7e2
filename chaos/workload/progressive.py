"""HTTP progressive audio (Icecast, SHOUTcast-style MP3/AAC/Ogg/PCM): played for its media time.

Each socket read becomes one playout frame lasting the media time the read completed, taken
from the stream itself: MPEG and ADTS frame headers, Ogg granule positions and Opus TOC bytes,
PCM byte counts (``chaos.audio.formats`` picks the splitter by ``Content-Type``, else by the
first bytes). So a VBR stream, or one that announces no bitrate, plays for exactly as long as
it would in a player, and the playout model stalls exactly when a player would run dry.

An ear's decoder goes one step further and decodes what it receives (``chaos.audio.decode``):
its frames last what the decoder produced and carry the PCM to the ear's detectors.

A stream in a format the harness cannot read is timed at a nominal bitrate: the workload's
``bitrate``, or the server's ``icy-br`` / ``ice-audio-info`` headers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from chaos.audio.coded import CodedPacket, Splitter, StreamFormatError
from chaos.audio.decode import PacketDecoder
from chaos.audio.formats import SNIFF_BYTES, sniff, splitter_for
from chaos.audio.playout import Frame
from chaos.workload.http import ProtocolError


@dataclass(slots=True)
class ProgressiveDecoder:
    """``bitrate`` (bit/s): the timing of a stream in a format no splitter reads (else the
    server's ``icy-br``); ``ear``: decode what arrives (an ear's listener), else only time it.

    A stream labelled with a type we do not read is sniffed when no bitrate is known, so an
    unlabelled MP3 still plays for its media time; with a bitrate it is timed at once."""

    bitrate: float | None = None
    ear: bool = False
    _splitter: Splitter | None = None
    _sniffed: bytearray | None = None
    _bytes_per_second: float = 0.0
    _decoder: PacketDecoder | None = None
    _seq: int = 0
    _resyncs: int = 0
    _resets: int = 0

    def start(self, headers: Mapping[str, str]) -> None:
        try:
            self._splitter = splitter_for(headers.get("content-type", ""))
        except StreamFormatError as exc:
            raise ProtocolError(str(exc)) from None
        self._bytes_per_second = (self.bitrate or header_bitrate(headers) or 0.0) / 8
        if self._splitter is None and not self._bytes_per_second:
            self._sniffed = bytearray()
        if self.ear:
            self._decoder = PacketDecoder()

    def feed(self, data: bytes) -> list[Frame]:
        try:
            if self._splitter is None:
                if self._sniffed is None:
                    return self._frame(len(data) / self._bytes_per_second)
                data = self._sniff(data)
                if not data:
                    return []
            assert self._splitter is not None
            if self._decoder is None:
                seconds = self._splitter.measure(data)
                return self._frame(seconds) if seconds else []
            packets = self._splitter.feed(data)
        except StreamFormatError as exc:
            raise ProtocolError(str(exc)) from None
        return self._heard(packets)

    def _sniff(self, data: bytes) -> bytes:
        """Hold the first bytes until they say the format; then hand all of them on."""
        assert self._sniffed is not None
        self._sniffed += data
        try:
            splitter = sniff(bytes(self._sniffed[:SNIFF_BYTES]))
        except StreamFormatError as exc:
            raise StreamFormatError(
                f"{exc}, and the stream announces no bitrate (no icy-br header): give the "
                "listeners' nominal bitrate in the stack spec (audience.listeners.bitrate: "
                "64000, i.e. 64kbps)"
            ) from None
        if splitter is None:
            return b""
        held, self._sniffed, self._splitter = bytes(self._sniffed), None, splitter
        return held

    def _heard(self, packets: list[CodedPacket]) -> list[Frame]:
        """Decode; the frame lasts what the decoder produced and carries it to the ear."""
        assert self._decoder is not None and self._splitter is not None
        decoded = self._decoder.decode(packets)
        stats = self._splitter.stats
        lost, resets = stats.resyncs - self._resyncs, stats.resets - self._resets
        self._resyncs, self._resets = stats.resyncs, stats.resets
        if not (decoded.seconds or decoded.errors or lost):
            return []
        if lost or resets:
            decoded = replace(decoded, reset=decoded.reset or resets > 0, lost=lost)
        return self._frame(decoded.seconds, decoded)

    def _frame(self, seconds: float, payload: object = None) -> list[Frame]:
        frame = Frame(self._seq, seconds, payload)
        self._seq += 1
        return [frame]


def header_bitrate(headers: Mapping[str, str]) -> float | None:
    """Icecast/SHOUTcast announce kbit/s in ``icy-br`` or ``ice-audio-info: bitrate=64;…``."""
    candidates = [headers.get("icy-br", "")]
    for item in headers.get("ice-audio-info", "").split(";"):
        key, _, value = item.partition("=")
        if key.strip().lower() in ("bitrate", "ice-bitrate"):
            candidates.append(value)
    for raw in candidates:
        try:
            kbps = float(raw.split(",")[0])
        except ValueError:
            continue
        if kbps > 0:
            return kbps * 1000
    return None
