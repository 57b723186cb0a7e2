"""Decoded audio for the howling detector: what a framed listener actually played, as PCM.

Only framed streams with linear or G.711 payloads can be decoded here (MP3/Ogg cannot, without
a codec); concealed slots are written as silence, which is what a PLC that gave up sounds like.
The tap keeps the last ``seconds`` of playout so a detector can look at a sliding window.
"""

from __future__ import annotations

from collections import deque

import numpy as np
import numpy.typing as npt

from chaos.audio.frames import AudioFrame, PayloadType
from chaos.audio.playout import Frame

Samples = npt.NDArray[np.int16]


def _ulaw_table() -> Samples:
    """ITU-T G.711 µ-law expansion of all 256 codes to 16-bit linear."""
    codes = ~np.arange(256, dtype=np.int32) & 0xFF
    exponent = (codes >> 4) & 0x07
    mantissa = codes & 0x0F
    magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84
    return np.where(codes & 0x80, -magnitude, magnitude).astype(np.int16)


ULAW = _ulaw_table()


def decode(payload_type: PayloadType, payload: bytes) -> Samples:
    if payload_type is PayloadType.PCMU_8K:
        return ULAW[np.frombuffer(payload, dtype=np.uint8)]
    return np.frombuffer(payload[: len(payload) // 2 * 2], dtype=">i2").astype(np.int16)


def sample_rate(payload_type: PayloadType) -> int:
    return 8000 if payload_type is PayloadType.PCMU_8K else 16000


class PcmTap:
    """A ``PlaySink`` keeping the last ``seconds`` of played PCM from ``AudioFrame`` payloads."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.rate: int | None = None
        self._chunks: deque[Samples] = deque()
        self._held = 0

    def __call__(self, frame: Frame | None, duration: float, at: float = 0.0) -> None:
        if frame is None:
            if self.rate is not None:
                self._push(np.zeros(round(duration * self.rate), dtype=np.int16))
            return
        audio = frame.payload
        if not isinstance(audio, AudioFrame):
            return  # not decodable (progressive bytes): nothing to hear
        rate = sample_rate(audio.payload_type)
        if rate != self.rate:
            self._chunks.clear()
            self._held, self.rate = 0, rate
        self._push(decode(audio.payload_type, audio.payload))

    def _push(self, samples: Samples) -> None:
        assert self.rate is not None
        self._chunks.append(samples)
        self._held += len(samples)
        limit = int(self.seconds * self.rate)
        while self._held - len(self._chunks[0]) >= limit:
            self._held -= len(self._chunks.popleft())

    def samples(self) -> Samples:
        """The retained audio, oldest first (empty before anything played)."""
        if not self._chunks:
            return np.zeros(0, dtype=np.int16)
        return np.concatenate(list(self._chunks))
