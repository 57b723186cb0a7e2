"""Pure cores of the server extensions (issue 4): loss, shared capacity, leases, datagram toxics,
request extension fields and seeded randomness — no sockets, hypothesis where it pays."""

from __future__ import annotations

import itertools
import json
import random
import statistics

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chaos.faults.flood import FloodPlan, pace, write_size
from chaos.faults.server import extensions, gojson, requests
from chaos.faults.server.errors import ApiError
from chaos.faults.server.leases import LeaseBook
from chaos.faults.server.metrics import ServerMetrics
from chaos.faults.server.runtime import Runtime
from chaos.faults.toxics import Chunk
from chaos.faults.toxics.datagram import DATAGRAM_TOXIC_TYPES, Datagram, apply_all
from chaos.faults.toxics.datagram.corrupt import flip_bit
from chaos.faults.toxics.loss import (
    MAX_RTO_MS,
    LossModel,
    LossState,
    LossToxic,
    release_schedule,
    segments,
    stall_ms,
)
from chaos.faults.toxics.shared_bandwidth import SharedLink, quantum

# --- loss on TCP ------------------------------------------------------------------------------


@given(
    length=st.integers(1, 40_000),
    mss=st.integers(200, 5000),
    stamp=st.floats(0, 1000),
    floor=st.floats(0, 1000),
    data=st.data(),
)
def test_release_schedule_covers_the_chunk_in_order_never_early(
    length: int, mss: int, stamp: float, floor: float, data: st.DataObject
) -> None:
    stalls = data.draw(st.lists(st.integers(0, 5000), min_size=segments(length, mss)))
    stalls = stalls[: segments(length, mss)]
    pieces = release_schedule(length, mss, stamp, stalls, floor)
    ends = [end for end, _ in pieces]
    times = [at for _, at in pieces]
    assert ends == sorted(set(ends)) and ends[-1] == length  # every byte, once, in order
    assert times == sorted(times) and times[0] >= floor  # nothing overtakes what is ahead
    for index, stall in enumerate(stalls):  # no segment leaves before its own stall is over
        piece = next(i for i, end in enumerate(ends) if end > index * mss)
        assert times[piece] >= stamp + stall / 1000 - 1e-9


def test_a_lost_segment_holds_back_everything_behind_it() -> None:
    pieces = release_schedule(4 * 1000, 1000, 10.0, [0, 200, 0, 0], 0.0)
    assert pieces == [(1000, 10.0), (4000, 10.2)]


def test_repeated_loss_of_a_segment_backs_off_exponentially() -> None:
    class Always(random.Random):
        def __init__(self, losses: int) -> None:
            super().__init__()
            self.losses = losses

        def random(self) -> float:
            self.losses -= 1
            return 0.0 if self.losses >= 0 else 0.99

    model = LossModel(probability=0.5)
    assert stall_ms(model, LossState(), Always(0), 200) == 0
    assert stall_ms(model, LossState(), Always(1), 200) == 200
    assert stall_ms(model, LossState(), Always(3), 200) == 200 + 400 + 800
    assert stall_ms(model, LossState(), Always(12), 60_000) == 60_000 + 11 * MAX_RTO_MS


@settings(max_examples=25, deadline=None)
@given(p=st.floats(0.005, 0.3), r=st.floats(0.05, 0.9), h=st.floats(0.3, 1), k=st.floats(0, 0.05))
def test_gilbert_elliott_mean_loss_matches_its_formula(
    p: float, r: float, h: float, k: float
) -> None:
    model, state, rng = LossModel(p=p, r=r, h=h, k=k), LossState(), random.Random(1)
    from chaos.faults.toxics.loss import lost

    n = 20_000
    measured = sum(lost(model, state, rng) for _ in range(n)) / n
    assert measured == pytest.approx(model.mean_loss(), abs=0.03)


