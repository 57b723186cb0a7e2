"""Property tests of the embedded server's pure cores: toxic algorithms, Go JSON, addresses."""

from __future__ import annotations

import json
import random
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chaos.faults.server import addr, gojson, requests
from chaos.faults.server.errors import ApiError
from chaos.faults.toxics import TOXIC_TYPES
from chaos.faults.toxics.bandwidth import cost_ns, full_slices
from chaos.faults.toxics.latency import delay_ms, wait_seconds
from chaos.faults.toxics.limit_data import allowance
from chaos.faults.toxics.slicer import split

# --- toxics -------------------------------------------------------------------------------


@given(st.integers(0, 10**6), st.integers(0, 10**5), st.integers(0, 2**32))
def test_latency_delay_is_uniform_integer_window(latency: int, jitter: int, seed: int) -> None:
    d = delay_ms(latency, jitter, random.Random(seed))
    if jitter == 0:
        assert d == latency
    else:
        assert latency - jitter <= d <= latency + jitter - 1


def test_latency_jitter_covers_its_window() -> None:
    rng = random.Random(1)
    seen = {delay_ms(100, 3, rng) for _ in range(500)}
    assert seen == {97, 98, 99, 100, 101, 102}


@given(st.integers(0, 10**4), st.floats(0, 100), st.floats(0, 100))
def test_latency_deadline_counts_from_arrival(delay: int, stamp: float, spent: float) -> None:
    wait = wait_seconds(delay, stamp, stamp + spent)
    assert wait == pytest.approx(delay / 1000 - spent)


@given(st.integers(1, 10**7), st.integers(1, 10**6))
def test_bandwidth_slices_cover_the_chunk(length: int, rate: int) -> None:
    per_slice = rate * 100
    full = full_slices(length, rate)
    last = length - full * per_slice
    assert 0 < last <= per_slice
    assert cost_ns(length, rate) == length * 10**6 // rate


def test_bandwidth_cost_is_kb_of_1000_bytes() -> None:
    assert cost_ns(1000, 1000) == 1_000_000  # 1000 B at 1000 KB/s: 1 ms
    assert full_slices(100 * 5 + 1, 5) == 1


@settings(deadline=None)  # a 100 KB chunk in 1-byte pieces takes a while on a loaded machine
@given(
    st.integers(0, 100_000),
    st.integers(1, 5000).flatmap(lambda a: st.tuples(st.just(a), st.integers(0, a))),
    st.integers(0, 2**32),
)
def test_slicer_pieces_partition_the_chunk(length: int, sizes: tuple[int, int], seed: int) -> None:
    average, variation = sizes
    ends = split(length, average, variation, random.Random(seed))
    starts = [0, *ends[:-1]]
    assert ends[-1] == length
    for start, end in zip(starts, ends, strict=True):
        # Only a variation as large as the average may cut at a span's start (Toxiproxy too).
        assert start < end or length == 0 or variation == average
        assert end - start <= average + variation
    if length > average + variation:
        assert len(ends) >= 2


@given(st.integers(0, 10**6), st.integers(0, 10**6), st.integers(0, 10**5))
def test_limit_data_allowance(limit: int, transmitted: int, length: int) -> None:
    allowed = allowance(limit, transmitted, length)
    assert 0 <= allowed <= length
    assert transmitted + allowed <= max(limit, transmitted)
    if transmitted + length <= limit:
        assert allowed == length


@pytest.mark.parametrize(
    ("type_name", "attributes"),
    [
        ("bandwidth", {"rate": 0}),
        ("bandwidth", {"rate": -5}),
        ("slicer", {"average_size": 0}),
        ("slicer", {"average_size": 10, "size_variation": 11}),
        ("slicer", {"average_size": 10, "size_variation": -1}),
        ("slicer", {"average_size": 10, "delay": -1}),
        ("latency", {"latency": -1}),
        ("latency", {"jitter": -1}),
        ("timeout", {"timeout": -1}),
        ("reset_peer", {"timeout": -1}),
        ("limit_data", {"bytes": -1}),
        ("slow_close", {"delay": -1}),
    ],
)
def test_values_toxiproxy_crashes_on_are_refused(
    type_name: str, attributes: dict[str, int]
) -> None:
    body = json.dumps({"type": type_name, "attributes": attributes}).encode()
    with pytest.raises(ApiError) as caught:
        requests.toxic_create(body, lambda name: False)
    assert caught.value.status == 400
    assert caught.value.message.startswith(f"invalid {type_name} toxic: attribute ")


def test_every_type_accepts_sane_values() -> None:
    for name, cls in TOXIC_TYPES.items():
        attributes = {field: 0.1 if go == "float64" else 10 for field, go in cls.fields}
        if name == "slicer":
            attributes["size_variation"] = 5
        assert cls(attributes).validate() is None


# --- Go JSON ------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**12), 10**12) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4)
    ),
    max_leaves=20,
)


