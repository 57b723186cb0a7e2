"""What gameday says about bad input: the corpus of bad experiments through `gameday validate`
and `gameday run --dry-run`, one file at a time, with a table per command.

For each command: files refused (exit not 0), refused with exit 2, located (an issue of the form
``FILE:LINE:COL: field.path: ...``), with a fix (the message says what to do), tracebacks (a
Python traceback reached the person), timeouts, and the slowest file with its time and peak
memory. Each file runs in a forked child of one process that imported gameday once, so the
figures are the command's own cost, not Python's start-up.

    python benchmarks/corpus.py                       # tests/corpus/bad_experiments
    python benchmarks/corpus.py --big                 # also 150,000 faults and a 10 MB file
    python benchmarks/corpus.py --json before.json    # keep the figures
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import signal
import sys
import tempfile
import time
import traceback
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "corpus" / "bad_experiments"

LOCATED = re.compile(
    r"^(?:error: )?\S+?:\d+:\d+: [A-Za-z_][\w\-]*(?:\[\d+\]|\.[\w\-]+| \(key\))*: ", re.MULTILINE
)
"""``FILE:LINE:COL: field.path: message`` — the place and the field."""

FIX_WORDS = (
    "did you mean", "use ", "give ", "add ", "write ", "remove ", "rename", "shorten",
    "lengthen", "move ", "set ", "raise ", "lower ", "split ", "e.g.", "fix:", "gameday plan",
    "expected one of", "correct ", "replace", "quote ", "at most", "at least", "drop ",
    "one of ", "like ", "instead", "must be",
)  # fmt: skip
"""Words a message uses when it says what to do (a did-you-mean, an example, a limit)."""

GENERIC_FIX = re.compile(r"fix: correct the places above.*$", re.MULTILINE)
"""The fix every located error of `gameday run` ends with: not a fix for this file."""

TRACEBACK = "Traceback (most recent call last)"

COMMANDS = {
    "validate": lambda path: ["validate", str(path)],
    "run --dry-run": lambda path: ["run", str(path), "--dry-run"],
}


@dataclass
class Outcome:
    file: str
    command: str
    code: int | None
    """None: killed at the timeout."""
    seconds: float
    max_rss_mb: float
    output: str

    @property
    def refused(self) -> bool:
        return self.code not in (0, None)

    @property
    def located(self) -> bool:
        return bool(LOCATED.search(self.output))

    @property
    def with_fix(self) -> bool:
        text = GENERIC_FIX.sub("", self.output).lower()
        return self.refused and any(word in text for word in FIX_WORDS)

    @property
    def traceback(self) -> bool:
        return TRACEBACK in self.output


def _child(argv: list[str], out_fd: int) -> None:
    os.dup2(out_fd, 1)
    os.dup2(out_fd, 2)
    os.environ["COLUMNS"] = "4096"
    from chaos.cli import main

    sys.argv = ["gameday", *argv]
    code = 0
    try:
        main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:  # what the person would see: Python's own traceback, exit 1
        traceback.print_exc()
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def run_one(command: str, path: Path, timeout: float) -> Outcome:
    argv = COMMANDS[command](path)
    with tempfile.TemporaryFile() as out:
        start = time.monotonic()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child
            _child(argv, out.fileno())
        code: int | None = None
        usage = None
        while True:
            done, status, usage = os.wait4(pid, os.WNOHANG)
            if done:
                code = os.waitstatus_to_exitcode(status)
                break
            if time.monotonic() - start > timeout:
                os.kill(pid, signal.SIGKILL)
                _, _, usage = os.wait4(pid, 0)
                break
            time.sleep(0.005)
        seconds = time.monotonic() - start
        out.seek(0)
        text = out.read().decode("utf-8", "replace")
    rss = usage.ru_maxrss / 1024 if usage is not None else 0.0
    return Outcome(str(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path), command,
                   code, seconds, rss, text)  # fmt: skip


@dataclass
class Figures:
    command: str
    files: int
    refused: int
    exit2: int
    located: int
    with_fix: int
    tracebacks: int
    timeouts: int
    slowest: str
    slowest_seconds: float
    slowest_rss_mb: float
    median_seconds: float


def figures(command: str, outcomes: list[Outcome]) -> Figures:
    slowest = max(outcomes, key=lambda o: o.seconds)
    times = sorted(o.seconds for o in outcomes)
    return Figures(
        command,
        len(outcomes),
        sum(o.refused for o in outcomes),
        sum(o.code == 2 for o in outcomes),
        sum(o.refused and o.located for o in outcomes),
        sum(o.with_fix for o in outcomes),
        sum(o.traceback for o in outcomes),
        sum(o.code is None for o in outcomes),
        Path(slowest.file).name,
        slowest.seconds,
        slowest.max_rss_mb,
        times[len(times) // 2],
    )


def big_files(folder: Path) -> list[Path]:
    """150,000 faults, and a 10 MB file (as many faults as make 10 MB)."""
    head = (
        "title: many faults\nstack: soundstage\nworkload: {speakers: 1, listeners: "
        "[{arrival: storm, count: 10}]}\nfaults:\n"
    )
    row = "  - {{name: f{0}, at: {1}s, for: 1s, link: listener->edge, latency: 10ms}}\n"
    paths = []
    many = folder / "150000-faults.yaml"
    many.write_text(head + "".join(row.format(i, i % 50) for i in range(150_000)))
    paths.append(many)
    ten = folder / "10MB.yaml"
    rows, size, i = [], len(head), 0
    while size < 10_000_000:
        rows.append(row.format(i, i % 50))
        size += len(rows[-1])
        i += 1
    ten.write_text(head + "".join(rows))
    paths.append(ten)
    return paths


def print_table(rows: list[Figures]) -> None:
    head = ("command", "files", "refused", "exit 2", "located", "with fix", "tracebacks",
            "timeouts", "median s", "slowest file", "s", "MB")  # fmt: skip
    print(" | ".join(head))
    print(" | ".join("---" for _ in head))
    for r in rows:
        cells = (r.command, r.files, r.refused, r.exit2, r.located, r.with_fix, r.tracebacks,
                 r.timeouts, f"{r.median_seconds:.2f}", r.slowest, f"{r.slowest_seconds:.2f}",
                 f"{r.slowest_rss_mb:.0f}")  # fmt: skip
        print(" | ".join(str(c) for c in cells))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument("--big", action="store_true", help="also the 150,000-fault files")
    parser.add_argument("--json", type=Path, help="write every outcome and the figures here")
    parser.add_argument("--show", action="store_true", help="print each file's output")
    parser.add_argument("--rescore", type=Path, help="score the outcomes of an earlier --json")
    args = parser.parse_args()
    if args.rescore:
        kept: dict[str, list[Outcome]] = {c: [] for c in COMMANDS}
        for row in json.loads(args.rescore.read_text())["outcomes"]:
            kept[row["command"]].append(Outcome(**row))
        print_table([figures(c, o) for c, o in kept.items()])
        return
    os.chdir(ROOT)
    import chaos.cli  # noqa: F401  (imported once, before the forks)

    resource.setrlimit(resource.RLIMIT_AS, (4 << 30, resource.RLIM_INFINITY))
    paths = sorted(args.corpus.glob("*.yaml"))
    with tempfile.TemporaryDirectory() as tmp:
        if args.big:
            paths += big_files(Path(tmp))
        outcomes: dict[str, list[Outcome]] = {c: [] for c in COMMANDS}
        for path in paths:
            for command in COMMANDS:
                outcome = run_one(command, path, args.timeout)
                outcomes[command].append(outcome)
                if args.show:
                    print(f"== {command} {outcome.file} (exit {outcome.code}, "
                          f"{outcome.seconds:.2f}s)\n{outcome.output[:2000]}")  # fmt: skip
    rows = [figures(c, o) for c, o in outcomes.items()]
    print_table(rows)
    for command, found in outcomes.items():
        bad = [o for o in found if not o.refused or o.traceback or o.code is None]
        accepted = [Path(o.file).name for o in bad if o.code == 0]
        traced = [Path(o.file).name for o in bad if o.traceback]
        if accepted:
            print(f"{command}: accepted {len(accepted)}: {' '.join(accepted)}")
        if traced:
            print(f"{command}: tracebacks {len(traced)}: {' '.join(traced)}")
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "figures": [asdict(r) for r in rows],
                    "outcomes": [
                        {**asdict(o), "output": o.output[:4000]}
                        for found in outcomes.values()
                        for o in found
                    ],
                },
                indent=1,
            )
        )


if __name__ == "__main__":
    main()
