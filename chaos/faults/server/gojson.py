"""Go ``encoding/json`` as Toxiproxy uses it, so our answers match a real server byte for byte.

Toxiproxy decodes request bodies with ``json.NewDecoder(body).Decode(&typed)`` and returns the
decoder's error text to the client (``bad request body: <error>``). Clients and our contract suite
compare those texts, so this module reproduces three Go behaviours Python's ``json`` lacks:

* the scanner's syntax messages (``invalid character 'x' looking for beginning of value``),
  ``EOF`` for an empty body, ``unexpected EOF`` for a truncated one, and that a decoder reads only
  the first value (trailing bytes are ignored);
* typed decoding into structs: case-insensitive keys, ``null`` leaves a field alone, unknown keys
  are ignored, and a wrong type yields ``json: cannot unmarshal <kind> into Go struct field
  <Struct>.<path> of type <type>`` (the first such error, after decoding the rest);
* encoding: ``<``, ``>``, ``&``, U+2028 and U+2029 escaped, float32 printed in its shortest form.

The parser is iterative so a deeply nested body cannot exhaust Python's recursion limit.
"""

from __future__ import annotations

import json
import math
import struct
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal, localcontext
from fractions import Fraction
from typing import Literal

MAX_DEPTH = 10000
_SPACE = b" \t\r\n"
_FLOAT32_MAX = 3.4028234663852886e38
_FLOAT32_ROUNDS_TO_INF = _FLOAT32_MAX * (1 + 2**-25)
"""Halfway between float32's largest value and the next power of two: ParseFloat's overflow."""


class GoJSONError(ValueError):
    """A decode failure carrying Go's exact message."""


class GoNumber(str):
    """A JSON number kept as its literal, since Go's messages quote the literal (``number 1.5``)."""

    __slots__ = ()


def _quote_char(c: int) -> str:
    """Go's ``quoteChar``: how the scanner names an offending byte."""
    if c == ord("'"):
        return "'\\''"
    if c == ord('"'):
        return "'\"'"
    return "'" + _go_quote_rune(chr(c)) + "'"


def _go_quote_rune(ch: str) -> str:
    named = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
    if ch in named:
        return named[ch]
    if ch == "\v":
        return "\\v"
    if ch == "\\":
        return "\\\\"
    code = ord(ch)
    if code < 0x80:
        return ch if 0x20 <= code < 0x7F else f"\\x{code:02x}"
    printable = unicodedata.category(ch)[0] in "LMNPS"
    return ch if printable else f"\\u{code:04x}"


def _syntax(c: int, context: str) -> GoJSONError:
    return GoJSONError(f"invalid character {_quote_char(c)} {context}")


_UNEXPECTED_EOF = "unexpected EOF"
_ESCAPES = {
    ord('"'): '"',
    ord("\\"): "\\",
    ord("/"): "/",
    ord("b"): "\b",
    ord("f"): "\f",
    ord("n"): "\n",
    ord("r"): "\r",
    ord("t"): "\t",
}
_HEX = frozenset(b"0123456789abcdefABCDEF")
_DIGITS = frozenset(b"0123456789")


