"""Time series store, scrape batches and their journal form, and the exposition parser."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chaos.errors import InvalidInput
from chaos.metrics.batch import RECORD_KIND, SampleBatch
from chaos.metrics.series import STALE_NAN, SeriesKey, is_stale_marker
from chaos.metrics.store import LOOKBACK, SeriesStore
from chaos.report.journal import JournalWriter, read_journal

A = SeriesKey.of("x", {"job": "a"})
B = SeriesKey.of("x", {"job": "b"})


def filled() -> SeriesStore:
    store = SeriesStore()
    for t in range(10):
        store.append(A, float(t), float(t * 10))
        store.append(B, float(t), 1.0)
    return store


def test_stale_marker_is_only_prometheus_stale_nan() -> None:
    assert is_stale_marker(STALE_NAN)
    assert not is_stale_marker(math.nan)
    assert not is_stale_marker(1.0)


def test_range_includes_both_ends_and_filters_by_label() -> None:
    found = filled().range("x", {"job": "a"}, 2.0, 5.0)
    assert [s.key for s in found] == [A]
    assert found[0].timestamps == (2.0, 3.0, 4.0, 5.0)
    assert found[0].values == (20.0, 30.0, 40.0, 50.0)


@settings(deadline=None)  # a loaded CI machine must not turn slowness into failures
@given(st.floats(-20, 30), st.floats(0, 20))
def test_windows_outside_the_data_find_nothing(start: float, width: float) -> None:
    store = filled()
    found = store.range("x", {}, start, start + width)
    if start + width < 0 or start > 9:
        assert found == []
    else:
        assert all(start <= t <= start + width for s in found for t in s.timestamps)


def test_out_of_order_and_duplicate_samples_are_rejected() -> None:
    store = filled()
    store.append(A, 5.0, 99.0)
    store.append(A, 9.0, 99.0)
    assert store.rejected == 2
    assert store.range("x", {"job": "a"}, 5.0, 5.0)[0].values == (50.0,)


def test_stale_markers_end_instant_lookups_but_not_ranges() -> None:
    store = filled()
    store.mark_stale(A, 10.0)
    store.mark_stale(A, 10.5)  # already stale: no second marker
    assert store.latest("x", {}, 11.0) == {B: 1.0}
    assert store.latest("x", {}, 9.5) == {A: 90.0, B: 1.0}
    assert len(store.range("x", {"job": "a"}, 0.0, 20.0)[0]) == 10
    store.append(A, 12.0, 7.0)  # the series comes back
    assert store.latest("x", {"job": "a"}, 12.0) == {A: 7.0}


def test_series_silent_for_longer_than_the_lookback_is_gone() -> None:
    store = filled()
    assert store.latest("x", {}, 9.0 + LOOKBACK) == {A: 90.0, B: 1.0}
    assert store.latest("x", {}, 9.0 + LOOKBACK + 0.001) == {}


def test_a_stale_only_range_yields_no_series() -> None:
    store = filled()
    store.mark_stale(A, 10.0)
    assert store.range("x", {"job": "a"}, 9.5, 11.0) == []


names = st.text("abcxyz_", min_size=1, max_size=6)
values = st.floats(allow_nan=True, allow_infinity=True)
batches = st.lists(
    st.tuples(
        st.lists(
            st.tuples(names, st.dictionaries(names, st.text(max_size=4), max_size=2), values),
            max_size=5,
        ),
        st.lists(st.tuples(names, st.dictionaries(names, st.text(max_size=4), max_size=2))),
    ),
    max_size=6,
)


@settings(deadline=None)  # a loaded CI machine must not turn slowness into failures
@given(batches)
def test_journal_round_trip_rebuilds_the_same_store(raw: list) -> None:  # type: ignore[type-arg]
    direct = SeriesStore()
    records = []
    for t, (samples, stale) in enumerate(raw):
        batch = SampleBatch(
            "t",
            float(t),
            [(SeriesKey.of(n, lb), v) for n, lb, v in samples],
            [SeriesKey.of(n, lb) for n, lb in stale],
        )
        direct.add_batch(batch)
        records.append(json.loads(json.dumps({"kind": RECORD_KIND, **batch.to_record()})))
    rebuilt = SeriesStore.from_journal_samples(records)
    assert rebuilt.names() == direct.names()
    for name in direct.names():
        mine, theirs = direct.range(name, {}, -1, 1e9), rebuilt.range(name, {}, -1, 1e9)
        assert [s.key for s in mine] == [s.key for s in theirs]
        for a, b in zip(mine, theirs, strict=True):
            assert a.timestamps == b.timestamps
            assert [repr(v) for v in a.values] == [repr(v) for v in b.values]
        assert direct.latest(name, {}, 1e6) == rebuilt.latest(name, {}, 1e6)


def test_the_run_journal_carries_samples_for_re_evaluation(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    with JournalWriter(path) as journal:
        journal.phase("baseline")
        journal.write(RECORD_KIND, **SampleBatch("t", 1.0, [(A, 1.0), (B, math.inf)]).to_record())
        journal.write(RECORD_KIND, **SampleBatch("t", 2.0, [(A, 2.0)], [B]).to_record())
    store = SeriesStore.from_journal_samples(read_journal(path).events)
    assert store.range("x", {}, 0, 3)[0].values == (1.0, 2.0)
    assert store.range("x", {"job": "b"}, 0, 3)[0].values == (math.inf,)
    assert store.latest("x", {}, 2.0) == {A: 2.0}


@pytest.mark.parametrize(
    "record",
    [
        {"target": "t", "t": 1.0},
        {"target": "t", "t": 1.0, "samples": [["x", {}, "lots"]]},
        {"target": "t", "t": "soon", "samples": []},
        {"target": "t", "t": 1.0, "samples": [["x", {}]]},
    ],
)
def test_malformed_journal_records_are_invalid_input(record: dict) -> None:  # type: ignore[type-arg]
    with pytest.raises(InvalidInput, match="journal record 1"):
        SeriesStore.from_journal_samples([record])
