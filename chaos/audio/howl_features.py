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
_RATIOS = np.array(HARMONICS)
_SPREAD = np.array([-1, 0, 1])
_NEIGHBOUR_OFFSETS = np.array([-o for o in NEIGHBOURS] + list(NEIGHBOURS))
_SIDES = np.array([-1, 1])


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
    """Features of ``power`` (frames × bins, |rfft|²) for the strongest bin within ``band``.

    Every bin a criterion compares with is gathered in one fancy index and one ``log10``:
    per-call overhead, not arithmetic, is what a few frames at a time cost.
    """
    frames, bins = power.shape
    lo, hi = band
    k = np.argmax(power[:, lo:hi], axis=1) + lo
    rows = np.arange(frames)[:, None]
    centres = np.rint(k[:, None] * _RATIOS[None, :]).astype(np.intp)  # frames × ratios
    harmonic_idx = (centres[:, :, None] + _SPREAD).reshape(frames, -1)
    neighbour_idx = k[:, None] + _NEIGHBOUR_OFFSETS
    side_idx = k[:, None] + _SIDES
    idx = np.concatenate([k[:, None], harmonic_idx, neighbour_idx, side_idx], axis=1)
    inside = (idx >= 0) & (idx < bins)
    db = 10 * np.log10(power[rows, np.clip(idx, 0, bins - 1)] + _TINY)
    peak_db = db[:, :1]
    h = 1 + harmonic_idx.shape[1]
    n = h + neighbour_idx.shape[1]

    # A harmonic ratio counts where all three bins around it exist; outside the spectrum it
    # cannot contradict a howl (+inf). PHPR is the margin over the strongest bin of the three.
    harmonic_db = db[:, 1:h].reshape(frames, len(HARMONICS), 3).max(axis=2)
    harmonic_ok = inside[:, 1:h].reshape(frames, len(HARMONICS), 3).all(axis=2)
    phpr = np.where(harmonic_ok, peak_db - harmonic_db, np.inf).min(axis=1)
    pnpr = np.where(inside[:, h:n], peak_db - db[:, h:n], np.inf).min(axis=1)
    papr = peak_db[:, 0] - 10 * np.log10(power.mean(axis=1) + _TINY)

    # Quadratic interpolation on the dB peak: frequency between bins, and the scalloping loss.
    left = np.where(inside[:, n], db[:, n], peak_db[:, 0])
    right = np.where(inside[:, n + 1], db[:, n + 1], peak_db[:, 0])
    curve = left - 2 * peak_db[:, 0] + right
    safe = np.where(curve < 0, curve, -1.0)
    delta = np.clip(np.where(curve < 0, 0.5 * (left - right) / safe, 0.0), -0.5, 0.5)
    top_db = peak_db[:, 0] - 0.25 * (left - right) * delta
    frequency = (k + delta) * rate / (2 * (bins - 1))
    # A sine of amplitude A peaks at (A·Σw/2)²; its RMS is A/√2; dBFS against 32768.
    level = top_db - 20 * np.log10(window_sum / 2 * np.sqrt(2) * 32768)
    return Features(k, frequency, level, papr, phpr, pnpr)
