"""Speech-like and feedback-like test audio, generated with numpy from a seed.

- ``speech``: a glottal source (harmonics of a pitch contour, -12 dB/octave tilt, jitter) shaped
  by three formants that move with each syllable's vowel, in syllables of 120-320 ms with pauses;
  pitch wanders with intonation inside each syllable (additive synthesis of the source-filter
  model, so a minute of it takes well under a second to make). A howling detector must stay
  quiet on it: it is harmonic, not one narrow peak.
- ``growing_tone``: a sinusoid rising linearly in dB from ``start_dbfs`` at ``db_per_s``, the
  shape of feedback howling before it clips.

The WebRTC speakers send these; the howl tests use them as clean and howling references.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

Floats = npt.NDArray[np.float64]
_FULL = 32768.0
_FORMANTS = (
    (730.0, 1090.0, 2440.0),
    (270.0, 2290.0, 3010.0),
    (300.0, 870.0, 2240.0),
    (530.0, 1840.0, 2480.0),
    (570.0, 840.0, 2410.0),
)
_BANDWIDTHS = np.array([90.0, 110.0, 170.0])


def rms_to(x: Floats, dbfs: float) -> Floats:
    rms = float(np.sqrt(np.mean(x**2))) or 1.0
    return x * (_FULL * 10 ** (dbfs / 20) / rms)


def speech(seconds: float, rate: int, seed: int, level_dbfs: float = -20.0) -> Floats:
    rng = np.random.default_rng(seed)
    n = int(seconds * rate)
    out = np.zeros(n)
    base_f0 = rng.uniform(90, 230)
    t = 0
    while t < n:
        voiced_len = int(rng.uniform(0.12, 0.32) * rate)
        pause = int(
            (rng.uniform(0.3, 0.6) if rng.random() < 0.15 else rng.uniform(0.06, 0.18)) * rate
        )
        seg = min(voiced_len, n - t)
        if seg <= 0:
            break
        time = np.arange(seg) / rate
        f0_start = base_f0 * rng.uniform(0.8, 1.3)
        f0_end = f0_start * rng.uniform(0.85, 1.15)
        f0 = np.linspace(f0_start, f0_end, seg) * (
            1 + 0.01 * rng.standard_normal(seg).cumsum() / np.sqrt(seg)
        )
        phase = 2 * np.pi * np.cumsum(f0) / rate
        formants = np.array(_FORMANTS[rng.integers(len(_FORMANTS))]) * rng.uniform(0.9, 1.1, 3)
        harmonics = np.arange(1, int(rate / 2 / f0.max()))
        centre = harmonics * f0.mean()
        gain = np.zeros(harmonics.size)
        for fc, bw in zip(formants, _BANDWIDTHS, strict=True):
            gain += 1 / (1 + ((centre - fc) / (bw / 2)) ** 2)
        gain *= 1 / harmonics  # glottal tilt (-6 dB/oct source, formants add the rest)
        voiced = (gain[:, None] * np.sin(harmonics[:, None] * phase[None, :])).sum(axis=0)
        envelope = np.sqrt(np.clip(np.sin(np.pi * time / max(time[-1], 1e-9)), 0, 1))
        voiced *= envelope * (1 + 0.05 * rng.standard_normal(seg))
        out[t : t + seg] = voiced
        t += seg + pause
    out = rms_to(out, level_dbfs + 3)  # pauses lower the long-term RMS; voiced parts ~ level
    return out + rng.standard_normal(n) * _FULL * 10 ** (-75 / 20)


def growing_tone(
    seconds: float, rate: int, hz: float, start_dbfs: float, db_per_s: float
) -> Floats:
    time = np.arange(int(seconds * rate)) / rate
    level = np.minimum(start_dbfs + db_per_s * time, -3.0)
    tone: Floats = np.sqrt(2) * _FULL * 10 ** (level / 20) * np.sin(2 * np.pi * hz * time)
    return tone
