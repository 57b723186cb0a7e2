"""The experiment a run ran, kept in its journal so a report needs nothing but the journal.

The runner records the experiment as it ran it (scaled, seed resolved) in one ``experiment``
event, in the model's JSON form: quantities in their canonical text (``150ms``, ``99%``), so a
report can name every threshold and fault parameter as the file wrote it, and measure each SLO
over any window (what a fault cost) with the evaluator the verdict used. A journal written
before this event existed, or one whose experiment this version cannot read, still reports:
without units and without the per-fault costs, which the report says.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from chaos.experiment.experiment import Experiment
from chaos.report.journal import Journal

EXPERIMENT_KIND = "experiment"


def experiment_record(experiment: Experiment) -> dict[str, Any]:
    """The fields of the ``experiment`` event: ``spec``, which validates back to the model."""
    return {"spec": experiment.model_dump(mode="json", by_alias=True, exclude_none=True)}


def recorded_experiment(journal: Journal) -> Experiment | None:
    """The experiment the journal recorded, or None (none recorded, or not readable)."""
    for event in journal.of_kind(EXPERIMENT_KIND):
        try:
            return Experiment.model_validate(event.get("spec"))
        except ValidationError:
            return None
    return None