def _simulated_delays(model: LossModel, n: int = 20_000, gap_ms: int = 10) -> list[float]:
    """One segment per chunk every ``gap_ms`` through the loss core: each segment's delay (s)."""
    state, rng, delays = LossState(), random.Random(3), []
    for i in range(n):
        stamp = i * gap_ms / 1000
        state.observe(stamp, 1)
        stall = stall_ms(model, state, rng, 50)
        [(_, release)] = release_schedule(1, 1, stamp, [stall], state.floor)
        state.floor = release
        delays.append(release - stamp)
    return delays


def _stalls(delays: list[float], threshold: float = 0.005) -> list[int]:
    """Length (in segments) of each stretch in which the reader waits on a retransmission."""
    lengths: list[int] = []
    inside = False
    for delay in delays:
        if delay >= threshold:
            if not inside:
                lengths.append(0)
            lengths[-1] += 1
        inside = delay >= threshold
    return lengths


def test_bursty_loss_stalls_longer_and_rarer_at_the_same_mean_loss() -> None:
    uniform = LossModel(probability=0.05)
    bursty = LossModel(p=0.05 * 0.05 / 0.95, r=0.05, h=1.0, k=0.0)
    assert bursty.mean_loss() == pytest.approx(0.05)
    flat, bursts = _stalls(_simulated_delays(uniform)), _stalls(_simulated_delays(bursty))
    assert len(bursts) < len(flat) / 4
    assert statistics.mean(bursts) > 3 * statistics.mean(flat)


def test_a_retransmission_usually_outlives_a_burst() -> None:
    """The chain steps through the timeout's segment slots, so backoff stays bounded."""
    delays = _simulated_delays(LossModel(p=0.0105, r=0.2, h=1.0, k=0.0), gap_ms=2)
    assert max(delays) < 2.0


def test_loss_toxic_refuses_values_that_never_end() -> None:
    def problem(**attributes: float) -> str | None:
        return LossToxic({**LossToxic.defaults, **attributes}).validate()

    assert problem(probability=0.05) is None
    assert problem(p=0.01, r=0.2) is None
    assert "r must be above 0" in (problem(p=0.1) or "")
    assert "every retransmission" in (problem(probability=1.0) or "")
    assert "probability from 0 to 1" in (problem(probability=1.5) or "")
    assert "positive" in (problem(probability=0.1, rto=0) or "")


# --- shared capacity ---------------------------------------------------------------------------


@given(
    rate=st.floats(1000, 1e8),
    requests_=st.lists(st.tuples(st.integers(1, 50_000), st.floats(0, 0.01)), max_size=200),
)
def test_shared_link_never_exceeds_its_rate(
    rate: float, requests_: list[tuple[int, float]]
) -> None:
    link, now, first, total = SharedLink(rate), 0.0, None, 0
    for nbytes, gap in requests_:
        now += gap
        start = link.reserve(nbytes, now)
        assert start >= now
        first = start if first is None else first
        total += nbytes
    if first is not None:
        assert total <= (link.free_at - first) * rate * (1 + 1e-9)


def test_backlogged_flows_share_the_link_round_robin() -> None:
    """Each flow books its next slot when its current one begins: equal shares emerge."""
    link, rate = SharedLink(1_250_000), 1_250_000
    q = quantum(rate)
    next_request = dict.fromkeys(range(21), 0.0)
    served = dict.fromkeys(range(21), 0)
    while min(next_request.values()) < 2.0:
        flow = min(next_request, key=lambda f: (next_request[f], f))
        start = link.reserve(q, next_request[flow])
        served[flow] += q
        next_request[flow] = start
    assert max(served.values()) - min(served.values()) <= 2 * q  # the last round is partial
    assert sum(served.values()) <= rate * 2.0 + 21 * q


@given(rate=st.floats(1000, 1e9), busy=st.integers(1, 10_000))
def test_a_round_of_busy_flows_lasts_two_ms_or_one_mss_each(rate: float, busy: int) -> None:
    q = quantum(rate, busy)
    assert q >= 1448  # never below a segment
    assert q <= max(1448, rate * 0.002)  # never above 2 ms of link time
    round_seconds = busy * q / rate
    assert round_seconds <= max(0.002, busy * 1448 / rate) * (1 + 1e-9)
    assert rate / q <= max(rate / 1448, 500 * busy) * (1 + 1e-9)  # wake-ups stay bounded


