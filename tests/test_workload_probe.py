"""The sans-IO probe: HTTP framing, progressive bytes at a bitrate, events, stats and metrics."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, generate_latest

from chaos.errors import InvalidInput
from chaos.workload.adapter import connect_failure, source_address, spreads_sources
from chaos.workload.http import ProtocolError, ResponseParser, Target
from chaos.workload.metrics import ListenerCollector
from chaos.workload.probe import Connected, Dropped, Failed, FirstAudio, Probe
from chaos.workload.progressive import ProgressiveDecoder
from chaos.workload.stats import ListenerStats

HEAD = b"HTTP/1.0 200 OK\r\nContent-Type: application/octet-stream\r\nicy-br: 64\r\n\r\n"


def _split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    return [data[a:b] for a, b in itertools.pairwise(points)]


@given(st.binary(max_size=3000), st.lists(st.integers(0, 10_000), max_size=20))
def test_plain_body_survives_any_split(body: bytes, cuts: list[int]) -> None:
    parser = ResponseParser()
    out = b"".join(parser.feed(piece) for piece in _split(HEAD + body, cuts))
    assert out == body
    assert parser.head is not None and parser.head.status == 200
    assert parser.head.headers["icy-br"] == "64"


@given(
    st.lists(st.binary(min_size=1, max_size=300), max_size=10),
    st.lists(st.integers(0, 10_000), max_size=20),
)
def test_chunked_body_survives_any_split(chunks: list[bytes], cuts: list[int]) -> None:
    wire = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    wire += b"".join(b"%x;ext=1\r\n%s\r\n" % (len(c), c) for c in chunks) + b"0\r\n\r\n"
    parser = ResponseParser()
    assert b"".join(parser.feed(p) for p in _split(wire, cuts)) == b"".join(chunks)


@pytest.mark.parametrize(
    ("wire", "match"),
    [
        (b"SSH-2.0-OpenSSH\r\n\r\n", "not an HTTP status line"),
        (b"HTTP/1.1 abc OK\r\n\r\n", "bad status code"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "bad chunk size"),
        (b"HTTP/1.1 200 OK\r\n" + b"X: y\r\n" * 5000, "larger than"),
    ],
)
def test_broken_framing_is_a_protocol_error(wire: bytes, match: str) -> None:
    with pytest.raises(ProtocolError, match=match):
        ResponseParser().feed(wire)


def test_target_parsing_and_request() -> None:
    target = Target.parse("http://127.0.0.1:8000/live.mp3?x=1")
    assert (target.host, target.port, target.path) == ("127.0.0.1", 8000, "/live.mp3?x=1")
    assert target.request().startswith(b"GET /live.mp3?x=1 HTTP/1.1\r\nHost: 127.0.0.1:8000\r\n")
    for bad in ("https://x/y", "ftp://x", "http://:80/", "http://h:99999/"):
        with pytest.raises(InvalidInput):
            Target.parse(bad)


def test_progressive_probe_plays_bytes_at_the_nominal_bitrate() -> None:
    probe = Probe(ProgressiveDecoder(), requested_at=10.0, target_delay=0.5)
    assert probe.connected(10.01) == (Connected(10.01),)
    assert probe.feed(10.2, HEAD + b"x" * 2000) == ()  # 0.25 s of 64 kb/s audio: not yet
    assert probe.feed(10.3, b"x" * 2000) == (FirstAudio(10.3, pytest.approx(0.3)),)
    assert probe.first_byte_at == 10.2
    for i in range(10):  # 8000 bytes/s, on time
        probe.feed(10.3 + 0.25 * (i + 1), b"x" * 2000)
    # The 0.5 s buffer runs dry at 13.3; one more 0.25 s read does not refill it …
    probe.feed(14.0, b"x" * 2000)
    assert probe.playout.stalled and probe.playout.stalls == []
    probe.feed(15.0, b"x" * 2000)  # … the next one does: playout resumes, 1.7 s after it paused
    assert probe.playout.stalls == [pytest.approx(1.7)]
    assert probe.closed(15.5) == (Dropped(15.5, "closed"),)
    summary = probe.summary()
    assert summary["ttfa_seconds"] == pytest.approx(0.3)
    assert summary["stalls"] == 1 and summary["freezes"] == 1
    assert summary["bytes"] == len(HEAD) + 14 * 2000


def test_probe_failures_have_short_reasons() -> None:
    not_found = Probe(ProgressiveDecoder(64_000), requested_at=0.0, target_delay=0.5)
    events = not_found.feed(0.1, b"HTTP/1.0 404 Not Found\r\n\r\n")
    assert events == (Failed(0.1, "http_404", "answered HTTP 404"),)
    assert not_found.ended and not_found.feed(0.2, b"more") == ()
    no_bitrate = Probe(ProgressiveDecoder(), requested_at=0.0, target_delay=0.5)
    assert no_bitrate.feed(0.1, b"HTTP/1.0 200 OK\r\n\r\nabc") == ()  # sniffing
    [failed] = no_bitrate.feed(0.2, b"x" * 5000)
    assert isinstance(failed, Failed) and failed.reason == "protocol"
    assert "64kbps" in failed.detail
    full = Probe(ProgressiveDecoder(64_000), requested_at=0.0, target_delay=0.5)
    busy = b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 7\r\n\r\n"
    assert full.feed(0.1, busy) == (
        Failed(0.1, "http_503", "answered HTTP 503 with Retry-After 7s", 7.0),
    )
    dated = Probe(ProgressiveDecoder(64_000), requested_at=0.0, target_delay=0.5)
    gmt = b"HTTP/1.1 503 Busy\r\nRetry-After: Wed, 21 Oct 2026 07:28:00 GMT\r\n\r\n"
    assert dated.feed(0.1, gmt) == (Failed(0.1, "http_503", "answered HTTP 503"),)
    silent = Probe(ProgressiveDecoder(64_000), requested_at=0.0, target_delay=0.5)
    assert silent.closed(3.0, "reset") == (Failed(3.0, "reset"),)


def test_leaving_is_not_a_failure() -> None:
    probe = Probe(ProgressiveDecoder(8_000), requested_at=0.0, target_delay=0.0)
    probe.feed(0.0, HEAD + b"x" * 100)
    probe.leave(0.05)
    assert probe.failure is None and probe.drop is None
    assert probe.closed(0.06) == ()


def test_bitrate_from_ice_audio_info() -> None:
    decoder = ProgressiveDecoder()
    decoder.start({"ice-audio-info": "channels=1;bitrate=32;samplerate=48000"})
    assert decoder.feed(b"x" * 4000)[0].duration == 1.0


def test_source_addresses_spread_over_loopback_only() -> None:
    assert source_address(0) == "127.0.0.2"
    assert source_address(300) == "127.0.1.46"
    assert source_address(1021) == "127.0.3.255"
    assert len({source_address(i) for i in range(5000)}) == 1022
    assert spreads_sources("127.0.0.1") and spreads_sources("127.5.0.9")
    for remote in ("10.0.0.1", "localhost", "::1"):
        assert not spreads_sources(remote)


def test_connect_failures_map_to_labels() -> None:
    import errno

    assert connect_failure(ConnectionRefusedError()) == "refused"
    assert connect_failure(TimeoutError()) == "connect_timeout"
    assert connect_failure(OSError(errno.EADDRNOTAVAIL, "x")) == "no_source_port"
    assert connect_failure(OSError(errno.EMFILE, "x")) == "fd_limit"


def test_stats_merge_and_render_as_prometheus_metrics() -> None:
    a, b = ListenerStats(join_attempts=3), ListenerStats(join_attempts=2, stall_seconds=1.5)
    a.record_ttfa(0.3)
    b.record_ttfa(12.0)
    a.record_latency(0.15)
    b.record_latency(2.5)
    a.failures["http_404"] += 1
    b.failures["http_404"] += 2
    merged = a.merged(b)
    assert merged.join_attempts == 5 and merged.joins_ok == 2
    assert merged.failures["http_404"] == 3
    assert merged.ttfa_quantile(0.5) == 0.5 and merged.ttfa_quantile(1.0) == 15.0
    assert merged.latency_quantile(0.5) == 0.2 and merged.latency_quantile(1.0) == 3.0
    registry = CollectorRegistry()
    registry.register(ListenerCollector(lambda: merged))
    text = generate_latest(registry).decode()
    assert "gameday_listener_join_attempts_total 5.0" in text
    assert 'gameday_listener_join_failures_total{reason="http_404"} 3.0' in text
    assert 'gameday_listener_time_to_first_audio_seconds_bucket{le="0.5"} 1.0' in text
    assert 'gameday_listener_time_to_first_audio_seconds_bucket{le="+Inf"} 2.0' in text
    assert "gameday_listener_stall_seconds_total 1.5" in text
    assert 'gameday_listener_latency_seconds_bucket{le="0.2"} 1.0' in text
    assert "gameday_listener_latency_seconds_sum 2.65" in text
    assert "gameday_listeners_connected 0.0" in text
