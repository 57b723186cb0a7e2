"""The experiment file's workload section becomes the schedule and reconnect policy it says."""

from __future__ import annotations

from pathlib import Path

from chaos.experiment.workload import Workload
from chaos.workload import experiment
from chaos.workload.arrivals import build_schedule
from chaos.workload.reconnect import ReconnectPolicy, RetryKind


def test_phases_sessions_and_churn_map_onto_the_core(tmp_path: Path) -> None:
    (tmp_path / "launch.csv").write_text("seconds,listeners\n0,0\n10,1000\n")
    model = Workload.model_validate(
        {
            "listeners": [
                {"arrival": "storm", "count": "2k", "at": "1s", "spread": "2s"},
                {"arrival": "ramp", "count": 10, "from": "10s", "to": "20s"},
                {"arrival": "paced", "count": 4, "at": "30s", "rate": "2/s", "max_in_flight": 2},
                {"arrival": "curve", "csv": "launch.csv", "at": "40s", "scale": "1:100"},
            ],
            "session": "60s",
            "churn": {"share": "10%", "every": "30s"},
        }
    )
    schedule = experiment.schedule(model, seed=9, until=120.0, base_dir=tmp_path)
    assert schedule == experiment.schedule(model, seed=9, until=120.0, base_dir=tmp_path)
    assert schedule.gates == (2,)
    paced = [j.at for j in schedule.joins if j.gate == 0]
    assert paced[:4] == [30.0, 30.5, 31.0, 31.5]
    curve_joins = [j.at for j in schedule.joins if j.at >= 40 and j.gate is None and j.at <= 50]
    assert len(curve_joins) >= 10  # 1000 people at 1:100 → 10 probes over 40 s … 50 s
    assert all(j.leave is None or j.leave <= j.at + 60.0 for j in schedule.joins)
    storm = [j for j in schedule.joins if 1.0 <= j.at <= 3.0]
    assert len(storm) >= 2000


def test_reconnect_policies_map_onto_the_core() -> None:
    def policy(raw: dict[str, object]) -> ReconnectPolicy:
        return experiment.reconnect(Workload.model_validate({"reconnect": raw}).reconnect)

    assert policy({"policy": "immediate"}) == ReconnectPolicy(RetryKind.IMMEDIATE)
    assert policy({"policy": "fixed", "delay": "2s", "max_attempts": 3}) == ReconnectPolicy(
        RetryKind.FIXED, delay=2.0, max_attempts=3
    )
    assert policy({"policy": "backoff", "initial": "500ms", "max": "10s", "jitter": "50%"}) == (
        ReconnectPolicy(RetryKind.BACKOFF, delay=0.5, cap=10.0, jitter=0.5)
    )
    default = experiment.reconnect(Workload().reconnect)
    assert default.kind is RetryKind.BACKOFF and default.jitter == 1.0


def test_an_empty_workload_is_an_empty_schedule(tmp_path: Path) -> None:
    assert experiment.schedule(Workload(), 1, 10.0, tmp_path) == build_schedule([], 1)
