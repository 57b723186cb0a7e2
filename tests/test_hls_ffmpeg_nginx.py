"""HLS listeners against the real thing: ffmpeg's HLS muxer (2 s AAC segments, deleted as they
age, dated) served by Debian's nginx, with faults from the embedded fault proxy.

Assertions compare measurements of one run with each other (a raw client's join against the
swarm's, a run with latency against one without), never absolute timings, so a loaded machine
shifts both sides alike.
"""

from __future__ import annotations

import asyncio
import http.client
import re
import statistics
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from hls_lab import PLAYLIST, SEGMENT_SECONDS, HlsOrigin, Unavailable, hls_origin

from chaos.faults.client import ToxiproxyClient
from chaos.faults.client.models import BandwidthAttributes, LatencyAttributes
from chaos.faults.server.embedded import EmbeddedToxiproxy
from chaos.workload.arrivals import Storm, build_schedule
from chaos.workload.stats import ListenerStats
from chaos.workload.swarm import ListenerConfig, StreamFormat, Swarm, SwarmResult

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]


@pytest.fixture(scope="module")
def origin() -> Iterator[HlsOrigin]:
    try:
        with hls_origin(600) as live:
            yield live
    except Unavailable as exc:
        pytest.skip(str(exc))


@pytest.fixture
def fresh_origin(request: pytest.FixtureRequest) -> Iterator[HlsOrigin]:
    """An origin of the test's own (it is paused, or its window is short)."""
    list_size = getattr(request, "param", 5)
    try:
        with hls_origin(300, list_size=list_size) as live:
            yield live
    except Unavailable as exc:
        pytest.skip(str(exc))


@pytest.fixture
def proxy() -> Iterator[tuple[ToxiproxyClient, str]]:
    with EmbeddedToxiproxy("127.0.0.1", 0, seed=3) as server, ToxiproxyClient(server.url) as client:
        yield client, server.url


def _swarm(
    url: str,
    listeners: int,
    duration: float,
    *,
    spread: float = 2.0,
    on_snapshot: object = None,
    workers: int = 1,
) -> SwarmResult:
    config = ListenerConfig(url, stream=StreamFormat.HLS, join_timeout=duration)
    swarm = Swarm(
        build_schedule([Storm(listeners, at=0.0, spread=spread)], seed=11),
        config,
        seed=11,
        duration=duration,
        workers=workers,
        sample=listeners,
        snapshot_interval=0.25,
        on_snapshot=on_snapshot,  # type: ignore[arg-type]
    )
    return asyncio.run(swarm.run())


def _ttfas(result: SwarmResult) -> list[float]:
    return [
        a["ttfa_seconds"] for s in result.summaries for a in s["attempts"][:1] if a["ttfa_seconds"]
    ]


def _via(client: ToxiproxyClient, origin: HlsOrigin, name: str) -> str:
    listen = client.create_proxy(name, f"127.0.0.1:{origin.port}").listen
    return f"http://{listen}/{PLAYLIST}"


def _raw_join(host: str, port: int) -> float:
    """An independent join: a plain HTTP client fetches the playlist, then the segment a
    player starts with (the one holding the point 3 target durations before the end)."""
    began = time.monotonic()
    connection = http.client.HTTPConnection(host, port, timeout=10)
    connection.request("GET", f"/{PLAYLIST}")
    text = connection.getresponse().read().decode()
    lines = text.splitlines()
    target = float(next(x for x in lines if x.startswith("#EXT-X-TARGETDURATION:")).split(":")[1])
    entries = [
        (
            float(lines[i].split(":")[1].split(",")[0]),
            next(x for x in lines[i + 1 :] if x[0] != "#"),
        )
        for i, x in enumerate(lines)
        if x.startswith("#EXTINF:")
    ]
    left, uri = 3 * target, entries[0][1]
    for duration, name in reversed(entries):
        left -= duration
        uri = name
        if left <= 0:
            break
    connection.request("GET", f"/{uri}")
    connection.getresponse().read()
    connection.close()
    return time.monotonic() - began


def test_two_hundred_listeners_join_and_hear_and_time_to_first_audio_matches_a_raw_client(
    origin: HlsOrigin,
) -> None:
    result = _swarm(origin.url, 200, 10.0, spread=3.0, workers=2)
    stats = result.stats
    assert stats.join_attempts == 200 and stats.joins_ok == 200, stats.failures
    assert not stats.failures and not stats.drops
    assert stats.played_seconds > 200 * 2 * SEGMENT_SECONDS  # everyone heard segments
    assert stats.requests >= 200 * 4  # playlists and segments, ~1 a second each
    raw = statistics.median(_raw_join("127.0.0.1", origin.port) for _ in range(7))
    swarm = statistics.median(_ttfas(result))
    assert abs(swarm - raw) <= SEGMENT_SECONDS, (swarm, raw)
    # Delay behind live from the program date-times: at least the 3 segments held back.
    samples = sum(stats.latency_counts)
    assert samples > 0
    assert stats.latency_sum / samples >= 3 * SEGMENT_SECONDS - 0.5


