"""What an ear costs: decoding and judging one stream, as a fraction of a core.

An ear decodes what its listener receives (FFmpeg through PyAV, resampled to 16 kHz mono) and
runs the howl, silence and loudness detectors on it, on the playout's timeline. One minute of
programme (speech-like audio and chords, tests/howl_signals.py) is encoded by a real ffmpeg in
each format and fed to the listener's stack in socket-sized reads (1,460 bytes), timed with
the process's CPU clock:

- ``timing only``: what every progressive listener does, ear or not: split the stream into
  frames by their headers (MPEG, ADTS, Ogg granules, Opus TOC) for its media time;
- ``decode``: an ear's decoder (split + decode + resample), no detectors;
- ``ear``: the whole ear (decoder, playout model, detectors);
- HLS rows: ffmpeg's own 2 s segments (MPEG-TS and fMP4), decoded once per edge and shared by
  ``EARS_PER_EDGE`` ears, each running its own detectors.

Per row: times real time (seconds of audio per CPU second) and the share of a core one stream
costs; ``ears per core`` = real-time factor of the whole ear. The goal: an ear ≤ 1 % of a core
(≥ 100× real time). Ratios from this one run are what count; the load average is printed.

    python benchmarks/ears.py [SECONDS]   # default 60
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import howl_signals as sig
from encoded_audio import FORMATS, encode

from chaos.audio.ear import Ear
from chaos.audio.playout import Frame, PlayoutModel
from chaos.audio.segments import Container, EdgeSegments, ReceivedSegment
from chaos.workload.progressive import ProgressiveDecoder

RATE = 48000
READ = 1460
EARS_PER_EDGE = 4
GOAL = 100.0  # x real time: 1 % of a core


def programme(seconds: float) -> np.ndarray:
    half = seconds / 2
    return sig.as_int16(np.concatenate([sig.speech(half, RATE, 1), sig.chords(half, RATE, 2)]))


def cpu(run: Callable[[], None], repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.process_time()
        run()
        best = min(best, time.process_time() - start)
    return best


def progressive(data: bytes, content_type: str, ear: bool, judge: bool) -> Callable[[], None]:
    def run() -> None:
        decoder = ProgressiveDecoder(ear=ear)
        decoder.start({"content-type": content_type})
        listener = Ear() if judge else None
        playout = PlayoutModel(0.5, listener)
        now = 0.0
        for i in range(0, len(data), READ):
            for frame in decoder.feed(data[i : i + READ]):
                playout.receive(now, frame)
            now += 0.001
        playout.finish(1e9)
        if listener is not None:
            listener.finish()

    return run


def hls_segments(audio: np.ndarray, kind: str) -> tuple[list[bytes], bytes]:
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "in.wav"
        wav.write_bytes(encode(audio, RATE, "wav"))
        extra = ["-hls_segment_type", "fmp4"] if kind == "fmp4" else []
        subprocess.run(
            ["ffmpeg", "-nostdin", "-loglevel", "error", "-i", str(wav), "-c:a", "aac", "-b:a",
             "64k", "-f", "hls", "-hls_time", "2", "-hls_list_size", "0", *extra,
             f"{tmp}/index.m3u8"],
            check=True,
        )  # fmt: skip
        names = [n for n in Path(tmp, "index.m3u8").read_text().splitlines() if n and n[0] != "#"]
        init = Path(tmp, "init.mp4").read_bytes() if kind == "fmp4" else b""
        return [Path(tmp, n).read_bytes() for n in names], init


def hls(segments: list[bytes], init: bytes, kind: str, judge: bool) -> Callable[[], None]:
    container = Container.FMP4 if kind == "fmp4" else Container.TS

    def run() -> None:
        edge = EdgeSegments()
        ears = [Ear(segments=edge) for _ in range(EARS_PER_EDGE)] if judge else []
        playouts = [PlayoutModel(0.5, ear) for ear in ears]
        for n, data in enumerate(segments):
            segment = ReceivedSegment(f"s{n}", data, container, n, 2.0, slot=n, init=init)
            if not judge:
                edge.decode(segment)
            for ear, playout in zip(ears, playouts, strict=True):
                playout.receive(n * 2.0, Frame(n, 2.0, ear.segment(segment)))
        for ear, playout in zip(ears, playouts, strict=True):
            playout.finish(1e9)
            ear.finish()

    return run


def main() -> None:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 60.0
    audio = programme(seconds)
    rows: list[tuple[str, str, float]] = []
    for fmt in ("mp3", "aac", "opus", "vorbis", "wav"):
        data, content_type = encode(audio, RATE, fmt), FORMATS[fmt][1]
        if fmt != "wav":
            rows.append((fmt, "timing only", cpu(progressive(data, content_type, False, False))))
        rows.append((fmt, "decode", cpu(progressive(data, content_type, True, False))))
        rows.append((fmt, "ear", cpu(progressive(data, content_type, True, True))))
    for kind in ("ts", "fmp4"):
        segments, init = hls_segments(audio, kind)
        rows.append((f"hls {kind}", "decode (1 per edge)", cpu(hls(segments, init, kind, False))))
        per_ear = cpu(hls(segments, init, kind, True)) / EARS_PER_EDGE
        rows.append((f"hls {kind}", f"ear ({EARS_PER_EDGE} share decodes)", per_ear))
    print(f"{seconds:.0f} s of programme per stream; load average {os.getloadavg()[0]:.2f}")
    print(f"{'stream':<10} {'what':<24} {'x real time':>12} {'% of a core':>12} {'per core':>9}")
    for stream, what, cost in rows:
        factor = seconds / cost
        print(f"{stream:<10} {what:<24} {factor:>11,.0f}x {100 / factor:>11.3f}% {factor:>9,.0f}")
    ears = [seconds / cost for _, what, cost in rows if what.startswith("ear")]
    worst = min(ears)
    verdict = "met" if worst >= GOAL else "NOT met"
    print(f"worst ear: {worst:,.0f}x real time = {100 / worst:.2f} % of a core "
          f"(goal >= {GOAL:.0f}x, {100 / GOAL:.0f} %): {verdict}")  # fmt: skip


if __name__ == "__main__":
    main()
