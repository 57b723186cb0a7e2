"""soundstage's HLS output: the packager (sans-IO, with hypothesis), the edge serving it (the
real process, fed in real time), HLS listeners on it, and LL-HLS against plain HLS."""

from __future__ import annotations

import asyncio
import http.client
import re
import statistics
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from hls_edge import PLAYLIST, HlsEdge, hls_edge
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML
from runner_support import gameday

from chaos.audio.segments import Container, EdgeSegments, ReceivedSegment
from chaos.experiment.loader import builtin_stacks
from chaos.faults.client import ToxiproxyClient
from chaos.faults.client.models import BandwidthAttributes
from chaos.faults.server.embedded import EmbeddedToxiproxy
from chaos.report.journal import read_journal
from chaos.workload.arrivals import Storm, build_schedule
from chaos.workload.hls.playlist import MediaPlaylist, parse_playlist
from chaos.workload.swarm import ListenerConfig, StreamFormat, Swarm, SwarmResult
from soundstage.hls import HlsConfig, Packager

T0_US = 1_796_000_000_000_000
TONE = (np.sin(2 * np.pi * 440 * np.arange(320) / 16000) * 6000).astype(np.int16)


def _feed(packager: Packager, frames: range, offset_us: int = 0) -> None:
    for i in frames:
        packager.feed(T0_US + offset_us + i * 20_000, TONE)


def _media(packager: Packager) -> MediaPlaylist:
    parsed = parse_playlist(packager.playlist())
    assert isinstance(parsed, MediaPlaylist)
    return parsed


# --- the packager -------------------------------------------------------------------------


def test_a_live_room_is_a_playlist_of_dated_segments_that_decode_to_their_length() -> None:
    packager = Packager(HlsConfig(segment_s=2.0, window=4, keep=1))
    _feed(packager, range(700))  # 14 s
    playlist = _media(packager)
    assert playlist.target_duration == 2 and not playlist.low_latency and not playlist.ended
    assert len(playlist.segments) == 4  # the window
    assert [s.sequence for s in playlist.segments] == list(range(3, 7))  # 14 s: 7 segments
    for before, after in zip(playlist.segments, playlist.segments[1:], strict=False):
        assert before.program_date_time is not None and after.program_date_time is not None
        assert after.program_date_time - before.program_date_time == pytest.approx(
            before.duration, abs=1e-3
        )
    # Dated from the first sample's capture time (one AAC frame of encoder priming early).
    first = packager.segments[0]
    assert first.date == pytest.approx(T0_US / 1e6 - 0.064 + first.sequence * 1.984, abs=1e-6)
    shared = EdgeSegments()
    for segment in playlist.segments:
        body = packager.segment(segment.sequence)
        assert body is not None and body.startswith(b"ID3")
        decoded = shared.decode(
            ReceivedSegment(f"x/{segment.uri}", body, Container.ADTS, segment.sequence, 1.984)
        )
        assert decoded.errors == 0
        assert decoded.seconds == pytest.approx(segment.duration, abs=1e-3)
        assert np.abs(decoded.pcm).max() > 3000  # the tone, not silence
    assert packager.segment(2) is not None  # left the playlist, still served a while
    assert packager.segment(1) is None  # gone: older than the window and what is kept


def test_missing_frames_are_silence_and_a_broken_timeline_a_discontinuity() -> None:
    packager = Packager(HlsConfig(window=3, keep=0))
    _feed(packager, range(100))
    _feed(packager, range(105, 300))  # 5 frames lost upstream: filled, the timeline holds
    assert packager.filled_frames == 5 and packager.discontinuities == 0
    _feed(packager, range(300, 500), offset_us=5_000_000)  # 5 s of nothing, then the mix again
    assert packager.discontinuities == 1
    playlist = _media(packager)
    assert sum(s.discontinuity for s in playlist.segments) == 1
    late = next(s for s in playlist.segments if s.discontinuity)
    assert late.program_date_time == pytest.approx(T0_US / 1e6 + 11.0 - 0.064, abs=1e-3)
    _feed(packager, range(500, 900), offset_us=5_000_000)  # the discontinuity leaves the window
    text = packager.playlist().decode()
    assert "#EXT-X-DISCONTINUITY-SEQUENCE:1" in text and "#EXT-X-DISCONTINUITY\n" not in text


