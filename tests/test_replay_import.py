"""`gameday import`: incident series (CSV, Prometheus range JSON) → a valid experiment whose
arrival curve is the input and whose faults cover the stretches the input marks."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from runner_support import gameday

from chaos.errors import InvalidInput
from chaos.experiment.faults import FloodFault, ResetPeerFault
from chaos.experiment.loader import load_experiment
from chaos.replay.importer import (
    ERROR_THRESHOLD,
    SATURATION_THRESHOLD,
    import_recording,
    windows,
)
from chaos.replay.series import Role, parse_csv, parse_prometheus
from chaos.workload.arrivals import load_curve

DATA = Path(__file__).parent / "data" / "replay"

steps = st.integers(min_value=1, max_value=120)
samples = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=2_000_000),  # listeners
        st.sampled_from([0.0, 0.005, 0.02, 0.3]),  # error rate
        st.sampled_from([0.1, 0.5, 0.95, 1.0]),  # link utilisation
    ),
    min_size=2,
    max_size=30,
)


def _csv(step: int, rows: list[tuple[int, float, float]]) -> str:
    lines = ["time,listeners,error_rate,link_utilisation"]
    lines += [f"{1_700_000_000 + i * step},{n},{e},{u}" for i, (n, e, u) in enumerate(rows)]
    return "\n".join(lines) + "\n"


def _prometheus(step: int, rows: list[tuple[int, float, float]]) -> str:
    def series(name: str, column: int) -> dict[str, object]:
        return {
            "metric": {"__name__": name},
            "values": [[1_700_000_000 + i * step, str(r[column])] for i, r in enumerate(rows)],
        }

    result = [series("listeners", 0), series("error_ratio", 1), series("link_utilisation", 2)]
    return json.dumps({"status": "success", "data": {"resultType": "matrix", "result": result}})


def _check(source: Path, step: int, rows: list[tuple[int, float, float]], scale: int) -> None:
    out = import_recording(source, source.with_name("incident.yaml"), scale)
    loaded = load_experiment(out)  # valid, with every reference resolved
    (phase,) = loaded.experiment.workload.listeners
    curve = load_curve(out.parent / phase.csv)  # type: ignore[union-attr]
    assert curve.points == tuple((float(i * step), float(n)) for i, (n, _, _) in enumerate(rows))
    faults = loaded.experiment.faults
    for fault_type, column, threshold in (
        (ResetPeerFault, 1, ERROR_THRESHOLD),
        (FloodFault, 2, SATURATION_THRESHOLD),
    ):
        spans = [(f.at.seconds, f.end.seconds) for f in faults if isinstance(f, fault_type)]
        for i, row in enumerate(rows):  # every marked sample is covered for its step
            t = i * step
            covered = any(a <= t < b for a, b in spans)
            assert covered == (row[column] >= threshold), (t, row, spans)
        for a, b in spans:  # and a fault never outlasts its last marked sample by > one step
            last = max(i * step for i, r in enumerate(rows) if a <= i * step < b)
            assert 0 < b - last <= step


@settings(max_examples=25, deadline=None)
@given(step=steps, rows=samples, scale=st.integers(min_value=1, max_value=10_000))
def test_csv_import_replays_the_curve_and_marks_the_faults(
    step: int, rows: list[tuple[int, float, float]], scale: int
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "incident.csv"
        source.write_text(_csv(step, rows))
        _check(source, step, rows, scale)


@settings(max_examples=25, deadline=None)
@given(step=steps, rows=samples, scale=st.integers(min_value=1, max_value=10_000))
def test_prometheus_import_replays_the_curve_and_marks_the_faults(
    step: int, rows: list[tuple[int, float, float]], scale: int
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "range.json"
        source.write_text(_prometheus(step, rows))
        _check(source, step, rows, scale)


@given(
    values=st.lists(st.floats(min_value=0, max_value=1), min_size=1, max_size=40),
    step=st.floats(min_value=0.5, max_value=60),
    threshold=st.floats(min_value=0.01, max_value=1),
)
def test_windows_cover_exactly_the_samples_at_or_above_the_threshold(
    values: list[float], step: float, threshold: float
) -> None:
    points = tuple((i * step, v) for i, v in enumerate(values))
    found = windows(points, threshold, step)
    for t, v in points:
        assert any(w.start <= t < w.end for w in found) == (v >= threshold)
    for w in found:
        inside = [v for t, v in points if w.start <= t < w.end]
        assert w.peak == max(inside)


def test_prometheus_sample_sums_listener_series_and_keeps_the_worst_share() -> None:
    recording = parse_prometheus((DATA / "launch-range.json").read_text(), "launch-range.json")
    assert recording.listeners[2] == (30.0, 500_000.0)
    assert recording.series[Role.LINK_UTILISATION][1] == (15.0, 0.97)
    assert recording.step == 15.0


def test_csv_sample_with_iso_times_and_percentages() -> None:
    recording = parse_csv((DATA / "launch.csv").read_text(), "launch.csv")
    assert [t for t, _ in recording.listeners] == [0.0, 30.0, 60.0, 90.0, 120.0]
    assert recording.series[Role.ERROR_RATE][2] == (60.0, 0.3)


def test_import_cli_writes_an_experiment_that_validates(tmp_path: Path) -> None:
    for sample in ("launch.csv", "launch-range.json"):
        out = tmp_path / f"{sample}.yaml"
        done = gameday("import", DATA / sample, "-o", out, "--scale", "5000")
        assert done.returncode == 0, done.stderr
        checked = gameday("validate", out)
        assert checked.returncode == 0, checked.stdout + checked.stderr
        text = out.read_text()
        assert "errors-1" in text and "saturated-1" in text, text


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("time,price\n0,1\n", "names no listener column"),
        ("time,listeners\n0,many\n", "is not a number"),
        ("time,listeners,error_rate\n0,5,150%\n", "is a share"),
        ('{"status": "error"}', "not a Prometheus range-query response"),
    ],
)
def test_bad_recordings_are_located_errors(tmp_path: Path, text: str, message: str) -> None:
    source = tmp_path / ("bad.json" if text.startswith("{") else "bad.csv")
    source.write_text(text)
    with pytest.raises(InvalidInput, match=message):
        import_recording(source, tmp_path / "out.yaml", 100)
    done = gameday("import", source, "-o", tmp_path / "out.yaml")
    assert done.returncode == 2 and message in done.stderr and "Traceback" not in done.stderr
