"""Metric names as experiments write them: a Prometheus name, or a short name of a listener metric.

The harness's own listener metrics (``gameday_listener_*``, ``gameday_listeners_*``) are what a
person hears, so experiments may call them by short names: ``time_to_first_audio`` is the
histogram ``gameday_listener_time_to_first_audio_seconds``, ``joins_ok`` the counter
``gameday_listener_joins_ok_total``, ``joins`` every join attempt, and two ratios have names of
their own (``stall_ratio``, ``join_error_ratio``). The catalogue is read from the collector that
exposes them (``chaos.workload.metrics.ListenerCollector``), so it cannot drift from what a run
scrapes; README's table of listener metrics is checked against it by a test.

Resolving happens when the experiment is validated: a short name becomes the full one in the
model, so the run, the rules export and the report all read exact Prometheus names, and a
short name used where it cannot work (a counter under ``p95:``, a ratio under ``max:``) is
refused with the key that works.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Literal

from chaos.experiment.tagged import nearest
from chaos.metrics.selectors import ParsedSelector, parse_ratio, parse_selector, render

MetricType = Literal["counter", "gauge", "histogram"]
Use = Literal["quantile", "aggregate", "increase", "ratio", "guard"]
"""Where a name is read: `p95:`, `max:`/`min:`/`mean:`, `increase:`, a side of `ratio:`,
a guard's `metric:`."""

PREFIXES = ("gameday_listener_", "gameday_listeners_")
"""Names in the listeners' namespace: each must be one the collector exposes."""


@dataclass(frozen=True, slots=True)
class Family:
    """One metric family the listeners expose."""

    name: str
    """The family name (a counter's without ``_total``, a histogram's without ``_bucket``)."""
    type: MetricType
    help: str
    labels: tuple[str, ...]

    @property
    def series(self) -> str:
        """The name an experiment reads it by (``_total`` for counters; a histogram's
        quantile reads its ``_bucket`` series from this name)."""
        return self.name + "_total" if self.type == "counter" else self.name

    @property
    def unit(self) -> str:
        if self.name.endswith("_seconds"):
            return "seconds"
        if self.name.endswith("_bytes"):
            return "bytes"
        return "listeners" if self.name.startswith("gameday_listeners_") else "count"

    @property
    def short(self) -> str:
        """The short name: without the namespace, and a seconds histogram without its unit."""
        if self.name.startswith("gameday_listeners_"):
            return self.name.removeprefix("gameday_")
        short = self.name.removeprefix("gameday_listener_")
        return short.removesuffix("_seconds") if self.type == "histogram" else short


@dataclass(frozen=True, slots=True)
class RatioAlias:
    numerator: str
    denominator: str
    meaning: str


RATIOS: dict[str, RatioAlias] = {
    "stall_ratio": RatioAlias(
        "stall_seconds", "played_seconds", "seconds of paused playout per second played"
    ),
    "unheard_ratio": RatioAlias(
        "unheard_seconds",
        "wanted_seconds",
        "seconds listeners wanted audio and heard none, per second they wanted it",
    ),
    "join_error_ratio": RatioAlias(
        "join_failures", "join_attempts", "joins that never reached first audio, per attempt"
    ),
    "join_success_ratio": RatioAlias(
        "joins_ok", "join_attempts", "joins that reached first audio, per attempt"
    ),
}
"""Ratios with a name of their own, each of two listener counters (``ratio: stall_ratio``)."""

EXTRA_ALIASES = {"joins": "join_attempts"}
"""Short names besides each family's own: ``joins_ok/joins`` reads as people say it."""


@functools.cache
def listener_families() -> dict[str, Family]:
    """Every family the listeners' collector exposes, by family name."""
    from chaos.workload.metrics import ListenerCollector
    from chaos.workload.stats import ListenerStats

    families: dict[str, Family] = {}
    for metric in ListenerCollector(ListenerStats).collect():
        labels = tuple(getattr(metric, "_labelnames", ()))
        kind: MetricType = metric.type if metric.type in ("counter", "histogram") else "gauge"  # type: ignore[assignment]
        families[metric.name] = Family(metric.name, kind, metric.documentation, labels)
    return families


@functools.cache
def aliases() -> dict[str, Family]:
    """Short name → family (``time_to_first_audio``, ``joins_ok``, ``joins``, ...)."""
    by_short = {family.short: family for family in listener_families().values()}
    for alias, short in EXTRA_ALIASES.items():
        by_short[alias] = by_short[short]
    return by_short


def _exposed_names() -> dict[str, Family]:
    """Every series name a listener family is read by, including a histogram's parts."""
    names: dict[str, Family] = {}
    for family in listener_families().values():
        names[family.series] = family
        if family.type == "histogram":
            for suffix in ("_bucket", "_sum", "_count"):
                names[family.name + suffix] = family
    return names


