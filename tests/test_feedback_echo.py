"""soundstage's echo path with a resonance: the loop gain peaks at one frequency."""

from __future__ import annotations

import numpy as np
import pytest

from soundstage.echo import EchoPath


def gain_at(hz: float, echo: EchoPath) -> float:
    t = np.arange(16000) / 16000
    tone = (10000 * np.sin(2 * np.pi * hz * t)).astype(np.int16)
    echo.hear(tone, arrival_us=0)
    out = echo.take(16000, now_us=10**9).astype(np.float64)[8000:]  # past the filter's start-up
    return float(np.sqrt(np.mean(out**2)) / np.sqrt(np.mean(tone[8000:].astype(np.float64) ** 2)))


def test_resonant_echo_has_its_gain_at_the_resonance_only() -> None:
    assert gain_at(1000, EchoPath(1.2, 0, resonance_hz=1000, q=20)) == pytest.approx(1.2, rel=0.03)
    assert gain_at(700, EchoPath(1.2, 0, resonance_hz=1000, q=20)) < 0.2
    assert gain_at(2000, EchoPath(1.2, 0, resonance_hz=1000, q=20)) < 0.2
    assert gain_at(700, EchoPath(1.2, 0)) == pytest.approx(1.2, rel=0.01)  # flat without one


@pytest.mark.parametrize(
    "kwargs", [{"resonance_hz": 10.0}, {"resonance_hz": 7900.0}, {"resonance_hz": 900.0, "q": 0}]
)
def test_echo_resonance_out_of_range_is_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="resonance"):
        EchoPath(1.0, 0, **kwargs)  # type: ignore[arg-type]
