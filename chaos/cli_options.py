"""Command-line values written as the experiment files write them.

Every command reads a duration as `30s` or `1m30s`, a count as `2000`, `660,000` or `8M`, and a
scale as the YAML's `1:N` (one synthetic listener stands for N people), through the same unit
parsers as the files (``chaos.experiment.units``). Older spellings stay accepted so scripts keep
working: a bare number of seconds for a duration, a bare multiplier for `run --scale`, a bare N
for `import --scale`. Each parser raises ``typer.BadParameter``, which names the option and exits 2.

``alias`` merges an old option name, kept as a hidden option, into its one documented spelling.
"""

from __future__ import annotations

import re
from typing import TypeVar

import typer

from chaos.errors import InvalidInput
from chaos.experiment.units import Duration, Ratio, Scale, UnitError, parse_count

T = TypeVar("T")

_BARE_NUMBER = re.compile(r"\d{1,9}(?:\.\d{1,9})?")


def duration_seconds(text: str, option: str | None = None) -> float:
    """`30s`, `1m30s`, `500ms`; a bare `30` is seconds (the older spelling)."""
    stripped = text.strip()
    if _BARE_NUMBER.fullmatch(stripped):
        return float(stripped)
    try:
        return Duration.parse(stripped).seconds
    except UnitError as exc:
        raise typer.BadParameter(
            f"{exc}; write a duration with its unit, e.g. 30s", param_hint=option
        ) from None


def positive_duration_seconds(text: str, option: str | None = None) -> float:
    seconds = duration_seconds(text, option)
    if seconds <= 0:
        raise typer.BadParameter(f"{text} is not a positive duration; e.g. 30s", param_hint=option)
    return seconds


def share(text: str, option: str | None = None) -> Ratio:
    """`50%`, `10%`: a share as the experiment files write one (at most 100 %)."""
    try:
        value = Ratio.parse(text.strip())
    except UnitError as exc:
        raise typer.BadParameter(f"{exc}; e.g. 50%", param_hint=option) from None
    if value.fraction > 1:
        raise typer.BadParameter(f"{text} is more than the whole; e.g. 50%", param_hint=option)
    return value


def count(text: str, option: str | None = None) -> int:
    """`2000`, `660,000`, `2k`, `8M`: a count as the experiment files write one."""
    try:
        return parse_count(text)
    except UnitError as exc:
        raise typer.BadParameter(str(exc), param_hint=option) from None


def scale(text: str, option: str | None = "--scale") -> Scale | float:
    """`1:N` (one synthetic listener per N people), or a bare multiplier (the older spelling)."""
    stripped = text.strip()
    if ":" in stripped:
        try:
            return Scale.parse(stripped)
        except UnitError as exc:
            raise typer.BadParameter(str(exc), param_hint=option) from None
    if _BARE_NUMBER.fullmatch(stripped) and float(stripped) > 0:
        return float(stripped)
    raise typer.BadParameter(
        f"{text!r} is not a scale; write 1:N, one synthetic listener for N people (e.g. 1:500)",
        param_hint=option,
    )


def people_per_listener(text: str, option: str | None = "--scale") -> Scale:
    """`import --scale`: `1:N`, or a bare N (the older spelling) meaning 1:N."""
    stripped = text.strip()
    if stripped.isdigit():
        if int(stripped) < 1:
            raise typer.BadParameter(
                "people per synthetic listener must be at least 1, e.g. 1:500", param_hint=option
            )
        return Scale(1, int(stripped))
    found = scale(stripped, option)
    if not isinstance(found, Scale):
        raise typer.BadParameter(
            f"{text!r} is not a scale; write 1:N, e.g. 1:5000", param_hint=option
        )
    return found


def pairs(items: list[str], option: str, form: str) -> dict[str, str]:
    """Repeated ``KEY=VALUE`` options (``--image api=myorg/api:1.4``) as a mapping."""
    found: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key or not value:
            raise InvalidInput(f"{option} {item!r}", fix=f"write {form}")
        found[key] = value
    return found


def alias(new: T | None, old: T | None, *, name: str, old_name: str) -> T | None:
    """The value given as ``name`` or as its older spelling ``old_name`` (never both)."""
    if old is None:
        return new
    if new is not None and new != old:
        raise typer.BadParameter(
            f"{old_name} is the older spelling of {name}; give only {name}", param_hint=old_name
        )
    return old
