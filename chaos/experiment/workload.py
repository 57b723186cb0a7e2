"""Who comes to the event and when: speakers, listener arrival phases, sessions and reconnects.

Big live-audio events fail at the scheduled start, so the arrival shape is the experiment's
main knob: a `storm` (everyone within seconds of T0), a `ramp`, a `paced` trickle the platform
admits at a fixed rate, or a `curve` replayed from an incident. Times are relative to T0, the
scheduled start, which follows the baseline.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Annotated, Any, Literal, Self

from pydantic import BeforeValidator, Field, model_validator

from chaos.experiment.base import Model, Name
from chaos.experiment.tagged import by_value, field_error, tag
from chaos.experiment.units import (
    COUNT_SCHEMA_INPUT,
    BitRate,
    Count,
    Duration,
    EventRate,
    PositiveDuration,
    Ratio,
    Scale,
    Share,
    UnitError,
    parse_count,
)

MAX_SPEAKERS = 64
"""Speakers one run may start: each is a process of the stack (a speaker replica)."""


class Speaker(Model):
    name: Name
    bitrate: BitRate = BitRate(64_000)


def _speakers(value: Any) -> Any:
    """`speakers: 2` means two speakers named speaker-1 and speaker-2; names may be listed."""
    if isinstance(value, list):
        return [{"name": item} if isinstance(item, str) else item for item in value]
    if isinstance(value, int | str) and not isinstance(value, bool):
        try:
            count = parse_count(value)
        except UnitError:
            raise UnitError(
                f"expected a number of speakers or a list of names; got {value!r}"
            ) from None
        if count > MAX_SPEAKERS:  # refused before a list of a million is made
            raise UnitError(
                f"{count:,} speakers: each is a process of the stack, and a run starts at most "
                f"{MAX_SPEAKERS}; use fewer speakers"
            )
        return [{"name": f"speaker-{n}"} for n in range(1, count + 1)]
    return value


class _Phase(Model, ABC):
    name: Name | None = None

    @property
    @abstractmethod
    def start(self) -> Duration: ...

    @property
    @abstractmethod
    def end(self) -> Duration | None:
        """When the last listener of the phase has arrived; None when only its data says."""


class Storm(_Phase):
    """Everyone arrives at once: `count` joins spread uniformly over `spread` from `at`."""

    arrival: Literal["storm"]
    count: Count
    at: Duration = Duration(0)
    spread: Duration = Duration(0)

    @property
    def start(self) -> Duration:
        return self.at

    @property
    def end(self) -> Duration:
        return self.at + self.spread


class Ramp(_Phase):
    """Joins rise linearly from `from` to `to`."""

    arrival: Literal["ramp"]
    count: Count
    from_: Duration = Field(alias="from")
    to: Duration

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.to <= self.from_:
            raise field_error("to", f"a ramp must end after it starts ({self.from_})")
        return self

    @property
    def start(self) -> Duration:
        return self.from_

    @property
    def end(self) -> Duration:
        return self.to


class Paced(_Phase):
    """Joins admitted at `rate` from `at`, at most `max_in_flight` joining concurrently."""

    arrival: Literal["paced"]
    count: Count
    at: Duration = Duration(0)
    rate: EventRate
    max_in_flight: Count | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _moving(self) -> Self:
        if self.rate.per_second == 0:
            raise field_error("rate", "must be more than 0/s, or nobody ever joins")
        return self

    @property
    def start(self) -> Duration:
        return self.at

    @property
    def end(self) -> Duration:
        return self.at + Duration.of_seconds(self.count / self.rate.per_second)


class Curve(_Phase):
    """An audience curve replayed from a CSV of `seconds,listeners` rows, divided by `scale`.

    The CSV is read by ``chaos.workload.arrivals.load_curve`` (checked at validation time).
    """

    arrival: Literal["curve"]
    csv: str = Field(min_length=1, description="path relative to the experiment file")
    at: Duration = Duration(0)
    scale: Scale | None = None

    @property
    def start(self) -> Duration:
        return self.at

    @property
    def end(self) -> None:
        return None


ARRIVALS = ("storm", "ramp", "paced", "curve")
_PHASE = by_value("arrival", ARRIVALS, what="a listener phase")
Phase = Annotated[
    Annotated[Storm, tag("storm")]
    | Annotated[Ramp, tag("ramp")]
    | Annotated[Paced, tag("paced")]
    | Annotated[Curve, tag("curve")],
    *_PHASE,
]


class Churn(Model):
    """Listeners who leave and come back: `share` of those connected, every `every`."""

    share: Share
    every: PositiveDuration = Duration.parse("1m")


class _Policy(Model):
    max_attempts: Count | None = Field(default=None, ge=1)


class Immediate(_Policy):
    policy: Literal["immediate"]


class FixedDelay(_Policy):
    policy: Literal["fixed"]
    delay: PositiveDuration


class Backoff(_Policy):
    """Exponential backoff with jitter: what a well-behaved client does after a failure."""

    policy: Literal["backoff"] = "backoff"
    initial: PositiveDuration = Duration.parse("1s")
    max: PositiveDuration = Duration.parse("30s")
    multiplier: float = Field(default=2.0, strict=True, ge=1.0, le=10.0)
    jitter: Share = Ratio.parse("100%")

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.max < self.initial:
            raise field_error("max", f"must be at least `initial` ({self.initial})")
        return self


_RECONNECT = by_value("policy", ("immediate", "fixed", "backoff"), what="a reconnect policy")
Reconnect = Annotated[
    Annotated[Immediate, tag("immediate")]
    | Annotated[FixedDelay, tag("fixed")]
    | Annotated[Backoff, tag("backoff")],
    *_RECONNECT,
]


EarCount = Annotated[int, Field(strict=True, ge=0)]
Ears = EarCount | Share
"""Listeners per edge who decode what they hear (ears): a count (`4`) or a share (`1%`)."""


def ear_settings(ears: Ears) -> tuple[int, float | None]:
    """``(count, share)`` as the listeners' config holds them."""
    return (0, ears.fraction) if isinstance(ears, Ratio) else (ears, None)


class Workload(Model):
    speakers: Annotated[
        list[Speaker],
        BeforeValidator(_speakers, json_schema_input_type=COUNT_SCHEMA_INPUT | list[Speaker | str]),
    ] = Field(default_factory=lambda: [Speaker(name="speaker-1")])
    listeners: list[Phase] = Field(default_factory=list)
    session: PositiveDuration | None = Field(
        default=None, description="how long a listener stays; unset = until the run ends"
    )
    churn: Churn | None = None
    reconnect: Reconnect = Backoff()
    ears: Ears | None = Field(
        default=None,
        description="listeners per edge that decode and judge what they hear: a count or a "
        "share (`4`, `1%`); unset: the stack spec's `audience.listeners.ears`, else 4",
    )

    @model_validator(mode="after")
    def _unique_speakers(self) -> Self:
        names = [speaker.name for speaker in self.speakers]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise field_error("speakers", f"speaker names must be unique: {', '.join(twice)}")
        return self
