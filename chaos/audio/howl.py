"""Streaming howling detector: PCM in, howl onsets and ends out; no I/O, no clock.

Feedback howling is a loop gone unstable at one frequency: a nearly pure sinusoid growing
exponentially (linearly in dB) until it clips. Speech and music are harmonic and change pitch
and loudness from syllable to syllable; noise has no narrow peak. So a frame's strongest bin is
a *howl candidate* when it stands out from the spectrum (PAPR), from its would-be harmonics
(PHPR) and from its neighbours (PNPR) at an audible level; a howl *starts* when a candidate at
the same frequency persists (IPMP: in ``ipmp_hits`` of the last ``ipmp_frames`` frames) and
its dB level moves on a straight line (IMSD near 0: steady or exponentially growing), or the
candidate is sustained at that frequency over half a second (a loop with streaming delay).

Once a howl is found it is tracked with a looser rule, because a howl that reaches full scale
clips into a square wave whose odd harmonics would fail PHPR exactly when it is loudest: it
continues while the strongest bin stays within ``track_bins`` of it, above the level floor and
PAPR. Times are audio seconds since the first sample fed (the caller maps them to wall time).

Frames are processed in batches (whatever a ``feed`` completes), so feeding a few hundred
milliseconds at a time runs at thousands of times real time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from chaos.audio.howl_features import Floats, imsd, spectral_features

Samples = npt.NDArray[np.int16] | npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class HowlConfig:
    """Decision thresholds, calibrated on speech-like, chord and noise signals (see tests)."""

    papr_db: float = 12.0
    phpr_db: float = 15.0
    pnpr_db: float = 15.0
    ipmp_frames: int = 5
    ipmp_hits: int = 3
    imsd_frames: int = 16
    imsd_db: float = 1.0
    sustain_frames: int = 16
    sustain_hits: int = 15
    """Or a candidate held this long at one frequency: a howl round a loop with streaming
    delay (100s of ms) pulses at the loop period, so its dB line is a staircase, not straight;
    no syllable holds one narrow, harmonic-free peak for half a second."""
    min_level_dbfs: float = -50.0
    """Quieter peaks are inaudible under speech; a howl is reported from this level up."""
    min_hz: float = 150.0
    max_hz: float = 7000.0
    track_bins: int = 2
    release_frames: int = 8
    """Frames (~0.25 s) the tracked peak may be missing before the howl is over: a lost frame,
    or the gap between pulses of a howl round a loop with streaming delay."""


@dataclass(frozen=True, slots=True)
class HowlOnset:
    at: float
    frequency_hz: float
    level_dbfs: float


@dataclass(frozen=True, slots=True)
class HowlEnd:
    at: float
    started_at: float
    frequency_hz: float
    peak_level_dbfs: float

    @property
    def seconds(self) -> float:
        return self.at - self.started_at


HowlEvent = HowlOnset | HowlEnd


@dataclass(slots=True)
class _Howl:
    started_at: float
    bin: int
    frequency_hz: float
    peak_level_dbfs: float
    last_at: float
    misses: int = 0


def frame_size(rate: int) -> int:
    """FFT size near 64 ms (1024 points at 16 kHz, 512 at 8 kHz): 15.6 Hz bins at both."""
    return 1 << round(math.log2(rate * 0.064))


@dataclass
class HowlDetector:
    """One stream's detector. ``feed`` returns the events the new samples completed."""

    rate: int
    config: HowlConfig = field(default_factory=HowlConfig)
    howl_seconds_done: float = 0.0
    """Seconds of howls that have ended."""
    longest_seconds: float = 0.0
    """The longest howl that has ended."""
    howls: int = 0
    """Howls started (including one still going)."""

    def __post_init__(self) -> None:
        c = self.config
        self.nfft = frame_size(self.rate)
        self.hop = self.nfft // 2
        self._window = np.hanning(self.nfft + 1)[:-1]  # periodic Hann: exact overlap-add
        self._window_sum = float(self._window.sum())
        bin_hz = self.rate / self.nfft
        top = min(c.max_hz, self.rate / 2 * 0.95)
        self._band = (max(1, int(c.min_hz / bin_hz)), int(top / bin_hz) + 1)
        bins = self.nfft // 2 + 1
        self._power_history = np.full((c.imsd_frames, bins), 1e-20)
        q = max(c.ipmp_frames, c.sustain_frames)
        self._hit_history = np.zeros(q - 1, dtype=bool)
        self._bin_history = np.full(q - 1, -100, dtype=np.intp)
        self._pending: Floats = np.zeros(0)
        self._frames = 0
        self._howl: _Howl | None = None

    @property
    def howling(self) -> bool:
        return self._howl is not None

    @property
    def audio_seconds(self) -> float:
        """Audio consumed by complete STFT frames so far."""
        return 0.0 if self._frames == 0 else ((self._frames - 1) * self.hop + self.nfft) / self.rate

    def howl_seconds(self) -> float:
        """Howling heard so far, the current howl included."""
        current = self._howl
        ongoing = 0.0 if current is None else current.last_at - current.started_at
        return self.howl_seconds_done + ongoing

    def feed(self, samples: Samples) -> list[HowlEvent]:
        data = np.concatenate([self._pending, np.asarray(samples, dtype=np.float64)])
        if data.size < self.nfft:
            self._pending = data
            return []
        count = (data.size - self.nfft) // self.hop + 1
        self._pending = data[count * self.hop :]
        frames = np.lib.stride_tricks.sliding_window_view(data, self.nfft)[:: self.hop][:count]
        spectrum = np.fft.rfft(frames * self._window, axis=1)
        power: Floats = spectrum.real**2 + spectrum.imag**2
        return self._decide(power)

    def finish(self) -> list[HowlEvent]:
        """The stream ended: close a howl still going."""
        return [] if self._howl is None else [self._end()]

    def _decide(self, power: Floats) -> list[HowlEvent]:
        c = self.config
        n = power.shape[0]
        f = spectral_features(power, self.rate, self._window_sum, self._band)
        candidate = (
            (f.level_dbfs >= c.min_level_dbfs)
            & (f.papr >= c.papr_db)
            & (f.phpr >= c.phpr_db)
            & (f.pnpr >= c.pnpr_db)
        )

        # IPMP: hits at the same bin (±1) in the last q frames, this one included; computed for
        # the short window (persistence) and the long one (a howl that pulses, see below).
        q = max(c.ipmp_frames, c.sustain_frames)
        hits = np.concatenate([self._hit_history, candidate])
        bins = np.concatenate([self._bin_history, f.bin])
        lagged = q - 1 + np.arange(n)[:, None] - np.arange(q)[None, :]
        same = hits[lagged] & (np.abs(bins[lagged] - f.bin[:, None]) <= 1)
        ipmp = same[:, : c.ipmp_frames].sum(axis=1)
        sustained = same.sum(axis=1) >= c.sustain_hits
        self._hit_history, self._bin_history = hits[-(q - 1) :], bins[-(q - 1) :]

        # IMSD of each frame's candidate bin over this and the previous imsd_frames frames.
        m = c.imsd_frames
        stacked = np.concatenate([self._power_history, power])
        self._power_history = stacked[-m:]
        rows = m + np.arange(n)[:, None] - np.arange(m + 1)[None, :]
        deviation = imsd(10 * np.log10(stacked[rows, f.bin[:, None]] + 1e-20))

        onset = candidate & (ipmp >= c.ipmp_hits) & ((deviation < c.imsd_db) | sustained)
        audible = (f.level_dbfs >= c.min_level_dbfs) & (f.papr >= c.papr_db)
        return self._track(onset, audible, f.bin, f.frequency_hz, f.level_dbfs)

    def _track(
        self,
        onset: npt.NDArray[np.bool_],
        audible: npt.NDArray[np.bool_],
        bins: npt.NDArray[np.intp],
        frequency: Floats,
        level: Floats,
    ) -> list[HowlEvent]:
        events: list[HowlEvent] = []
        c = self.config
        if self._howl is None and not onset.any():
            self._frames += onset.size
            return events
        for i in range(onset.size):
            self._frames += 1
            now = self.audio_seconds
            howl = self._howl
            if howl is None:
                if onset[i]:
                    self._howl = _Howl(now, int(bins[i]), float(frequency[i]), float(level[i]), now)
                    self.howls += 1
                    events.append(HowlOnset(now, float(frequency[i]), float(level[i])))
                continue
            if audible[i] and abs(int(bins[i]) - howl.bin) <= c.track_bins:
                howl.bin, howl.last_at, howl.misses = int(bins[i]), now, 0
                howl.peak_level_dbfs = max(howl.peak_level_dbfs, float(level[i]))
            else:
                howl.misses += 1
                if howl.misses >= c.release_frames:
                    events.append(self._end())
        return events

    def _end(self) -> HowlEnd:
        howl = self._howl
        assert howl is not None
        self._howl = None
        seconds = howl.last_at - howl.started_at
        self.howl_seconds_done += seconds
        self.longest_seconds = max(self.longest_seconds, seconds)
        return HowlEnd(howl.last_at, howl.started_at, howl.frequency_hz, howl.peak_level_dbfs)
