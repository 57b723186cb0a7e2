"""Test signals for the howling detector, all generated with numpy from a seed.

- ``speech``: a glottal source (harmonics of a pitch contour, -12 dB/octave tilt, jitter) shaped
  by three formants that move with each syllable's vowel, in syllables of 120-320 ms with pauses;
  pitch wanders with intonation inside each syllable (additive synthesis of the source-filter
  model, so a minute of it takes well under a second to make).
- ``chords``: 3-4 note chords (equal temperament, 110-880 Hz) of 0.4-2 s, each note with 6
  harmonics at 1/h amplitude, an attack/decay envelope and slight vibrato.
- ``white_noise`` and ``pink_noise`` (1/f power, shaped in the frequency domain).
- ``growing_tone``: a sinusoid rising linearly in dB from ``start_dbfs`` at ``db_per_s``, the
  shape of feedback howling before it clips.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from chaos.audio.signals import Floats, growing_tone, rms_to, speech

__all__ = [
    "Floats",
    "as_int16",
    "chords",
    "crossing_time",
    "growing_tone",
    "pink_noise",
    "speech",
    "white_noise",
]

_FULL = 32768.0


def chords(seconds: float, rate: int, seed: int, level_dbfs: float = -20.0) -> Floats:
    rng = np.random.default_rng(seed)
    n = int(seconds * rate)
    out = np.zeros(n)
    t = 0
    while t < n:
        seg = min(int(rng.uniform(0.4, 2.0) * rate), n - t)
        time = np.arange(seg) / rate
        notes = 110 * 2 ** (rng.integers(0, 36, size=rng.integers(3, 5)) / 12)
        envelope = np.minimum(time / 0.02, 1) * np.exp(-time * rng.uniform(0.5, 3))
        for note in notes:
            vibrato = 1 + 0.004 * np.sin(2 * np.pi * rng.uniform(4, 6) * time)
            phase = 2 * np.pi * np.cumsum(note * vibrato) / rate
            for h in range(1, 7):
                if h * note < rate / 2:
                    out[t : t + seg] += envelope * np.sin(h * phase) / h
        t += seg
    return rms_to(out, level_dbfs) + rng.standard_normal(n) * _FULL * 10 ** (-75 / 20)


def white_noise(seconds: float, rate: int, seed: int, level_dbfs: float = -20.0) -> Floats:
    rng = np.random.default_rng(seed)
    return rms_to(rng.standard_normal(int(seconds * rate)), level_dbfs)


def pink_noise(seconds: float, rate: int, seed: int, level_dbfs: float = -20.0) -> Floats:
    rng = np.random.default_rng(seed)
    n = int(seconds * rate)
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.arange(spectrum.size, dtype=np.float64)
    freqs[0] = 1.0
    return rms_to(np.fft.irfft(spectrum / np.sqrt(freqs), n), level_dbfs)


def crossing_time(start_dbfs: float, db_per_s: float, threshold_dbfs: float) -> float:
    """When ``growing_tone`` reaches ``threshold_dbfs``."""
    return (threshold_dbfs - start_dbfs) / db_per_s


def as_int16(x: Floats) -> npt.NDArray[np.int16]:
    return np.clip(np.round(x), -32768, 32767).astype(np.int16)
