"""Cross-reference checks: what the schema alone cannot know.

A fault's link must be a link of the stack spec and suit its protocol, a component fault must
name a component or replica, a feedback fault an existing speaker; SLO windows must name a
phase, a fault or a run window; names must be unique; and every time must fit in the run.
Each problem carries the document path it is about, so the loader can give its line.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from chaos.errors import InvalidInput
from chaos.experiment.base import RESERVED_WINDOWS
from chaos.experiment.differential import cohort_problems
from chaos.experiment.errors import Loc, Problem, format_path
from chaos.experiment.experiment import Experiment
from chaos.experiment.faults import (
    STREAM_ONLY,
    CapacityFault,
    DownFault,
    Fault,
    FeedbackFault,
    KillFault,
    PartitionFault,
    PauseFault,
    RestartFault,
    target_of,
)
from chaos.experiment.slos import OnAirSLO, RecoverySLO
from chaos.experiment.stack import StackSpec
from chaos.experiment.tagged import nearest
from chaos.experiment.timeline import Timeline, UnknownWindow, phase_names
from chaos.experiment.units import Duration
from chaos.experiment.workload import Curve
from chaos.workload.arrivals import load_curve


def check_experiment(experiment: Experiment, stack: StackSpec, base_dir: Path) -> list[Problem]:
    """Every cross-reference problem of a schema-valid experiment against its stack spec."""
    timeline = Timeline.of(experiment)
    return [
        *_names(experiment),
        *_faults(experiment, stack),
        *_phases(experiment, base_dir),
        *_slos(experiment, timeline),
        *_guards(experiment, timeline),
        *cohort_problems(experiment),
    ]


def _hint(word: str, candidates: Iterable[str]) -> str:
    guess = nearest(word, list(candidates))
    return f"; did you mean '{guess}'?" if guess else ""


def _duplicates(
    named: Iterable[tuple[Loc, str | None]], what: str, *, windows: bool = False
) -> list[Problem]:
    seen: dict[str, Loc] = {}
    found = []
    for loc, name in named:
        if name is None:
            continue
        if windows and name in RESERVED_WINDOWS:
            found.append(Problem(loc, f"{name!r} is reserved for the run's own window; rename"))
        elif name in seen:
            first = format_path(seen[name][:-1])
            found.append(Problem(loc, f"{what} name {name!r} is already used by {first}"))
        else:
            seen[name] = loc
    return found


def _names(experiment: Experiment) -> list[Problem]:
    phases = phase_names(experiment.workload.listeners)
    windows: list[tuple[Loc, str | None]] = [
        (("workload", "listeners", i, "name"), name) for i, name in enumerate(phases)
    ]
    windows += [(("faults", i, "name"), fault.name) for i, fault in enumerate(experiment.faults)]
    slos = [(("slos", i, "name"), slo.name) for i, slo in enumerate(experiment.slos)]
    guards = [(("abort", i, "name"), guard.name) for i, guard in enumerate(experiment.abort)]
    return [
        *_duplicates(windows, "phase or fault", windows=True),
        *_duplicates(slos, "SLO"),
        *_duplicates(guards, "guard"),
    ]


def _faults(experiment: Experiment, stack: StackSpec) -> list[Problem]:
    found = []
    speakers = [speaker.name for speaker in experiment.workload.speakers]
    targets = stack.targets()
    for index, fault in enumerate(experiment.faults):
        if isinstance(fault, FeedbackFault):
            speaker = fault.feedback.speaker
            if speaker not in speakers:
                found.append(
                    Problem(
                        ("faults", index, "feedback", "speaker"),
                        f"no speaker named {speaker!r} (speakers: {', '.join(speakers) or 'none'})"
                        + _hint(speaker, speakers),
                    )
                )
        elif isinstance(fault, KillFault | PauseFault | PartitionFault | RestartFault):
            target = target_of(fault)
            if target not in targets:
                found.append(
                    Problem(
                        ("faults", index, fault.kind),
                        f"no component or replica named {target!r} in stack {stack.name!r} "
                        f"(known: {', '.join(targets)})" + _hint(target, targets),
                    )
                )
        else:
            found += _link_fault(index, fault.capability, fault.link, stack)
    return found + _conflicts(experiment, stack)


def _span_ns(fault: Fault) -> tuple[int, int]:
    """Half-open [start, end) in ns; an instant (a restart) occupies its first nanosecond."""
    start, end = fault.at.nanoseconds, fault.end.nanoseconds
    return start, max(end, start + 1)


def _conflicts(experiment: Experiment, stack: StackSpec) -> list[Problem]:
    """Faults that would undo each other: when one of two overlapping outages of the same link
    ends, the link comes back while the other still expects it down; likewise a component
    (or any of its replicas) killed, paused or restarted twice at once."""
    owner = {
        target: name for name in stack.components for target in [name, *stack.replica_names(name)]
    }
    claims: list[tuple[str, int, Fault]] = []
    for index, fault in enumerate(experiment.faults):
        if isinstance(fault, DownFault):
            claims.append((f"link {fault.link}", index, fault))
        elif isinstance(fault, CapacityFault):
            claims.append((f"the capacity of link {fault.link}", index, fault))
        elif (
            isinstance(fault, KillFault | PauseFault | PartitionFault | RestartFault)
            and target_of(fault) in owner
        ):
            claims.append((f"component {owner[target_of(fault)]}", index, fault))
    return _overlapping(claims)


def _overlapping(claims: list[tuple[str, int, Fault]]) -> list[Problem]:
    """Each claim that overlaps another on its resource, reported at the later of the two in
    the file: one sweep per resource in start order (O(n log n): a generated schedule of
    thousands of outages used to take minutes pair by pair)."""
    by_resource: dict[str, list[tuple[int, int, int, Fault]]] = {}
    for resource, index, fault in claims:
        start, end = _span_ns(fault)
        by_resource.setdefault(resource, []).append((start, index, end, fault))
    reported: dict[int, Problem] = {}
    for resource, spans in by_resource.items():
        spans.sort(key=lambda span: (span[0], span[1]))
        furthest: tuple[int, int, Fault] | None = None  # (end, index, fault) reaching furthest
        for start, index, end, fault in spans:
            if furthest is not None and start < furthest[0]:
                _, other_index, other = furthest
                late, early = (index, other) if index > other_index else (other_index, fault)
                reported.setdefault(
                    late,
                    Problem(
                        ("faults", late, "at"),
                        f"overlaps {early.name!r} ({early.at} to {early.end}) on {resource}: "
                        "when one ends it undoes the other; move one or make them one fault",
                    ),
                )
            if furthest is None or end > furthest[0]:
                furthest = (end, index, fault)
    return [reported[index] for index in sorted(reported)]


def _link_fault(index: int, kind: str, link: str, stack: StackSpec) -> list[Problem]:
    if link not in stack.links:
        known = ", ".join(stack.links) or "none"
        return [
            Problem(
                ("faults", index, "link"),
                f"no link {link!r} in stack {stack.name!r} (links: {known})"
                + _hint(link, stack.links),
            )
        ]
    protocol = stack.links[link].protocol
    if kind in STREAM_ONLY and protocol == "udp":
        return [
            Problem(
                ("faults", index, kind),
                f"{kind} acts on a byte stream, but {link} is a UDP link; "
                "use latency, loss, bandwidth, down or flood on it",
            )
        ]
    return []


def _phases(experiment: Experiment, base_dir: Path) -> list[Problem]:
    found = []
    for index, phase in enumerate(experiment.workload.listeners):
        loc: Loc = ("workload", "listeners", index)
        if isinstance(phase, Curve):
            found += _curve(loc, phase, base_dir, experiment.duration)
            if experiment.duration is None:
                found.append(
                    Problem(
                        loc,
                        "a curve's length is in its CSV, so the run needs an explicit "
                        "`duration:` at the top level",
                    )
                )
        elif experiment.duration is not None and phase.end > experiment.duration:
            found.append(
                Problem(
                    loc,
                    f"this phase ends at {phase.end}, after the run's duration "
                    f"({experiment.duration})",
                )
            )
    if experiment.duration is not None:
        for index, fault in enumerate(experiment.faults):
            if fault.end > experiment.duration:
                found.append(
                    Problem(
                        ("faults", index, "at" if isinstance(fault, RestartFault) else "for"),
                        f"the fault ends at {fault.end}, after the run's duration "
                        f"({experiment.duration}); shorten it or lengthen `duration`",
                    )
                )
    return found


def _curve(loc: Loc, phase: Curve, base_dir: Path, duration: Duration | None) -> list[Problem]:
    """The curve's CSV must exist, parse, and end within the run."""
    path = base_dir / phase.csv
    if not path.is_file():
        return [
            Problem(
                (*loc, "csv"),
                f"no file {phase.csv!r} next to the experiment ({base_dir}); "
                "curve paths are relative to the experiment file",
            )
        ]
    try:
        curve = load_curve(path)
    except InvalidInput as exc:
        return [
            Problem((*loc, "csv"), f"{exc.where}: {exc.what}" + (f"; {exc.fix}" if exc.fix else ""))
        ]
    from chaos.experiment.runnable import MAX_LISTENERS

    peak = max(n for _, n in curve.points) / float(
        phase.scale.people_per_probe if phase.scale is not None else 1
    )
    if peak > MAX_LISTENERS:
        return [
            Problem(
                (*loc, "csv"),
                f"{phase.csv}: the curve peaks at {peak:,.0f} listeners, and one run schedules "
                f'at most {MAX_LISTENERS:,}; give the phase a `scale:` (e.g. "1:1000": one '
                "synthetic listener per 1000 people of the curve), and see what the full size "
                f"needs with `gameday plan --listeners {peak:.0f}`",
            )
        ]
    end = phase.at + Duration.of_seconds(curve.points[-1][0])
    if duration is not None and end > duration:
        return [
            Problem(
                (*loc, "csv"),
                f"the curve ends at {end}, after the run's duration ({duration})",
            )
        ]
    return []


