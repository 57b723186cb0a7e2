"""Human quantities: exact parsing, canonical text that round-trips, clear refusals."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from chaos.experiment.units import (
    BitRate,
    ByteRate,
    Count,
    Duration,
    EventRate,
    PositiveDuration,
    Ratio,
    Scale,
    Share,
    Size,
    UnitError,
    base_value,
    parse_count,
    parse_data_rate,
    parse_quantity,
)

NS = 1_000_000_000


@pytest.mark.parametrize(
    ("text", "nanoseconds", "canonical"),
    [
        ("200ms", 200_000_000, "200ms"),
        ("2s", 2 * NS, "2s"),
        ("5m", 300 * NS, "5m"),
        ("5min", 300 * NS, "5m"),
        ("1h", 3600 * NS, "1h"),
        ("1m30s", 90 * NS, "90s"),
        ("1h 30m", 5400 * NS, "90m"),
        ("1h1s", 3601 * NS, "1h1s"),
        ("0.5s", NS // 2, "500ms"),
        ("1.5ms", 1_500_000, "1.5ms"),
        ("250us", 250_000, "250us"),
        ("250µs", 250_000, "250us"),
        ("7ns", 7, "7ns"),
        ("0s", 0, "0s"),
        (" 200 ms ", 200_000_000, "200ms"),
        (".5s", NS // 2, "500ms"),
    ],
)
def test_duration_parses_and_prints_canonically(
    text: str, nanoseconds: int, canonical: str
) -> None:
    duration = Duration.parse(text)
    assert duration.nanoseconds == nanoseconds
    assert str(duration) == canonical
    assert Duration.parse(str(duration)) == duration


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("30", "no unit"),
        ("-5s", "negative"),
        ("5 parsecs", "expected a duration"),
        ("30s1m", "larger units first"),
        ("1m1m", "larger units first"),
        ("0.1ns", "finer than 1ns"),
        ("400d", "expected a duration"),
        ("9000h", "too large"),
        ("", "expected a duration"),
        ("s", "expected a duration"),
    ],
)
def test_duration_refuses_with_a_reason(text: str, fragment: str) -> None:
    with pytest.raises(UnitError, match=fragment):
        Duration.coerce(30 if text == "30" else text)


def test_duration_bare_zero_is_unambiguous_but_other_numbers_are_not() -> None:
    assert Duration.coerce(0) == Duration(0)
    with pytest.raises(UnitError, match="no unit"):
        Duration.coerce(1.5)
    with pytest.raises(UnitError, match="negative"):
        Duration.coerce(-1)
    with pytest.raises(UnitError, match="expected a duration"):
        Duration.coerce(True)
    with pytest.raises(UnitError):
        Duration(-1)


def test_duration_arithmetic_and_seconds() -> None:
    assert Duration.parse("1s") + Duration.parse("500ms") == Duration.parse("1.5s")
    assert Duration.parse("1s") - Duration.parse("2s") == Duration(0)
    assert Duration.parse("1.5s").seconds == 1.5
    assert Duration.of_seconds(Fraction(1, 3)).nanoseconds == 333_333_333


@pytest.mark.parametrize(
    ("text", "value", "canonical"),
    [
        ("5%", Fraction(1, 20), "5%"),
        ("99.5%", Fraction(995, 1000), "99.5%"),
        ("0.01%", Fraction(1, 10000), "0.01%"),
        ("100%", Fraction(1), "100%"),
        ("120%", Fraction(6, 5), "120%"),
        ("5 %", Fraction(1, 20), "5%"),
        ("05.50%", Fraction(55, 1000), "5.5%"),
    ],
)
def test_ratio_parses_percentages(text: str, value: Fraction, canonical: str) -> None:
    ratio = Ratio.parse(text)
    assert ratio.value == value
    assert str(ratio) == canonical
    assert ratio.fraction == float(value)


@pytest.mark.parametrize(
    ("value", "fragment"),
    [(0.05, "no unit"), ("0.05", "expected a percentage"), ("-5%", "negative"), (-1, "negative")],
)
def test_ratio_refuses_ambiguous_or_negative(value: object, fragment: str) -> None:
    with pytest.raises(UnitError, match=fragment):
        Ratio.coerce(value)


def test_share_is_at_most_100_percent() -> None:
    class M(BaseModel):
        share: Share

    assert M(share="100%").share == Ratio(Fraction(1))
    assert M.model_validate({"share": 0}).share == Ratio(Fraction(0))
    with pytest.raises(ValidationError, match="more than 100%"):
        M.model_validate({"share": "100.5%"})


@pytest.mark.parametrize(
    ("text", "bits", "canonical"),
    [
        ("64kbps", 64_000, "64kbps"),
        ("64Kbps", 64_000, "64kbps"),
        ("10Mbps", 10_000_000, "10Mbps"),
        ("1Gbit/s", 10**9, "1Gbps"),
        ("1.5Mbit/s", 1_500_000, "1.5Mbps"),
        ("300b/s", 300, "300bps"),
        ("1500bps", 1500, "1500bps"),
    ],
)
def test_bit_rate(text: str, bits: int, canonical: str) -> None:
    rate = BitRate.parse(text)
    assert rate.bits_per_second == bits
    assert str(rate) == canonical
    assert rate.bytes_per_second == bits / 8


@pytest.mark.parametrize(
    ("text", "amount", "canonical"),
    [
        ("1000KB/s", 1_000_000, "1MB/s"),
        ("1MB/s", 1_000_000, "1MB/s"),
        ("1kB/s", 1000, "1KB/s"),
        ("64KiB/s", 65_536, "64KiB/s"),
        ("2MiBps", 2 * 1024**2, "2MiB/s"),
        ("500B/s", 500, "500B/s"),
    ],
)
def test_byte_rate_counts_a_kilobyte_as_1000_bytes(text: str, amount: int, canonical: str) -> None:
    rate = ByteRate.parse(text)
    assert rate.bytes_per_second == amount
    assert str(rate) == canonical


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("0.5bps", "finer than 1 bit/s"),
        ("64 kilobits", "expected a bit rate"),
        ("-1Mbps", "negative"),
        ("9999Tbps", "too large"),
    ],
)
def test_bit_rate_refusals(value: str, fragment: str) -> None:
    with pytest.raises(UnitError, match=fragment):
        BitRate.parse(value)


def test_data_rate_tells_bits_from_bytes_by_unit() -> None:
    assert parse_data_rate("64kbps") == BitRate(64_000)
    assert parse_data_rate("1000KB/s") == ByteRate(1_000_000)
    assert parse_data_rate(0) == BitRate(0)
    with pytest.raises(UnitError, match="no unit"):
        parse_data_rate(64)
    with pytest.raises(UnitError, match="expected a data rate"):
        parse_data_rate("fast")


@pytest.mark.parametrize(
    ("text", "amount", "canonical"),
    [
        ("1.5MB", 1_500_000, "1.5MB"),
        ("64KiB", 65_536, "64KiB"),
        ("512B", 512, "512B"),
        ("1000B", 1000, "1KB"),
        ("1kB", 1000, "1KB"),
        ("3GiB", 3 * 1024**3, "3GiB"),
    ],
)
def test_size(text: str, amount: int, canonical: str) -> None:
    size = Size.parse(text)
    assert size.bytes == amount
    assert str(size) == canonical


def test_size_accepts_bare_bytes_but_not_fractions() -> None:
    assert Size.coerce(1024) == Size(1024)
    assert Size.coerce(2048.0) == Size(2048)
    with pytest.raises(UnitError, match="whole number"):
        Size.coerce(1.5)
    with pytest.raises(UnitError, match="finer than 1 byte"):
        Size.parse("0.5B")
    with pytest.raises(UnitError, match="negative"):
        Size.coerce(-3)


@pytest.mark.parametrize(
    ("value", "per_second", "canonical"),
    [
        ("50/s", Fraction(50), "50/s"),
        ("600/min", Fraction(10), "10/s"),
        ("1/min", Fraction(1, 60), "1/min"),
        ("1/h", Fraction(1, 3600), "1/h"),
        ("2.5", Fraction(5, 2), "2.5/s"),
        (20, Fraction(20), "20/s"),
        (0.5, Fraction(1, 2), "0.5/s"),
    ],
)
def test_event_rate(value: object, per_second: Fraction, canonical: str) -> None:
    rate = EventRate.coerce(value)
    assert rate.per_second == per_second
    assert str(rate) == canonical
    assert EventRate.parse(str(rate)) == rate


def test_event_rate_refusals() -> None:
    with pytest.raises(UnitError, match="expected a rate"):
        EventRate.parse("fast")
    with pytest.raises(UnitError, match="negative"):
        EventRate.coerce(-1)
    with pytest.raises(UnitError, match="not a decimal number"):
        EventRate(Fraction(1, 7))


def test_scale() -> None:
    scale = Scale.parse("1:500")
    assert (scale.model, scale.real, scale.people_per_probe) == (1, 500, 500)
    assert str(scale) == "1:500"
    assert Scale.parse(" 2 : 1000 ").people_per_probe == 500
    for bad in ("500", "1:0", "0:5", "1/500"):
        with pytest.raises(UnitError):
            Scale.parse(bad)
    with pytest.raises(UnitError, match="model:real"):
        Scale.coerce(500)


@pytest.mark.parametrize(
    ("value", "count"),
    [
        (2000, 2000),
        ("2000", 2000),
        ("660,000", 660_000),
        ("1_000", 1000),
        ("2k", 2000),
        ("1.3M", 1_300_000),
        (12.0, 12),
        (0, 0),
    ],
)
def test_count(value: object, count: int) -> None:
    assert parse_count(value) == count
    assert parse_count(str(parse_count(value))) == count


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        (-1, "negative"),
        ("-5", "negative"),
        (1.5, "expected a count"),
        ("1.0001k", "finer"),
        (True, "expected a count"),
        ("many", "expected a count"),
        (10**13, "too large"),
    ],
)
def test_count_refusals(value: object, fragment: str) -> None:
    with pytest.raises(UnitError, match=fragment):
        parse_count(value)


def test_quantity_picks_the_unit_family_from_the_text() -> None:
    assert parse_quantity("5s") == Duration.parse("5s")
    assert parse_quantity("99.5%") == Ratio.parse("99.5%")
    assert parse_quantity("64kbps") == BitRate(64_000)
    assert parse_quantity("1MB/s") == ByteRate(10**6)
    assert parse_quantity("1.5MB") == Size(1_500_000)
    assert parse_quantity("10/s") == EventRate(Fraction(10))
    assert parse_quantity(0) == 0.0
    assert parse_quantity("2.5") == 2.5
    for bad in ("fast", float("nan"), float("inf"), None, [1]):
        with pytest.raises(UnitError):
            parse_quantity(bad)


def test_base_values_are_prometheus_base_units() -> None:
    assert base_value(Duration.parse("200ms")) == 0.2
    assert base_value(Ratio.parse("5%")) == 0.05
    assert base_value(BitRate.parse("64kbps")) == 8000
    assert base_value(ByteRate.parse("1KB/s")) == 1000
    assert base_value(Size.parse("1KiB")) == 1024
    assert base_value(EventRate.parse("120/min")) == 2
    assert base_value(3.0) == 3.0


def test_value_objects_are_pydantic_fields_that_serialise_to_canonical_text() -> None:
    class M(BaseModel):
        at: Duration
        window: PositiveDuration
        loss: Ratio
        rate: BitRate
        size: Size
        scale: Scale
        count: Count

    m = M.model_validate(
        {"at": "1m30s", "window": "30s", "loss": "5%", "rate": "64kbps"}
        | {"size": "1.5MB", "scale": "1:500", "count": "2k"}
    )
    dumped = m.model_dump(mode="json")
    assert dumped == {
        "at": "90s",
        "window": "30s",
        "loss": "5%",
        "rate": "64kbps",
        "size": "1.5MB",
        "scale": "1:500",
        "count": 2000,
    }
    assert M.model_validate(dumped) == m
    with pytest.raises(ValidationError, match="longer than 0s"):
        M.model_validate(dumped | {"window": "0s"})
    schema = M.model_json_schema()
    at = schema["properties"]["at"]  # a duration is text with its unit; bare 0 is allowed
    assert at["anyOf"] == [{"type": "string"}, {"const": 0}] and at["description"] == "duration"


# --- properties ------------------------------------------------------------------------------

durations = st.integers(min_value=0, max_value=366 * 24 * 3600 * NS).map(Duration)
ratios = st.fractions(min_value=0, max_value=10_000, max_denominator=10**6).map(
    lambda f: Ratio(Fraction(round(f * 10**6), 10**8))
)
bit_rates = st.integers(min_value=0, max_value=10**15).map(BitRate)
byte_rates = st.integers(min_value=0, max_value=10**15 // 8).map(ByteRate)
sizes = st.integers(min_value=0, max_value=2**62).map(Size)
event_rates = st.builds(
    lambda amount, unit: EventRate.parse(f"{amount}/{unit}"),
    st.decimals(min_value=0, max_value=10**6, places=3, allow_nan=False, allow_infinity=False),
    st.sampled_from(["s", "min", "h"]),
)
scales = st.builds(Scale, st.integers(1, 10**6), st.integers(1, 10**9))


@given(st.one_of(durations, ratios, bit_rates, byte_rates, sizes, event_rates, scales))
def test_format_then_parse_is_identity(value: object) -> None:
    assert type(value).parse(str(value)) == value  # type: ignore[attr-defined]


@given(durations)
def test_canonical_duration_is_stable(duration: Duration) -> None:
    assert str(Duration.parse(str(duration))) == str(duration)


@given(st.integers(min_value=0, max_value=10**12))
def test_counts_round_trip(count: int) -> None:
    assert parse_count(str(count)) == count
    assert parse_count(f"{count:,}") == count


_PARSERS = [
    Duration.coerce,
    Ratio.coerce,
    BitRate.coerce,
    ByteRate.coerce,
    Size.coerce,
    EventRate.coerce,
    Scale.coerce,
    parse_count,
    parse_data_rate,
    parse_quantity,
]
_unitish = st.text(alphabet="0123456789.:,_-+ /%smhunµkKMGTiBbpsitdec", max_size=16)
_anything = st.one_of(
    _unitish,
    st.text(max_size=30),
    st.integers(),
    st.floats(),
    st.booleans(),
    st.none(),
    st.lists(st.integers(), max_size=2),
)


@given(st.sampled_from(_PARSERS), _anything)
def test_parsers_raise_only_their_own_error(parse: object, value: object) -> None:
    try:
        parse(value)  # type: ignore[operator]
    except UnitError as exc:
        assert str(exc)