# --- leases ------------------------------------------------------------------------------------


@given(st.lists(st.tuples(st.sampled_from("abcd"), st.integers(1, 5000), st.floats(0, 2))))
def test_lease_book_expires_exactly_what_ran_out(ops: list[tuple[str, int, float]]) -> None:
    book: LeaseBook[str] = LeaseBook()
    now, model = 0.0, {}
    for key, lease_ms, step in ops:
        now += step
        due = set(book.due(now))
        assert due == {k for k, deadline in model.items() if deadline <= now}
        model = {k: d for k, d in model.items() if d > now}
        book.grant(key, lease_ms, now)
        model[key] = now + lease_ms / 1000
        assert book.next_deadline() == min(model.values())


def test_renewal_extends_only_leased_keys() -> None:
    book: LeaseBook[str] = LeaseBook()
    book.grant("a", 1000, 0.0)
    assert book.renew(["a", "never-leased"], 5000, 0.9) == 1
    assert book.due(2.0) == []
    assert book.due(5.9) == ["a"]


# --- request extension fields ------------------------------------------------------------------


def test_standard_bodies_carry_no_extensions() -> None:
    spec = requests.proxy_create(b'{"name": "a", "upstream": "127.0.0.1:1"}')
    assert spec.ext == extensions.ProxyExtensions()
    toxic = requests.toxic_create(b'{"type": "latency"}', lambda name: False)
    assert toxic.lease_ms is None


def test_extension_fields_are_read_and_checked() -> None:
    spec = requests.proxy_create(
        b'{"name": "a", "upstream": "127.0.0.1:1", "protocol": "udp", "run": "r-1"}'
    )
    assert spec.ext == extensions.ProxyExtensions(protocol="udp", run="r-1")
    toxic = requests.toxic_create(b'{"type": "noop", "lease_ms": 1500}', lambda name: False)
    assert toxic.lease_ms == 1500
    [entry] = requests.populate(b'[{"name": "a", "upstream": "x:1", "protocol": "udp"}]')
    assert entry.ext.protocol == "udp"


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: requests.toxic_create(b'{"type":"noop","lease_ms":0}', lambda n: False), "1 to"),
        (lambda: requests.toxic_create(b'{"type":"noop","lease_ms":1.5}', lambda n: False), "ms"),
        (lambda: requests.proxy_create(b'{"name":"a","upstream":"b:1","protocol":"sctp"}'), "udp"),
        (lambda: requests.proxy_create(b'{"name":"a","upstream":"b:1","run":"a b"}'), "run id"),
        (lambda: requests.proxy_create(b'{"name":"a","upstream":"b:1","lease_ms":9}'), "PATCH"),
        (lambda: requests.populate(b'[{"name":"a","upstream":"b:1","protocol":1}]'), "proxy 1"),
        (lambda: extensions.lease_renewal(b'{"run": "r"}'), "renewal needs"),
        (lambda: extensions.seed(b'{"seed": "x"}'), "whole number"),
    ],
)
def test_bad_extension_values_are_400_naming_the_field(call: object, message: str) -> None:
    assert callable(call)
    with pytest.raises(ApiError) as caught:
        call()
    assert caught.value.status == 400
    assert message in caught.value.message


def test_a_lease_on_a_proxy_patch_needs_enabled_false() -> None:
    current = requests.ProxyInput("a", "127.0.0.1:1", "b:1", True)
    with pytest.raises(ApiError, match="enabled false"):
        requests.proxy_update(b'{"lease_ms": 1000}', current)
    spec = requests.proxy_update(b'{"enabled": false, "lease_ms": 1000, "run": "r"}', current)
    assert (spec.enabled, spec.ext.lease_ms, spec.ext.run) == (False, 1000, "r")


