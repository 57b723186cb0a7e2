"""SLOs (Jepsen's checkers) and abort guards: objectives over metrics in windows of the run.

An SLO's kind is the key it sets: a quantile (`p95: time_to_first_audio`), a ratio of two
counters (`ratio: joins_ok/joins`), an aggregate of one series (`max: stall_ratio`,
`increase: howl_seconds_total`), or a recovery time (`recovers_within: 30s, after: slow-edge`).
Each compares with exactly one of `below`, `above`, `equals`, in a window bound to the run:
`during` or `after` a workload phase or a fault (or `baseline`, `method`, `recovery`, `run`),
optionally sliding (`window: 30s`: every 30 s window inside must pass).
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal, Self

from pydantic import Field, PlainSerializer, PlainValidator, model_validator

from chaos.experiment.base import Model, Name
from chaos.experiment.tagged import by_key, field_error, reject_bare_names, tag
from chaos.experiment.units import (
    Duration,
    PositiveDuration,
    Quantity,
    Ratio,
    parse_quantity,
)

_METRIC = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
Metric = Annotated[str, Field(pattern=rf"^{_METRIC}$", max_length=200)]
"""A Prometheus metric name."""
MetricRatio = Annotated[str, Field(pattern=rf"^{_METRIC}\s*/\s*{_METRIC}$", max_length=401)]
"""`numerator/denominator`, two Prometheus metric names (usually counters)."""

Threshold = Annotated[
    Quantity,
    PlainValidator(parse_quantity),
    PlainSerializer(lambda q: q if isinstance(q, float) else str(q), when_used="json"),
]
"""A value in the metric's unit: `5s`, `99.5%`, `64kbps`, `1.5MB` or a plain number."""

Comparison = Literal["below", "above", "equals"]
QUANTILES = {"p50": 0.5, "p75": 0.75, "p90": 0.9, "p95": 0.95, "p99": 0.99, "p999": 0.999}
AGGREGATES = ("max", "min", "mean", "increase")


def _only_one(model: Model, fields: tuple[str, ...], what: str) -> str:
    chosen = [f for f in fields if getattr(model, f) is not None]
    if not chosen:
        raise ValueError(f"give exactly one {what}: {', '.join(fields)}")
    if len(chosen) > 1:
        raise field_error(
            chosen[1],
            f"give exactly one {what}: {', '.join(fields)} (this sets {', '.join(chosen)})",
        )
    return chosen[0]


def _split(ratio: str) -> tuple[str, str]:
    numerator, _, denominator = ratio.partition("/")
    return numerator.strip(), denominator.strip()


class _Compared(Model):
    below: Threshold | None = None
    above: Threshold | None = None
    equals: Threshold | None = None

    @property
    def comparison(self) -> tuple[Comparison, Quantity]:
        """Which side of the threshold passes, and the threshold itself."""
        for side in ("below", "above", "equals"):
            value = getattr(self, side)
            if value is not None:
                return side, value
        raise AssertionError("validated models always have a comparison")

    def _check_comparison(self) -> None:
        _only_one(self, ("below", "above", "equals"), "comparison")


class _Objective(_Compared):
    kind: ClassVar[str]
    name: Name
    during: str | None = None
    after: str | None = None
    window: PositiveDuration | None = None

    @property
    def binding(self) -> tuple[Literal["during", "after"], str]:
        """The run window the SLO is judged in (the whole run by default)."""
        if self.after is not None:
            return "after", self.after
        return "during", self.during or "run"

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.during is not None and self.after is not None:
            raise field_error("after", "give `during` or `after`, not both")
        self._check_comparison()
        return self


class QuantileSLO(_Objective):
    kind: ClassVar[str] = "quantile"
    p50: Metric | None = None
    p75: Metric | None = None
    p90: Metric | None = None
    p95: Metric | None = None
    p99: Metric | None = None
    p999: Metric | None = None

    @model_validator(mode="after")
    def _one_quantile(self) -> Self:
        _only_one(self, tuple(QUANTILES), "quantile")
        return self

    @property
    def quantile(self) -> float:
        return QUANTILES[_only_one(self, tuple(QUANTILES), "quantile")]

    @property
    def metric(self) -> str:
        return str(getattr(self, _only_one(self, tuple(QUANTILES), "quantile")))


