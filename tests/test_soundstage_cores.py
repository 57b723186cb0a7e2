"""soundstage's sans-IO cores: jitter buffer, mixer, voice, echo path, admission control."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from soundstage import codec
from soundstage.admission import (
    SLOW_POLLS_DOWN,
    EdgeLoad,
    PollOutcome,
    TokenBucket,
    pick_edge,
    retry_after_header,
)
from soundstage.echo import EchoPath
from soundstage.frames import Flags, Frame, PayloadType
from soundstage.jitter import JitterBuffer
from soundstage.listener import StreamWatch
from soundstage.mixer import FULL_SCALE, RoomMixer, mix
from soundstage.voice import Voice


def frame(seq: int, source: int = 1, value: int = 1000, room: int = 1) -> Frame:
    samples = np.full(codec.SAMPLES_PER_FRAME, value, dtype=np.int16)
    payload = codec.encode(PayloadType.L16_16K, samples)
    return Frame(room, source, seq % 2**32, seq * 20_000, PayloadType.L16_16K, payload)


def test_jitter_buffer_waits_for_prebuffer_then_plays_in_order() -> None:
    jb = JitterBuffer(prebuffer=3)
    for seq in (1, 0):
        jb.push(frame(seq))
        assert jb.pop() is None
    jb.push(frame(2))
    assert [f.sequence for f in (jb.pop(), jb.pop(), jb.pop())] == [0, 1, 2]  # type: ignore[union-attr]


def test_jitter_buffer_conceals_a_loss_and_discards_it_if_late() -> None:
    jb = JitterBuffer(prebuffer=1)
    jb.push(frame(0))
    assert jb.pop().sequence == 0  # type: ignore[union-attr]
    jb.push(frame(2))
    assert jb.pop() is None  # seq 1 missing at its tick
    jb.push(frame(1))  # arrives after its tick: late
    assert jb.pop().sequence == 2  # type: ignore[union-attr]
    assert (jb.stats.concealed, jb.stats.late, jb.stats.played) == (1, 1, 2)


def test_jitter_buffer_bounds_latency_when_a_burst_arrives() -> None:
    jb = JitterBuffer(prebuffer=2, capacity=5)
    for seq in range(2):
        jb.push(frame(seq))
    assert jb.pop() is not None
    for seq in range(2, 40):  # a backlog after a network stall
        jb.push(frame(seq))
    assert jb.buffered <= 5
    assert jb.pop().sequence == 35  # type: ignore[union-attr]
    assert jb.stats.dropped == 40 - 1 - 5


def test_jitter_buffer_restarts_on_a_sequence_jump_and_after_silence() -> None:
    jb = JitterBuffer(prebuffer=1, idle_ticks=3, max_jump=100)
    jb.push(frame(0))
    jb.pop()
    jb.push(frame(5000))  # the speaker restarted with a new sequence
    assert jb.pop().sequence == 5000  # type: ignore[union-attr]
    assert jb.stats.resets == 1
    for _ in range(3):
        assert jb.pop() is None
    assert not jb.playing  # idle: the next talk spurt prebuffers afresh


def test_jitter_buffer_counts_duplicates() -> None:
    jb = JitterBuffer(prebuffer=2)
    jb.push(frame(0))
    jb.push(frame(0))
    assert jb.stats.duplicate == 1


@settings(max_examples=200)
@given(
    st.lists(
        st.one_of(st.tuples(st.just("push"), st.integers(0, 80)), st.tuples(st.just("pop"))),
        max_size=150,
    ),
    st.integers(1, 5),
    st.integers(5, 20),
)
def test_jitter_buffer_accounts_for_every_frame(
    ops: list[tuple[str, ...]], prebuffer: int, capacity: int
) -> None:
    jb = JitterBuffer(prebuffer=prebuffer, capacity=capacity, idle_ticks=4, max_jump=40)
    played: list[int] = []
    for op in ops:
        if op[0] == "push":
            jb.push(frame(int(op[1])))
        else:
            out = jb.pop()
            if out is not None:
                played.append(out.sequence)
        assert jb.buffered <= capacity
        s = jb.stats
        assert s.received == s.played + s.late + s.duplicate + s.dropped + jb.buffered
    assert len(played) == jb.stats.played


@given(st.lists(st.lists(st.integers(-32768, 32767), min_size=4, max_size=4), max_size=6))
def test_mix_is_a_saturating_sum(tracks: list[list[int]]) -> None:
    arrays = [np.array(t, dtype=np.int16) for t in tracks]
    out, clipped = mix(arrays, length=4)
    exact = np.sum([a.astype(np.int64) for a in arrays], axis=0) if arrays else np.zeros(4)
    assert np.array_equal(out, np.clip(exact, -32768, 32767))
    assert clipped == bool(np.any(np.abs(exact) >= FULL_SCALE))


def test_room_mixer_sums_speakers_and_flags_the_mix() -> None:
    mixer = RoomMixer(9, PayloadType.L16_16K, prebuffer=1, speaker_timeout_ticks=3)
    first = mixer.tick(0).frame
    assert first.flags == Flags.DISCONTINUITY | Flags.SILENCE and first.sequence == 0
    mixer.push(frame(0, source=1, value=1000, room=9))
    mixer.push(frame(0, source=2, value=2000, room=9))
    result = mixer.tick(20_000)
    assert result.speakers == 2 and result.frame.flags == Flags.NONE
    assert set(codec.decode(PayloadType.L16_16K, result.frame.payload)) == {3000}
    mixer.push(frame(1, source=1, value=30000, room=9))
    mixer.push(frame(1, source=2, value=30000, room=9))
    assert mixer.tick(40_000).frame.flags == Flags.CLIPPED
    for t in range(4):
        mixer.tick(60_000 + t)
    assert mixer.buffers == {}  # both speakers went quiet and were forgotten
    assert mixer.totals().played == 4  # ... but their counters were kept


def _spectrum(x: np.ndarray) -> np.ndarray:
    return np.abs(np.fft.rfft(x.astype(float) * np.hanning(x.size))) ** 2


def test_voice_is_speech_like_not_a_tone() -> None:
    voice = Voice(seed=3, level_dbfs=-20)
    frames = [voice.next_frame() for _ in range(250)]
    levels = np.array([codec.level_dbfs(f) for f in frames])
    voiced = levels > -40
    assert 0.3 < voiced.mean() < 0.9  # syllables and pauses
    assert -26 < np.median(levels[voiced]) < -14
    audio = np.concatenate(frames)
    # Harmonic: the loudest 1024-sample window has several strong spectral peaks, not one.
    start = int(np.argmax(levels)) * codec.SAMPLES_PER_FRAME
    power = _spectrum(audio[start : start + 1024])
    strong = np.sum(power > power.max() / 100)
    assert strong > 10
    # The pitch wanders: the strongest bin is not the same across voiced windows.
    peaks = {
        int(np.argmax(_spectrum(audio[i * 320 : i * 320 + 1024])[2:]))
        for i in np.flatnonzero(voiced)[:-4]
    }
    assert len(peaks) > 5


def test_voice_is_deterministic_per_seed() -> None:
    a, b, c = Voice(5), Voice(5), Voice(6)
    fa = np.concatenate([a.next_frame() for _ in range(30)])
    assert np.array_equal(fa, np.concatenate([b.next_frame() for _ in range(30)]))
    assert not np.array_equal(fa, np.concatenate([c.next_frame() for _ in range(30)]))


def test_echo_path_delays_and_scales_what_it_heard() -> None:
    echo = EchoPath(gain=2.0, delay_us=100_000)
    echo.hear(np.full(320, 100, dtype=np.int16), arrival_us=0)
    assert not echo.take(320, now_us=50_000).any()  # not due yet
    out = echo.take(320, now_us=100_000)
    assert set(out) == {200}
    assert not echo.take(320, now_us=200_000).any()  # heard once, echoed once


def test_echo_path_saturates_and_bounds_its_backlog() -> None:
    echo = EchoPath(gain=10.0, delay_us=0, max_backlog_samples=640)
    for t in range(5):
        echo.hear(np.full(320, 30000, dtype=np.int16), arrival_us=t)
    assert set(echo.take(320, now_us=10)) == {32767}
    assert echo.take(640, now_us=10).size == 640
    with pytest.raises(ValueError):
        EchoPath(gain=-1, delay_us=0)


def test_token_bucket_grants_burst_then_rate() -> None:
    bucket = TokenBucket(rate=10, burst=5)
    assert [bucket.take(0.0) for _ in range(5)] == [0.0] * 5
    wait = bucket.take(0.0)
    assert wait == pytest.approx(0.1)
    assert bucket.take(0.1) == 0.0
    assert retry_after_header(0.1) == "1" and retry_after_header(2.2) == "3"


@given(st.floats(1, 1000), st.integers(1, 50), st.lists(st.floats(0, 0.05), max_size=300))
def test_token_bucket_never_exceeds_rate_plus_burst(
    rate: float, burst: int, steps: list[float]
) -> None:
    bucket = TokenBucket(rate, burst)
    now = 0.0
    granted = 0
    for step in steps:
        now += step
        granted += bucket.take(now) == 0.0
    assert granted <= burst + rate * now + 1e-6


@given(st.lists(st.sampled_from(["answered", "slow", "refused"]), max_size=30))
def test_an_edge_is_down_after_a_refusal_or_three_late_polls_since_its_last_answer(
    outcomes: list[PollOutcome],
) -> None:
    edge = EdgeLoad("a", capacity=10)
    for outcome in outcomes:
        edge.polled(outcome)
    since_answer = (
        outcomes[len(outcomes) - outcomes[::-1].index("answered") :]
        if "answered" in outcomes
        else outcomes
    )
    expected = "refused" not in since_answer and len(since_answer) < SLOW_POLLS_DOWN
    assert edge.healthy == expected


def test_pick_edge_prefers_the_emptiest_and_refuses_when_full() -> None:
    edges = [EdgeLoad("a", capacity=10, reported=5), EdgeLoad("b", capacity=10, reported=2)]
    assert pick_edge(edges, now=0.0) == 1
    edges[1].healthy = False
    assert pick_edge(edges, now=0.0) == 0
    for _ in range(4):
        assert pick_edge(edges, now=0.0) == 0  # recent joins count until the next report
    assert pick_edge(edges, now=0.0) is None
    assert pick_edge(edges, now=10.0) == 0  # they aged out of the window


@given(st.lists(st.tuples(st.integers(1, 20), st.integers(0, 20)), min_size=1, max_size=6))
def test_pick_edge_never_overfills(edges_spec: list[tuple[int, int]]) -> None:
    edges = [
        EdgeLoad(str(i), capacity=c, reported=min(r, c)) for i, (c, r) in enumerate(edges_spec)
    ]
    room = sum(e.capacity - e.reported for e in edges)
    picks = [pick_edge(edges, now=0.0) for _ in range(room + 3)]
    assert picks[room:] == [None] * 3
    assert all(p is not None for p in picks[:room])


@given(st.sets(st.integers(0, 200), min_size=1), st.integers(0, 2**32 - 1))
def test_stream_watch_counts_exactly_the_missing_sequence_numbers(
    kept: set[int], start: int
) -> None:
    watch = StreamWatch()
    ordered = sorted(kept)
    for i, n in enumerate(ordered):
        watch.observe(frame(start + n), at=i * 0.02)
    assert watch.frames == len(ordered)
    assert watch.lost == ordered[-1] - ordered[0] + 1 - len(ordered)
    assert watch.stalls == 0


def test_stream_watch_stalls_and_discontinuities() -> None:
    watch = StreamWatch()
    watch.observe(frame(0), at=0.0)
    watch.observe(frame(1), at=0.5)  # half a second of silence: a stall
    restarted = Frame(1, 0, 900, 0, PayloadType.L16_16K, b"", Flags.DISCONTINUITY)
    watch.observe(restarted, at=0.52)  # a new timeline: not 898 lost frames
    assert (watch.stalls, watch.lost, watch.discontinuities) == (1, 0, 1)
    assert watch.max_gap_s == pytest.approx(0.5)


@given(
    st.lists(
        st.one_of(
            st.tuples(st.just("push"), st.integers(1, 3), st.integers(0, 60)),
            st.tuples(st.just("tick")),
        ),
        max_size=120,
    )
)
def test_room_mixer_emits_one_numbered_frame_per_tick(ops: list[tuple[object, ...]]) -> None:
    mixer = RoomMixer(1, PayloadType.PCMU_8K, prebuffer=2, speaker_timeout_ticks=5)
    sequences = []
    for op in ops:
        if op[0] == "push":
            mixer.push(frame(int(op[2]), source=int(op[1])))  # type: ignore[call-overload]
        else:
            result = mixer.tick(len(sequences) * 20_000)
            sequences.append(result.frame.sequence)
            assert len(result.frame.payload) == codec.payload_size(PayloadType.PCMU_8K)
            assert bool(result.frame.flags & Flags.DISCONTINUITY) == (len(sequences) == 1)
            assert bool(result.frame.flags & Flags.SILENCE) == (result.speakers == 0)
    assert sequences == list(range(len(sequences)))
    totals = mixer.totals()
    assert totals.received == sum(1 for op in ops if op[0] == "push")
