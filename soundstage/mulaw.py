"""G.711 µ-law companding (ITU-T G.711), vectorised with numpy.

The 8 kHz telephone codec every VoIP stack can decode: 8 bits a sample, 64 kb/s, what a
listener-facing edge of a social-audio service would plausibly send at scale.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

_BIAS = 0x84
_CLIP = 32635


def _decode_table() -> npt.NDArray[np.int16]:
    codes = ~np.arange(256, dtype=np.int32) & 0xFF
    sign = codes & 0x80
    exponent = (codes >> 4) & 0x07
    mantissa = codes & 0x0F
    magnitude = (((mantissa << 3) + _BIAS) << exponent) - _BIAS
    return np.where(sign != 0, -magnitude, magnitude).astype(np.int16)


DECODE_TABLE = _decode_table()


def encode(samples: npt.NDArray[np.int16]) -> bytes:
    """16-bit linear samples → µ-law bytes (one per sample)."""
    pcm = samples.astype(np.int32)
    sign = np.where(pcm < 0, 0x80, 0)
    magnitude = np.minimum(np.abs(pcm), _CLIP) + _BIAS
    exponent = np.floor(np.log2(magnitude >> 7 | 1)).astype(np.int32)
    exponent = np.minimum(exponent, 7)
    mantissa = (magnitude >> (exponent + 3)) & 0x0F
    code = ~(sign | (exponent << 4) | mantissa) & 0xFF
    return code.astype(np.uint8).tobytes()


def decode(data: bytes) -> npt.NDArray[np.int16]:
    """µ-law bytes → 16-bit linear samples."""
    return DECODE_TABLE[np.frombuffer(data, dtype=np.uint8)]
