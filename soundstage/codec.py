"""Payload types ↔ 16 kHz 16-bit samples, the one format the mixer and synthesiser work in.

µ-law travels at 8 kHz: encoding averages sample pairs (a crude anti-alias filter, enough for
speech-band audio) and decoding interpolates linearly; L16 is carried as is, big-endian.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from soundstage import mulaw
from soundstage.frames import FRAME_MS, FrameError, PayloadType

RATE = 16_000
SAMPLES_PER_FRAME = RATE * FRAME_MS // 1000
Samples = npt.NDArray[np.int16]


def payload_size(payload_type: PayloadType) -> int:
    """Bytes of one 20 ms frame of this payload type."""
    return SAMPLES_PER_FRAME * 2 if payload_type is PayloadType.L16_16K else SAMPLES_PER_FRAME // 2


def encode(payload_type: PayloadType, samples: Samples) -> bytes:
    if payload_type is PayloadType.L16_16K:
        return samples.astype(">i2").tobytes()
    pairs = samples.astype(np.int32).reshape(-1, 2).mean(axis=1)
    return mulaw.encode(np.round(pairs).astype(np.int16))


def decode(payload_type: PayloadType, payload: bytes) -> Samples:
    """Payload → 16 kHz samples; a payload of odd size for its type is a ``FrameError``."""
    if payload_type is PayloadType.L16_16K:
        if len(payload) % 2:
            raise FrameError(f"L16 payload of odd length {len(payload)}")
        return np.frombuffer(payload, dtype=">i2").astype(np.int16)
    narrow = mulaw.decode(payload).astype(np.float64)
    if narrow.size == 0:
        return np.zeros(0, dtype=np.int16)
    wide = np.empty(narrow.size * 2)
    wide[0::2] = narrow
    wide[1:-1:2] = (narrow[:-1] + narrow[1:]) / 2
    wide[-1] = narrow[-1]
    return np.round(wide).astype(np.int16)


def level_dbfs(samples: Samples) -> float:
    """RMS level relative to a full-scale square wave; -inf dB is returned as -120."""
    if samples.size == 0:
        return -120.0
    rms = float(np.sqrt(np.mean(samples.astype(np.float64) ** 2)))
    return 20.0 * float(np.log10(rms / 32768.0)) if rms > 0 else -120.0