class _Parser:
    """One pass over the bytes; values are built on an explicit stack, not by recursion."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def _peek(self) -> int:
        if self.pos >= len(self.data):
            raise GoJSONError(_UNEXPECTED_EOF)
        return self.data[self.pos]

    def _skip_space(self) -> None:
        data, pos = self.data, self.pos
        while pos < len(data) and data[pos] in _SPACE:
            pos += 1
        self.pos = pos

    def parse(self) -> object:
        self._skip_space()
        if self.pos >= len(self.data):
            raise GoJSONError("EOF")
        # Stack frames: [container, pending_key]; a dict frame expects a key or a value.
        stack: list[list[object]] = []
        while True:
            value, opened = self._value_start(len(stack))
            if opened is not None:
                stack.append([opened, None])
                if self._container_closes_at_once(opened):
                    value = stack.pop()[0]
                else:
                    self._prepare_element(stack[-1])
                    continue
            # A complete value: attach it to its parent and advance through closers.
            while True:
                if not stack:
                    return value
                frame = stack[-1]
                container = frame[0]
                if isinstance(container, list):
                    container.append(value)
                else:
                    assert isinstance(container, dict)
                    container[frame[1]] = value
                if self._element_continues(container):
                    self._prepare_element(frame)
                    break
                value = stack.pop()[0]

    def _value_start(self, depth: int) -> tuple[object, list[object] | dict[str, object] | None]:
        self._skip_space()
        c = self._peek()
        if c in (ord("{"), ord("[")):
            if depth + 1 > MAX_DEPTH:
                raise GoJSONError("exceeded max depth")
            self.pos += 1
            return None, ({} if c == ord("{") else [])
        if c == ord('"'):
            return self._string(), None
        if c == ord("-") or c in _DIGITS:
            return self._number(), None
        for word, value in ((b"true", True), (b"false", False), (b"null", None)):
            if c == word[0]:
                self._literal(word)
                return value, None
        raise _syntax(c, "looking for beginning of value")

    def _container_closes_at_once(self, container: object) -> bool:
        self._skip_space()
        closer = ord("}") if isinstance(container, dict) else ord("]")
        if self._peek() == closer:
            self.pos += 1
            return True
        return False

    def _prepare_element(self, frame: list[object]) -> None:
        """Before an element: for objects read ``"key":`` so the next value is the member's."""
        if not isinstance(frame[0], dict):
            return
        self._skip_space()
        c = self._peek()
        if c != ord('"'):
            raise _syntax(c, "looking for beginning of object key string")
        frame[1] = self._string()
        self._skip_space()
        c = self._peek()
        if c != ord(":"):
            raise _syntax(c, "after object key")
        self.pos += 1

    def _element_continues(self, container: object) -> bool:
        self._skip_space()
        c = self._peek()
        is_object = isinstance(container, dict)
        if c == ord(","):
            self.pos += 1
            return True
        if c == (ord("}") if is_object else ord("]")):
            self.pos += 1
            return False
        raise _syntax(c, "after object key:value pair" if is_object else "after array element")

    def _literal(self, word: bytes) -> None:
        for expected in word[1:]:
            self.pos += 1
            c = self._peek()
            if c != expected:
                raise _syntax(c, f"in literal {word.decode()} (expecting {_quote_char(expected)})")
        self.pos += 1

    def _digits(self) -> None:
        data = self.data
        while self.pos < len(data) and data[self.pos] in _DIGITS:
            self.pos += 1

    def _number(self) -> GoNumber:
        start = self.pos
        if self.data[self.pos] == ord("-"):
            self.pos += 1
            c = self._peek()
            if c not in _DIGITS:
                raise _syntax(c, "in numeric literal")
        if self.data[self.pos] == ord("0"):
            self.pos += 1
        else:
            self._digits()
        if self.pos < len(self.data) and self.data[self.pos] == ord("."):
            self.pos += 1
            c = self._peek()
            if c not in _DIGITS:
                raise _syntax(c, "after decimal point in numeric literal")
            self._digits()
        if self.pos < len(self.data) and self.data[self.pos] in b"eE":
            self.pos += 1
            if self._peek() in b"+-":
                self.pos += 1
            c = self._peek()
            if c not in _DIGITS:
                raise _syntax(c, "in exponent of numeric literal")
            self._digits()
        return GoNumber(self.data[start : self.pos].decode("ascii"))

    def _string(self) -> str:
        self.pos += 1  # opening quote
        data = self.data
        pieces: list[str] = []
        run_start = self.pos
        while True:
            c = self._peek()
            if c == ord('"') or c == ord("\\"):
                pieces.append(data[run_start : self.pos].decode("utf-8", "replace"))
            if c == ord('"'):
                self.pos += 1
                return _fix_surrogates("".join(pieces))
            if c < 0x20:
                raise _syntax(c, "in string literal")
            self.pos += 1
            if c != ord("\\"):
                continue
            e = self._peek()
            if e in _ESCAPES:
                pieces.append(_ESCAPES[e])
            elif e == ord("u"):
                for _ in range(4):
                    self.pos += 1
                    h = self._peek()
                    if h not in _HEX:
                        raise _syntax(h, "in \\u hexadecimal character escape")
                pieces.append(chr(int(data[self.pos - 3 : self.pos + 1], 16)))
            else:
                raise _syntax(e, "in string escape code")
            self.pos += 1
            run_start = self.pos


