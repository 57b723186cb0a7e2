"""SLOs (Jepsen's checkers) and abort guards: objectives over metrics in windows of the run.

An SLO's kind is the key it sets: a quantile (`p95: time_to_first_audio`), a ratio of two
counters (`ratio: joins_ok/joins`), an aggregate of one series (`max: stall_ratio`,
`increase: howl_seconds_total`), a recovery time (`recovers_within: 30s, after: slow-edge`), or
the on-air delay (`on_air_within: 8s`: listeners' ears hear the host within 8 s of T0). Each
other kind compares with exactly one of `below`, `above`, `equals`, in a window bound to the run:
`during` or `after` a workload phase or a fault (or `baseline`, `method`, `recovery`, `run`),
optionally sliding (`window: 30s`: every 30 s window inside must pass).

With cohorts (`cohorts: {control: 50%}`), a quantile or ratio of the listeners' own metrics may
instead be judged against the control cohort (a differential SLO, ``chaos.slo.differential``):
`worse_by_at_most: 500ms` (the experiment's quantile at most that much above the control's),
`above_control_minus: 0.5%` (the experiment's ratio at least the control's minus that) or
`below_control_plus: 1%` (at most the control's plus that).
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal, Self

from pydantic import Field, PlainSerializer, PlainValidator, model_validator

from chaos.experiment.base import Model, Name
from chaos.experiment.metrics import (
    MetricNameError,
    Use,
    in_seconds,
    resolve_ratio,
    resolve_selector,
)
from chaos.experiment.tagged import by_key, field_error, reject_bare_names, tag
from chaos.experiment.units import (
    Duration,
    PositiveDuration,
    Quantity,
    Ratio,
    parse_quantity,
)
from chaos.metrics.selectors import SelectorError, parse_ratio

_SELECTOR = r"[a-zA-Z_:][a-zA-Z0-9_:]*(?:\s*\{.*\})?"
Metric = Annotated[str, Field(pattern=rf"^{_SELECTOR}$", max_length=2000)]
"""A PromQL series selector: a metric name, optionally with label matchers
(`icecast_source_up{mount="/live"}`); parsed and resolved by the models' `_names`."""
MetricRatio = Annotated[str, Field(pattern=rf"^{_SELECTOR}\s*/\s*{_SELECTOR}$", max_length=4001)]
"""`numerator/denominator`, two selectors (usually of counters)."""

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


def _resolved(value: Any, keys: dict[str, Use]) -> Any:
    """The mapping with every metric name under ``keys`` in full (short names resolved), or a
    located error saying what to write instead."""
    if not isinstance(value, dict):
        return value
    changed = dict(value)
    for key, use in keys.items():
        name = value.get(key)
        if not isinstance(name, str):
            continue
        try:
            changed[key] = resolve_ratio(name) if key == "ratio" else resolve_selector(name, use)
        except MetricNameError as exc:
            raise field_error(key, str(exc)) from None
        except SelectorError as exc:
            raise field_error(key, _selector_message(name, exc)) from None
    return changed


def _selector_message(text: str, error: SelectorError) -> str:
    """The refusal, on one line, with where in the text it is."""
    return f"{error.message} (at character {error.offset + 1} of {text!r})"


def _check_threshold(model: _Compared, metrics: tuple[str, ...], *, ratio: bool) -> None:
    """A threshold in the metric's unit: seconds need a duration (a bare number is refused,
    except 0), and a ratio of counters is at most 100% (a larger one is a plain number)."""
    side, value = model.comparison
    raw = value
    if isinstance(raw, float) and raw != 0 and not ratio and any(map(in_seconds, metrics)):
        raise field_error(
            side,
            f"{metrics[0]} is in seconds: write a duration like {raw:g}s "
            "(a bare number is refused, except 0)",
        )
    if ratio and isinstance(raw, Ratio) and raw.fraction > 1:
        raise field_error(
            side,
            f"a ratio of {raw} is more than one whole: a share is at most 100%; "
            f"for a ratio that may exceed 1 write a plain number ({raw.fraction:g})",
        )


def _no_threshold(model: Model, differential: str) -> None:
    for side in ("below", "above", "equals"):
        if getattr(model, side) is not None:
            raise field_error(
                side,
                f"`{differential}` judges against the control cohort; drop `{side}` "
                "(or drop the differential bound to judge a threshold)",
            )


def _split(ratio: str) -> tuple[str, str]:
    """A validated ratio's two selectors (a `/` inside a quoted label value divides nothing)."""
    numerator, denominator = parse_ratio(ratio)
    return str(numerator), str(denominator)


_SIDES: tuple[tuple[Comparison, str], ...] = (
    ("below", "worse_by_at_most"),
    ("above", "above_control_minus"),
    ("below", "below_control_plus"),
)


class _Compared(Model):
    below: Threshold | None = None
    above: Threshold | None = None
    equals: Threshold | None = None

    @property
    def comparison(self) -> tuple[Comparison, Quantity]:
        """Which side of the threshold passes, and the threshold itself (for a differential SLO:
        which side of the bound the difference from the control must stay on, and the bound)."""
        for side, key in _SIDES:
            value = getattr(self, key, None)
            if value is not None:
                return side, value
        for side in ("below", "above", "equals"):
            value = getattr(self, side)
            if value is not None:
                return side, value
        raise AssertionError("validated models always have a comparison")

    def _check_comparison(self) -> None:
        _only_one(self, ("below", "above", "equals"), "comparison")


