"""The playout model: stalls, concealment and reordering, driven with exact synthetic timings.

Frame durations are binary fractions (1/16 … 1/64 s) so every sum is exact in floating point
and the stalls can be compared with the gaps that caused them to the last bit.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chaos.audio.playout import FREEZE_THRESHOLD, Frame, PlayoutModel

frame_durations = st.sampled_from([1 / 16, 1 / 32, 1 / 64])


@st.composite
def gapped_streams(draw: st.DrawFn) -> tuple[float, float, list[tuple[float, int]], list[float]]:
    """A real-time stream whose delivery pauses G seconds then flushes the backlog (as TCP does).

    Returns (frame duration, target delay, [(arrival, seq)], expected stalls). A gap stalls by
    however much it exceeds the media buffered ahead of the playhead, and the flushed backlog
    leaves the buffer that much deeper, so the expected stalls follow from the gaps alone.
    """
    f = draw(frame_durations)
    target = f * draw(st.integers(1, 12))
    gaps = draw(st.lists(st.integers(1, 80), min_size=1, max_size=6))
    arrivals: list[tuple[float, int]] = []
    now, seq, depth = 0.0, 0, target
    expected: list[float] = []
    for gap_frames in gaps:
        for _ in range(draw(st.integers(int(target / f) + 1, 40))):
            arrivals.append((now, seq))
            seq += 1
            now += f
        gap = gap_frames * f
        now += gap - f  # the next frame arrives `gap` after the last one
        for _ in range(gap_frames):  # the backlog of the gap, flushed at once
            arrivals.append((now, seq))
            seq += 1
        now += f
        if gap > depth:
            expected.append(gap - depth)
            depth = gap
    return f, target, arrivals, expected


@given(gapped_streams())
def test_gaps_of_known_length_give_exactly_those_stalls(
    case: tuple[float, float, list[tuple[float, int]], list[float]],
) -> None:
    f, target, arrivals, expected = case
    model = PlayoutModel(target_delay=target)
    for at, seq in arrivals:
        model.receive(at, Frame(seq, f))
    assert model.stalls == expected
    assert model.freezes == [s for s in expected if s > FREEZE_THRESHOLD]
    assert model.concealed_seconds == 0
    assert model.first_audio_at == target - f  # the frame that filled the buffer


@st.composite
def jittered_streams(draw: st.DrawFn) -> tuple[float, float, list[tuple[float, int]]]:
    """Each frame delayed by at most target − one frame: reordered but never past its slot."""
    f = draw(frame_durations)
    slots = draw(st.integers(1, 12))
    target = f * slots
    n = draw(st.integers(1, 200))
    delays = draw(st.lists(st.integers(0, slots - 1), min_size=n, max_size=n))
    arrivals = sorted(((i + d) * f, i) for i, d in enumerate(delays))
    return f, target, arrivals


@given(jittered_streams())
def test_reorder_within_the_jitter_buffer_gives_no_stall_or_concealment(
    case: tuple[float, float, list[tuple[float, int]]],
) -> None:
    f, target, arrivals = case
    model = PlayoutModel(target_delay=target)
    for at, seq in arrivals:
        model.receive(at, Frame(seq, f))
    model.advance(arrivals[-1][0])
    assert model.stalls == []
    assert model.concealed_seconds == 0
    assert model.late_frames == 0
    inversions = sum(
        1 for i, (_, s) in enumerate(arrivals) if s < max(x for _, x in arrivals[: i + 1])
    )
    assert model.out_of_order_frames == inversions


@given(
    st.lists(
        st.tuples(st.floats(0, 0.5), st.integers(0, 60), st.sampled_from([0.01, 0.02, 0.06, 0.3])),
        min_size=1,
        max_size=120,
    ),
    st.floats(0, 1),
    st.floats(0, 5),
)
def test_stall_ratio_stays_within_zero_and_one_and_time_is_conserved(
    steps: list[tuple[float, int, float]], target: float, tail: float
) -> None:
    model = PlayoutModel(target_delay=target)
    now = 0.0
    for step, seq, duration in steps:
        now += step
        model.receive(now, Frame(seq, duration))
    end = now + tail
    model.finish(end)
    assert 0.0 <= model.stall_ratio(end) <= 1.0
    if model.first_audio_at is not None:
        audible = model.played_seconds + model.concealed_seconds
        assert audible + sum(model.stalls) <= end - model.first_audio_at + 1.0  # ≤ one slot over


def test_lost_frames_are_concealed_and_a_straggler_counts_as_late() -> None:
    f = 0.02
    model = PlayoutModel(target_delay=0.06)
    for seq in range(50):
        if seq not in (20, 21):
            model.receive(seq * f, Frame(seq, f))
    model.receive(60 * f, Frame(20, f))  # far too late: its slot was concealed long ago
    model.receive(60 * f, Frame(49, f))  # already buffered
    assert model.concealed_seconds == pytest.approx(2 * f)
    assert model.concealment_events == 1
    assert model.late_frames == 1
    assert model.duplicate_frames == 1
    assert model.stalls == []


def test_an_unfinished_stall_counts_until_the_session_ends() -> None:
    model = PlayoutModel(target_delay=0.1)
    model.receive(0.0, Frame(0, 0.1))
    assert model.first_audio_at == 0.0
    model.advance(0.5)
    assert model.stalled
    assert model.stall_seconds(0.5) == pytest.approx(0.4)
    model.finish(1.0)
    assert model.stalls == [pytest.approx(0.9)]
    assert model.freezes == model.stalls
    assert model.stall_ratio(1.0) == pytest.approx(0.9)


def test_played_frames_and_concealment_reach_the_sink_in_playout_order() -> None:
    heard: list[tuple[int | None, float]] = []
    model = PlayoutModel(
        target_delay=0.0, on_play=lambda fr, d, _at: heard.append((fr.seq if fr else None, d))
    )
    for at, seq in [(0.0, 0), (0.0, 2), (0.0, 1), (0.0, 4)]:
        model.receive(at, Frame(seq, 0.25))
    model.advance(2.0)
    assert heard == [(0, 0.25), (1, 0.25), (2, 0.25), (None, 0.25), (4, 0.25)]


def test_negative_target_delay_is_refused() -> None:
    with pytest.raises(ValueError, match="target_delay"):
        PlayoutModel(target_delay=-1)