class MetricNameError(ValueError):
    """A name that cannot be read where it is written; the message says what to write."""


def _close(word: str, candidates: list[str]) -> str | None:
    """A short name ``word`` is a typo of (so close that no stack metric is meant)."""
    import difflib

    found = difflib.get_close_matches(word, candidates, n=1, cutoff=0.85)
    return found[0] if found else None


_NEEDS: dict[str, tuple[str, ...]] = {
    "quantile": ("histogram",),
    "increase": ("counter",),
    "ratio": ("counter",),
}
_EXAMPLE = {
    "histogram": "p95: {short}",
    "counter": "increase: {short}, or a side of ratio: a/b",
    "gauge": "max: {short} (or min/mean)",
}


def _family(name: str) -> Family | None:
    if name in aliases():
        return aliases()[name]
    return _exposed_names().get(name)


def resolve(name: str, use: Use) -> str:
    """The Prometheus name ``name`` stands for when read as ``use``; raises
    ``MetricNameError`` naming what to write instead."""
    if name in RATIOS:
        raise MetricNameError(
            f"{name!r} is a ratio ({RATIOS[name].meaning}); write `ratio: {name}`"
        )
    family = _family(name)
    if family is None:
        if name.startswith(PREFIXES):
            guess = nearest(name, _exposed_names())
            hint = f"did you mean '{guess}'? " if guess else ""
            raise MetricNameError(
                f"listeners expose no metric {name!r}; {hint}see README's table of listener metrics"
            )
        guess = _close(name, [*aliases(), *RATIOS])
        if guess is not None:
            raise MetricNameError(f"{name!r} is no listener metric; did you mean '{guess}'?")
        return name  # a stack's own metric: checked against what it exposes at run time
    wanted: tuple[str, ...] | None = _NEEDS.get(use)
    if use == "aggregate" and family.type == "histogram":
        wanted = ("counter", "gauge")
    if wanted is not None and family.type not in wanted:
        how = _EXAMPLE[family.type].format(short=family.short)
        raise MetricNameError(
            f"{name!r} is a {family.type} ({family.help.rstrip('.')}); "
            f"{_USE_WORDS[use]} needs a {' or '.join(wanted)}: write {how}"
        )
    return family.series


_USE_WORDS = {
    "quantile": "a quantile",
    "aggregate": "max/min/mean",
    "increase": "increase",
    "ratio": "a ratio",
    "guard": "a guard",
}


ADDED_LABELS = ("job", "instance", "cohort")
"""Labels every listener series may carry besides its family's own: the scrape's ``job`` and
``instance``, and ``cohort`` when the audience is split into cohorts."""


def _resolved(selector: ParsedSelector, use: Use) -> str:
    """The selector with its metric's full name; a label no listener series carries is refused
    (it would select nothing, or, with ``!=``, everything)."""
    name = resolve(selector.name, use)
    family = _family(name)
    if family is not None:
        known = (*family.labels, *ADDED_LABELS)
        for matcher in selector.matchers:
            if matcher.label not in known:
                guess = nearest(matcher.label, known)
                hint = f"did you mean '{guess}'? " if guess else ""
                raise MetricNameError(
                    f"{family.series} has no label {matcher.label!r}; {hint}its labels: "
                    + ", ".join(known)
                )
    return render(name, selector.matchers)


def resolve_selector(text: str, use: Use) -> str:
    """``time_to_first_audio{edge="edge-1"}`` → the selector with the metric's full name;
    raises ``SelectorError`` (with the offset) for text that is no selector."""
    return _resolved(parse_selector(text), use)


def resolve_ratio(text: str) -> str:
    """``joins_ok/joins``, ``a{x="y"}/b`` or ``stall_ratio`` → ``numerator/denominator`` in
    full names (each side a selector)."""
    text = text.strip()
    if text in RATIOS:
        alias = RATIOS[text]
        return f"{resolve(alias.numerator, 'ratio')}/{resolve(alias.denominator, 'ratio')}"
    if "/" not in text:
        guess = nearest(text, list(RATIOS))
        hint = f"did you mean '{guess}'? " if guess else ""
        raise MetricNameError(
            f"a ratio is `numerator/denominator` (e.g. joins_ok/joins) or one of "
            f"{', '.join(RATIOS)}; {hint}got {text!r}"
        )
    numerator, denominator = parse_ratio(text)
    return f"{_resolved(numerator, 'ratio')}/{_resolved(denominator, 'ratio')}"


def in_seconds(selector: str) -> bool:
    """Whether the selected metric's values are seconds (so a threshold on it is a duration)."""
    name = parse_selector(selector).name
    family = _family(name)
    return (family.unit == "seconds") if family else name.endswith(("_seconds", "_seconds_total"))
