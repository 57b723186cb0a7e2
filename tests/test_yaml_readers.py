"""The fast YAML reader (libyaml) and the exact one (ruamel.yaml) read a file alike.

``yamldoc.parse_yaml`` reads every file with the fast reader and asks the exact one only about
what the fast one refuses, so wherever the fast reader gives an answer it must be the exact
reader's: the same data (YAML 1.2: ``off`` stays a string, ``010`` is 10) and the same place
for every key and value. One known difference is left out of the comparison: an empty value
(``key:`` with nothing after it) is placed by libyaml right after its colon, by ruamel.yaml at
the next token, often the next line; the fast reader's place is the one an error should point
at. And the exact reader turns a tab inside a plain scalar into a space (its way to read
``seed:\\t42``), which the fast reader, reading YAML 1.2, keeps.
"""

from __future__ import annotations

import math
import string
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chaos.experiment import yamldoc, yamlexact
from chaos.experiment.loader import parse_experiment
from chaos.experiment.yamldoc import YamlSyntaxError
from chaos.experiment.yamlexact import read_exact
from chaos.experiment.yamlfast import Refused, read_fast
from chaos.experiment.yamlspots import Spots

ROOT = Path(__file__).resolve().parent.parent
WRITTEN = sorted(
    [
        *ROOT.glob("experiments/*.yaml"),
        *ROOT.glob("seeds/*/*.yaml"),
        *ROOT.glob("chaos/stack/specs/*.yaml"),
        *ROOT.glob("tests/data/*.yaml"),
    ]
)
CORPUS = sorted(ROOT.glob("tests/corpus/bad_experiments/*.yaml"))


def _canonical(value: Any, open_ids: tuple[int, ...] = ()) -> Any:
    """Data as comparable values: NaN equal to NaN, a cycle a marker, types kept apart."""
    if id(value) in open_ids:
        return "<cycle>"
    inner = (*open_ids, id(value))
    if isinstance(value, dict):
        items = [(repr(_canonical(k)), _canonical(v, inner)) for k, v in value.items()]
        return ("map", tuple(sorted(items, key=repr)))
    if isinstance(value, list):
        return ("seq", tuple(_canonical(v, inner) for v in value))
    if isinstance(value, float) and math.isnan(value):
        return ("float", "nan")
    return (type(value).__name__, repr(value))


def _places(data: Any, spots: Spots, path: tuple[Any, ...] = ()) -> dict[tuple[Any, ...], Any]:
    """Every key's and (non-empty) value's place by path; an aliased node once."""
    found: dict[tuple[Any, ...], Any] = {}
    stack = [(data, spots, path)]
    seen: set[int] = set()
    while stack:
        node, places, where = stack.pop()
        if places is None or id(places) in seen:
            continue
        seen.add(id(places))
        if isinstance(places, dict):
            for key, (kl, kc, vl, vc, child) in places.items():
                found[(*where, repr(key), "key")] = (kl, kc)
                if node.get(key) is not None:
                    found[(*where, repr(key))] = (vl, vc)
                stack.append((node.get(key), child, (*where, repr(key))))
        else:
            for index, (line, column, child) in enumerate(places):
                if node[index] is not None:
                    found[(*where, index)] = (line, column)
                stack.append((node[index], child, (*where, index)))
    return found


def _agree(text: str) -> bool:
    """True when the fast reader read `text` (and agrees with the exact one), False when it
    refused it; fails when it read what the exact reader refuses, or read it otherwise."""
    try:
        fast, fast_root = read_fast(text)
    except (Refused, ValueError):
        return False
    try:
        exact, exact_root = read_exact(text)
    except Exception as exc:
        raise AssertionError(f"only the fast reader reads {text!r}: {exc}") from exc
    assert _canonical(fast) == _canonical(exact), text
    assert _places(fast, fast_root[2]) == _places(exact, exact_root[2]), text
    assert fast_root[:2] == exact_root[:2], text
    return True


@pytest.mark.parametrize("path", WRITTEN, ids=[str(p.relative_to(ROOT)) for p in WRITTEN])
def test_the_fast_reader_reads_every_written_file_as_the_exact_one(path: Path) -> None:
    assert _agree(path.read_text()), "refused: it would be read at 13 µs a byte"


def test_the_fast_reader_reads_the_corpus_as_the_exact_one_or_leaves_it() -> None:
    read = [path for path in CORPUS if _agree(path.read_bytes().decode("utf-8", "replace"))]
    assert len(read) >= len(CORPUS) - 12  # the YAML mistakes, a tab indenting, a bad alias


