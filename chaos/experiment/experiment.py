"""The experiment file: one game day against one stack, as data.

Times in the file are relative to T0, the scheduled start of the event, which follows a
baseline period (`baseline`, default 10s) in which the steady-state SLOs are checked before any
fault. The run ends `recovery` after the last fault or arrival phase ends, unless `duration`
fixes its length.
"""

from __future__ import annotations

from pydantic import Field, field_validator

from chaos.experiment.base import Model
from chaos.experiment.faults import Fault
from chaos.experiment.slos import SLO, Guard, Rollback
from chaos.experiment.units import Duration, PositiveDuration, Ratio, Scale
from chaos.experiment.workload import Workload


class Cohorts(Model):
    """Split the audience: `control` of it (at most 50 %) reaches the stack through unfaulted
    copies of the listeners' link (`LINK~control`), as many through the faulted link, and the
    differential SLOs judge the experiment cohort against the control cohort."""

    control: Ratio

    @field_validator("control")
    @classmethod
    def _half_at_most(cls, value: Ratio) -> Ratio:
        if not 0.0 < value.fraction <= 0.5:
            raise ValueError(
                f"the control cohort is above 0% and at most 50% of the audience (control and "
                f"experiment are the same size), not {value}; e.g. `cohorts: {{control: 50%}}`"
            )
        return value


class Experiment(Model):
    title: str = Field(min_length=1, max_length=200)
    description: str | None = None
    seed: int | None = Field(
        default=None,
        strict=True,
        ge=0,
        lt=2**64,
        description="unset: drawn at run time and journalled",
    )
    stack: str = Field(default="soundstage", min_length=1)
    """A built-in stack name, or a path to a stack spec relative to the experiment file."""
    stack_params: dict[str, str] = Field(default_factory=dict)
    """Values for the stack spec's `params` in this run (as `gameday stack up --param`): the
    same stack with a knob turned, e.g. `{howl_guard: mute}` on spaces."""
    scale: Scale | None = None
    baseline: PositiveDuration = Duration.parse("10s")
    recovery: Duration = Duration.parse("30s")
    duration: PositiveDuration | None = None
    """Length of the run from T0; default: end of the last fault or phase plus `recovery`."""
    workload: Workload
    faults: list[Fault] = Field(default_factory=list)
    slos: list[SLO] = Field(min_length=1)
    abort: list[Guard] = Field(default_factory=list)
    rollback: Rollback = Rollback()
    cohorts: Cohorts | None = None

    def summary(self) -> str:
        """`title, 3 faults, 5 SLOs`: one line for listings."""
        faults = f"{len(self.faults)} fault{'s' if len(self.faults) != 1 else ''}"
        slos = f"{len(self.slos)} SLO{'s' if len(self.slos) != 1 else ''}"
        return f"{self.title}, {faults}, {slos}"