def _plain(value: object) -> object:
    if isinstance(value, gojson.GoNumber):
        return int(value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


@given(json_values)
def test_go_decode_agrees_with_json_on_valid_documents(value: object) -> None:
    text = json.dumps(value)
    assert _plain(gojson.decode(text.encode())) == value
    assert _plain(gojson.decode(text.encode() + b" trailing junk is ignored")) == value


@given(json_values.filter(lambda v: isinstance(v, (list, dict)) and json.dumps(v) not in "[]{}"))
def test_go_decode_truncated_is_unexpected_eof(value: object) -> None:
    text = json.dumps(value).encode()
    with pytest.raises(gojson.GoJSONError) as caught:
        gojson.decode(text[:-1])
    assert str(caught.value) == "unexpected EOF"


@given(st.binary(max_size=40))
def test_go_decode_never_fails_unexpectedly(data: bytes) -> None:
    try:
        gojson.decode(data)
    except gojson.GoJSONError as exc:
        message = str(exc)
        assert message in ("EOF", "unexpected EOF", "exceeded max depth") or message.startswith(
            "invalid character "
        )


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "EOF"),
        (b"  \n", "EOF"),
        (b"{", "unexpected EOF"),
        (b"{b", "invalid character 'b' looking for beginning of object key string"),
        (b'{"a" 1}', "invalid character '1' after object key"),
        (b'{"a":1 2}', "invalid character '2' after object key:value pair"),
        (b"[1 2]", "invalid character '2' after array element"),
        (b"x", "invalid character 'x' looking for beginning of value"),
        (b"'", "invalid character '\\'' looking for beginning of value"),
        (b"nul!", "invalid character '!' in literal null (expecting 'l')"),
        (b"-a", "invalid character 'a' in numeric literal"),
        (b"1.e", "invalid character 'e' after decimal point in numeric literal"),
        (b"1e+x", "invalid character 'x' in exponent of numeric literal"),
        (b'"\\x"', "invalid character 'x' in string escape code"),
        (b'"\\u12z4"', "invalid character 'z' in \\u hexadecimal character escape"),
        (b'"\x01"', "invalid character '\\x01' in string literal"),
        (b"[" * 10001, "exceeded max depth"),
    ],
)
def test_go_syntax_messages(body: bytes, message: str) -> None:
    with pytest.raises(gojson.GoJSONError) as caught:
        gojson.decode(body)
    assert str(caught.value) == message


def test_go_strings_join_surrogates_and_replace_lone_ones() -> None:
    assert gojson.decode(b'"\\ud83d\\ude00|\\ud800|\\xff"'.replace(b"\\xff", b"\xff")) == (
        "\U0001f600|\ufffd|\ufffd"
    )


def test_go_typed_decode_is_case_insensitive_and_keeps_nulls() -> None:
    target: dict[str, object] = {"name": "keep", "enabled": True}
    struct = requests.PROXY
    assert gojson.decode_into({"NAME": None, "Enabled": False}, struct, target) is None
    assert target == {"name": "keep", "enabled": False}


@given(st.floats(allow_nan=False, allow_infinity=False, width=32))
def test_float32_printing_round_trips_shortest(value: float) -> None:
    text = gojson.format_float32(value)
    assert np.float32(float(text)) == np.float32(value)
    assert "e-0" not in text
    assert not text.endswith(".0")


def _numpy_go_float(value: np.floating[Any]) -> str:
    """encoding/json's float text computed with numpy's shortest printing: the oracle."""
    if value == 0:
        return "-0" if np.signbit(value) else "0"  # strconv keeps the sign of zero
    if abs(float(value)) < 1e-6 or abs(float(value)) >= 1e21:
        mantissa, exponent = np.format_float_scientific(value, unique=True, trim="-").split("e")
        digits = exponent[1:].lstrip("0") or "0"
        return f"{mantissa}e{exponent[0]}{digits.zfill(2) if exponent[0] == '+' else digits}"
    return np.format_float_positional(value, unique=True, trim="-")


@given(st.floats(allow_nan=False, allow_infinity=False, width=32))
def test_float32_printing_matches_numpys_shortest_digits(value: float) -> None:
    assert gojson.format_float32(value) == _numpy_go_float(np.float32(value))


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_float64_printing_matches_numpys_shortest_digits(value: float) -> None:
    assert gojson.format_float64(value) == _numpy_go_float(np.float64(value))


def test_float32_printing_breaks_a_tie_towards_the_even_digit() -> None:
    assert gojson.format_float32(2160990.75) == "2160990.8"
    assert gojson.format_float32(515261.375) == "515261.38"


def test_float32_printing_examples() -> None:
    assert [gojson.format_float32(v) for v in (1.0, 0.25, 0.1, 5, -1, 1e-7, 1e21)] == [
        "1",
        "0.25",
        "0.1",
        "5",
        "-1",
        "1e-7",
        "1e+21",
    ]


def test_go_encoding_escapes_html_and_keeps_order() -> None:
    assert gojson.encode({"b": "<&>\u2028", "a": [gojson.Float32(0.5), None, True]}) == (
        b'{"b":"\\u003c\\u0026\\u003e\\u2028","a":[0.5,null,true]}'
    )


# --- addresses ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("nohost", "address nohost: missing port in address"),
        ("a:b:c", "address a:b:c: too many colons in address"),
        ("[::1", "address [::1: missing ']' in address"),
        ("[::1]", "address [::1]: missing port in address"),
        ("x]:1", "address x]:1: unexpected ']' in address"),
    ],
)
def test_split_host_port_errors(text: str, error: str) -> None:
    with pytest.raises(addr.AddrError) as caught:
        addr.split_host_port(text)
    assert str(caught.value) == error


@given(st.integers(0, 65535))
def test_resolved_addresses_print_like_go(port: int) -> None:
    import asyncio

    assert str(asyncio.run(addr.resolve(f"127.0.0.1:{port}"))) == f"127.0.0.1:{port}"
    assert str(asyncio.run(addr.resolve(f"[::1]:{port}"))) == f"[::1]:{port}"
    assert str(asyncio.run(addr.resolve(f":{port}"))) == f":{port}"


def test_ports_as_go_parses_them() -> None:
    assert addr.parse_port("") == 0
    assert addr.parse_port("http") == 80
    with pytest.raises(addr.AddrError, match="address 70000: invalid port"):
        addr.parse_port("70000")
    with pytest.raises(addr.AddrError, match="lookup tcp/nosuchservice: unknown port"):
        addr.parse_port("nosuchservice")