TRICKY = [
    "true", "True", "FALSE", "yes", "no", "on", "off", "y", "n", "null", "Null", "~", "",
    "0", "010", "0o10", "0x1F", "0b101", "1_000", "+5", "-0", "1.5", "1.", ".5", "-.5", "1e3",
    "1.5e-3", ".inf", "-.Inf", ".nan", "2024-01-01", "2001-12-14t21:59:43.10-05:00", "1:500",
    "12:30:00", "200ms", "5%", "listener->edge", "a b", "a:b", "-x", ".x", "0.1_2", "1__0",
]  # fmt: skip
_words = st.from_regex(r"[a-z][a-z0-9_.>-]{0,8}", fullmatch=True)


def _scalar(draw: Any, flow: bool) -> str:
    text = draw(st.one_of(st.sampled_from(TRICKY), _words))
    style = draw(st.sampled_from(["plain", "plain", "single", "double"]))
    if style == "single" or (flow and text in ("a b", "a:b", "")) or text.startswith("-"):
        return "'" + text.replace("'", "''") + "'"
    if style == "double":
        return '"' + text + '"'
    return text


class _Writer:
    """A YAML document drawn part by part: block and flow styles, comments, tabs between
    tokens, anchors with aliases and merge keys to them."""

    def __init__(self, draw: Any) -> None:
        self.draw = draw
        self.mappings: list[str] = []  # anchors of mappings, for `<<: *name`
        self.anchors: list[str] = []

    def anchored(self, mapping: bool, write: Any) -> str:
        """``write()``'s node, with an anchor named after it is written (an alias inside the
        node it names is left to the exact reader)."""
        if not self.draw(st.booleans()) or len(self.anchors) > 4:
            return str(write())
        inner = write()
        name = f"a{len(self.anchors)}"
        text = f"&{name} {inner}"
        self.anchors.append(name)
        if mapping:
            self.mappings.append(name)
        return text

    def flow(self, depth: int) -> str:
        kind = self.draw(st.sampled_from(["scalar", "scalar", "map", "seq"] if depth else ["s"]))
        if kind in ("scalar", "s"):
            if self.anchors and self.draw(st.integers(0, 5)) == 0:
                return "*" + self.draw(st.sampled_from(self.anchors))
            return _scalar(self.draw, flow=True)
        if kind == "seq":
            count = self.draw(st.integers(0, 3))
            return self.anchored(
                False, lambda: "[" + ", ".join(self.flow(depth - 1) for _ in range(count)) + "]"
            )
        keys = self.draw(st.lists(_words, max_size=3, unique=True))
        return self.anchored(
            True, lambda: "{" + ", ".join(f"{key}: {self.flow(depth - 1)}" for key in keys) + "}"
        )

    def block_map(self, indent: int, depth: int) -> list[str]:
        pad = " " * indent
        lines = []
        if self.mappings and self.draw(st.integers(0, 3)) == 0:
            lines.append(f"{pad}<<: *{self.draw(st.sampled_from(self.mappings))}")
        for key in self.draw(st.lists(_words, min_size=1, max_size=4, unique=True)):
            lines += self.entry(f"{pad}{key}:", indent, depth)
        return lines

    def entry(self, head: str, indent: int, depth: int) -> list[str]:
        kind = self.draw(st.sampled_from(["flow", "flow", "empty", "map", "seq"]))
        comment = self.draw(st.sampled_from(["", "", "  # note"]))
        if kind == "empty" or (kind in ("map", "seq") and depth == 0):
            return [head + comment]
        if kind == "flow":
            tabs = [" ", "  ", "\t", " \t"] if head.endswith(":") else [" "]
            gap = self.draw(st.sampled_from(tabs))
            return [head + gap + self.flow(depth) + comment]
        if kind == "map":
            lines: list[str] = []

            def block() -> str:
                lines.extend(self.block_map(indent + 2, depth - 1))
                return ""

            return [(head + " " + self.anchored(True, block)).rstrip() + comment, *lines]
        lines = [head + comment]
        for _ in range(self.draw(st.integers(1, 3))):
            lines += self.entry(" " * (indent + 2) + "-", indent + 2, depth - 1)
        return lines


@st.composite
def documents(draw: Any) -> str:
    writer = _Writer(draw)
    lines = writer.block_map(0, 3)
    return "\n".join(lines) + draw(st.sampled_from(["\n", "", "\n\n# end\n"]))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents())
def test_generated_documents_read_alike(text: str) -> None:
    _agree(text)


