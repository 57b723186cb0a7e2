"""Howling features of STFT frames (van Waterschoot & Moonen), computed for many frames at once.

Each frame contributes one candidate: its strongest bin in the howling band. For that bin we
compute the spectral criteria of the reference (PAPR, PHPR, PNPR) and, from the dB history of
the same bin, the interframe magnitude-slope deviation (IMSD). Everything is vectorised over
frames, because per-frame numpy calls cost more than the FFT itself at 31 frames a second.
Every slope IMSD compares is linear in the dB history: one matrix product per batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np
import numpy.typing as npt

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.intp]

HARMONICS = (0.5, 1.5, 2.0, 3.0)
"""PHPR ratios: a voice's or instrument's strongest partial has energy at some of these."""
NEIGHBOURS = (4, 5)
"""PNPR offsets in bins: outside the Hann window's main lobe (±2 bins)."""
_TINY = 1e-20


@dataclass(frozen=True, slots=True)
class Features:
    """Per frame: the candidate bin and its criteria (dB unless stated)."""

    bin: Ints
    frequency_hz: Floats
    level_dbfs: Floats
    """The candidate as a sinusoid's RMS level, dBFS (as ``soundstage`` meters speech)."""
    papr: Floats
    phpr: Floats
    pnpr: Floats


@cache
def slope_weights(q: int) -> Floats:
    """Matrix W, (q+1) × q: column m−1 of ``Ydb(t−j), j = 0…q`` @ W is the reference's slope
    estimate over the last m frames, ``(1/m)·Σ_{j<m} (Ydb(t−j) − Ydb(t−m))/(m−j)``."""
    weights = np.zeros((q + 1, q))
    for m in range(1, q + 1):
        for j in range(m):
            weights[j, m - 1] += 1 / (m * (m - j))
            weights[m, m - 1] -= 1 / (m * (m - j))
    return weights


def imsd(history_db: Floats) -> Floats:
    """IMSD per row of ``history_db`` (frames × (q+1), newest first), dB per frame.

    The reference averages the signed differences between the long-window slope and each
    short-window slope; a rise-then-fall (a syllable) then cancels to near 0 like a straight
    line would. We average their magnitudes, so only a straight dB line (a steady or
    exponentially growing tone) scores near 0.
    """
    q = history_db.shape[1] - 1
    slopes: Floats = history_db @ slope_weights(q)
    deviation: Floats = np.abs(slopes[:, -1:] - slopes[:, :-1]).mean(axis=1)
    return deviation


def spectral_features(
    power: Floats, rate: int, window_sum: float, band: tuple[int, int]
) -> Features:
    """Features of ``power`` (frames × bins, |rfft|²) for the strongest bin within ``band``."""
    frames, bins = power.shape
    lo, hi = band
    k = np.argmax(power[:, lo:hi], axis=1) + lo
    rows = np.arange(frames)
    peak = power[rows, k] + _TINY
    papr = 10 * np.log10(peak / (power.mean(axis=1) + _TINY))

    # Peak-to-harmonic: against the strongest of the three bins around each ratio; ratios that
    # fall outside the spectrum cannot contradict a howl.
    phpr = np.full(frames, np.inf)
    padded = np.concatenate([power, np.zeros((frames, 1))], axis=1)  # index `bins` reads 0
    for ratio in HARMONICS:
        centre = np.rint(k * ratio).astype(np.intp)
        inside = (centre + 1 < bins) & (centre - 1 > 0)
        near = np.zeros(frames)
        for d in (-1, 0, 1):
            idx = np.where(inside, centre + d, bins)
            near = np.maximum(near, padded[rows, idx])
        ratio_db = 10 * np.log10(peak / (near + _TINY))
        phpr = np.where(inside, np.minimum(phpr, ratio_db), phpr)

    pnpr = np.full(frames, np.inf)
    for offset in NEIGHBOURS:
        for side in (-offset, offset):
            idx = k + side
            valid = (idx >= 0) & (idx < bins)
            neighbour = padded[rows, np.where(valid, idx, bins)]
            pnpr = np.where(
                valid, np.minimum(pnpr, 10 * np.log10(peak / (neighbour + _TINY))), pnpr
            )

    # Quadratic interpolation on the dB peak: frequency between bins, and the scalloping loss.
    left = 10 * np.log10(power[rows, np.maximum(k - 1, 0)] + _TINY)
    centre_db = 10 * np.log10(peak)
    right = 10 * np.log10(power[rows, np.minimum(k + 1, bins - 1)] + _TINY)
    curve = left - 2 * centre_db + right
    delta = np.where(curve < 0, 0.5 * (left - right) / np.where(curve < 0, curve, -1.0), 0.0)
    delta = np.clip(delta, -0.5, 0.5)
    peak_db = centre_db - 0.25 * (left - right) * delta
    nfft = 2 * (bins - 1)
    frequency = (k + delta) * rate / nfft
    # A sine of amplitude A peaks at (A·Σw/2)²; its RMS is A/√2; dBFS against 32768.
    amplitude_db = peak_db - 20 * np.log10(window_sum / 2)
    level = amplitude_db - 20 * np.log10(np.sqrt(2) * 32768)
    return Features(k, frequency, level, papr, phpr, pnpr)
