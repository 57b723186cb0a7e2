"""Human quantities in experiment files: `200ms`, `5%`, `64kbps`, `1000KB/s`, `1.5MB`, `1:500`.

People write quantities with units; a bare `30` for a duration could mean seconds or
milliseconds, so bare numbers are refused wherever they are ambiguous (durations, ratios, rates)
and accepted where they are not (sizes are bytes, counts are counts). Values are parsed exactly
(``Fraction``, never float) into integers of a base unit, so ``parse(str(x)) == x`` always holds
and two spellings of the same quantity compare equal. Every value object is a pydantic field
type that validates from text (or an instance) and serialises back to its canonical text.

The parsers raise only ``UnitError`` (a ``ValueError``, so pydantic reports it as a located
field error) on any input.
"""

from __future__ import annotations

import functools
import math
import re
from abc import ABC, abstractmethod
from dataclasses import dataclass
from fractions import Fraction
from typing import Annotated, Any, ClassVar, Self

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import core_schema

_NUMBER = r"(?:\d{1,24}(?:\.\d{0,12})?|\.\d{1,12})"


class UnitError(ValueError):
    """A quantity could not be read; the message says what was expected."""


def _exact(number: str) -> Fraction:
    return Fraction(number if not number.endswith(".") else number[:-1] or "0")


def _decimal(value: Fraction) -> str:
    """Exact decimal text of a terminating fraction, without trailing zeros (`1.5`, `64`)."""
    sign = "-" if value < 0 else ""
    value = abs(value)
    whole, rest = divmod(value.numerator, value.denominator)
    if rest == 0:
        return f"{sign}{whole}"
    digits: list[str] = []
    while rest and len(digits) < 40:
        rest *= 10
        digit, rest = divmod(rest, value.denominator)
        digits.append(str(digit))
    return f"{sign}{whole}.{''.join(digits).rstrip('0')}"


def _shortest(amount: int, units: tuple[tuple[str, int], ...]) -> str:
    """The shortest exact spelling of `amount` base units among `units` (first wins ties)."""
    best = f"{amount}{units[0][0]}"
    for suffix, factor in units[1:]:
        if amount >= factor:
            text = f"{_decimal(Fraction(amount, factor))}{suffix}"
            if len(text) < len(best):
                best = text
    return best