_yamlish = st.text(
    alphabet=string.ascii_letters[:8] + string.digits[:4] + " :-{}[],&*!|>'\"#%@`?\n.\\/<=~_",
    max_size=80,
)


@settings(max_examples=500, deadline=None)
@given(st.one_of(_yamlish, st.text(max_size=40).filter(lambda t: "\t" not in t)))
def test_random_text_read_by_the_fast_reader_is_read_alike(text: str) -> None:
    _agree(text)


def test_the_generated_documents_are_mostly_read_fast() -> None:
    """The comparison above means something only if the fast reader reads what it is given."""

    @settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(documents())
    def count(text: str) -> None:
        outcomes.append(_agree(text))

    outcomes: list[bool] = []
    count()
    assert sum(outcomes) >= 0.9 * len(outcomes)


@pytest.mark.parametrize(
    ("text", "meant"),
    [
        ("seed:\t42\n", 42),
        ("seed: 010\n", 10),
        ("seed: 0o10\n", 8),
        ("seed: 1_000\n", 1000),
        ("seed: off\n", "off"),
        ("seed: yes\n", "yes"),
        ("seed: 1:500\n", "1:500"),
        ("seed: ~\n", None),
        ("seed: 1.5\n", 1.5),
        ("seed: a\tb\n", "a\tb"),
    ],
)
def test_yaml_1_2_as_parse_yaml_reads_it(text: str, meant: Any) -> None:
    assert yamldoc.parse_yaml(text, Path("x.yaml")).data == {"seed": meant}


@pytest.mark.parametrize("spelled", ["-_", "+_", "0x_", "._"])
def test_a_number_that_is_none_is_refused_at_its_place_by_both_readers(spelled: str) -> None:
    """ruamel.yaml's resolver takes these for numbers and its constructor fails inside (an
    IndexError, found by the random-text property above): a located error with the fix."""
    text = f"title: t\nseed: {spelled}\n"
    with pytest.raises(Refused):
        read_fast(text)
    with pytest.raises(
        YamlSyntaxError, match=r"x\.yaml:2:7: .*spelled as a YAML 1\.2 number.*quote"
    ):
        yamldoc.parse_yaml(text, Path("x.yaml"))


def test_an_empty_value_is_placed_after_its_colon(tmp_path: Path) -> None:
    text = "title:\nstack: soundstage\n"
    with pytest.raises(Exception, match=r"x\.yaml:1:7: title"):
        parse_experiment(text, tmp_path / "x.yaml")


def test_a_merged_key_is_placed_where_it_is_written(tmp_path: Path) -> None:
    text = (
        "title: t\nstack: soundstage\nworkload: {speakers: 1}\n"
        "base: &base {at: 1s, for: 1z}\n"
        "faults:\n  - {<<: *base, name: a, link: listener->edge, latency: 1ms}\n"
    )
    with pytest.raises(Exception) as caught:
        parse_experiment(text, tmp_path / "x.yaml")
    assert "x.yaml:4:27: faults[0].for" in str(caught.value)


def test_a_file_the_exact_reader_would_take_minutes_on_is_validated_by_the_fast_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def exact(text: str) -> Any:
        raise AssertionError("the exact reader was asked")

    monkeypatch.setattr(yamlexact, "read_exact", exact)
    head = (
        "title: t\nstack: soundstage\nworkload: {speakers: 1}\n"
        "slos: [{name: quiet, max: gameday_listeners_connected, below: 1}]\nfaults:\n"
    )
    row = "  - {{name: f{0}, at: {1}s, for: 1s, link: listener->edge, latency: 10ms}}\n"
    text = head + "".join(row.format(i, i) for i in range(16_000))
    assert len(text) > yamldoc.EXACT_BYTES  # once over the whole file limit
    loaded = parse_experiment(text, tmp_path / "big.yaml")
    assert len(loaded.experiment.faults) == 16_000


def test_a_syntax_error_past_the_exact_readers_bound_is_located_by_the_fast_one() -> None:
    row = "  - {name: f, at: 1s}\n"
    lines = 1 + yamldoc.EXACT_BYTES // len(row)
    text = "faults:\n" + row * lines + "  - {name: g, at: 1s\n"
    with pytest.raises(yamldoc.YamlSyntaxError) as caught:
        yamldoc.parse_yaml(text, Path("big.yaml"))
    issue = caught.value.issue
    assert issue.position is not None and issue.position.line in (lines + 2, lines + 3)
    assert issue.message.startswith("not valid YAML: ")
