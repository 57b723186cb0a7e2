"""Howling-detector throughput: audio-seconds analysed per CPU-second, against 1,000× real time.

Probes run the detector on every listener they decode, so one core must analyse many streams
at once. Measured on one stream of speech-like audio (no howl: the common case) and on a howl
(the tracking path), at both payload rates, for the chunk sizes a caller may feed: one 20 ms
frame at a time (numpy's per-call overhead dominates), the probe's 250 ms batches, and 1 s.
CPU time (``process_time``) so other load on a shared machine does not count against us.

    python benchmarks/audio.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

from chaos.audio.howl import HowlDetector

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
import howl_signals as sig  # the test signal generators, shared with the tests

TARGET = 1000.0
SECONDS = 60.0


def throughput(samples: np.ndarray, rate: int, chunk: int) -> float:
    """Audio seconds per CPU second, best of three (least disturbed by other load)."""
    best = float("inf")
    for _ in range(3):
        detector = HowlDetector(rate)
        start = time.process_time()
        for i in range(0, samples.size, chunk):
            detector.feed(samples[i : i + chunk])
        best = min(best, time.process_time() - start)
    return samples.size / rate / max(best, 1e-9)


def main() -> None:
    print(f"{'signal':<8} {'rate':>6} {'chunk':>7} {'audio s / CPU s':>16} {'vs 1,000x':>10}")
    for rate in (16000, 8000):
        signals = {
            "speech": sig.as_int16(sig.speech(SECONDS, rate, seed=1)),
            "howl": sig.as_int16(sig.growing_tone(SECONDS, rate, 1500.0, -60.0, 20.0)),
        }
        for name, samples in signals.items():
            for chunk_ms in (20, 250, 1000, 2000):
                ratio = throughput(samples, rate, rate * chunk_ms // 1000)
                print(
                    f"{name:<8} {rate:>6} {chunk_ms:>5}ms {ratio:>15,.0f}x {ratio / TARGET:>9.2f}"
                )


if __name__ == "__main__":
    main()
