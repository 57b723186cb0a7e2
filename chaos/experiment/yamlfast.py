"""The fast YAML reader: libyaml's C parser (through PyYAML) for the events, this module for
what they mean and where they were.

The exact reader (``yamlexact``, ruamel.yaml in pure Python) costs about 13 µs of CPU a byte,
two minutes for a 10 MB schedule. libyaml scans and parses in C and hands over one event per
node with its place; building the plain data and the places (``yamlspots``) from the events
here costs about 0.4 µs a byte. What an event means follows the exact reader, so both read a
file alike:

- plain scalars are resolved with ruamel.yaml's own YAML 1.2 patterns (``off``, ``no``, ``1:500``
  stay strings), and built here for the common spellings (``true``, ``null``, ``42``, ``1.5``);
  rarer ones (``0x1F``, ``1_000``, ``2024-01-01``) are built by the exact reader;
- merge keys (``<<: *base``) are merged as ruamel.yaml merges them: keys written out win, then
  the first mapping merged that has the key; a merged key keeps the place it is written at;
- an alias stands for the same object, at the place of the node it names.

Anything else is ``Refused`` with its place, for the exact reader to decide: a syntax error, a
duplicate key, a tag or a ``%YAML`` directive (both change what scalars mean), a second
document, a mapping or sequence as a key, an undefined alias or one inside the node it names.
"""

from __future__ import annotations

import functools
import re
from typing import Any

import yaml
from ruamel.yaml.error import MarkedYAMLError
from ruamel.yaml.resolver import implicit_resolvers
from yaml._yaml import CParser
from yaml.events import (
    AliasEvent,
    DocumentStartEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
)

from chaos.experiment import yamlexact
from chaos.experiment.yamlspots import Spots


class Refused(Exception):
    """What the fast reader does not read, at a 0-based line and column."""

    def __init__(self, problem: str, line: int, column: int) -> None:
        super().__init__(problem)
        self.problem = problem
        self.line = line
        self.column = column


_TAG = "tag:yaml.org,2002:"
_RESOLVERS: dict[str, list[tuple[str, Any]]] = {}
for _versions, _tag, _pattern, _firsts in implicit_resolvers:
    if (1, 2) in _versions:
        for _first in _firsts:
            _compiled = re.compile(_pattern.pattern, _pattern.flags)  # not ruamel's lazy wrapper
            _RESOLVERS.setdefault(_first, []).append((_tag.removeprefix(_TAG), _compiled))
"""ruamel.yaml's YAML 1.2 implicit types by the scalar's first character, in its order."""

_DECIMAL = re.compile(r"[-+]?[0-9]+")
_SIMPLE_FLOAT = re.compile(
    r"[-+]?(?:[0-9]+\.[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?|[-+]?[0-9]+[eE][-+]?[0-9]+"
)
_BLOCK_HEADER = re.compile(r"(?:&[^ \t\r\n]+[ \t]+)?[|>](?:[1-9][-+]?|[-+][1-9]?)?(?=[ \t\r\n]|\Z)")
"""A block scalar's header as YAML 1.2 has it; libyaml also takes ``|#`` (no space before the
comment), and the exact reader does not."""
_MERGE = object()
_UNREAD = object()
_NO_KEY = object()


@functools.lru_cache(maxsize=1 << 16)
def _meaning(text: str) -> Any:
    """What a plain scalar means (names, durations and keys repeat: each is resolved once);
    ``_UNREAD`` for the tags that are no plain value (``<<`` outside a key, ``=``)."""
    resolvers = _RESOLVERS.get(text[:1])
    if resolvers is None:
        return text
    tag = next((tag for tag, pattern in resolvers if pattern.match(text)), None)
    if tag is None:
        return text
    if tag == "bool":
        return text[0] in "tT"
    if tag == "null":
        return None
    if tag == "int" and _DECIMAL.fullmatch(text):
        return int(text)
    if tag == "float" and _SIMPLE_FLOAT.fullmatch(text):
        return float(text)
    if tag in ("int", "float", "timestamp"):
        try:
            return yamlexact.plain_scalar(text)
        except MarkedYAMLError:  # spelled as a number, none (``-_``): the exact reader says so
            return _UNREAD
    return _UNREAD


def _unread(text: str) -> str:
    if text in ("<<", "="):
        return f"a plain {text!r} outside a mapping key"
    return yamlexact.not_a_number(text)


_NAME_END = frozenset("?:%@`")
"""Characters libyaml ends an anchor's name at and YAML 1.2 (and the exact reader) does not."""


def _check_name(text: str, mark: Any, name: str) -> None:
    end = mark.index + 1 + len(name)
    if end < len(text) and text[end] in _NAME_END:
        raise Refused(f"an anchor or alias named {name + text[end]!r}...", mark.line, mark.column)