def test_ll_hls_lists_parts_and_a_preload_hint_and_knows_what_is_published() -> None:
    packager = Packager(HlsConfig(segment_s=2.0, part_s=0.2))
    _feed(packager, range(330))
    playlist = _media(packager)
    assert playlist.low_latency and playlist.server_control.can_block_reload
    assert playlist.part_target == pytest.approx(0.192)
    assert playlist.server_control.part_hold_back == pytest.approx(0.576)
    assert all(len(s.parts) == 10 for s in playlist.segments[-3:])
    assert playlist.preload_hint is not None
    hinted = re.fullmatch(r"(\d+)\.(\d+)\.aac", playlist.preload_hint.uri)
    assert hinted is not None
    sequence, part = int(hinted[1]), int(hinted[2])
    assert (sequence, part) == (playlist.next_sequence, len(playlist.partial))
    assert not packager.has(sequence, part) and packager.part(sequence, part) is None
    assert packager.has(sequence - 1, None) and packager.has(sequence, part - 1)
    assert not packager.too_far(sequence + 2, 0) and packager.too_far(sequence + 3, 0)
    _feed(packager, range(330, 350))
    assert packager.has(sequence, part)
    body = packager.part(sequence, part)
    assert body is not None and body.startswith(b"ID3")


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    gaps=st.lists(
        st.tuples(st.integers(20, 160), st.sampled_from([0, 0, 0, 1, 3, 60, 200, -30])),
        min_size=1,
        max_size=5,
    ),
    part=st.sampled_from([0.0, 0.2, 0.5]),
)
def test_any_arrival_of_frames_gives_a_playlist_that_parses_and_keeps_the_rules(
    gaps: list[tuple[int, int]], part: float
) -> None:
    """Runs of frames with gaps (lost frames, outages, a timeline that went back): the playlist
    always parses, sequence numbers and dates only grow, EXTINF rounds to at most the target,
    and every listed segment or part is served."""
    packager = Packager(HlsConfig(segment_s=1.0, part_s=part, window=4))
    at = 0
    for run, gap in gaps:
        at += gap
        _feed(packager, range(at, at + run))
        at += run
        playlist = _media(packager)
        assert all(round(s.duration) <= playlist.target_duration for s in playlist.segments)
        sequences = [s.sequence for s in playlist.segments]
        assert sequences == sorted(set(sequences))
        for segment in playlist.segments:
            assert packager.segment(segment.sequence) is not None
            for index, _ in enumerate(segment.parts):
                assert packager.part(segment.sequence, index) is not None
        dates = [s.program_date_time for s in playlist.segments if not s.discontinuity]
        assert all(d is not None for d in dates)


# --- the edge -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def plain() -> Iterator[HlsEdge]:
    with hls_edge() as edge:
        yield edge


@pytest.fixture(scope="module")
def low_latency() -> Iterator[HlsEdge]:
    with hls_edge("--hls-part", "0.2") as edge:
        yield edge


def _get(connection: http.client.HTTPConnection, target: str) -> tuple[int, str, bytes]:
    connection.request("GET", target)
    answer = connection.getresponse()
    return answer.status, answer.getheader("Content-Type", ""), answer.read()


def test_the_edge_serves_its_hls_over_one_kept_alive_connection(plain: HlsEdge) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", plain.port, timeout=10)
    status, kind, body = _get(connection, PLAYLIST)
    assert (status, kind) == (200, "application/vnd.apple.mpegurl")
    playlist = parse_playlist(body)
    assert isinstance(playlist, MediaPlaylist) and not playlist.low_latency
    newest = playlist.segments[-1]
    status, kind, media = _get(connection, f"/hls/1/{newest.uri}")
    assert (status, kind) == (200, "audio/aac") and media.startswith(b"ID3")
    sock = connection.sock
    assert _get(connection, "/hls/1/999999.aac")[0] == 404
    assert _get(connection, "/hls/7/live.m3u8")[0] == 404
    assert _get(connection, f"{PLAYLIST}?_HLS_msn=99999")[0] == 400
    assert _get(connection, PLAYLIST)[0] == 200
    assert connection.sock is sock  # every answer on the one connection
    connection.close()


def test_a_blocking_reload_is_held_until_the_part_it_asks_for_exists(low_latency: HlsEdge) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", low_latency.port, timeout=10)
    first = parse_playlist(_get(connection, PLAYLIST)[2])
    assert isinstance(first, MediaPlaylist) and first.low_latency
    msn, part = first.next_sequence, len(first.partial)
    assert first.preload_hint is not None and first.preload_hint.uri == f"{msn}.{part}.aac"
    held = parse_playlist(_get(connection, f"{PLAYLIST}?_HLS_msn={msn}&_HLS_part={part}")[2])
    assert isinstance(held, MediaPlaylist)
    listed = [p.uri for s in held.segments for p in s.parts] + [p.uri for p in held.partial]
    assert f"{msn}.{part}.aac" in listed  # the answer waited for the part
    hint = held.preload_hint
    assert hint is not None
    status, kind, body = _get(connection, f"/hls/1/{hint.uri}")  # held until it is made
    assert (status, kind) == (200, "audio/aac") and body.startswith(b"ID3")
    connection.close()


