"""Where each value of a parsed YAML document was written, to turn an error path back into a
place: ``("faults", 1, "lateny")`` → line and column.

Both YAML readers (the fast one, ``yamlfast``; the exact one, ``yamlexact``) give the plain
data (dicts, lists, scalars) for pydantic and, beside it, this index of 0-based places: for a
mapping, each key's place, its value's place and the value's own index; for a sequence, each
item's place and index; ``None`` for a scalar. A key merged in with ``<<: *anchor`` keeps the
place where it is spelt out, and an alias the place of the node it names.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeAlias

from chaos.experiment.errors import Position
from chaos.experiment.tagged import is_tag

KeySpot: TypeAlias = "tuple[int, int, int, int, Spots]"
"""A mapping entry: the key's line and column, the value's line and column, the value's spots."""
ItemSpot: TypeAlias = "tuple[int, int, Spots]"
"""A sequence item: its line and column, and its own spots."""
Spots: TypeAlias = "dict[Any, KeySpot] | list[ItemSpot] | None"


def locate(root: tuple[int, int, Spots], loc: Sequence[str | int], *, at_key: bool) -> Position:
    """Where the value at ``loc`` was written; its key when ``at_key`` (an unknown field).

    Path segments that are union tags are skipped; a path leading to a missing value is
    located at the nearest enclosing node that exists.
    """
    line, column, spots = root
    segments = [s for s in loc if not is_tag(s)]
    for index, segment in enumerate(segments):
        following = segments[index + 1] if index + 1 < len(segments) else None
        entry = spots.get(segment) if isinstance(spots, dict) else None
        if entry is not None:
            if following == "[key]" or (following is None and at_key):
                return Position(entry[0] + 1, entry[1] + 1)
            line, column, spots = entry[2], entry[3], entry[4]
        elif isinstance(spots, list) and isinstance(segment, int) and 0 <= segment < len(spots):
            line, column, spots = spots[segment]
        else:
            break
    return Position(line + 1, column + 1)