def _fix_surrogates(text: str) -> str:
    """Join escaped surrogate pairs and turn lone surrogates into U+FFFD, as Go does."""
    if not any(0xD800 <= ord(ch) <= 0xDFFF for ch in text):
        return text
    out: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        code = ord(ch)
        if 0xD800 <= code <= 0xDBFF and i + 1 < len(text) and 0xDC00 <= ord(text[i + 1]) <= 0xDFFF:
            out.append(chr(0x10000 + ((code - 0xD800) << 10) + (ord(text[i + 1]) - 0xDC00)))
            i += 2
            continue
        out.append("\ufffd" if 0xD800 <= code <= 0xDFFF else ch)
        i += 1
    return "".join(out)


def _refuse(literal: str) -> object:
    raise ValueError(f"{literal} is not JSON")


_STANDARD = json.JSONDecoder(parse_float=GoNumber, parse_int=GoNumber, parse_constant=_refuse)
"""Python's C decoder, for bodies it reads exactly as Go does; numbers stay literals."""


def decode(body: bytes) -> object:
    """Decode the first JSON value of ``body`` the way ``json.Decoder.Decode`` does.

    A well-formed UTF-8 object or array without surrogate escapes decodes the same in Go and
    in Python's C decoder, twenty times faster than our scanner (a /populate of thousands of
    proxies must not hold up the data path); anything else — an error to word as Go does,
    bytes or surrogates Go replaces, nesting deeper than Python's recursion allows — takes
    the scanner.
    """
    try:
        text = body.decode("utf-8")
        start = len(text) - len(text.lstrip(" \t\r\n"))
        # An object or array ends at its bracket; after a bare number Go reads on ("1.e").
        if text[start : start + 1] in ("{", "[") and "\\ud" not in text.lower():
            return _STANDARD.raw_decode(text, start)[0]
    except (ValueError, RecursionError):
        pass
    return _Parser(body).parse()


# --- typed decoding ------------------------------------------------------------------------

GoKind = Literal["string", "bool", "int64", "int", "float32", "float64", "object"]


@dataclass(frozen=True)
class Field:
    """One struct field: its JSON name, Go kind, and the Go type name used in messages."""

    name: str
    kind: GoKind
    go_type: str = ""

    @property
    def type_name(self) -> str:
        return self.go_type or self.kind


@dataclass(frozen=True)
class Struct:
    """A Go struct as the decoder sees it: the name in messages and its fields."""

    name: str
    fields: tuple[Field, ...]

    def lookup(self, key: str) -> Field | None:
        for f in self.fields:
            if f.name == key:
                return f
        folded = key.casefold()
        for f in self.fields:
            if f.name.casefold() == folded:
                return f
        return None


def value_kind(value: object) -> str:
    """How Go names a JSON value's kind in ``cannot unmarshal <kind>``."""
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, GoNumber):
        return "number"
    return "string"


def type_error(kind: str, struct: str, path: str, go_type: str) -> GoJSONError:
    return GoJSONError(
        f"json: cannot unmarshal {kind} into Go struct field {struct}.{path} of type {go_type}"
    )


def value_type_error(value: object, go_type: str) -> GoJSONError:
    return GoJSONError(
        f"json: cannot unmarshal {value_kind(value)} into Go value of type {go_type}"
    )


