"""`gameday import`: a recorded incident becomes an experiment, for post-mortems of real events.

The listener series becomes the arrival curve (a CSV the workload's ``curve`` phase replays,
in people, divided by the scale factor), and the other series a fault schedule on the path
listeners take: each stretch where the error rate reached ``ERROR_THRESHOLD`` becomes a
``reset_peer`` fault resetting that share of connections, and each stretch where the link
ran at ``SATURATION_THRESHOLD`` or more becomes a ``flood`` taking that share of the link.
A sample stands for the step after it, so a stretch lasts until one step past its last sample.
The SLOs are the ones a launch is judged by; edit them to the event's own promises.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from chaos.errors import InvalidInput
from chaos.experiment.loader import load_experiment
from chaos.replay.series import Points, Recording, Role, parse_recording

ERROR_THRESHOLD = 0.01
"""1 % of joins failing is what the default join-success SLO (99 %) already calls an outage."""
SATURATION_THRESHOLD = 0.9
"""Above 90 % utilisation queues build on any link; below it the link is not the story."""
LISTENER_LINK = "listener->edge"


@dataclass(frozen=True)
class Window:
    start: float
    end: float
    peak: float


def windows(points: Points, threshold: float, step: float) -> list[Window]:
    """Maximal runs of consecutive samples at or above ``threshold``; each lasts one step past
    its last sample, or to the next sample when that comes sooner."""
    span = step or 1.0
    found: list[Window] = []
    start = peak = last = 0.0
    inside = False
    for t, value in points:
        if value >= threshold:
            start, peak = (start, max(peak, value)) if inside else (t, value)
            last, inside = t, True
        elif inside:
            found.append(Window(start, min(t, last + span) if t > last else last + span, peak))
            inside = False
    if inside:
        found.append(Window(start, last + span, peak))
    return found


def _seconds(value: float) -> str:
    text = f"{value:.3f}".rstrip("0").rstrip(".")
    return f"{text}s"


def _percent(share: float) -> str:
    return f"{max(share, 0.001) * 100:.1f}%"


def curve_csv(recording: Recording) -> str:
    """The listener series as the ``seconds,listeners`` rows a ``curve`` phase reads."""
    rows = ["seconds,listeners"] + [f"{t:.15g},{n:.15g}" for t, n in recording.listeners]
    return "\n".join(rows) + "\n"


SATURATED_CAPACITY = "20Mbps"
"""The listener link's capacity while a recording shows it saturated: a recording gives the
share used, not the rate, and a flood share is a share of a capacity on its link (the run and
`validate` refuse one without). Edit the written file to the link's real capacity."""


def fault_lines(recording: Recording) -> list[str]:
    step = recording.step
    lines: list[str] = []
    for i, w in enumerate(
        windows(recording.series.get(Role.ERROR_RATE, ()), ERROR_THRESHOLD, step)
    ):
        lines.append(
            f"  - {{name: errors-{i + 1}, at: {_seconds(w.start)}, "
            f"for: {_seconds(w.end - w.start)}, link: {LISTENER_LINK}, reset_peer: 0s, "
            f"toxicity: {_percent(w.peak)}}}"
        )
    utilisation = recording.series.get(Role.LINK_UTILISATION, ())
    for i, w in enumerate(windows(utilisation, SATURATION_THRESHOLD, step)):
        span = f"at: {_seconds(w.start)}, for: {_seconds(w.end - w.start)}, link: {LISTENER_LINK}"
        lines.append(f"  - {{name: capacity-{i + 1}, {span}, capacity: {SATURATED_CAPACITY}}}")
        lines.append(
            f"  - {{name: saturated-{i + 1}, {span}, direction: downstream, "
            f"flood: {_percent(w.peak)}}}"
        )
    return lines


def experiment_yaml(recording: Recording, *, title: str, curve_file: str, scale: int) -> str:
    """A complete experiment replaying ``recording`` at 1:``scale``."""
    faults = fault_lines(recording)
    peak = max(n for _, n in recording.listeners)
    duration = recording.listeners[-1][0] + recording.step
    return "\n".join(
        [
            f"# Imported by `gameday import`: {len(recording.listeners)} listener samples "
            f"(peak {peak:g} people, step {recording.step:g}s),",
            f"# replayed at 1:{scale} ({peak / scale:.0f} synthetic listeners at the peak), "
            f"over {duration:g}s from T0.",
            f"# Faults: error-rate stretches >= {ERROR_THRESHOLD:.0%} become reset_peer, link "
            f"utilisation >= {SATURATION_THRESHOLD:.0%} a flood.",
            f"title: {title!r}",
            "seed: 1",
            "stack: soundstage",
            f'scale: "1:{scale}"',
            f"duration: {_seconds(duration)}",
            "baseline: 5s",
            "recovery: 10s",
            "workload:",
            "  speakers: 1",
            "  listeners:",
            f'    - {{name: incident, arrival: curve, csv: {curve_file}, scale: "1:{scale}"}}',
            "  reconnect: {policy: backoff, initial: 500ms, max: 10s, multiplier: 2, jitter: 100%}",
            "faults:" if faults else "faults: []",
            *faults,
            "slos:",
            "  - {name: edges-up, min: soundstage_api_edge_up, equals: 1, during: baseline}",
            "  - {name: launch-delay, p95: gameday_listener_time_to_first_audio_seconds, "
            "below: 5s, during: incident}",
            "  - {name: join-success, ratio: gameday_listener_joins_ok_total/"
            "gameday_listener_join_attempts_total, above: 99%}",
            "  - {name: stalls, ratio: gameday_listener_stall_seconds_total/"
            "gameday_listener_played_seconds_total, below: 5%}",
            "",
        ]
    )


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "incident"


def import_recording(source: Path, output: Path, scale: int) -> Path:
    """Write ``output`` and its curve CSV next to it; validate the result before returning."""
    if scale < 1:
        raise InvalidInput(f"--scale {scale}", fix="give people per synthetic listener, >= 1")
    try:
        text = source.read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidInput(f"cannot read {source}: {exc.strerror}", where=str(source)) from None
    recording = parse_recording(text, str(source))
    curve_path = output.with_name(f"{output.stem}.curve.csv")
    output.parent.mkdir(parents=True, exist_ok=True)
    curve_path.write_text(curve_csv(recording), encoding="utf-8")
    title = f"Replay of {source.stem}"
    output.write_text(
        experiment_yaml(recording, title=title, curve_file=curve_path.name, scale=scale),
        encoding="utf-8",
    )
    load_experiment(output)  # what we wrote must be a valid experiment, or we fail here
    return output


def import_command(source: Path, output: Path | None, scale: int, console: Console) -> int:
    target = output or Path(f"{_slug(source.stem)}.yaml")
    written = import_recording(source, target, scale)
    console.print(f"wrote {written} and {written.stem}.curve.csv", markup=False, highlight=False)
    console.print(f"check it: gameday run {written} --dry-run", markup=False, highlight=False)
    return 0
