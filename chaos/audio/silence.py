"""Silence and dropouts: a live stream gone quiet, found in decoded PCM; no I/O, no clock.

Dead air is what a listener of a broken live stream hears most: the source died, a mixer lost
its inputs, the packager repeats silent segments. Audio is measured in 20 ms blocks; a run of
blocks below ``threshold_dbfs`` lasting ``min_seconds`` or more is a silence, counted whole
from its first block (the pauses of speech, up to ~0.6 s, are not). Times are audio seconds
since the first sample fed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

Floats = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class SilenceConfig:
    threshold_dbfs: float = -60.0
    """RMS level below which a block is silent: under any room tone, above codec noise."""
    min_seconds: float = 1.0
    """Shorter quiet is a pause in speech (or a dropout, which the ear counts as a glitch)."""
    block_seconds: float = 0.02


@dataclass(frozen=True, slots=True)
class SilenceStart:
    at: float


@dataclass(frozen=True, slots=True)
class SilenceEnd:
    at: float
    started_at: float

    @property
    def seconds(self) -> float:
        return self.at - self.started_at


SilenceEvent = SilenceStart | SilenceEnd


@dataclass
class SilenceDetector:
    rate: int
    config: SilenceConfig = field(default_factory=SilenceConfig)
    silences: int = 0
    seconds_done: float = 0.0
    """Seconds of silences that have ended."""

    def __post_init__(self) -> None:
        self._block = max(1, round(self.rate * self.config.block_seconds))
        self._floor = (32768 * 10 ** (self.config.threshold_dbfs / 20)) ** 2 * self._block
        self._min_blocks = round(self.config.min_seconds / self.config.block_seconds)
        self._pending: Floats = np.zeros(0)
        self._blocks = 0
        self._run_start: int | None = None  # first block of the current quiet run
        self._reported = False

    @property
    def silent(self) -> bool:
        return self._reported

    def silence_seconds(self) -> float:
        """Silence heard so far, a silence still going included."""
        ongoing = 0
        if self._reported and self._run_start is not None:
            ongoing = self._blocks - self._run_start
        return self.seconds_done + ongoing * self._block / self.rate

    def feed(self, samples: npt.NDArray[np.int16] | Floats) -> list[SilenceEvent]:
        data = np.concatenate([self._pending, np.asarray(samples, dtype=np.float64)])
        count = data.size // self._block
        self._pending = data[count * self._block :]
        if count == 0:
            return []
        blocks = data[: count * self._block].reshape(count, self._block)
        return self._runs(np.einsum("ij,ij->i", blocks, blocks) < self._floor)

    def finish(self) -> list[SilenceEvent]:
        """The stream ended: close a silence still going."""
        return [self._end(self._blocks)] if self._reported else []

    def _runs(self, quiet: npt.NDArray[np.bool_]) -> list[SilenceEvent]:
        events: list[SilenceEvent] = []
        base = self._blocks
        self._blocks += quiet.size
        # Only the blocks where quiet changes need Python: runs, not blocks.
        states = np.concatenate([[self._run_start is not None], quiet])
        for i in np.flatnonzero(states[1:] != states[:-1]):
            block = base + int(i)
            if quiet[i]:
                self._run_start = block
                continue
            if self._run_start is not None and block - self._run_start >= self._min_blocks:
                events += self._report()
            if self._reported:
                events.append(self._end(block))
            self._run_start = None
        start = self._run_start
        if start is not None and self._blocks - start >= self._min_blocks:
            events += self._report()
        return events

    def _report(self) -> list[SilenceEvent]:
        if self._reported or self._run_start is None:
            return []
        self._reported = True
        self.silences += 1
        return [SilenceStart(self._time(self._run_start))]

    def _end(self, block: int) -> SilenceEnd:
        assert self._run_start is not None
        start = self._run_start
        self.seconds_done += (block - start) * self._block / self.rate
        self._reported, self._run_start = False, None
        return SilenceEnd(self._time(block), self._time(start))

    def _time(self, block: int) -> float:
        return block * self._block / self.rate