def read_fast(text: str) -> tuple[Any, tuple[int, int, Spots]]:
    """The plain data of one YAML document and where each value was written; raises
    ``Refused`` (or ``ValueError`` on text libyaml cannot take, e.g. a lone surrogate)."""
    try:
        return _build(CParser(text), text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = " ".join(str(p) for p in (exc.context, exc.problem) if p)
        raise Refused(problem, mark.line if mark else 0, mark.column if mark else 0) from None
    except yaml.YAMLError as exc:  # the reader's: a character YAML does not allow
        raise Refused(str(exc), 0, 0) from None


def _build(parser: Any, text: str) -> tuple[Any, tuple[int, int, Spots]]:
    """Events to data and places with one explicit stack (no recursion: nesting is free)."""
    get_event = parser.get_event
    anchors: dict[str, tuple[Any, int, int, Spots]] = {}
    stack: list[tuple[Any, ...]] = []
    open_ids: set[int] = set()
    root: tuple[Any, tuple[int, int, Spots]] = (None, (0, 0, None))
    documents = 0
    # the node being filled: its value, its spots, whether a mapping, the key read and its
    # place, the mappings to merge in, and its own place
    node: Any = None
    spots: Any = None
    is_map = False
    key: Any = _NO_KEY
    key_line = key_column = 0
    merges: list[tuple[dict[Any, Any], dict[Any, Any]]] = []
    node_line = node_column = 0
    while True:
        event = get_event()
        kind = type(event)
        value_spots: Spots = None
        if kind is ScalarEvent:
            mark = event.start_mark
            line, column = mark.line, mark.column
            if event.tag is not None:
                raise Refused(f"a tag ({event.tag})", line, column)
            value: Any = event.value
            if event.style in ("|", ">") and not _BLOCK_HEADER.match(text, mark.index):
                raise Refused("a block scalar header YAML 1.2 does not allow", line, column)
            if not event.style:
                if is_map and key is _NO_KEY and value == "<<":
                    value = _MERGE
                elif (value := _meaning(value)) is _UNREAD:
                    raise Refused(_unread(event.value), line, column)
            if event.anchor is not None:
                _check_name(text, mark, event.anchor)
                anchors[event.anchor] = (value, line, column, None)
        elif kind is AliasEvent:
            mark = event.start_mark
            _check_name(text, mark, event.anchor)
            named = anchors.get(event.anchor)
            if named is None:
                raise Refused(f"found undefined alias {event.anchor!r}", mark.line, mark.column)
            value, line, column, value_spots = named
            if id(value) in open_ids:
                raise Refused("an alias inside the node it names", mark.line, mark.column)
        elif kind is MappingStartEvent or kind is SequenceStartEvent:
            mark = event.start_mark
            if event.tag is not None:
                raise Refused(f"a tag ({event.tag})", mark.line, mark.column)
            stack.append(
                (node, spots, is_map, key, key_line, key_column, merges, node_line, node_column)
            )
            is_map = kind is MappingStartEvent
            node, spots = ({}, {}) if is_map else ([], [])
            open_ids.add(id(node))
            key, merges = _NO_KEY, []
            node_line, node_column = mark.line, mark.column
            if event.anchor is not None:
                _check_name(text, mark, event.anchor)
                anchors[event.anchor] = (node, node_line, node_column, spots)
            continue
        elif kind is MappingEndEvent or kind is SequenceEndEvent:
            for source, source_spots in merges:
                for merged_key, merged in source.items():
                    if merged_key not in node:
                        node[merged_key] = merged
                        spots[merged_key] = source_spots[merged_key]
            open_ids.discard(id(node))
            value, value_spots, line, column = node, spots, node_line, node_column
            (node, spots, is_map, key, key_line, key_column, merges, node_line, node_column) = (
                stack.pop()
            )
        elif kind is DocumentStartEvent:
            mark = event.start_mark
            documents += 1
            if documents > 1:
                raise Refused("expected a single document in the stream", mark.line, mark.column)
            if event.version is not None or event.tags:
                raise Refused("a %YAML or %TAG directive", mark.line, mark.column)
            continue
        elif kind is StreamEndEvent:
            return root
        else:
            continue
        if not stack:
            root = (value, (line, column, value_spots) if value_spots is not None else (0, 0, None))
        elif not is_map:
            node.append(value)
            spots.append((line, column, value_spots))
        elif key is _NO_KEY:
            if value_spots is not None:
                raise Refused("a mapping or sequence as a key", line, column)
            key, key_line, key_column = value, line, column
        elif key is _MERGE:
            if merges:
                raise Refused("found duplicate key '<<'", key_line, key_column)
            merges = _merge_sources(value, value_spots, open_ids, line, column)
            key = _NO_KEY
        else:
            if key in node:
                raise Refused(f"found duplicate key {key!r}", key_line, key_column)
            node[key] = value
            spots[key] = (key_line, key_column, line, column, value_spots)
            key = _NO_KEY


def _merge_sources(
    value: Any, value_spots: Spots, open_ids: set[int], line: int, column: int
) -> list[tuple[dict[Any, Any], dict[Any, Any]]]:
    """The mappings a ``<<`` key merges in, first first: one mapping, or a sequence of them."""
    if isinstance(value, dict) and isinstance(value_spots, dict):
        sources = [(value, value_spots)]
    elif isinstance(value, list) and isinstance(value_spots, list):
        sources = [(item, spot[2]) for item, spot in zip(value, value_spots, strict=True)]
    else:
        raise Refused("a merge key whose value is not a mapping", line, column)
    if not sources:
        raise Refused("a merge key with nothing to merge", line, column)
    for source, source_spots in sources:
        if not isinstance(source, dict) or not isinstance(source_spots, dict):
            raise Refused("a merge key whose value is not a mapping", line, column)
        if id(source) in open_ids:
            raise Refused("a mapping merged into itself", line, column)
    return sources
