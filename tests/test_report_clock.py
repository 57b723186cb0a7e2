"""One clock and the words around it: T0 time, UTC, values in their SLO's unit, faults as
the experiment file wrote them."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chaos.experiment import describe
from chaos.experiment.faults import LatencyFault
from chaos.experiment.units import parse_quantity
from chaos.report.clock import RunClock, duration, since_t0, utc
from chaos.runner.timeline import fault_params
from chaos.slo.adapt import base_units
from chaos.slo.display import format_like

_T = re.compile(r"T([+-])(?:(\d+):)?(\d{2}):(\d{2}(?:\.\d)?)")


def _read(text: str) -> float:
    found = _T.fullmatch(text)
    assert found, text
    sign, hours, minutes, seconds = found.groups()
    value = int(hours or 0) * 3600 + int(minutes) * 60 + float(seconds)
    return -value if sign == "-" else value


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(-20, "T-00:20"), (0, "T+00:00"), (-0.4, "T+00:00"), (65, "T+01:05"), (3723, "T+1:02:03"),
     (-600, "T-10:00")],
)  # fmt: skip
def test_t0_time_as_a_launch_call_counts(seconds: float, text: str) -> None:
    assert since_t0(seconds) == text


@given(st.floats(-1e6, 1e6, allow_nan=False), st.sampled_from([0, 1]))
def test_t0_time_reads_back_to_the_shown_precision(seconds: float, decimals: int) -> None:
    shown = since_t0(seconds, decimals=decimals)
    assert _read(shown) == pytest.approx(seconds, abs=0.5 * 10**-decimals + 1e-6)
    assert not re.fullmatch(r"T-00:00(\.0)?", shown), "a moment that rounds to T0 is T0"


def test_wall_clock_is_iso_8601_utc() -> None:
    assert utc(1_795_000_000.25) == "2026-11-18T11:06:40Z"
    assert utc(1_795_000_000.25, millis=True) == "2026-11-18T11:06:40.250Z"
    clock = RunClock(1_795_000_000.0, 500.0)
    assert clock.from_mono(510.0) == 10.0 and clock.wall(-20.0) == 1_794_999_980.0
    assert clock.stamp(-20.0) == "T-00:20 (2026-11-18T11:06:20Z)"


def test_durations_as_people_say_them() -> None:
    assert [duration(s) for s in (3.2, 12, 65, 3720)] == ["3.2s", "12s", "1m05s", "1h02m"]


def test_a_fault_as_the_file_wrote_it() -> None:
    fault = LatencyFault.model_validate(
        {"name": "slow-edge", "at": "10s", "for": "30s", "link": "listener->edge",
         "latency": "150ms", "jitter": "40ms", "direction": "downstream"}
    )  # fmt: skip
    params = fault_params(fault)
    assert describe.effect("latency", params) == "latency 150ms ± 40ms, downstream"
    assert describe.fault("latency", params) == (
        "latency 150ms ± 40ms, downstream on listener->edge for 30s"
    )
    assert describe.fault("latency", params, length=False).endswith("on listener->edge")
    assert describe.effect("kill", {"kill": "edge-1", "for": "15s"}) == "kill edge-1"
    assert describe.effect("flood", {"flood": "90%", "connections": 20, "toxicity": "50%"}) == (
        "flood 90% over 20 connections, on 50% of connections"
    )
    assert describe.target({"partition": "origin"}) == "origin"


@pytest.mark.parametrize(
    ("threshold", "value", "shown"),
    [("3s", 0.605769, "0.606 s"), ("500ms", 0.61, "610 ms"), ("99%", 0.996, "99.6 %"),
     ("99.5%", 0.99491, "99.49 %"), ("64kbps", 50_000, "50 kbps"), ("1", 1.0, "1")],
)  # fmt: skip
def test_values_carry_the_unit_their_threshold_was_written_in(
    threshold: str, value: float, shown: str
) -> None:
    assert format_like(parse_quantity(threshold))(value) == shown


@given(
    st.sampled_from(["3s", "250ms", "99.5%", "5%", "1.5MB", "64kbps", "0.95"]),
    st.floats(0, 1e7, allow_nan=False),
)
def test_a_value_other_than_its_threshold_never_reads_as_it(text: str, value: float) -> None:
    quantity = parse_quantity(text)
    fmt, limit = format_like(quantity), base_units(quantity)
    if abs(value - limit) <= 1e-6 * max(abs(limit), 1e-9):
        return  # closer than any report needs to tell apart
    assert fmt(value) != fmt(limit)
