"""`gameday validate`: check experiment files without starting anything."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from chaos.errors import ExitCode, InvalidInput
from chaos.experiment.errors import MAX_SHOWN, ExperimentError
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


def validate_files(
    files: list[Path], out: Console, err: Console, backend: str | None = "local"
) -> int:
    """Print `ok FILE (summary)` or every located issue per file; 0 if all valid, else 2.
    Every file is checked, whatever an earlier one held; ``backend`` is the one the run would
    use (its checks are the run's: ``chaos.experiment.runnable``)."""
    paths = _expand(files)
    if not paths:
        err.print("no experiment files given (e.g. gameday validate experiments/)", markup=False)
        return int(ExitCode.INVALID_INPUT)
    invalid = 0
    for path in paths:
        try:
            loaded = load_experiment(path, backend)
        except ExperimentError as exc:
            invalid += 1
            for issue in exc.issues[:MAX_SHOWN]:
                err.print(str(issue), markup=False, highlight=False, soft_wrap=True)
            if len(exc.issues) > MAX_SHOWN:
                err.print(
                    f"{path}: ... and {len(exc.issues) - MAX_SHOWN} more issues",
                    markup=False,
                    highlight=False,
                )
        except InvalidInput as exc:
            invalid += 1
            err.print(f"{path}: {exc.render()}", markup=False, highlight=False, soft_wrap=True)
        else:
            summary = loaded.experiment.summary()
            out.print(f"ok {path} ({summary})", markup=False, highlight=False, soft_wrap=True)
    if invalid:
        err.print(f"{invalid} of {len(paths)} files invalid", markup=False, highlight=False)
        return int(ExitCode.INVALID_INPUT)
    return int(ExitCode.PASS)
