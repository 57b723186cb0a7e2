"""HTTP progressive audio (Icecast, SHOUTcast-style MP3/Ogg): bytes played at a nominal bitrate.

Without decoding MP3 or Ogg, the harness still knows how long the bytes it got will play: their
size over the stream's bitrate. Each socket read becomes one frame of that duration, so the
playout model stalls exactly when a real player would run dry. The bitrate comes from the
workload (``64kbps``) or, failing that, from the server's ``icy-br`` / ``ice-audio-info``
headers; time to first audio is when the decoder's start-up buffer (the target delay) is full.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from chaos.audio.playout import Frame
from chaos.workload.http import ProtocolError


@dataclass(slots=True)
class ProgressiveDecoder:
    """``bitrate`` in bit/s; None reads it from the response headers."""

    bitrate: float | None = None
    _bytes_per_second: float = 0.0
    _seq: int = 0

    def start(self, headers: Mapping[str, str]) -> None:
        bitrate = self.bitrate or _header_bitrate(headers)
        if not bitrate or bitrate <= 0:
            raise ProtocolError(
                "the stream announces no bitrate (no icy-br header); give the listener's "
                "nominal bitrate in the workload, e.g. 64kbps"
            )
        self._bytes_per_second = bitrate / 8

    def feed(self, data: bytes) -> list[Frame]:
        frame = Frame(self._seq, len(data) / self._bytes_per_second)
        self._seq += 1
        return [frame]


def _header_bitrate(headers: Mapping[str, str]) -> float | None:
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