def _describe(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


class _Quantity(ABC):
    """Pydantic glue shared by every value object: validate from text, serialise to text."""

    kind: ClassVar[str]
    examples: ClassVar[tuple[str, ...]]
    zero: ClassVar[str]
    """How zero is written: the one bare number that is never ambiguous."""

    @classmethod
    @abstractmethod
    def parse(cls, text: str) -> Self:
        """Read the canonical text (and the other spellings people use)."""

    @abstractmethod
    def __str__(self) -> str:
        """The canonical text: `parse(str(x)) == x`."""

    @classmethod
    def from_number(cls, value: int | float) -> Self:
        """A bare YAML number; refused unless the class says it is unambiguous."""
        if value == 0:
            return cls.parse(cls.zero)
        raise UnitError(
            f"{value!r} has no unit; write a {cls.kind} with its unit, "
            f"e.g. {', '.join(cls.examples)}"
        )

    @classmethod
    def coerce(cls, value: object) -> Self:
        if isinstance(value, str):  # first: the check against this ABC costs a few µs
            return cls.parse(value)
        if isinstance(value, cls):
            return value
        if isinstance(value, int | float) and not isinstance(value, bool):
            if value < 0:
                raise UnitError(f"{value!r} is negative; a {cls.kind} must be 0 or more")
            return cls.from_number(value)
        raise UnitError(
            f"expected a {cls.kind} like {', '.join(cls.examples)}; got {_describe(value)}"
        )

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: type[Any], handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_plain_validator_function(
            cls.coerce,
            serialization=core_schema.plain_serializer_function_ser_schema(str),
        )

    @classmethod
    def __get_pydantic_json_schema__(
        cls, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        text: JsonSchemaValue = {"type": "string"}
        number = cls.number_schema()
        spelled = {"anyOf": [text, number]} if number is not None else text
        return {**spelled, "description": cls.kind, "examples": list(cls.examples)}

    @classmethod
    def number_schema(cls) -> JsonSchemaValue | None:
        """The bare YAML numbers ``from_number`` accepts, for editors (`gameday schema`)."""
        return {"const": 0}


def _match(
    pattern: re.Pattern[str], text: str, kind: str, examples: tuple[str, ...]
) -> re.Match[str]:
    found = pattern.fullmatch(text.strip())
    if found is None:
        if text.strip().startswith("-"):
            raise UnitError(f"{_describe(text)} is negative; a {kind} must be 0 or more")
        raise UnitError(f"expected a {kind} like {', '.join(examples)}; got {_describe(text)}")
    return found


def _integral(value: Fraction | int, text: str, finest: str) -> int:
    if value.denominator != 1:
        raise UnitError(f"{_describe(text)} is finer than {finest}, the smallest step")
    return value.numerator


def _bounded(amount: int, limit: int, text: str, kind: str, largest: str) -> int:
    if amount > limit:
        raise UnitError(f"{_describe(text)} is too large for a {kind} (at most {largest})")
    return amount


# --- durations -------------------------------------------------------------------------------

_NS_PER = {
    "h": 3_600_000_000_000,
    "min": 60_000_000_000,
    "m": 60_000_000_000,
    "s": 1_000_000_000,
    "ms": 1_000_000,
    "us": 1_000,
    "µs": 1_000,
    "ns": 1,
}
_DURATION_PART = re.compile(rf"\s*({_NUMBER})\s*(h|min|ms|m|s|us|µs|ns)")
_DURATION = re.compile(rf"(?:{_DURATION_PART.pattern})+")
_CANONICAL_DURATION = (
    ("h", _NS_PER["h"]),
    ("m", _NS_PER["m"]),
    ("s", _NS_PER["s"]),
    ("ms", _NS_PER["ms"]),
    ("us", _NS_PER["us"]),
    ("ns", 1),
)
_MAX_DURATION_NS = 366 * 24 * _NS_PER["h"]


@dataclass(frozen=True, order=True, slots=True)
class Duration(_Quantity):
    """A span of time, exact to the nanosecond: `200ms`, `2s`, `5m`, `1h`, `1m30s`, `0.5s`."""

    nanoseconds: int

    kind: ClassVar[str] = "duration"
    examples: ClassVar[tuple[str, ...]] = ("200ms", "2s", "5m", "1m30s")
    zero: ClassVar[str] = "0s"

    def __post_init__(self) -> None:
        if self.nanoseconds < 0:
            raise UnitError(f"a duration must be 0 or more, not {self.nanoseconds}ns")

    @classmethod
    def parse(cls, text: str) -> Self:
        return cls(_duration_ns(text))

    @classmethod
    def of_seconds(cls, seconds: int | float | Fraction) -> Duration:
        """A duration computed by the harness (e.g. `count / rate`), rounded to the nanosecond."""
        return cls(round(Fraction(seconds) * _NS_PER["s"]))

    @property
    def seconds(self) -> float:
        return self.nanoseconds / _NS_PER["s"]

    def __add__(self, other: Duration) -> Duration:
        return Duration(self.nanoseconds + other.nanoseconds)

    def __sub__(self, other: Duration) -> Duration:
        return Duration(max(0, self.nanoseconds - other.nanoseconds))

    def __str__(self) -> str:
        if self.nanoseconds == 0:
            return "0s"
        parts = []
        rest = self.nanoseconds
        for unit, factor in _CANONICAL_DURATION:
            count, rest = divmod(rest, factor)
            if count:
                parts.append(f"{count}{unit}")
        compound = "".join(parts)
        single = _shortest(self.nanoseconds, tuple(reversed(_CANONICAL_DURATION)))
        return single if len(single) < len(compound) else compound


@functools.lru_cache(maxsize=4096)
def _duration_ns(text: str) -> int:
    """Nanoseconds of a duration's text; remembered, as a schedule repeats its `for: 1s`."""
    _match(_DURATION, text, Duration.kind, Duration.examples)
    total: Fraction | int = 0
    previous = None
    for number, unit in _DURATION_PART.findall(text):
        factor = _NS_PER[unit]
        if previous is not None and factor >= previous:
            raise UnitError(
                f"{_describe(text)}: write the larger units first, each once (e.g. 1h30m)"
            )
        previous = factor
        # whole numbers (nearly all) in integers: a Fraction costs ten times as much
        total += (int(number) if number.isdecimal() else _exact(number)) * factor
    nanoseconds = _integral(total, text, "1ns")
    return _bounded(nanoseconds, _MAX_DURATION_NS, text, Duration.kind, "366 days")


# --- ratios ----------------------------------------------------------------------------------

_PERCENT = re.compile(rf"({_NUMBER})\s*%")
_MAX_PERCENT = 1_000_000


@dataclass(frozen=True, order=True, slots=True)
class Ratio(_Quantity):
    """A share or ratio written as a percentage (`5%`, `99.5%`), stored as an exact fraction.

    A bare `0.05` is refused: it could mean 5 % or 0.05 %; only `0` is unambiguous.
    """

    value: Fraction

    kind: ClassVar[str] = "percentage"
    examples: ClassVar[tuple[str, ...]] = ("5%", "99.5%", "0.1%")
    zero: ClassVar[str] = "0%"

    def __post_init__(self) -> None:
        if self.value < 0:
            raise UnitError(f"a percentage must be 0 or more, not {_decimal(self.value * 100)}%")

    @classmethod
    def parse(cls, text: str) -> Self:
        found = _match(_PERCENT, text, cls.kind, cls.examples)
        percent = _exact(found.group(1))
        if percent > _MAX_PERCENT:
            raise UnitError(f"{_describe(text)} is too large for a percentage")
        return cls(percent / 100)

    @property
    def fraction(self) -> float:
        return float(self.value)

    def __str__(self) -> str:
        return f"{_decimal(self.value * 100)}%"


def _at_most_100_percent(ratio: Ratio) -> Ratio:
    if ratio.value > 1:
        raise UnitError(f"{ratio} is more than 100%; a share is between 0% and 100%")
    return ratio


Share = Annotated[Ratio, BeforeValidator(lambda v: _at_most_100_percent(Ratio.coerce(v)))]
"""A `Ratio` of a whole: 0 % to 100 % (loss, toxicity, a flood's share of a link)."""


# --- data rates ------------------------------------------------------------------------------

_SI = {"": 1, "k": 1000, "K": 1000, "M": 1000**2, "G": 1000**3, "T": 1000**4}
_IEC = {"Ki": 1024, "Mi": 1024**2, "Gi": 1024**3, "Ti": 1024**4}
_MAX_BITS_PER_SECOND = 10**15


@dataclass(frozen=True, order=True, slots=True)
class BitRate(_Quantity):
    """Bits per second, decimal prefixes: `64kbps`, `10Mbps`, `1Gbit/s` (how links are sold)."""

    bits_per_second: int

    kind: ClassVar[str] = "bit rate"
    examples: ClassVar[tuple[str, ...]] = ("64kbps", "10Mbps", "1Gbit/s")
    zero: ClassVar[str] = "0bps"
    _pattern: ClassVar[re.Pattern[str]] = re.compile(rf"({_NUMBER})\s*([kKMGT]?)(?:bps|bit/s|b/s)")
    _units: ClassVar[tuple[tuple[str, int], ...]] = (
        ("bps", 1),
        ("kbps", 1000),
        ("Mbps", 1000**2),
        ("Gbps", 1000**3),
        ("Tbps", 1000**4),
    )

    def __post_init__(self) -> None:
        if self.bits_per_second < 0:
            raise UnitError("a bit rate must be 0 or more")

    @classmethod
    def parse(cls, text: str) -> Self:
        found = _match(cls._pattern, text, cls.kind, cls.examples)
        bits = _integral(_exact(found.group(1)) * _SI[found.group(2)], text, "1 bit/s")
        return cls(_bounded(bits, _MAX_BITS_PER_SECOND, text, cls.kind, "1000Tbps"))

    @property
    def bytes_per_second(self) -> float:
        return self.bits_per_second / 8

    def __str__(self) -> str:
        return _shortest(self.bits_per_second, self._units)


@dataclass(frozen=True, order=True, slots=True)
class ByteRate(_Quantity):
    """Bytes per second: `1000KB/s`, `1MB/s`, `64KiB/s`; KB = 1000 B, as Toxiproxy counts."""

    bytes_per_second: int

    kind: ClassVar[str] = "byte rate"
    examples: ClassVar[tuple[str, ...]] = ("1000KB/s", "1MB/s", "64KiB/s")
    zero: ClassVar[str] = "0B/s"
    _pattern: ClassVar[re.Pattern[str]] = re.compile(rf"({_NUMBER})\s*([kKMGT]i?|)(?:B/s|Bps)")
    _units: ClassVar[tuple[tuple[str, int], ...]] = (
        ("B/s", 1),
        ("KB/s", 1000),
        ("KiB/s", 1024),
        ("MB/s", 1000**2),
        ("MiB/s", 1024**2),
        ("GB/s", 1000**3),
        ("GiB/s", 1024**3),
    )

    def __post_init__(self) -> None:
        if self.bytes_per_second < 0:
            raise UnitError("a byte rate must be 0 or more")

    @classmethod
    def parse(cls, text: str) -> Self:
        found = _match(cls._pattern, text, cls.kind, cls.examples)
        prefix = found.group(2)
        factor = _IEC[prefix.upper()[0] + "i"] if prefix.endswith("i") else _SI[prefix]
        amount = _integral(_exact(found.group(1)) * factor, text, "1 B/s")
        return cls(_bounded(amount, _MAX_BITS_PER_SECOND // 8, text, cls.kind, "125TB/s"))

    def __str__(self) -> str:
        return _shortest(self.bytes_per_second, self._units)


DataRate = BitRate | ByteRate
"""A link speed in whichever family the author wrote it."""


def parse_data_rate(value: object) -> DataRate:
    """A bit rate (`64kbps`) or a byte rate (`1000KB/s`), told apart by the unit."""
    if isinstance(value, BitRate | ByteRate):
        return value
    if isinstance(value, str) and re.search(r"(?:bps|bit/s|b/s)\s*$", value.strip()):
        return BitRate.parse(value)
    if isinstance(value, str) and re.search(r"(?:B/s|Bps)\s*$", value.strip()):
        return ByteRate.parse(value)
    if isinstance(value, int | float) and not isinstance(value, bool) and value != 0:
        raise UnitError(
            f"{value!r} has no unit; write a rate like 64kbps (bits) or 1000KB/s (bytes)"
        )
    if value == 0 and not isinstance(value, bool):
        return BitRate(0)
    raise UnitError(
        f"expected a data rate like 64kbps, 10Mbps (bits) or 1000KB/s (bytes); "
        f"got {_describe(value)}"
    )


# --- sizes -----------------------------------------------------------------------------------

_MAX_BYTES = 2**62


@dataclass(frozen=True, order=True, slots=True)
class Size(_Quantity):
    """An amount of data: `1.5MB`, `64KiB`, `512B`; a bare integer is a number of bytes."""

    bytes: int

    kind: ClassVar[str] = "size"
    examples: ClassVar[tuple[str, ...]] = ("512B", "1.5MB", "64KiB")
    _pattern: ClassVar[re.Pattern[str]] = re.compile(rf"({_NUMBER})\s*([kKMGT]i?|)B")
    _units: ClassVar[tuple[tuple[str, int], ...]] = (
        ("B", 1),
        ("KB", 1000),
        ("KiB", 1024),
        ("MB", 1000**2),
        ("MiB", 1024**2),
        ("GB", 1000**3),
        ("GiB", 1024**3),
        ("TB", 1000**4),
        ("TiB", 1024**4),
    )

    def __post_init__(self) -> None:
        if self.bytes < 0:
            raise UnitError("a size must be 0 or more")

    @classmethod
    def parse(cls, text: str) -> Self:
        found = _match(cls._pattern, text, cls.kind, cls.examples)
        prefix = found.group(2)
        factor = _IEC[prefix.upper()[0] + "i"] if prefix.endswith("i") else _SI[prefix]
        amount = _integral(_exact(found.group(1)) * factor, text, "1 byte")
        return cls(_bounded(amount, _MAX_BYTES, text, cls.kind, "4EiB"))

    @classmethod
    def number_schema(cls) -> JsonSchemaValue | None:
        return {"type": "integer", "minimum": 0}

    @classmethod
    def from_number(cls, value: int | float) -> Self:
        if isinstance(value, float) and not value.is_integer():
            raise UnitError(f"{value!r} is not a whole number of bytes")
        return cls(_bounded(int(value), _MAX_BYTES, str(value), cls.kind, "4EiB"))

    def __str__(self) -> str:
        return _shortest(self.bytes, self._units)


# --- event rates -----------------------------------------------------------------------------

_EVENT_RATE = re.compile(rf"({_NUMBER})\s*/\s*(s|sec|second|m|min|minute|h|hour)")
_SECONDS_PER = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60}
_SECONDS_PER |= {"h": 3600, "hour": 3600}


@dataclass(frozen=True, order=True, slots=True)
class EventRate(_Quantity):
    """Events per unit of time: `50/s`, `600/min`; a bare number is per second."""

    per_second: Fraction

    kind: ClassVar[str] = "rate"
    examples: ClassVar[tuple[str, ...]] = ("50/s", "600/min", "2.5/s")

    def __post_init__(self) -> None:
        if self.per_second < 0:
            raise UnitError("a rate must be 0 or more")
        if not any(_terminates(self.per_second * s) for s in (1, 60, 3600)):
            raise UnitError(f"{float(self.per_second)}/s is not a decimal number per s, min or h")

    @classmethod
    def parse(cls, text: str) -> Self:
        if re.fullmatch(_NUMBER, text.strip()):
            return cls(_exact(text.strip()))
        found = _match(_EVENT_RATE, text, cls.kind, cls.examples)
        value = _exact(found.group(1)) / _SECONDS_PER[found.group(2)]
        if value > 10**12:
            raise UnitError(f"{_describe(text)} is too large for a rate")
        return cls(value)

    @classmethod
    def number_schema(cls) -> JsonSchemaValue | None:
        return {"type": "number", "minimum": 0}

    @classmethod
    def from_number(cls, value: int | float) -> Self:
        return cls.parse(repr(value) if isinstance(value, float) else str(value))

    def __str__(self) -> str:
        per_second = self.per_second
        if _terminates(per_second):
            return f"{_decimal(per_second)}/s"
        if _terminates(per_second * 60):
            return f"{_decimal(per_second * 60)}/min"
        return f"{_decimal(per_second * 3600)}/h"


def _terminates(value: Fraction) -> bool:
    denominator = value.denominator
    for prime in (2, 5):
        while denominator % prime == 0:
            denominator //= prime
    return denominator == 1


# --- scale and counts ------------------------------------------------------------------------

_SCALE = re.compile(r"(\d{1,12})\s*:\s*(\d{1,12})")


@dataclass(frozen=True, slots=True)
class Scale(_Quantity):
    """`1:500`: one synthetic listener stands for 500 people of the real audience."""

    model: int
    real: int

    kind: ClassVar[str] = "scale"
    examples: ClassVar[tuple[str, ...]] = ("1:500", "1:1", "2:1000")

    def __post_init__(self) -> None:
        if self.model < 1 or self.real < 1:
            raise UnitError("both sides of a scale must be at least 1, e.g. 1:500")

    @classmethod
    def parse(cls, text: str) -> Self:
        found = _match(_SCALE, text, cls.kind, cls.examples)
        return cls(int(found.group(1)), int(found.group(2)))

    @classmethod
    def number_schema(cls) -> JsonSchemaValue | None:
        return None

    @classmethod
    def from_number(cls, value: int | float) -> Self:
        raise UnitError(f"{value!r} is not a scale; write model:real, e.g. 1:500")

    @property
    def people_per_probe(self) -> Fraction:
        return Fraction(self.real, self.model)

    def __str__(self) -> str:
        return f"{self.model}:{self.real}"


_COUNT = re.compile(r"(\d{1,3}(?:[,_]\d{3})+|\d{1,15}|(\d{1,9}(?:\.\d{1,9})?)\s*([kM]))")
_MAX_COUNT = 10**12


def parse_count(value: object) -> int:
    """A count of things: `2000`, `"660,000"`, `2k`, `1.3M`; never negative or fractional."""
    if isinstance(value, bool):
        raise UnitError(f"expected a count like 2000 or 2k; got {value!r}")
    if isinstance(value, int):
        if value < 0:
            raise UnitError(f"{value} is negative; a count must be 0 or more")
        if value > _MAX_COUNT:
            raise UnitError(f"{value} is too large for a count")
        return value
    if isinstance(value, float) and value.is_integer():
        return parse_count(int(value))
    if isinstance(value, str):
        found = _COUNT.fullmatch(value.strip())
        if found is not None:
            if found.group(3):
                scaled = _exact(found.group(2)) * {"k": 1000, "M": 10**6}[found.group(3)]
                return parse_count(_integral(scaled, value, "1"))
            return parse_count(int(re.sub(r"[,_]", "", found.group(1))))
        if value.strip().startswith("-"):
            raise UnitError(f"{_describe(value)} is negative; a count must be 0 or more")
    raise UnitError(f"expected a count like 2000, 660,000 or 2k; got {_describe(value)}")


COUNT_SCHEMA_INPUT = int | Annotated[str, Field(pattern=f"^(?:{_COUNT.pattern})$")]
"""What a count may be written as, for editors: a number, or `660,000`, `2k`, `1.3M`."""
Count = Annotated[int, BeforeValidator(parse_count, json_schema_input_type=COUNT_SCHEMA_INPUT)]
"""A non-negative whole number, written plainly or with a `k`/`M` suffix."""


# --- thresholds ------------------------------------------------------------------------------

Quantity = Duration | Ratio | BitRate | ByteRate | Size | EventRate | float
"""What an SLO or guard compares a metric to."""


def parse_quantity(value: object) -> Quantity:
    """A threshold in whatever unit its metric has; a bare number is a plain value (a count)."""
    if isinstance(value, Duration | Ratio | BitRate | ByteRate | Size | EventRate):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        if not math.isfinite(value):
            raise UnitError(f"{value!r} is not a finite number")
        return float(value)
    if not isinstance(value, str):
        raise UnitError(f"expected a value like 5s, 99.5%, 64kbps or 0; got {_describe(value)}")
    text = value.strip()
    if re.fullmatch(_NUMBER, text):
        return float(_exact(text))
    if text.endswith("%"):
        return Ratio.parse(text)
    if re.search(r"(?:bps|bit/s|b/s|B/s|Bps)$", text):
        return parse_data_rate(text)
    if re.search(r"/\s*\w+$", text):
        return EventRate.parse(text)
    if re.search(r"B$", text):
        return Size.parse(text)
    if re.search(r"(?:h|min|m|s|ms|us|µs|ns)$", text):
        return Duration.parse(text)
    raise UnitError(
        f"expected a value like 5s, 99.5%, 64kbps, 1.5MB or a plain number; got {_describe(value)}"
    )


def base_value(quantity: Quantity) -> float:
    """A threshold in the metric's Prometheus base unit: seconds, a 0–1 ratio, bytes, bytes/s."""
    match quantity:
        case Duration():
            return quantity.seconds
        case Ratio():
            return quantity.fraction
        case BitRate() | ByteRate():
            return quantity.bytes_per_second
        case Size():
            return float(quantity.bytes)
        case EventRate():
            return float(quantity.per_second)
        case _:
            return float(quantity)


def _positive_duration(duration: Duration) -> Duration:
    if duration.nanoseconds == 0:
        raise UnitError("must be longer than 0s")
    return duration


PositiveDuration = Annotated[Duration, AfterValidator(_positive_duration)]
"""A duration that must not be zero (a fault's `for`, a sliding window, a delay between tries)."""
