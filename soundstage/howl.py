"""Howl suppression in the mixer: find a speaker whose input rings, and duck or mute them.

soundstage is a stand-alone reference stack (it never imports the harness), so this is its own
detector, deliberately simpler than the harness's: a platform-side guard must be cheap for every
speaker on a 20 ms clock, while the harness judges what listeners hear with the full feature
set. Every ``HOP`` samples it takes a 64 ms Hann FFT of the speaker's input and keeps one
candidate, the strongest bin (150 Hz-7 kHz): *peaky* when it stands ``papr_db`` above the mean
power (PAPR) and ``phpr_db`` above its would-be partials at ½, 3/2 and 2 times its frequency
(PHPR) and above every bin 50-250 Hz away (a wide PNPR), at an audible level. A howl is a
peaky bin that stays put (within ±2 bins, 31 Hz: a loop's neighbouring modes beat) for
``persist_s``: speech moves its pitch, and so its strongest harmonic, syllable by syllable, and
pauses; a loop ringing at its resonance does neither. Up to ``max_gap`` analyses may miss (a
howl round a loop with streaming delay pulses at the loop period).

Once found, the speaker is ducked by ``duck_db`` (or muted) for ``hold_s``: the loop gain drops
below one and the ring decays. If the loop is still closed when the hold ends, it rings again
and is suppressed again; each suppression is counted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np

from soundstage.codec import RATE, Samples

NFFT = 1024
HOP = 640  # two 20 ms frames
_WINDOW = np.hanning(NFFT + 1)[:-1]
_FULL_SCALE_PEAK = (32768 * _WINDOW.sum() / 2) ** 2
_LO, _HI = int(150 * NFFT / RATE), int(7000 * NFFT / RATE)


class Suppression(StrEnum):
    OFF = "off"
    DUCK = "duck"
    MUTE = "mute"


@dataclass(frozen=True, slots=True)
class GuardConfig:
    mode: Suppression = Suppression.DUCK
    papr_db: float = 15.0
    phpr_db: float = 15.0
    min_level_dbfs: float = -45.0
    persist_s: float = 0.8
    max_gap: int = 3
    duck_db: float = 20.0
    hold_s: float = 10.0


@dataclass(slots=True)
class _Speaker:
    history: Samples = field(default_factory=lambda: np.zeros(NFFT, dtype=np.float64))
    since_analysis: int = 0
    bin: int = -10
    run: int = 0
    gap: int = 0
    held_samples: int = 0


@dataclass(slots=True)
class GuardStats:
    suppressions: int = 0
    suppressed_seconds: float = 0.0


def _alone(power: Samples, k: int, ceiling: float) -> bool:
    """Nothing reaches ``ceiling`` at ½, 3/2 or 2 times the peak, nor 50-250 Hz either side of
    it (where a voice's neighbouring harmonics are): speech and music have partials; a ring
    has none."""
    for ratio in (0.5, 1.5, 2.0):
        centre = round(k * ratio)
        if centre + 1 < power.size and float(power[centre - 1 : centre + 2].max()) >= ceiling:
            return False
    near = np.concatenate([power[max(0, k - 16) : max(0, k - 3)], power[k + 4 : k + 17]])
    return near.size == 0 or float(near.max()) < ceiling


class HowlGuard:
    """One room's guard: ``process`` each speaker's decoded 20 ms before it is mixed."""

    def __init__(self, config: GuardConfig) -> None:
        self.config = config
        self.stats = GuardStats()
        self._speakers: dict[int, _Speaker] = {}
        self._persist = max(1, round(config.persist_s * RATE / HOP))
        self._duck = 0.0 if config.mode is Suppression.MUTE else 10 ** (-config.duck_db / 20)

    @property
    def suppressed_now(self) -> int:
        return sum(1 for s in self._speakers.values() if s.held_samples > 0)

    def forget(self, source: int) -> None:
        self._speakers.pop(source, None)

    def process(self, source: int, samples: Samples) -> Samples:
        """The speaker's samples as they go into the mix: ducked while suppressed."""
        speaker = self._speakers.get(source)
        if speaker is None:
            speaker = self._speakers[source] = _Speaker()
        n = samples.size
        speaker.history = np.concatenate([speaker.history[n:], samples.astype(np.float64)])
        speaker.since_analysis += n
        if speaker.since_analysis >= HOP:
            speaker.since_analysis = 0
            if speaker.held_samples <= 0 and self._howling(speaker):
                self.stats.suppressions += 1
                speaker.held_samples = round(self.config.hold_s * RATE)
                speaker.run = 0
        if speaker.held_samples <= 0:
            return samples
        speaker.held_samples -= n
        self.stats.suppressed_seconds += n / RATE
        return np.round(samples * self._duck).astype(np.int16)

    def _howling(self, speaker: _Speaker) -> bool:
        spectrum = np.fft.rfft(speaker.history * _WINDOW)
        power = spectrum.real**2 + spectrum.imag**2
        k = int(np.argmax(power[_LO:_HI])) + _LO
        peak = float(power[k])
        mean = float(power.mean()) + 1e-12
        level_dbfs = 10 * np.log10(peak / _FULL_SCALE_PEAK + 1e-30) - 3.0  # a sine's RMS
        c = self.config
        peaky = (
            10 * np.log10(peak / mean + 1e-30) >= c.papr_db
            and level_dbfs >= c.min_level_dbfs
            and _alone(power, k, peak * 10 ** (-c.phpr_db / 10))
        )
        if peaky and abs(k - speaker.bin) <= 2 and speaker.run > 0:
            speaker.run += 1 + speaker.gap
            speaker.gap = 0
        elif peaky:
            speaker.run, speaker.gap = 1, 0
        elif speaker.run > 0:
            speaker.gap += 1
            if speaker.gap > c.max_gap:
                speaker.run, speaker.gap = 0, 0
            return False
        speaker.bin = k
        return speaker.run >= self._persist