def as_int64(value: object) -> int | None:
    """A number literal that Go decodes into an ``int64`` (Go's ``int`` is as wide), else None.

    Over-long literals are refused by their length, never converted: Python will not turn a
    string of more than 4,300 digits into an int, and Go refuses anything past 19.
    """
    if not isinstance(value, GoNumber) or any(ch in value for ch in ".eE"):
        return None
    if len(value.removeprefix("-")) > 19:
        return None
    number = int(value)
    return number if -(2**63) <= number < 2**63 else None


def _convert(value: object, f: Field) -> tuple[bool, object]:
    """Convert one JSON value for a field: (ok, converted); on a mismatch, ok is False."""
    if f.kind == "string":
        return isinstance(value, str) and not isinstance(value, GoNumber), value
    if f.kind == "bool":
        return isinstance(value, bool), value
    if f.kind == "object":
        return isinstance(value, dict), value
    if not isinstance(value, GoNumber):
        return False, value
    if f.kind in ("int64", "int"):
        number = as_int64(value)
        return number is not None, value if number is None else number
    as_float = float(value)
    if f.kind == "float64":
        return not math.isinf(as_float), as_float
    if math.isinf(as_float) or abs(as_float) >= _FLOAT32_ROUNDS_TO_INF:
        return False, value
    return True, to_float32(as_float)


def decode_into(
    value: object,
    struct: Struct,
    target: dict[str, object],
    *,
    path: str = "",
    nested: Mapping[str, tuple[Struct, dict[str, object]]] | None = None,
) -> GoJSONError | None:
    """Decode an object over ``target`` (fields present keep their value); first error or None.

    ``nested`` maps a field of kind ``object`` to the struct and dict its members decode into
    (Toxiproxy's ``attributes``). ``value`` must be a dict or None (``null`` changes nothing).
    """
    if value is None:
        return None
    assert isinstance(value, dict)
    first: GoJSONError | None = None
    for key, member in value.items():
        f = struct.lookup(key)
        if f is None or member is None:
            continue
        field_path = f"{path}{f.name}"
        if nested is not None and f.name in nested:
            inner_struct, inner_target = nested[f.name]
            if not isinstance(member, dict):
                err: GoJSONError | None = type_error(
                    value_kind(member), struct.name, field_path, f.type_name
                )
            else:
                err = decode_into(member, inner_struct, inner_target, path=field_path + ".")
            first = first or err
            continue
        ok, converted = _convert(member, f)
        if not ok:
            kind = value_kind(member)
            if kind == "number" and f.kind in ("int64", "int", "float32", "float64"):
                kind = f"number {member}"
            first = first or type_error(kind, struct.name, field_path, f.type_name)
            continue
        target[f.name] = converted
    return first


# --- encoding ------------------------------------------------------------------------------


def to_float32(value: float) -> float:
    """``value`` rounded to the nearest float32 (ties to even), as a Python float."""
    rounded: float = struct.unpack("f", struct.pack("f", value))[0]
    return rounded


def format_float32(value: float) -> str:
    """``strconv.AppendFloat(v, fmt, -1, 32)`` as encoding/json prints a float32."""
    value = to_float32(value)
    return _format_go_float(value, *_shortest_float32(abs(value)) if value else ("0", 0))


def format_float64(value: float) -> str:
    """``strconv.AppendFloat(v, fmt, -1, 64)``: our float64 extension attributes."""
    return _format_go_float(value, *_shortest_float64(abs(value)) if value else ("0", 0))


def _shortest_float64(magnitude: float) -> tuple[str, int]:
    """(digits, power of ten of the first digit): ``repr`` is already the shortest round trip."""
    exact = Decimal(repr(magnitude)).as_tuple()
    assert isinstance(exact.exponent, int)
    return "".join(map(str, exact.digits)).rstrip("0"), len(exact.digits) + exact.exponent - 1


