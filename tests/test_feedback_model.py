"""The `feedback` fault's fields: speaker numbers, plain loop gains, resonance, mode."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from chaos.experiment.faults import FeedbackFault
from chaos.experiment.units import Ratio


def fault(**feedback: object) -> FeedbackFault:
    return FeedbackFault.model_validate(
        {"name": "howl", "at": "1s", "for": "5s", "feedback": feedback}
    )


def test_speaker_number_and_plain_gain_as_in_the_issue() -> None:
    f = fault(speaker=1, gain=1.2).feedback
    assert (f.speaker, f.gain, f.via, f.resonance_hz) == (
        "speaker-1",
        Ratio(Fraction(6, 5)),
        "device",
        1000.0,
    )


@given(st.decimals(min_value=0, max_value=10, places=3))
def test_a_plain_gain_equals_its_percentage(gain: object) -> None:
    assert (
        fault(speaker=1, gain=float(gain)).feedback.gain
        == fault(  # type: ignore[arg-type]
            speaker=1,
            gain=f"{gain * 100}%",  # type: ignore[operator]
        ).feedback.gain
    )


@pytest.mark.parametrize(
    ("fields", "fragment"),
    [
        ({"gain": 11}, "between 0 and 10"),
        ({"gain": -0.5}, "between 0 and 10"),
        ({"gain": "1200%"}, "at most 1000%"),
        ({"gain": True}, "percentage"),
        ({"gain": 1, "resonance_hz": 20}, "greater than or equal to 100"),
        ({"gain": 1, "via": "phone"}, "'device' or 'harness'"),
    ],
)
def test_bad_feedback_fields_are_refused(fields: dict[str, object], fragment: str) -> None:
    with pytest.raises(ValidationError, match=fragment):
        fault(speaker=1, **fields)


def test_the_feedback_loop_experiment_validates() -> None:
    from pathlib import Path

    from chaos.experiment.loader import load_experiment
    from chaos.experiment.slos import GaugeSLO

    path = Path(__file__).resolve().parent.parent / "experiments" / "feedback-loop.yaml"
    experiment = load_experiment(path).experiment
    (loop,) = experiment.faults
    assert isinstance(loop, FeedbackFault) and loop.feedback.gain.fraction >= 1
    metrics = {slo.metric for slo in experiment.slos if isinstance(slo, GaugeSLO)}
    assert {
        "gameday_listener_howl_worst_seconds",
        "gameday_listener_howl_longest_seconds",
        "gameday_feedback_time_to_suppression_seconds",
    } <= metrics
