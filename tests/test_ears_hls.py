"""Ears of HLS listeners: ffmpeg's HLS output of the programme (``ear_programme``) as AAC and
MP3 in MPEG-TS segments and Opus in fMP4, served by a real nginx, heard by the swarm's ears.

Each format runs its own packager (ffmpeg ``-re``, 2 s segments) and nginx; three listeners per
stream, two of them ears, sharing one decode per segment. What they heard comes back as the
journal records the run writes (``ear.howl``, ``ear.silence_end``, ...).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ear_programme import (
    GAP,
    MARK,
    RATE,
    check_gap_is_silence,
    check_howl_within_a_second,
    check_speech_is_no_howl,
    programme,
    total_seconds,
)
from encoded_audio import write_wav_source
from hls_lab import PLAYLIST, Unavailable, _stop, _tools, nginx, wait_for_segments

from chaos.workload.arrivals import Storm, build_schedule
from chaos.workload.stats import EarTotals
from chaos.workload.swarm import ListenerConfig, StreamFormat, Swarm

ENCODERS = {
    "aac": ("-c:a", "aac", "-b:a", "64k"),
    "mp3": ("-c:a", "libmp3lame", "-b:a", "64k"),
    "opus": ("-c:a", "libopus", "-b:a", "48k", "-hls_segment_type", "fmp4"),
}
LISTENERS, EARS = 3, 2


@contextlib.contextmanager
def packaged(wav: Path, fmt: str) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """ffmpeg packaging ``wav`` live as ``fmt`` HLS, nginx serving it; yields the playlist URL."""
    _, ffmpeg = _tools()
    with tempfile.TemporaryDirectory(prefix=f"gameday-ears-{fmt}-") as tmp:
        root = Path(tmp)
        os.chmod(root, 0o777)
        packager = subprocess.Popen(
            [ffmpeg, "-nostdin", "-loglevel", "error", "-re", "-i", str(wav), "-ac", "1",
             *ENCODERS[fmt], "-f", "hls", "-hls_time", "2", "-hls_list_size", "6",
             "-hls_flags", "delete_segments+program_date_time", str(root / PLAYLIST)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            with nginx(root) as port:
                wait_for_segments(root, 1, 30, packager)
                yield f"http://127.0.0.1:{port}/{PLAYLIST}", packager
        finally:
            _stop(packager)


async def listen(url: str, fmt: str, records: list[dict[str, Any]]) -> EarTotals:
    config = ListenerConfig(url, stream=StreamFormat.HLS, join_timeout=30, edge=fmt, ears=EARS)
    swarm = Swarm(
        build_schedule([Storm(LISTENERS)], seed=5),
        config,
        seed=5,
        duration=total_seconds() + 15,
        workers=1,
        on_heard=records.extend,
    )
    result = await swarm.run()
    assert result.stats.joins_ok >= LISTENERS, result.stats.failures
    return result.stats.ears[fmt]


@pytest.fixture(scope="module")
def heard(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[EarTotals, list[Any]]]:
    wav = write_wav_source(programme(), RATE, tmp_path_factory.mktemp("hls") / "programme.wav")
    os.chmod(wav.parent, 0o755)
    try:
        with contextlib.ExitStack() as stack:
            urls = {fmt: stack.enter_context(packaged(wav, fmt))[0] for fmt in ENCODERS}
            records: dict[str, list[dict[str, Any]]] = {fmt: [] for fmt in ENCODERS}

            async def everyone() -> list[EarTotals]:
                return await asyncio.gather(*(listen(urls[f], f, records[f]) for f in ENCODERS))

            totals = asyncio.run(everyone())
    except Unavailable as exc:
        pytest.skip(str(exc))
    return {fmt: (t, records[fmt]) for fmt, t in zip(ENCODERS, totals, strict=True)}


def by_ear(records: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    ears = sorted({r["listener"] for r in records})
    assert len(ears) == EARS
    return [[r for r in records if r["listener"] == ear] for ear in ears]


pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


@pytest.mark.parametrize("fmt", list(ENCODERS))
def test_hls_ears_hear_the_programme(heard: dict[str, Any], fmt: str) -> None:
    totals, _ = heard[fmt]
    assert totals.ears == EARS
    # The ears start 3 target durations behind the live edge, at the packager's first segments.
    assert totals.heard_seconds >= EARS * (total_seconds() - 12)
    assert not totals.glitches.get("decode_error") and not totals.glitches.get("lost_sync")


@pytest.mark.parametrize("fmt", list(ENCODERS))
def test_hls_speech_is_no_howl_and_the_gap_is_silence(heard: dict[str, Any], fmt: str) -> None:
    totals, records = heard[fmt]
    for ear in by_ear(records):
        check_speech_is_no_howl(ear)
        check_gap_is_silence(ear)
    assert totals.silence_seconds == pytest.approx(EARS * (GAP + MARK), abs=EARS * 0.3)


@pytest.mark.parametrize("fmt", list(ENCODERS))
def test_hls_howl_is_heard_within_a_second_in_a_named_segment(
    heard: dict[str, Any], fmt: str
) -> None:
    _, records = heard[fmt]
    for ear in by_ear(records):
        onset = check_howl_within_a_second(ear)
        assert onset["segment"].startswith("http://127.0.0.1:") and onset["edge"] == fmt
