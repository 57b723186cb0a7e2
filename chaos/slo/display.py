"""An SLO's measured values in the unit its threshold was written in: ``0.606 s``, ``99.6 %``.

The evaluator works in Prometheus base units (seconds, 0–1 ratios, bytes); people wrote
``below: 3s``, ``above: 99%``, ``below: 500ms``, ``below: 64kbps``. A value is shown in the
threshold's own unit, with as many digits as it takes not to look equal to a threshold it
misses (``99.49 %`` against ``above: 99.5%``, not ``99.5 %``).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from chaos.experiment.experiment import Experiment
from chaos.experiment.slos import OnAirSLO, RecoverySLO
from chaos.experiment.units import Duration, Quantity, Ratio
from chaos.slo.adapt import base_units

_LEADING_NUMBER = re.compile(r"(\d+(?:\.\d+)?)\s*([^\d\s].*)")


@dataclass(frozen=True, slots=True)
class ValueFormat:
    """How to write a base-unit value: divide by ``factor``, append ``unit``."""

    unit: str = ""
    factor: float = 1.0
    threshold: float | None = None
    """The threshold in base units, which a shown value must not seem to equal by rounding."""
    written: str | None = None
    """The threshold as the file wrote it (``3s``, ``99%``)."""

    def __call__(self, value: float | None) -> str:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return "no data"
        if math.isinf(value):
            return f"{'-' if value < 0 else ''}∞{self._suffix}"
        scaled = value / self.factor
        text = f"{scaled:.3g}"
        if self.threshold is not None and not math.isclose(value, self.threshold):
            for digits in range(4, 8):
                if text != f"{self.threshold / self.factor:.{digits - 1}g}":
                    break
                text = f"{scaled:.{digits}g}"
        if "e" in text:
            text = f"{scaled:.6g}" if abs(scaled) >= 1e-4 else f"{scaled:.2e}"
        return text + self._suffix

    def change(self, delta: float) -> str:
        """A difference of two values: ``+1.2 s``; percentage points for shares (``+4.1 pp``)."""
        if math.isnan(delta):
            return "—"
        unit = "pp" if self.unit == "%" else self.unit
        text = f"{delta / self.factor:+.3g}"
        if "e" in text:
            text = f"{delta / self.factor:+.2e}"
        return text + (f" {unit}" if unit else "")

    def threshold_text(self, comparison: str | None, value: float | None = None) -> str:
        """``below 3s``: the comparison with its threshold as written (or as recorded)."""
        side = "equal to" if comparison == "equals" else str(comparison or "")
        shown = self.written
        if shown is None:
            shown = f"{value:g}" if isinstance(value, int | float) else "?"
        return f"{side} {shown}".strip()

    @property
    def _suffix(self) -> str:
        return f" {self.unit}" if self.unit else ""


def _written(threshold: Quantity) -> str:
    if isinstance(threshold, float):
        return f"{threshold:g}"
    return str(threshold)


def format_like(threshold: Quantity) -> ValueFormat:
    """Values written in the unit of ``threshold`` (``3s`` → seconds, ``500ms`` → ms)."""
    base, written = base_units(threshold), _written(threshold)
    if isinstance(threshold, float):
        return ValueFormat(threshold=base, written=written)
    found = _LEADING_NUMBER.fullmatch(written)
    if found is not None and float(found.group(1)) > 0:
        return ValueFormat(found.group(2), base / float(found.group(1)), base, written)
    if isinstance(threshold, Duration):
        return ValueFormat("s", 1.0, base, written)
    if isinstance(threshold, Ratio):
        return ValueFormat("%", 0.01, base, written)
    return ValueFormat(threshold=base, written=written)


def formats(experiment: Experiment) -> dict[str, ValueFormat]:
    """Each SLO's and guard's value format, by name (guards by their label)."""
    out: dict[str, ValueFormat] = {}
    for slo in experiment.slos:
        if isinstance(slo, RecoverySLO):
            out[slo.name] = format_like(slo.recovers_within)
        elif isinstance(slo, OnAirSLO):
            out[slo.name] = format_like(slo.on_air_within)
        else:
            out[slo.name] = format_like(slo.comparison[1])
    for guard in experiment.abort:
        out[guard.label] = format_like(guard.limit[1])
    return out
