"""The exact YAML 1.2 reader: ruamel.yaml's round-trip loader, pure Python.

It is the reference for what a file means: YAML 1.2 (so `off`, `no` and `1:500` stay
strings), duplicate keys refused, every syntax error worded with its place. It costs about
13 µs of CPU a byte, so ``yamldoc`` reads with the fast reader (``yamlfast``) and comes here
for what that one refuses (a syntax error, a tag, a directive); the round-trip tree also lets
``gameday search`` rewrite an experiment keeping its comments.
"""

from __future__ import annotations

from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.constructor import ConstructorError, RoundTripConstructor
from ruamel.yaml.error import MarkedYAMLError
from ruamel.yaml.nodes import ScalarNode

from chaos.experiment.yamlspots import Spots


def not_a_number(text: str) -> str:
    return (
        f"{text!r} is spelled as a YAML 1.2 number but is none; quote it ('{text}') to mean "
        "the text, or write the number"
    )


class _Constructor(RoundTripConstructor):
    """ruamel.yaml's round-trip constructor, with a located error for a plain scalar its
    resolver takes for a number and its constructor cannot make one of (``-_``, ``0o``): an
    IndexError from inside ruamel otherwise."""

    def construct_yaml_int(self, node: ScalarNode) -> Any:
        try:
            return super().construct_yaml_int(node)
        except (IndexError, ValueError):
            raise ConstructorError(None, None, not_a_number(node.value), node.start_mark) from None

    def construct_yaml_float(self, node: ScalarNode) -> Any:
        try:
            return super().construct_yaml_float(node)
        except (IndexError, ValueError):
            raise ConstructorError(None, None, not_a_number(node.value), node.start_mark) from None


_Constructor.add_constructor("tag:yaml.org,2002:int", _Constructor.construct_yaml_int)
_Constructor.add_constructor("tag:yaml.org,2002:float", _Constructor.construct_yaml_float)


def round_trip(text: str) -> Any:
    """The round-trip tree of one YAML 1.2 document; raises ruamel's errors."""
    yaml = YAML(typ="rt")
    yaml.Constructor = _Constructor
    yaml.version = (1, 2)
    yaml.allow_duplicate_keys = False
    return _load_separated_by_tabs(yaml, text)


def read_exact(text: str) -> tuple[Any, tuple[int, int, Spots]]:
    """The plain data of one document and where each value was written; raises ruamel's
    errors (``MarkedYAMLError`` for a syntax error, assorted others on hostile text)."""
    tree = round_trip(text)
    data, spots = _plain(tree, {})
    lc = getattr(tree, "lc", None)
    if lc is None or lc.line is None:
        return data, (0, 0, spots)
    return data, (lc.line, lc.col, spots)


def plain_scalar(text: str) -> Any:
    """What a plain scalar means in YAML 1.2 as this reader reads it (``0x1F``, ``1_000``,
    ``2024-01-01``): the fast reader asks here for the rare spellings it does not construct
    itself, so both agree by construction."""
    return read_exact(f"k: {text}\n")[0]["k"]


def _plain(node: Any, memo: dict[int, tuple[Any, Spots]]) -> tuple[Any, Spots]:
    """Ruamel's round-trip types as builtins, with their places; aliases stay shared, cycles
    stay cycles."""
    if id(node) in memo:
        return memo[id(node)]
    if isinstance(node, CommentedMap):
        plain: dict[Any, Any] = {}
        spots: dict[Any, Any] = {}
        memo[id(node)] = plain, spots
        for key, value in node.items():
            owner = _owner(node, key)
            item, item_spots = _plain(value, memo)
            plain_key = _plain(key, memo)[0]
            plain[plain_key] = item
            if owner is not None:
                kl, kc = owner.lc.key(key)
                vl, vc = owner.lc.value(key)
                spots[plain_key] = (kl, kc, vl, vc, item_spots)
        return plain, spots
    if isinstance(node, CommentedSeq):
        items: list[Any] = []
        places: list[Any] = []
        memo[id(node)] = items, places
        for index, item in enumerate(node):
            value, item_spots = _plain(item, memo)
            items.append(value)
            line, column = node.lc.item(index)
            places.append((line, column, item_spots))
        return items, places
    if isinstance(node, bool):
        return bool(node), None
    if isinstance(node, int):
        return int(node), None
    if isinstance(node, float):
        return float(node), None
    if isinstance(node, str):
        return str(node), None
    return node, None


def _owner(mapping: CommentedMap, key: Any) -> CommentedMap | None:
    """The mapping that spells out `key`: this one, or one merged into it with `<<: *anchor`."""
    if key in (mapping.lc.data or {}):
        return mapping
    for merged in getattr(mapping, "merge", None) or []:
        source = merged[1] if isinstance(merged, tuple) else merged  # ruamel 0.18: (index, map)
        found = _owner(source, key) if isinstance(source, CommentedMap) else None
        if found is not None:
            return found
    return None


TAB_RETRIES = 64
"""Tabs between tokens that ``_load_separated_by_tabs`` turns into spaces, at most."""


def _load_separated_by_tabs(yaml: YAML, text: str) -> Any:
    """YAML 1.2 allows a tab to separate tokens within a line (``seed:\t42``), which ruamel's
    scanner refuses. Where it stops at such a tab (after the line's indentation, so never one
    indenting, and never inside a quoted scalar, where the scanner does not look for tokens),
    the tab becomes a space and the text is read again."""
    for _ in range(TAB_RETRIES):
        try:
            return yaml.load(text)
        except MarkedYAMLError as exc:
            mark = exc.problem_mark
            if mark is None or "'\\t'" not in str(exc.problem) or text[mark.index] != "\t":
                raise
            start = text.rfind("\n", 0, mark.index) + 1
            if not text[start : mark.index].strip():
                raise  # a tab indenting: refused by YAML 1.2 too
            text = text[: mark.index] + " " + text[mark.index + 1 :]
    return yaml.load(text)
