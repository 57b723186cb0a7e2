"""Sans-IO: hears a feedback loop in the room's mix before it howls.

A speaker whose second device plays the Space back into the microphone puts a copy of the mix
into the mix, one trip late (the HLS delay, seconds) and shaped by the air between speaker and
microphone. A howl detector hears that loop only once the trips have filtered it into one steady
tone, which at a loop gain of 4 is seconds after listeners' ears can hear it ring. The copy is
there from the first trip: the mix's energy in some band rises and falls as it did one trip
before. So the detector keeps each band's envelope (log energy per 20 ms frame) for the longest
trip it looks for, and every half second correlates the last few seconds of each band with
every earlier stretch of the same band; a correlation this high at one lag, twice running, is a
loop, and its lag is the trip.

Speech never repeats itself seconds later (a programme that loops a recording faster than
``max_lag_s`` does, and looks like a loop: the guard's docs say so); a steady tone or silence has
no envelope to correlate and is skipped (a steady tone is the howl detector's).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import sliding_window_view

Floats = npt.NDArray[np.float64]

FRAME_S = 0.02
BAND_EDGES_HZ = (250, 500, 750, 1000, 1250, 1600, 2000, 2500, 3150, 4000, 5000, 6300)
"""Bands narrow enough that the air's resonance (a few hundred Hz wide) fills one of them."""
FLOOR_DB = -100.0


@dataclass(frozen=True)
class LoopConfig:
    window_s: float = 4.0
    """The stretch of the mix compared with its past: long enough to hold a dozen syllables."""
    min_lag_s: float = 1.0
    max_lag_s: float = 20.0
    """Trips looked for: an HLS chain's delay (segments, a playlist, the device's buffer)."""
    threshold: float = 0.8
    lag_tolerance_s: float = 0.2
    """How far the lag found may move between the checks that confirm it."""
    min_spread_db: float = 6.0
    """A band's envelope must move this much (its standard deviation) in the window to count."""
    check_every_s: float = 0.5


@dataclass
class LoopFound:
    lag_s: float
    band_hz: float
    correlation: float


@dataclass
class LoopDetector:
    """``feed`` 16 kHz (or ``rate``) samples of the mix; returns a ``LoopFound`` at the check
    that confirms a loop (then ``None`` until ``reset``), else ``None``."""

    rate: int = 16000
    config: LoopConfig = field(default_factory=LoopConfig)
    loops: int = 0

    def __post_init__(self) -> None:
        self._frame = round(self.rate * FRAME_S)
        freqs = np.fft.rfftfreq(self._frame, 1 / self.rate)
        edges = [e for e in BAND_EDGES_HZ if e < self.rate / 2]
        self._bands = list(itertools.pairwise(edges))
        masks = np.array([(freqs >= lo) & (freqs < hi) for lo, hi in self._bands])
        # made once: feed runs for every RTP packet of the mix (50 a second)
        self._band_sum = masks.T.astype(np.float64) / (self._frame**2 * 32768.0**2)
        self._taper = np.hanning(self._frame)
        self._window = round(self.config.window_s / FRAME_S)
        self._min_lag = round(self.config.min_lag_s / FRAME_S)
        self._max_lag = round(self.config.max_lag_s / FRAME_S)
        self._keep = self._window + self._max_lag
        self._envelope = np.full((len(self._bands), 0), FLOOR_DB)
        self._pending: Floats = np.zeros(0)
        self._since_check = 0
        self._candidate: LoopFound | None = None
        self._found = False

    def reset(self) -> None:
        """Forget the past (the offender was muted: what comes next is a new mix)."""
        self._envelope = np.full((len(self._bands), 0), FLOOR_DB)
        self._candidate = None
        self._found = False

    def feed(self, samples: Floats) -> LoopFound | None:
        joined = np.concatenate([self._pending, np.asarray(samples, dtype=np.float64)])
        frames = joined.size // self._frame
        self._pending = joined[frames * self._frame :]
        if frames == 0:
            return None
        blocks = joined[: frames * self._frame].reshape(frames, self._frame)
        power = np.abs(np.fft.rfft(blocks * self._taper, axis=1)) ** 2
        bands = power @ self._band_sum
        levels = 10 * np.log10(np.maximum(bands.T, 10 ** (FLOOR_DB / 10)))
        self._envelope = np.concatenate([self._envelope, levels], axis=1)[:, -self._keep :]
        self._since_check += frames
        if self._since_check * FRAME_S < self.config.check_every_s:
            return None
        self._since_check = 0
        return self._check()

    def _check(self) -> LoopFound | None:
        envelope = self._envelope
        if self._found or envelope.shape[1] < self._window + self._min_lag:
            return None
        best = self._best_lag(envelope)
        if best is None or best.correlation < self.config.threshold:
            self._candidate = None
            return None
        previous, self._candidate = self._candidate, best
        if previous is None or abs(previous.lag_s - best.lag_s) > self.config.lag_tolerance_s:
            return None
        self._found = True
        self.loops += 1
        return best

    def _best_lag(self, envelope: Floats) -> LoopFound | None:
        """The band and lag whose past stretch correlates best with the last window."""
        window = self._window
        recent = envelope[:, -window:]
        spread = recent.std(axis=1)
        moving = spread >= self.config.min_spread_db
        if not moving.any():
            return None
        recent = recent[moving]
        past = envelope[moving, : envelope.shape[1] - self._min_lag]
        stretches = sliding_window_view(past, window, axis=1)  # band, start, frame
        centred = stretches - stretches.mean(axis=2, keepdims=True)
        norms = np.linalg.norm(centred, axis=2)
        now = recent - recent.mean(axis=1, keepdims=True)
        now_norm = np.linalg.norm(now, axis=1, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            correlation = np.einsum("bsf,bf->bs", centred, now) / (norms * now_norm)
        correlation = np.nan_to_num(correlation, nan=-1.0)
        band, start = np.unravel_index(int(np.argmax(correlation)), correlation.shape)
        lag_frames = envelope.shape[1] - window - int(start)
        band_index = int(np.flatnonzero(moving)[band])
        lo, hi = self._bands[band_index]
        return LoopFound(lag_frames * FRAME_S, (lo + hi) / 2, float(correlation[band, start]))
