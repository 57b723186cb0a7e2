"""Go's ``flag`` package, as toxiproxy-server parses its command line.

Scripts written for toxiproxy-server start ours unchanged: ``-flag`` and ``--flag`` alike,
``-flag=value``, ``-flag value`` (not for booleans, which take ``-flag`` or ``-flag=false``),
``--`` ending the flags, ``-h``/``-help`` printing the usage. Messages are Go's
(``flag provided but not defined: -x``, ``invalid value "y" for flag -seed: parse error``).
Unlike Go, which stops at the first argument that is not a flag and ignores the rest, a stray
argument is an error here: it is always a mistake (``-proxy-metrics true`` sets nothing).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

Kind = Literal["string", "int64", "bool"]
_TRUE = ("1", "t", "T", "TRUE", "true", "True")
_FALSE = ("0", "f", "F", "FALSE", "false", "False")
_INT = re.compile(r"[+-]?(0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+|0[0-7]*|[1-9][0-9]*)")


@dataclass(frozen=True)
class Flag:
    name: str
    kind: Kind
    usage: str
    default: str | int | bool | None = None
    """None: no default to show (Go shows none for a zero value)."""


class FlagError(Exception):
    """A command line Go's flag package refuses (exit 2 after the usage)."""


class HelpRequested(Exception):
    """``-h`` or ``-help`` (exit 0 after the usage)."""


def parse_bool(text: str) -> bool | None:
    """``strconv.ParseBool``; None when it is not a boolean."""
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    return None


def parse_int64(text: str) -> int | None:
    """``strconv.ParseInt(text, 0, 64)``: ``0x``/``0o``/``0b`` prefixes and a leading 0 for
    octal (digit separators ``_`` are not taken); None when it is not such an integer or does
    not fit in 64 bits."""
    if len(text) > 80 or not _INT.fullmatch(text):
        return None
    sign, digits = (-1, text[1:]) if text[0] == "-" else (1, text.lstrip("+"))
    octal = len(digits) > 1 and digits[0] == "0" and digits[1].isdigit()
    value = sign * int(digits, 8 if octal else 0)
    return value if -(2**63) <= value < 2**63 else None


def _convert(flag: Flag, value: str) -> str | int | bool:
    if flag.kind == "bool":
        parsed_bool = parse_bool(value)
        if parsed_bool is None:
            raise FlagError(f'invalid boolean value "{value}" for -{flag.name}: parse error')
        return parsed_bool
    if flag.kind == "int64":
        parsed = parse_int64(value)
        if parsed is None:
            why = "value out of range" if _INT.fullmatch(value) else "parse error"
            raise FlagError(f'invalid value "{value}" for flag -{flag.name}: {why}')
        return parsed
    return value


def parse(flags: Sequence[Flag], args: Sequence[str]) -> dict[str, str | int | bool]:
    """The values of the flags given in ``args``, by flag name (absent flags are left out)."""
    known: Mapping[str, Flag] = {flag.name: flag for flag in flags}
    values: dict[str, str | int | bool] = {}
    rest = list(args)
    while rest:
        arg = rest.pop(0)
        if arg == "--":
            break
        if len(arg) < 2 or arg[0] != "-":
            rest.insert(0, arg)
            break
        name = arg[2:] if arg[1] == "-" else arg[1:]
        if not name or name[0] in "-=":
            raise FlagError(f"bad flag syntax: {arg}")
        name, equals, value = name.partition("=")
        flag = known.get(name)
        if flag is None:
            if name in ("h", "help"):
                raise HelpRequested
            raise FlagError(f"flag provided but not defined: -{name}")
        if flag.kind == "bool" and not equals:
            value = "true"
        elif not equals:
            if not rest:
                raise FlagError(f"flag needs an argument: -{name}")
            value = rest.pop(0)
        values[name] = _convert(flag, value)
    if rest:
        raise FlagError(f"unexpected argument {rest[0]!r}: every option is a -flag")
    return values


def usage(program: str, flags: Sequence[Flag]) -> str:
    """``flag.PrintDefaults`` under ``Usage of PROGRAM:``, flags sorted by name."""
    lines = [f"Usage of {program}:"]
    for flag in sorted(flags, key=lambda f: f.name):
        head = f"  -{flag.name}" + {"bool": "", "int64": " int", "string": " string"}[flag.kind]
        text = flag.usage
        if flag.default is not None:
            shown = (
                f'"{flag.default}"'
                if flag.kind == "string"
                else str(flag.default).lower()
                if flag.kind == "bool"
                else str(flag.default)
            )
            text += f" (default {shown})"
        lines.append(f"{head}\n    \t{text}")
    return "\n".join(lines) + "\n"