@given(st.floats(0, 1, exclude_max=True))
def test_float_attributes_round_trip_as_go_prints_them(value: float) -> None:
    body = json.dumps({"type": "loss", "attributes": {"probability": value}}).encode()
    toxic = requests.toxic_create(body, lambda name: False).toxic
    echoed = json.loads(gojson.encode(toxic.values()))
    assert echoed["probability"] == value
    assert echoed["rto"] == 200 and echoed["mss"] == 1448 and echoed["h"] == 1


# --- seeded randomness --------------------------------------------------------------------------


def test_link_randomness_depends_on_seed_and_link_only() -> None:
    runtime = Runtime(42, None, ServerMetrics(proxy_metrics=False, runtime_metrics=False))
    first = [runtime.rng_for("edge", "downstream", 1).random() for _ in range(3)]
    again = [runtime.rng_for("edge", "downstream", 1).random() for _ in range(3)]
    other = runtime.rng_for("edge", "upstream", 1).random()
    assert first == again and other != first[0]
    assert runtime.next_ordinal("edge") == 1 and runtime.next_ordinal("edge") == 2
    runtime.reseed(42)
    assert runtime.next_ordinal("edge") == 1 and runtime.generation == 1


# --- datagram toxics ----------------------------------------------------------------------------


def _toxic(type_name: str, **attributes: float) -> object:
    cls = DATAGRAM_TOXIC_TYPES[type_name]
    toxic = cls({**cls.defaults, **attributes})
    assert toxic.validate() is None
    return toxic


def _run(
    type_name: str, n: int, seed: int = 1, size: int = 4, **attributes: float
) -> list[list[Datagram]]:
    toxic = _toxic(type_name, **attributes)
    from chaos.faults.toxics.datagram import DatagramToxic

    assert isinstance(toxic, DatagramToxic)
    state, rng = toxic.new_state(), random.Random(seed)
    return [
        apply_all([(toxic, 1.0, state)], Datagram(i.to_bytes(4, "big").ljust(size), i * 0.001), rng)
        for i in range(n)
    ]


def test_datagram_loss_drops_at_its_rate_and_only_drops() -> None:
    results = _run("loss", 10_000, probability=0.05)
    assert all(len(r) <= 1 for r in results)
    assert sum(not r for r in results) / 10_000 == pytest.approx(0.05, abs=0.01)


def test_jitter_reorders_datagrams_but_never_sends_early() -> None:
    results = _run("latency", 1000, latency=20, jitter=10)
    dues = [r[0].due for r in results]
    assert all(d >= i * 0.001 + 0.010 - 1e-9 for i, d in enumerate(dues))
    assert dues != sorted(dues)


def test_duplicate_and_corrupt_do_what_they_say() -> None:
    dup = _run("duplicate", 4000, probability=0.1)
    assert sum(len(r) == 2 for r in dup) / 4000 == pytest.approx(0.1, abs=0.02)
    corrupt = _run("corrupt", 4000, probability=0.1)
    changed = [r[0].data != i.to_bytes(4, "big") for i, r in enumerate(corrupt)]
    assert sum(changed) / 4000 == pytest.approx(0.1, abs=0.02)


@given(st.binary(min_size=1, max_size=64), st.data())
def test_flip_bit_changes_exactly_one_bit(data: bytes, draw: st.DataObject) -> None:
    bit = draw.draw(st.integers(0, len(data) * 8 - 1))
    flipped = flip_bit(data, bit)
    diff = int.from_bytes(data, "big") ^ int.from_bytes(flipped, "big")
    assert diff.bit_count() == 1


def test_rate_paces_and_tail_drops_past_its_queue() -> None:
    # 100 KB/s, 1000-byte datagrams every 1 ms (1 MB/s offered): 10 ms of link time each.
    results = _run("rate", 200, size=1000, rate=100, queue=50)
    sent = [r[0] for r in results if r]
    assert [b.due for b in sent] == sorted(b.due for b in sent)
    assert 0 < len(sent) < 200
    gaps = [b.due - a.due for a, b in itertools.pairwise(sent)]
    assert min(gaps) >= 1000 / 100_000 - 1e-9  # 1000-byte datagrams at 100 KB/s
    waits = [r[0].due - i * 0.001 for i, r in enumerate(results) if r]
    assert max(waits) <= 0.050 + 0.010 + 1e-9  # the queue, plus the datagram ahead on the wire


