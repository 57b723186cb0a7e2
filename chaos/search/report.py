"""What a search leaves behind: the minimal failing schedule as a replayable experiment, and a
report (Markdown for people, JSON for tools) of the space, the runs and how stable the verdict
was."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from chaos.experiment.loader import LoadedExperiment
from chaos.search.candidate import candidate
from chaos.search.engine import SearchResult
from chaos.search.space import SearchSpace
from chaos.search.vote import Vote

MINIMAL = "minimal-failing.yaml"
REPORT_MD = "search-report.md"
REPORT_JSON = "search-report.json"


def _vote_record(vote: Vote | None) -> dict[str, Any] | None:
    if vote is None:
        return None
    return {
        "verdict": vote.verdict.value,
        "fails": vote.fails,
        "holds": vote.holds,
        "undecided": vote.undecided,
        "runs": [asdict(r) for r in vote.runs],
    }


def write_search(
    out: Path, loaded: LoadedExperiment, space: SearchSpace, result: SearchResult
) -> list[Path]:
    """Write the report (and the minimal schedule's experiment, when one was found)."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    dropped: tuple[str, ...] = ()
    if result.minimal is not None:
        made = candidate(loaded, result.minimal, seed=result.seed, portable=True)
        dropped = made.dropped_slos
        (out / MINIMAL).write_text(made.text, encoding="utf-8")
        written.append(out / MINIMAL)
    record = {
        "experiment": str(loaded.path),
        "summary": result.summary(),
        "seed": result.seed,
        "space": {
            "links": list(space.links),
            "kinds": list(space.kinds),
            "window_seconds": space.window,
            "max_faults": space.max_faults,
            "storm": list(space.storm) if space.storm else None,
        },
        "policy": {"repeats": result.policy.repeats, "quorum": result.policy.needed},
        "stats": asdict(result.stats),
        "minimal": None
        if result.minimal is None
        else [f.describe() for f in result.minimal.faults]
        + ([result.minimal.storm.describe()] if result.minimal.storm else []),
        "vote": _vote_record(result.vote),
        "confirmation": _vote_record(result.confirmation),
        "dropped_slos": list(dropped),
    }
    (out / REPORT_JSON).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    (out / REPORT_MD).write_text(_markdown(record, result, out), encoding="utf-8")
    return [*written, out / REPORT_JSON, out / REPORT_MD]


def _markdown(record: dict[str, Any], result: SearchResult, out: Path) -> str:
    s = result.stats
    space = record["space"]
    lines = [
        f"# Search: {record['experiment']}",
        "",
        f"**{record['summary']}**",
        "",
        f"- space: {', '.join(space['kinds'])} on {', '.join(space['links'])}, "
        f"up to {space['max_faults']} faults within {space['window_seconds']}s of T0",
        f"- vote: {result.policy.repeats} repeats, failing when {result.policy.needed} fail",
        f"- {s.examples} examples, {s.judged} schedules judged ({s.cache_hits} cache hits), "
        f"{s.runs} runs ({s.run_seconds:.0f}s running), {s.failing} failing, "
        f"{s.undecided} undecided, {s.skipped} not judged for lack of budget",
        f"- seed {result.seed}; elapsed {s.elapsed:.0f}s"
        + ("; the budget ran out" if s.budget_exhausted else ""),
        *[f"- refuted (did not fail again when confirmed): {line}" for line in s.refuted],
        "",
    ]
    if result.minimal is not None:
        lines += ["## Minimal failing schedule", ""]
        lines += [f"- {line}" for line in record["minimal"]]
        lines += [""]
        for title, vote in (("During the search", result.vote), ("Confirmed", result.confirmation)):
            if vote is not None:
                lines.append(f"{title}: {vote.describe()}")
                lines += [
                    f"  - {'fail' if r.failed else 'hold' if r.failed is False else 'undecided'}"
                    f" in {r.seconds:.1f}s: {r.detail}"
                    for r in vote.runs
                ]
        if record["dropped_slos"]:
            lines += [
                "",
                "Left out of the replay (bound to the experiment's own faults): "
                + ", ".join(record["dropped_slos"]),
            ]
        lines += ["", f"Replay: `gameday run {out / MINIMAL}`", ""]
    return "\n".join(lines) + "\n"
