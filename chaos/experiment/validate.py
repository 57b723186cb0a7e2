"""`gameday validate`: check experiment files without starting anything."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from chaos.errors import ExitCode
from chaos.experiment.errors import ExperimentError
from chaos.experiment.loader import load_experiment


def _expand(files: list[Path]) -> list[Path]:
    """Directories stand for the experiment files directly inside them."""
    expanded: list[Path] = []
    for path in files:
        if path.is_dir():
            expanded += sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml"))
        else:
            expanded.append(path)
    return expanded


def validate_files(files: list[Path], out: Console, err: Console) -> int:
    """Print `ok FILE (summary)` or every located issue per file; 0 if all valid, else 2."""
    paths = _expand(files)
    if not paths:
        err.print("no experiment files given (e.g. gameday validate experiments/)", markup=False)
        return int(ExitCode.INVALID_INPUT)
    invalid = 0
    for path in paths:
        try:
            loaded = load_experiment(path)
        except ExperimentError as exc:
            invalid += 1
            for issue in exc.issues:
                err.print(str(issue), markup=False, highlight=False, soft_wrap=True)
        else:
            summary = loaded.experiment.summary()
            out.print(f"ok {path} ({summary})", markup=False, highlight=False, soft_wrap=True)
    if invalid:
        err.print(f"{invalid} of {len(paths)} files invalid", markup=False, highlight=False)
        return int(ExitCode.INVALID_INPUT)
    return int(ExitCode.PASS)