def test_a_latency_fault_on_the_listener_link_raises_time_to_first_audio_by_two_trips(
    origin: HlsOrigin, proxy: tuple[ToxiproxyClient, str]
) -> None:
    client, _ = proxy
    url = _via(client, origin, "listener-edge")
    clean = statistics.median(_ttfas(_swarm(url, 20, 6.0)))
    latency = 0.4
    client.add_toxic("listener-edge", LatencyAttributes(latency=int(latency * 1000)), name="slow")
    slow = statistics.median(_ttfas(_swarm(url, 20, 8.0)))
    # A join is two answers (playlist, then the first segment), each held back once.
    raised = slow - clean
    assert 2 * latency - 0.1 <= raised <= 2 * latency + 0.6, (clean, slow)


@dataclass
class _Answer:
    """One playlist answer as it passed the tap: when it was asked for, when it was through,
    and the newest media sequence number it listed."""

    asked: float
    answered: float
    newest: int


class _PlaylistTap:
    """A loopback relay in front of nginx that notes, per client connection, every playlist
    answer: what each listener saw and when, on the same monotonic clock as the test."""

    def __init__(self, upstream: int) -> None:
        self.upstream = upstream
        self.connections: list[list[_Answer]] = []
        self.errors: list[str] = []
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.port = 0

    def __enter__(self) -> _PlaylistTap:
        self._thread.start()
        assert self._ready.wait(30), "the playlist tap did not start"
        return self

    def __exit__(self, *_: object) -> None:
        asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(30)
        self._thread.join(30)

    async def _shutdown(self) -> None:
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._loop.call_soon(self._loop.stop)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/{PLAYLIST}"

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(asyncio.start_server(self._relay, "127.0.0.1", 0))
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()
        server.close()
        self._loop.run_until_complete(server.wait_closed())
        self._loop.close()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream)
        answers: list[_Answer] = []
        self.connections.append(answers)
        asked: deque[tuple[float, bool]] = deque()  # (when, a playlist?) per request in flight

        async def requests() -> None:
            pending = b""
            while data := await reader.read(65536):
                pending += data
                while (end := pending.find(b"\r\n\r\n")) >= 0:  # bodiless GETs
                    target = pending[:end].split(b" ", 2)[1].split(b"?")[0]
                    asked.append((time.monotonic(), target.endswith(b".m3u8")))
                    pending = pending[end + 4 :]
                up_writer.write(data)
                await up_writer.drain()
            up_writer.close()

        async def responses() -> None:
            pending = b""
            while data := await up_reader.read(65536):
                writer.write(data)
                await writer.drain()
                pending += data
                while (end := pending.find(b"\r\n\r\n")) >= 0:
                    head = pending[:end].decode("latin-1")
                    length = re.search(r"(?im)^content-length:\s*(\d+)", head)
                    if length is None:
                        self.errors.append(f"an answer without Content-Length: {head[:200]}")
                        return
                    size = end + 4 + int(length.group(1))
                    if len(pending) < size:
                        break
                    body, pending = pending[end + 4 : size], pending[size:]
                    when, playlist = asked.popleft()
                    if playlist and head.startswith("HTTP/1.1 200"):
                        text = body.decode()
                        first = re.search(r"#EXT-X-MEDIA-SEQUENCE:(\d+)", text)
                        newest = int(first.group(1) if first else 0) + text.count("#EXTINF") - 1
                        answers.append(_Answer(when, time.monotonic(), newest))
            writer.close()

        try:
            await asyncio.gather(requests(), responses())
        except ConnectionError:
            pass  # a listener that closed its connection (a reset when the swarm stops)
        except IndexError:
            self.errors.append("an answer to no request")
        finally:
            writer.close()
            up_writer.close()


def test_a_playlist_that_stops_updating_is_seen_stuck_within_one_and_a_half_target_durations(
    fresh_origin: HlsOrigin,
) -> None:
    listeners = 20
    stuck_at: list[float] = []
    paused: list[float] = []
    snapshots: list[float] = []

    def snapshot(stats: ListenerStats) -> None:
        snapshots.append(time.monotonic())
        if not paused and stats.joins_ok == listeners:
            time.sleep(0.5)
            fresh_origin.pause()
            paused.append(time.monotonic())
        if paused and not stuck_at and stats.stuck == listeners:
            stuck_at.append(snapshots[-1])

    try:
        with _PlaylistTap(fresh_origin.port) as tap:
            result = _swarm(tap.url, listeners, 16.0, spread=1.0, on_snapshot=snapshot)
    finally:
        frozen = fresh_origin.playlist()
        fresh_origin.resume()
    assert not tap.errors, tap.errors
    assert paused and stuck_at, "the listeners never saw the stream stuck"
    seen = [answers for answers in tap.connections if answers]
    assert len(seen) == listeners, "one kept-alive playlist channel per listener"
    final = max(a.newest for answers in seen for a in answers)
    assert f"live{final}.ts" in frozen, (final, frozen)  # the playlist froze at what they saw
    # Each listener judges by its own loads (RFC 8216 §6.3.4, as the player does): stale on the
    # first unchanged reload begun 1.5 target durations after the load that last saw it grow.
    # Reloads come a target duration after a load that grew, half of one after an unchanged
    # one, so that is the second reload, or the first if it came that late. The tap sees when
    # a reload began within its relay time, hence a slack around the 1.5 target durations.
    target, slack = SEGMENT_SECONDS, 0.3
    earliest, latest = [], []
    for answers in seen:
        at = next(i for i, a in enumerate(answers) if a.newest == final)
        grew, reloads = answers[at].asked, answers[at + 1 : at + 3]
        assert len(reloads) == 2, f"fewer than two reloads after the last growth: {answers}"
        first, second = reloads
        due = grew + 1.5 * target
        earliest.append((first if first.asked >= due - slack else second).answered)
        latest.append((first if first.asked >= due + slack else second).answered)
    # No one stuck before its own reload past 1.5 target durations said so, and every one
    # stuck on that reload's answer: within a few snapshots of it (not a reload later).
    assert stuck_at[0] >= max(earliest), (stuck_at[0] - max(earliest), earliest)
    after = [t for t in snapshots if t >= max(latest)]
    assert stuck_at[0] <= after[min(2, len(after) - 1)], (stuck_at[0] - max(latest), latest)
    assert result.stats.stale_playlists >= listeners
    assert result.stats.stalls >= listeners  # and then their buffers ran dry