def _swarm(
    url: str, listeners: int, duration: float, *, low_latency: bool = True, ears: int = 0,
    start_at: float | None = None,
) -> Swarm:  # fmt: skip
    config = ListenerConfig(
        url, stream=StreamFormat.HLS, join_timeout=duration, low_latency=low_latency, ears=ears
    )
    return Swarm(
        build_schedule([Storm(listeners, at=0.0, spread=2.0)], seed=5),
        config,
        seed=5,
        duration=duration,
        workers=1,
        sample=listeners,
        start_at=start_at,
    )


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_hls_listeners_join_hear_the_mix_and_see_the_edge_stop(plain: HlsEdge) -> None:
    swarm = _swarm(plain.url, 60, 14.0, ears=2)

    async def run() -> SwarmResult:
        task = asyncio.create_task(swarm.run())
        await asyncio.sleep(8.0)
        plain.pause()  # the mix stops: the playlist no longer grows
        try:
            return await task
        finally:
            plain.resume()

    stats = asyncio.run(run()).stats
    assert stats.joins_ok == stats.join_attempts == 60, stats.failures
    assert stats.played_seconds > 60 * 4
    assert stats.latency_counts and sum(stats.latency_counts) > 0
    assert stats.stale_playlists >= 60 * 0.9  # seen stuck by (nearly) everyone
    ears = list(stats.ears.values())
    assert sum(e.ears for e in ears) == 2
    assert sum(e.heard_seconds for e in ears) > 4 and sum(e.howl_seconds for e in ears) == 0
    assert not any(e.glitches.get("decode_errors") for e in ears), [e.glitches for e in ears]


@pytest.mark.slow
@pytest.mark.timeout(150)
def test_ll_hls_listeners_start_sooner_and_play_closer_to_live_than_plain_ones(
    low_latency: HlsEdge,
) -> None:
    """One edge, one run, one slow listener link (twice the stream's bitrate per connection):
    listeners that use LL-HLS against listeners that play whole segments."""
    with (
        EmbeddedToxiproxy("127.0.0.1", 0, seed=3) as server,
        ToxiproxyClient(server.url) as client,
    ):
        proxy = client.create_proxy("listener-edge", f"127.0.0.1:{low_latency.port}")
        client.add_toxic("listener-edge", BandwidthAttributes(rate=16), name="narrow")
        url = f"http://{proxy.listen}{PLAYLIST}"

        async def both() -> tuple[SwarmResult, SwarmResult]:
            start = time.monotonic() + 3.0
            ll = _swarm(url, 20, 14.0, low_latency=True, start_at=start)
            whole = _swarm(url, 20, 14.0, low_latency=False, start_at=start)
            return await asyncio.gather(ll.run(), whole.run())

        ll, whole = asyncio.run(both())
    for result in (ll, whole):
        assert result.stats.joins_ok == 20, result.stats.failures

    def medians(result: SwarmResult) -> tuple[float, float]:
        attempts = [s["attempts"][0] for s in result.summaries]
        return (
            statistics.median(a["ttfa_seconds"] for a in attempts),
            statistics.median(a["latency_seconds"] for a in attempts),
        )

    (ll_ttfa, ll_delay), (whole_ttfa, whole_delay) = medians(ll), medians(whole)
    assert ll_ttfa < whole_ttfa, (ll_ttfa, whole_ttfa)
    assert ll_delay < whole_delay, (ll_delay, whole_delay)
    assert ll_delay < 3.0 < whole_delay  # parts a few hundred ms back; segments 3 targets back


# --- the stack spec -----------------------------------------------------------------------


def test_the_hls_stack_is_soundstage_but_for_how_listeners_hear_it() -> None:
    specs = builtin_stacks()
    framed = YAML(typ="safe").load(Path(specs["soundstage"]).read_text())
    hls = YAML(typ="safe").load(Path(specs["soundstage-hls"]).read_text())
    assert hls["audience"]["listeners"] == {
        "link": "listener->edge", "path": "/hls/1/live.m3u8", "format": "hls",
    }  # fmt: skip
    for spec in (framed, hls):
        for key in ("name", "description"):
            spec.pop(key)
        spec["audience"].pop("listeners")
    assert hls == framed


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_the_hls_launch_storm_runs_end_to_end_on_soundstage(tmp_path: Path) -> None:
    """experiments/launch-storm-hls.yaml as a user runs it: 200 HLS listeners on soundstage's
    edges through the fault proxy, with SLOs on time to first audio, stalls, delay behind live
    and howling (its ears decode the edges' AAC)."""
    experiment = Path(__file__).resolve().parent.parent / "experiments/launch-storm-hls.yaml"
    done = gameday("run", experiment, "--out", tmp_path / "run", timeout=230)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    journal = read_journal(tmp_path / "run" / "journal.jsonl")
    verdicts = {e["name"]: e["status"] for e in journal.of_kind("slo")}
    assert set(verdicts) >= {"launch-delay", "stalls", "behind-live", "no-feedback", "ears-heard"}
    assert set(verdicts.values()) == {"pass"}
    start = next(journal.of_kind("fault.start"))
    assert {t["proxy"] for t in start["toxics"]} == {"listener->edge#1", "listener->edge#2"}