DIFFERENTIAL = ("worse_by_at_most", "above_control_minus", "below_control_plus")
"""The keys that judge an SLO against the control cohort instead of a threshold."""


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
    worse_by_at_most: Duration | None = None
    """Differential: the experiment cohort's quantile may exceed the control's by this much."""

    @model_validator(mode="before")
    @classmethod
    def _names(cls, value: Any) -> Any:
        return _resolved(value, dict.fromkeys(QUANTILES, "quantile"))

    @model_validator(mode="after")
    def _one_quantile(self) -> Self:
        _only_one(self, tuple(QUANTILES), "quantile")
        _check_threshold(self, (self.metric,), ratio=False)
        return self

    @property
    def differential(self) -> bool:
        return self.worse_by_at_most is not None

    def _check_comparison(self) -> None:
        if self.worse_by_at_most is not None:
            _no_threshold(self, "worse_by_at_most")
            return
        _only_one(self, ("below", "above", "equals", "worse_by_at_most"), "comparison")

    @property
    def quantile(self) -> float:
        return QUANTILES[_only_one(self, tuple(QUANTILES), "quantile")]

    @property
    def metric(self) -> str:
        return str(getattr(self, _only_one(self, tuple(QUANTILES), "quantile")))


class RatioSLO(_Objective):
    kind: ClassVar[str] = "ratio"
    ratio: MetricRatio
    above_control_minus: Ratio | None = None
    """Differential: the experiment cohort's ratio is at least the control's minus this."""
    below_control_plus: Ratio | None = None
    """Differential: the experiment cohort's ratio is at most the control's plus this."""

    @property
    def differential(self) -> bool:
        return self.above_control_minus is not None or self.below_control_plus is not None

    def _check_comparison(self) -> None:
        if self.differential:
            side = _only_one(self, ("above_control_minus", "below_control_plus"), "bound")
            _no_threshold(self, side)
            return
        _only_one(
            self,
            ("below", "above", "equals", "above_control_minus", "below_control_plus"),
            "comparison",
        )

    @model_validator(mode="before")
    @classmethod
    def _names(cls, value: Any) -> Any:
        return _resolved(value, {"ratio": "ratio"})

    @model_validator(mode="after")
    def _percentage(self) -> Self:
        if self.differential:
            return self
        side, value = self.comparison
        if not isinstance(value, Ratio | float):
            raise field_error(side, f"a ratio compares with a percentage like 99.5%, not {value}")
        _check_threshold(self, (self.numerator, self.denominator), ratio=True)
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

    @model_validator(mode="before")
    @classmethod
    def _names(cls, value: Any) -> Any:
        uses: dict[str, Use] = {"max": "aggregate", "min": "aggregate", "mean": "aggregate"}
        return _resolved(value, {**uses, "increase": "increase"})

    @model_validator(mode="after")
    def _one_aggregate(self) -> Self:
        _only_one(self, AGGREGATES, "aggregate")
        _check_threshold(self, (self.metric,), ratio=False)
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


class OnAirSLO(Model):
    """Listeners hear the host within `on_air_within` of T0, the scheduled start: the launch
    delay of 2024, measured end to end (the host joined, the stack mixed, packaged and served
    the audio, an ear decoded it). Judged from T0 to the run's end, so it takes no window."""

    kind: ClassVar[str] = "on_air"
    name: Name
    on_air_within: PositiveDuration

    @model_validator(mode="before")
    @classmethod
    def _no_window(cls, value: Any) -> Any:
        if isinstance(value, dict):
            for key in ("during", "after", "window", "below", "above", "equals", "of"):
                if key in value:
                    raise field_error(
                        key,
                        "the on-air delay runs from T0 until listeners first hear the host, "
                        f"with `on_air_within` as its limit: drop `{key}`",
                    )
        return value


_SLO = by_key(
    {**{q: "quantile" for q in QUANTILES}, "ratio": "ratio"}
    | {a: "gauge" for a in AGGREGATES}
    | {"recovers_within": "recovery", "on_air_within": "on_air"},
    what="SLO",
    shared=frozenset(
        {"name", "during", "after", "window", "below", "above", "equals", "of", *DIFFERENTIAL}
    ),
    example="{name: launch-delay, p95: time_to_first_audio, below: 5s, during: storm}",
    bare_name="the aggregate and the metric, e.g. `max: {key}` (or p95/mean/increase/ratio)",
)
SLO = Annotated[
    Annotated[QuantileSLO, tag("quantile")]
    | Annotated[RatioSLO, tag("ratio")]
    | Annotated[GaugeSLO, tag("gauge")]
    | Annotated[RecoverySLO, tag("recovery")]
    | Annotated[OnAirSLO, tag("on_air")],
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
    for_: Duration = Field(alias="for")
    """How long the limit must stay crossed before the guard trips (required: one bad
    scrape is noise; ``for: 0s`` trips at the first check that sees it crossed)."""

    @model_validator(mode="before")
    @classmethod
    def _no_bare_names(cls, value: Any) -> Any:
        reject_bare_names(value, frozenset(), "`metric: {key}` (or `ratio: a/b`)")
        if isinstance(value, dict) and "for" not in value and "for_" not in value:
            raise field_error(
                "for",
                "a guard needs `for:`, how long its limit must stay crossed before the run "
                "aborts, e.g. `for: 10s` (`for: 0s` trips at the first check that sees it)",
            )
        return _resolved(value, {"metric": "guard", "ratio": "ratio"})

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        _only_one(self, ("metric", "ratio"), "series to watch")
        _only_one(self, ("above", "below"), "limit")
        checked = _Compared.model_construct(above=self.above, below=self.below)
        if self.ratio is not None:
            _check_threshold(checked, _split(self.ratio), ratio=True)
        elif self.metric is not None:
            _check_threshold(checked, (self.metric,), ratio=False)
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
