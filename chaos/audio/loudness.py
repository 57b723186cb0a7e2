"""Loudness out of range: short-term loudness (ITU-R BS.1770, LUFS) of decoded PCM; no I/O.

A listener notices a stream that is far too loud (a howl at full scale, a gain stage gone
wrong, clipping) or far too quiet to follow, yet not silent (a speaker's microphone at the
wrong gain). Loudness is BS.1770's K-weighted mean square over a sliding 3 s window (EBU
R128's short-term loudness), measured every 100 ms block; K-weighting is applied to each
block's spectrum (the filters' response at the bins, Parseval), which costs one FFT per block
instead of an IIR filter running sample by sample in Python. A block counts 100 ms out of
range when the window's loudness is above ``max_lufs``, or below ``min_lufs`` but above
``silence_lufs`` (quieter is silence, which the silence detector owns).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from functools import cache

import numpy as np
import numpy.typing as npt

Floats = npt.NDArray[np.float64]

#: BS.1770-4 K-weighting at 48 kHz: the high shelf (stage 1), then the high-pass (stage 2).
_SHELF = (
    (1.53512485958697, -2.69169618940638, 1.19839281085285),
    (1.0, -1.69065929318241, 0.73248077421585),
)
_HIGHPASS = ((1.0, -2.0, 1.0), (1.0, -1.99004745483398, 0.99007225036621))


@dataclass(frozen=True, slots=True)
class LoudnessConfig:
    max_lufs: float = -5.0
    min_lufs: float = -40.0
    silence_lufs: float = -60.0
    window_seconds: float = 3.0
    block_seconds: float = 0.1


@cache
def k_weights(rate: int, size: int) -> Floats:
    """|H(f)|² of the K-weighting filters at the rfft bins of a ``size``-sample block. The
    48 kHz coefficients are evaluated at each bin's frequency: below 8 kHz (the band of a
    16 kHz signal) they match the analogue prototype to a hundredth of a dB."""
    freqs = np.fft.rfftfreq(size, 1 / rate)
    z = np.exp(-2j * np.pi * freqs / 48000)
    response = np.ones_like(z)
    for b, a in (_SHELF, _HIGHPASS):
        response *= (b[0] + b[1] * z + b[2] * z**2) / (a[0] + a[1] * z + a[2] * z**2)
    weights: Floats = np.abs(response) ** 2
    return weights


@dataclass
class LoudnessMeter:
    rate: int
    config: LoudnessConfig = field(default_factory=LoudnessConfig)
    loud_blocks: int = 0
    quiet_blocks: int = 0
    last_lufs: float | None = None
    """The short-term loudness of the newest full window (None before 3 s were heard)."""

    def __post_init__(self) -> None:
        c = self.config
        self._size = round(self.rate * c.block_seconds)
        self._weights = k_weights(self.rate, self._size).copy()
        self._weights[1:-1] *= 2  # one-sided spectrum: every bin but DC and Nyquist twice
        self._window: deque[float] = deque(maxlen=round(c.window_seconds / c.block_seconds))
        self._pending: Floats = np.zeros(0)

    def feed(self, samples: npt.NDArray[np.int16] | Floats) -> None:
        data = np.concatenate([self._pending, np.asarray(samples, dtype=np.float64) / 32768])
        count = data.size // self._size
        self._pending = data[count * self._size :]
        if count == 0:
            return
        spectrum = np.fft.rfft(data[: count * self._size].reshape(count, self._size), axis=1)
        power = (spectrum.real**2 + spectrum.imag**2) @ self._weights / self._size**2
        c = self.config
        window = self._window
        for mean_square in power:
            window.append(float(mean_square))
            if len(window) < window.maxlen:  # type: ignore[operator]
                continue
            lufs = -0.691 + 10 * np.log10(sum(window) / len(window) + 1e-20)
            self.last_lufs = lufs
            if lufs > c.max_lufs:
                self.loud_blocks += 1
            elif c.silence_lufs < lufs < c.min_lufs:
                self.quiet_blocks += 1

    @property
    def loud_seconds(self) -> float:
        return self.loud_blocks * self.config.block_seconds

    @property
    def quiet_seconds(self) -> float:
        return self.quiet_blocks * self.config.block_seconds
