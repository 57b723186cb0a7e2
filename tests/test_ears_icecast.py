"""Ears against a real Icecast 2.4: what a listener of an MP3, AAC, Opus or VBR Vorbis mount
hears, decoded by FFmpeg and judged by the detectors.

The programme (``ear_programme``) is streamed in real time by ffmpeg to one mount per format;
none announces a bitrate (ffmpeg sends no ``icy-br``). One ear listens to each.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import howl_signals as sig
import pytest
from ear_programme import (
    GAP,
    MARK,
    RATE,
    TONE,
    TRAILER,
    check_gap_is_silence,
    check_howl_within_a_second,
    check_speech_is_no_howl,
    programme,
    total_seconds,
)
from encoded_audio import write_wav_source
from icecast_lab import Source, Unavailable, icecast_server

from chaos.audio.ear import Ear
from chaos.workload.adapter import HttpStreamAdapter
from chaos.workload.arrivals import Storm, build_schedule
from chaos.workload.http import Target
from chaos.workload.probe import Dropped, Events, Failed, Probe
from chaos.workload.progressive import ProgressiveDecoder
from chaos.workload.swarm import ListenerConfig, Swarm, SwarmResult, ear_record

FORMATS = ("mp3", "aac", "opus", "vorbis")


@dataclass
class Heard:
    probe: Probe
    ear: Ear
    records: list[dict[str, Any]]
    headers: dict[str, str]


async def listen(url: str, limit: float) -> Heard:
    """One ear listening until the mount ends (the source finished)."""
    loop = asyncio.get_running_loop()
    ear = Ear(edge="icecast", listener=0)
    adapter = HttpStreamAdapter(Target.parse(url), lambda e: ProgressiveDecoder(ear=e))
    probe = Probe(adapter.decoder(True), requested_at=loop.time(), target_delay=1.5, on_play=ear)
    over = asyncio.Event()

    def sink(events: Events) -> None:
        if any(isinstance(e, Dropped | Failed) for e in events):
            over.set()

    session = await adapter.open(probe, sink, None)
    try:
        await asyncio.wait_for(over.wait(), limit)
    finally:
        session.close()
    ear.finish()
    headers = probe._parser.head.headers if probe._parser.head else {}
    return Heard(probe, ear, [ear_record(ear, e, 0.0) for e in ear.drain()], headers)


@pytest.fixture(scope="module")
def heard(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Heard]]:
    audio = programme()
    wav = write_wav_source(audio, RATE, tmp_path_factory.mktemp("ears") / "programme.wav")
    os.chmod(wav.parent, 0o755)
    mounts = tuple(f"/{fmt}" for fmt in FORMATS)
    try:
        with icecast_server(mounts) as lab:
            for fmt in FORMATS:
                lab.start(Source(f"/{fmt}", wav, fmt), wait=False)

            for fmt in FORMATS:
                lab.wait(f"/{fmt}")

            async def everyone() -> dict[str, Heard]:
                limit = audio.size / RATE + 40
                results = await asyncio.gather(*(listen(lab.url(f"/{f}"), limit) for f in FORMATS))
                return dict(zip(FORMATS, results, strict=True))

            yield asyncio.run(everyone())
    except Unavailable as exc:
        pytest.skip(str(exc))


pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]


@pytest.mark.parametrize("fmt", FORMATS)
def test_the_whole_programme_was_heard_without_a_bitrate(heard: dict[str, Heard], fmt: str) -> None:
    h = heard[fmt]
    assert "icy-br" not in h.headers and h.probe.failure is None
    # Joined within the first seconds (Icecast's burst starts mid-frame), minus what the
    # listener had not played when the mount ended (at most its lag behind the source).
    assert total_seconds() - TRAILER < h.ear.heard_seconds <= total_seconds() + 0.2


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_minute_of_speech_is_no_howl(heard: dict[str, Heard], fmt: str) -> None:
    check_speech_is_no_howl(heard[fmt].records)


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_3s_gap_is_3s_of_silence(heard: dict[str, Heard], fmt: str) -> None:
    h = heard[fmt]
    check_gap_is_silence(h.records)
    assert h.ear.silence.silence_seconds() == pytest.approx(GAP + MARK, abs=0.3)


@pytest.mark.parametrize("fmt", FORMATS)
def test_the_howl_is_heard_within_a_second(heard: dict[str, Heard], fmt: str) -> None:
    h = heard[fmt]
    onset = check_howl_within_a_second(h.records)
    assert onset["heard_at"] > h.probe.requested_at  # on the listener's clock, as it played
    assert h.ear.howl_seconds() == pytest.approx(TONE - 0.5, abs=1.0)


@pytest.mark.timeout(180)
def test_a_vbr_vorbis_mount_without_a_bitrate_joins_and_stalls_by_media_time(
    tmp_path: Path,
) -> None:
    """Six listeners (two of them ears) of a VBR Ogg Vorbis mount that announces no bitrate
    all join; when the source pauses for 4 s each stalls once, for the pause less what it
    had buffered, and otherwise plays on: stalls come from the stream's media time."""
    listeners, pause, pause_at, duration = 6, 4.0, 8.0, 22.0
    wav = write_wav_source(sig.as_int16(sig.chords(60, RATE, seed=21)), RATE, tmp_path / "m.wav")
    os.chmod(tmp_path, 0o755)
    try:
        with icecast_server(("/vbr.ogg",), burst=0) as lab:
            source = lab.start(Source("/vbr.ogg", wav, "vorbis"))
            config = ListenerConfig(
                lab.url("/vbr.ogg"), target_delay=1.5, join_timeout=10, edge="icecast", ears=2
            )
            swarm = Swarm(build_schedule([Storm(listeners)], 1), config, seed=2,
                          duration=duration, workers=1)  # fmt: skip

            async def run() -> SwarmResult:
                async def paused() -> None:
                    await asyncio.sleep(pause_at)
                    os.kill(source.pid, signal.SIGSTOP)
                    await asyncio.sleep(pause)
                    os.kill(source.pid, signal.SIGCONT)

                await swarm.ready()  # the pause counts from the listeners' start, however
                pauser = asyncio.create_task(paused())  # long a loaded machine took to spawn
                result = await swarm.run()
                await pauser
                return result

            result = asyncio.run(run())
    except Unavailable as exc:
        pytest.skip(str(exc))
    stats = result.stats
    assert stats.joins_ok == listeners and not stats.failures, stats.failures
    # Each stalls when the source pauses (a loaded machine may add a short one: the harness
    # itself late to read), for the pause less the 1.5 s to 2.5 s it had buffered; a loaded
    # machine's late reads before the pause leave up to half a second more in the buffer.
    assert stats.freezes >= listeners
    per_listener = stats.stall_seconds / listeners
    assert pause - 3.0 <= per_listener <= pause + 0.5, per_listener
    ttfa = stats.ttfa_sum / listeners
    # Real time: what played plus what stalled is the time listened, less the buffer left
    # (up to 2.5 s), plus the frame playing at the end (counted whole: one read, an Ogg page
    # of ~1 s).
    listened = duration - ttfa
    played = stats.played_seconds / listeners
    assert listened - 2.6 <= played + per_listener <= listened + 1.1, (played, per_listener)
    ears = stats.ears["icecast"]
    assert ears.ears == 2 and ears.heard_seconds == pytest.approx(2 * played, abs=0.5)
    assert ears.howl_seconds == 0