def _float32_interval(magnitude: float) -> tuple[Fraction, Fraction, bool]:
    """The decimals that read back as this float32: (low, high, bounds included)."""
    exponent = math.frexp(magnitude)[1]  # magnitude = m * 2**exponent, 0.5 <= m < 1
    ulp = Fraction(2) ** max(exponent - 24, -149)
    significand = Fraction(magnitude) / ulp
    below = ulp / 4 if significand == 2**23 and exponent > -125 else ulp / 2
    return Fraction(magnitude) - below, Fraction(magnitude) + ulp / 2, significand % 2 == 0


def _shortest_float32(magnitude: float) -> tuple[str, int]:
    """Go's shortest float32 digits: fewest digits that read back, the closest of those."""
    exact = Fraction(magnitude)
    low, high, inclusive = _float32_interval(magnitude)
    lead = Decimal(magnitude).adjusted()
    for precision in range(1, 10):
        quantum = Decimal(1).scaleb(lead - precision + 1)
        candidates = []
        with localcontext() as context:
            context.prec = 60
            for rounding in (ROUND_FLOOR, ROUND_CEILING):
                candidate = Decimal(magnitude).quantize(quantum, rounding=rounding)
                point = Fraction(candidate)
                inside = low < point < high or (inclusive and point in (low, high))
                if inside and candidate:
                    odd = candidate.as_tuple().digits[-1] % 2  # a tie goes to the even digit
                    candidates.append((abs(point - exact), odd, candidate))
        if candidates:
            *_, best = min(candidates)
            shown = best.normalize().as_tuple()
            assert isinstance(shown.exponent, int)
            digits = "".join(map(str, shown.digits))
            return digits, len(digits) + shown.exponent - 1
    raise AssertionError(f"no shortest form for float32 {magnitude!r}")  # 9 digits always do


def _format_go_float(value: float, digits: str, exponent: int) -> str:
    """encoding/json's float: %f from 1e-6 up to 1e21, else %e with e-7 rather than e-07."""
    if value == 0:
        return "-0" if math.copysign(1.0, value) < 0 else "0"
    sign = "-" if value < 0 else ""
    if abs(value) < 1e-6 or abs(value) >= 1e21:
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        power = f"-{-exponent}" if exponent < 0 else f"+{exponent:02d}"
        return f"{sign}{mantissa}e{power}"
    if exponent < 0:
        return f"{sign}0.{'0' * (-exponent - 1)}{digits}"
    whole, fraction = digits[: exponent + 1].ljust(exponent + 1, "0"), digits[exponent + 1 :]
    return f"{sign}{whole}.{fraction}" if fraction else f"{sign}{whole}"


class Float32(float):
    """A float that the encoder prints as Go prints a float32."""

    __slots__ = ()


_GO_ESCAPES = str.maketrans(
    {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
)


def _encode_str(text: str) -> str:
    return json.dumps(text, ensure_ascii=False).translate(_GO_ESCAPES)


def encode(value: object) -> bytes:
    """Compact JSON as ``json.Marshal`` writes it; dict order is kept (struct field order)."""
    parts: list[str] = []
    _encode(value, parts.append)
    return "".join(parts).encode("utf-8")


def _encode(value: object, emit: Callable[[str], None]) -> None:
    if value is None:
        emit("null")
    elif value is True:
        emit("true")
    elif value is False:
        emit("false")
    elif isinstance(value, str):
        emit(_encode_str(value))
    elif isinstance(value, Float32):
        emit(format_float32(value))
    elif isinstance(value, int):
        emit(str(value))
    elif isinstance(value, float):
        emit(format_float64(value))
    elif isinstance(value, Mapping):
        emit("{")
        for i, (key, member) in enumerate(value.items()):
            if i:
                emit(",")
            emit(_encode_str(str(key)))
            emit(":")
            _encode(member, emit)
        emit("}")
    elif isinstance(value, Sequence):
        emit("[")
        for i, member in enumerate(value):
            if i:
                emit(",")
            _encode(member, emit)
        emit("]")
    else:
        raise TypeError(f"cannot encode {type(value).__name__}")