def test_same_seed_same_datagram_decisions() -> None:
    def pattern(seed: int) -> list[bool]:
        return [bool(r) for r in _run("loss", 2000, seed=seed, p=0.02, r=0.3)]

    assert pattern(7) == pattern(7)
    assert pattern(7) != pattern(8)


# --- flood pacing --------------------------------------------------------------------------------


@given(
    rate=st.floats(100, 1e9),
    gaps=st.lists(st.floats(0, 0.5), min_size=1, max_size=100),
)
def test_flood_pacing_never_exceeds_its_rate(rate: float, gaps: list[float]) -> None:
    size = write_size(rate)
    next_at, now, first, writes = 0.0, 0.0, None, 0
    for gap in gaps:
        now += gap  # the writer comes back late (back-pressure) or early
        wait, next_at = pace(next_at, now, size, rate)
        assert wait >= 0
        now += wait
        first = now if first is None else first
        writes += 1
    assert first is not None
    assert (writes - 1) * size <= (now - first) * rate * (1 + 1e-9) + 1e-6


def test_flood_plan_from_a_share_of_capacity() -> None:
    assert FloodPlan.share(0.9, 1_250_000, 20).rate == pytest.approx(1_125_000)
    with pytest.raises(ValueError):
        FloodPlan.share(1.5, 1000, 1)
    with pytest.raises(ValueError):
        FloodPlan(0, 1000)


@pytest.mark.parametrize(
    ("type_name", "attributes"),
    [
        ("loss", {"p": 0.05, "r": 0.3}),
        ("latency", {"latency": 30, "jitter": 20}),
        ("duplicate", {"probability": 0.2}),
        ("corrupt", {"probability": 0.2}),
    ],
)
def test_every_random_datagram_toxic_repeats_its_decisions_for_a_seed(
    type_name: str, attributes: dict[str, float]
) -> None:
    assert _run(type_name, 500, seed=5, **attributes) == _run(type_name, 500, seed=5, **attributes)
    assert _run(type_name, 500, seed=5, **attributes) != _run(type_name, 500, seed=6, **attributes)


async def _slices_through_seeded_chain(seed: int) -> list[tuple[int, bytes]]:
    """Pieces (link, data) out of slicer chains whose toxicity is rolled per link."""
    import asyncio

    from chaos.faults.server.chain import Chain
    from chaos.faults.toxics.slicer import SlicerToxic

    class Entry:
        toxic = SlicerToxic({"average_size": 40, "size_variation": 30, "delay": 0})
        toxicity = 0.5

    runtime = Runtime(seed, None, ServerMetrics(proxy_metrics=False, runtime_metrics=False))
    pieces: list[tuple[int, bytes]] = []
    for ordinal in range(1, 9):
        chain = Chain([Entry()], runtime.rng_for("edge", "downstream", ordinal))
        chain.start()
        for _ in range(3):
            chain.head_input.force(Chunk(bytes(range(200)), 0.0))
        chain.head_input.close()
        while (chunk := await chain.sink.get()) is not None:
            pieces.append((ordinal, chunk.data))
        await asyncio.sleep(0)
    return pieces


async def test_same_seed_same_toxicity_rolls_and_slicer_cuts_per_link() -> None:
    first = await _slices_through_seeded_chain(21)
    assert first == await _slices_through_seeded_chain(21)
    assert first != await _slices_through_seeded_chain(22)
    sliced_links = {link for link, data in first if len(data) < 200}
    assert 0 < len(sliced_links) < 8  # toxicity 0.5: some links act, some pass through


def test_only_loopback_hosts_count_as_loopback_for_a_flood() -> None:
    from chaos.faults.flood import on_loopback

    assert on_loopback("127.0.0.1") and on_loopback("127.9.8.7") and on_loopback("[::1]")
    assert on_loopback("localhost")
    assert not on_loopback("192.0.2.7") and not on_loopback("edge.example")