@pytest.mark.parametrize("fresh_origin", [3], indirect=True)
def test_segments_deleted_before_a_slow_listener_came_to_them_count_as_skipped_audio(
    fresh_origin: HlsOrigin, proxy: tuple[ToxiproxyClient, str]
) -> None:
    client, _ = proxy
    url = _via(client, fresh_origin, "slow-listener")
    # Half the stream's rate: every 2 s segment takes ~4 s, so the listener falls behind a
    # 3-segment window whose old segments ffmpeg deletes.
    client.add_toxic("slow-listener", BandwidthAttributes(rate=4), name="narrow")
    result = _swarm(url, 4, 30.0, spread=0.5)
    stats = result.stats
    assert stats.joins_ok == 4
    assert sum(stats.skipped.values()) >= 4, stats.skipped
    assert set(stats.skipped) <= {"gone", "behind"}
    assert stats.skipped_seconds >= 4 * SEGMENT_SECONDS * 0.9
    assert stats.stalls > 0


def test_ears_of_hls_listeners_hear_the_segments_decoded_once_per_edge(origin: HlsOrigin) -> None:
    """Two ears of one edge play the same real segments: each hears them, the edge decodes
    each segment once."""
    from urllib.request import urlopen

    from chaos.audio.ear import Ear
    from chaos.audio.segments import EdgeSegments
    from chaos.workload.hls.player import HlsOptions, HlsPlayer, Kind
    from chaos.workload.hls.resolver import EndpointResolver
    from chaos.workload.probe import Probe

    playlist = urlopen(origin.url, timeout=10).read()
    base = origin.url.rsplit("/", 1)[0]
    bodies = {
        name: urlopen(f"{base}/{name}", timeout=10).read()
        for name in playlist.decode().split()
        if name.endswith(".ts")
    }
    shared = EdgeSegments()
    resolver = EndpointResolver("127.0.0.1", origin.port)
    ears = []
    for n in range(2):
        ear = Ear("edge", n, shared)
        probe = Probe(None, requested_at=0.0, target_delay=0.5, on_play=ear, wall_offset=0.0)
        player = HlsPlayer(probe, origin.url, HlsOptions(), resolver, ear)
        player.start(0.0)
        now = 0.0
        while player.fetches:
            fetch = player.fetches.pop(0)
            if fetch.kind is Kind.PLAYLIST:
                if now == 0.0:
                    player.answer(now, fetch, 200, {}, playlist)
                continue
            now += 0.1
            name = fetch.target.rsplit("/", 1)[1]
            player.answer(now, fetch, 200, {"content-type": "video/mp2t"}, bodies[name])
        probe.leave(now + 60)
        ear.finish()
        ears.append(ear)
    played = ears[0].heard_seconds
    assert played >= SEGMENT_SECONDS * 0.9
    assert ears[1].heard_seconds == pytest.approx(played)
    assert not ears[0].glitches.get("decode_error")
    assert shared.decodes == round(played / SEGMENT_SECONDS)  # one decode per segment


def test_a_swarm_of_hls_listeners_has_ears_that_hear_the_stream(origin: HlsOrigin) -> None:
    config = ListenerConfig(origin.url, stream=StreamFormat.HLS, join_timeout=10, edge="edge")
    swarm = Swarm(
        build_schedule([Storm(12, at=0.0, spread=1.0)], seed=5), config, seed=5, duration=8.0
    )
    stats = asyncio.run(swarm.run()).stats
    assert stats.joins_ok == 12
    heard = stats.ears["edge"]
    assert heard.ears >= 4
    assert heard.heard_seconds >= 4 * SEGMENT_SECONDS
    assert not heard.glitches.get("decode_error")
    # (The lab's source is a steady 440 Hz sine, which the howl detector rightly cannot tell
    # from feedback; the ear tests judge howling on speech-like sources.)