class RatioSLO(_Objective):
    kind: ClassVar[str] = "ratio"
    ratio: MetricRatio

    @model_validator(mode="after")
    def _percentage(self) -> Self:
        side, value = self.comparison
        if not isinstance(value, Ratio | float):
            raise field_error(side, f"a ratio compares with a percentage like 99.5%, not {value}")
        return self

    @property
    def numerator(self) -> str:
        return _split(self.ratio)[0]

    @property
    def denominator(self) -> str:
        return _split(self.ratio)[1]


class GaugeSLO(_Objective):
    """An aggregate of one series over the window; `increase` is for counters."""

    kind: ClassVar[str] = "gauge"
    max: Metric | None = None
    min: Metric | None = None
    mean: Metric | None = None
    increase: Metric | None = None

    @model_validator(mode="after")
    def _one_aggregate(self) -> Self:
        _only_one(self, AGGREGATES, "aggregate")
        return self

    @property
    def aggregate(self) -> str:
        return _only_one(self, AGGREGATES, "aggregate")

    @property
    def metric(self) -> str:
        return str(getattr(self, self.aggregate))


class RecoverySLO(Model):
    """After `after` ends, every SLO in `of` (default: all others) holds again within the limit."""

    kind: ClassVar[str] = "recovery"
    name: Name
    recovers_within: PositiveDuration
    after: str
    of: list[Name] | None = Field(default=None, min_length=1)


_SLO = by_key(
    {**{q: "quantile" for q in QUANTILES}, "ratio": "ratio"}
    | {a: "gauge" for a in AGGREGATES}
    | {"recovers_within": "recovery"},
    what="SLO",
    shared=frozenset({"name", "during", "after", "window", "below", "above", "equals", "of"}),
    example="{name: launch-delay, p95: time_to_first_audio, below: 5s, during: storm}",
    bare_name="the aggregate and the metric, e.g. `max: {key}` (or p95/mean/increase/ratio)",
)
SLO = Annotated[
    Annotated[QuantileSLO, tag("quantile")]
    | Annotated[RatioSLO, tag("ratio")]
    | Annotated[GaugeSLO, tag("gauge")]
    | Annotated[RecoverySLO, tag("recovery")],
    *_SLO,
]
"""One objective of any kind; `slo.kind` says which."""


class Guard(Model):
    """Abort the run when a metric (or ratio) stays beyond a limit for `for`: a safety stop."""

    name: Name | None = None
    metric: Metric | None = None
    ratio: MetricRatio | None = None
    above: Threshold | None = None
    below: Threshold | None = None
    for_: Duration = Field(default=Duration(0), alias="for")

    @model_validator(mode="before")
    @classmethod
    def _no_bare_names(cls, value: Any) -> Any:
        reject_bare_names(value, frozenset(), "`metric: {key}` (or `ratio: a/b`)")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        _only_one(self, ("metric", "ratio"), "series to watch")
        _only_one(self, ("above", "below"), "limit")
        return self

    @property
    def limit(self) -> tuple[Literal["above", "below"], Quantity]:
        """The guard trips while the series is on this side of this value."""
        if self.above is not None:
            return "above", self.above
        assert self.below is not None
        return "below", self.below

    @property
    def label(self) -> str:
        return self.name or self.metric or str(self.ratio)


class Rollback(Model):
    """What happens when a guard trips, and how long faults outlive a harness that died."""

    on_abort: Literal["immediate", "recover"] = "immediate"
    """`immediate`: remove faults and stop the workload now; `recover`: remove faults but keep
    the workload running through the recovery period, so recovery is still measured."""
    lease: PositiveDuration = Duration.parse("30s")
    """Faults the harness stops renewing (it was SIGKILLed) are dropped after this long."""
