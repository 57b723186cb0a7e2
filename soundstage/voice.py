"""Speech-like test audio: a source-filter model of a voice, not a sine.

A pure tone looks exactly like acoustic feedback to a howling detector (one narrow peak with no
harmonics), so a clean run must sound like speech: a glottal pulse train (harmonic-rich, pitch
wandering with intonation and jitter) through three formant resonators whose frequencies change
with each syllable's vowel, switched on and off by a syllabic envelope with phrase pauses.
Deterministic for a seed; sans-IO, one 20 ms frame of 16 kHz samples per call.
"""

from __future__ import annotations

import math
import random

import numpy as np

from soundstage.codec import RATE, SAMPLES_PER_FRAME, Samples

VOWELS = (
    (730.0, 1090.0, 2440.0),  # a
    (270.0, 2290.0, 3010.0),  # i
    (300.0, 870.0, 2240.0),  # u
    (530.0, 1840.0, 2480.0),  # e
    (570.0, 840.0, 2410.0),  # o
)
BANDWIDTHS = (90.0, 110.0, 170.0)


class _Resonator:
    """Two-pole resonator (Klatt): unity gain at DC, carried state across frames."""

    def __init__(self) -> None:
        self.y1 = 0.0
        self.y2 = 0.0

    def run(self, x: list[float], freq: float, bandwidth: float) -> list[float]:
        c = -math.exp(-2 * math.pi * bandwidth / RATE)
        b = 2 * math.exp(-math.pi * bandwidth / RATE) * math.cos(2 * math.pi * freq / RATE)
        a = 1 - b - c
        y1, y2 = self.y1, self.y2
        out = []
        for sample in x:
            y = a * sample + b * y1 + c * y2
            out.append(y)
            y2, y1 = y1, y
        self.y1, self.y2 = y1, y2
        return out


class Voice:
    """One synthetic talker; ``level_dbfs`` is the RMS level while voiced."""

    def __init__(self, seed: int = 0, level_dbfs: float = -20.0) -> None:
        self._rng = random.Random(seed)
        self._base_f0 = self._rng.uniform(95.0, 220.0)
        self._target_rms = 32768.0 * 10 ** (level_dbfs / 20)
        self._raw_rms = 0.0
        self._phase = 0.0
        self._tilt = 0.0
        self._tilt2 = 0.0
        self._last = 0.0
        self._resonators = [_Resonator(), _Resonator(), _Resonator()]
        self._formants = VOWELS[0]
        self._target = VOWELS[0]
        self._envelope = 0.0
        self._segment_left = 0
        self._voiced = False
        self._f0 = self._base_f0
        self._f0_target = self._base_f0

    def _next_segment(self) -> None:
        """Choose the next syllable (voiced, 120-320 ms) or pause (60-180 ms, sometimes 600 ms)."""
        self._voiced = not self._voiced
        if self._voiced:
            self._segment_left = self._rng.randint(6, 16)
            self._target = self._rng.choice(VOWELS)
            self._f0_target = self._base_f0 * self._rng.uniform(0.8, 1.3)
        else:
            long_pause = self._rng.random() < 0.15
            self._segment_left = (
                self._rng.randint(20, 30) if long_pause else self._rng.randint(3, 9)
            )

    def next_frame(self) -> Samples:
        if self._segment_left <= 0:
            self._next_segment()
        self._segment_left -= 1
        n = SAMPLES_PER_FRAME
        rng = self._rng
        # Pitch glides towards the syllable's target with 1 % cycle-to-cycle jitter.
        self._f0 += (self._f0_target - self._f0) * 0.25
        f0 = self._f0 * (1 + rng.gauss(0, 0.01))
        self._formants = tuple(
            f + (t - f) * 0.3 for f, t in zip(self._formants, self._target, strict=True)
        )  # type: ignore[assignment]
        target_env = 1.0 if self._voiced else 0.0
        envelope = np.linspace(
            self._envelope, self._envelope + (target_env - self._envelope) * 0.6, n
        )
        self._envelope = float(envelope[-1])
        # Glottal source: one impulse per pitch period, smoothed twice (-12 dB/octave tilt).
        source = [0.0] * n
        phase = self._phase
        step = f0 / RATE
        for i in range(n):
            phase += step
            if phase >= 1.0:
                phase -= 1.0
                source[i] = 1.0
        self._phase = phase
        tilt, tilt2 = self._tilt, self._tilt2
        smoothed = []
        for i in range(n):
            tilt = 0.9 * tilt + source[i] + rng.gauss(0, 0.02)
            tilt2 = 0.9 * tilt2 + tilt
            smoothed.append(tilt2)
        self._tilt, self._tilt2 = tilt, tilt2
        signal = smoothed
        for resonator, freq, bandwidth in zip(
            self._resonators, self._formants, BANDWIDTHS, strict=True
        ):
            signal = resonator.run(signal, freq, bandwidth)
        # Lip radiation: a first difference (+6 dB/octave).
        out = np.empty(n)
        last = self._last
        for i, value in enumerate(signal):
            out[i] = value - last
            last = value
        self._last = last
        # A slow automatic gain control holds the voiced level, as a real capture chain does.
        rms = float(np.sqrt(np.mean(out**2)))
        if rms > 0:
            self._raw_rms = rms if self._raw_rms == 0 else 0.9 * self._raw_rms + 0.1 * rms
        samples = out * envelope * (self._target_rms / self._raw_rms if self._raw_rms else 0.0)
        return np.clip(np.round(samples), -32768, 32767).astype(np.int16)
