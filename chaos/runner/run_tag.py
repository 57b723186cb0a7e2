"""How a run marks the toxics it creates, so a rollback can remove one run's faults only.

The mark lives in the toxic's name (``slow-edge@20261124T143700Z-1a2b3c4d``) because the name is
the one free-form field that both a real Toxiproxy and ours store and echo: tagging then works
against either server, and a run killed with SIGKILL leaves toxics that still say whose they are.
"""

from __future__ import annotations

import re

from chaos.errors import InvalidInput

SEPARATOR = "@"
_RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


def check_run_id(run_id: str, *, where: str = "--run-id") -> str:
    """Accept ids that are safe inside a toxic name and a URL path segment."""
    if not _RUN_ID.fullmatch(run_id):
        raise InvalidInput(
            f"invalid run id {run_id!r}",
            where=where,
            fix="use the id from the run's journal: letters, digits, '_', '.', '-' (max 64), "
            "e.g. 20261124T143700Z-1a2b3c4d",
        )
    return run_id


def tag(toxic_name: str, run_id: str) -> str:
    """The toxic name a run uses on the server for its fault ``toxic_name``."""
    return f"{toxic_name}{SEPARATOR}{check_run_id(run_id)}"


def run_id_of(toxic_name: str) -> str | None:
    """The run that created a toxic, or None for a toxic no run tagged."""
    _, separator, run_id = toxic_name.rpartition(SEPARATOR)
    return run_id if separator and _RUN_ID.fullmatch(run_id) else None