def _slos(experiment: Experiment, timeline: Timeline) -> list[Problem]:
    found = []
    judged = [s.name for s in experiment.slos if not isinstance(s, RecoverySLO | OnAirSLO)]
    for index, slo in enumerate(experiment.slos):
        loc: Loc = ("slos", index)
        if isinstance(slo, OnAirSLO):
            found += _on_air(slo, loc, timeline)
            continue
        if isinstance(slo, RecoverySLO):
            relation, name = "after", slo.after
            for position, target in enumerate(slo.of or []):
                if target not in judged:
                    found.append(
                        Problem(
                            (*loc, "of", position),
                            f"{target!r} is not an SLO that can recover (one of: "
                            f"{', '.join(judged) or 'none'})" + _hint(target, judged),
                        )
                    )
        else:
            relation, name = slo.binding
        try:
            window = timeline.window((relation, name))
        except UnknownWindow as exc:
            message = (
                str(exc)
                if str(exc) != name
                else (
                    f"{name!r} is not a listener phase, fault or run window "
                    f"({', '.join(timeline.names)})" + _hint(name, timeline.names)
                )
            )
            found.append(Problem((*loc, relation), message))
            continue
        if window.length <= 0:
            empty = (
                f"the window of {name!r} is empty; use `after: {name}`"
                if relation == "during"
                else f"the run ends when {name!r} does, leaving nothing to judge after it; "
                "lengthen `recovery` or `duration`"
            )
            found.append(Problem((*loc, relation), empty))
        elif (
            not isinstance(slo, RecoverySLO)
            and slo.window is not None
            and slo.window.seconds > window.length
        ):
            found.append(
                Problem(
                    (*loc, "window"),
                    f"a sliding window of {slo.window} does not fit in {relation} {name!r} "
                    f"({window.length:g}s long)",
                )
            )
        if isinstance(slo, RecoverySLO) and slo.recovers_within.seconds > window.length:
            found.append(
                Problem(
                    (*loc, "recovers_within"),
                    f"the run ends {window.length:g}s after {name!r}, before recovery could be "
                    "judged; lengthen `recovery` or `duration`",
                )
            )
    return found


def _on_air(slo: OnAirSLO, loc: Loc, timeline: Timeline) -> list[Problem]:
    after_t0 = timeline.span("run").end
    if slo.on_air_within.seconds < after_t0:
        return []
    return [
        Problem(
            (*loc, "on_air_within"),
            f"the run ends {after_t0:g}s after T0, before an on-air delay of "
            f"{slo.on_air_within} could be judged late; lengthen `recovery` or `duration`, "
            "or lower the limit",
        )
    ]


def _guards(experiment: Experiment, timeline: Timeline) -> list[Problem]:
    run = timeline.span("run")
    return [
        Problem(
            ("abort", index, "for"),
            f"{guard.for_} is longer than the whole run ({run.length:g}s); the guard never trips",
        )
        for index, guard in enumerate(experiment.abort)
        if guard.for_.seconds > run.length
    ]
