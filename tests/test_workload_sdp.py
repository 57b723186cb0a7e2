"""ICE through the fault proxy: the speaker's SDP edits (chaos.workload.sdp)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chaos.workload.sdp import SdpError, candidates, route_of, routed, without_candidates

ANSWER = "\r\n".join(
    [
        "v=0",
        "o=- 1 1 IN IP4 192.0.2.2",
        "s=Janus",
        "t=0 0",
        "m=audio 9 UDP/TLS/RTP/SAVPF 111",
        "c=IN IP4 192.0.2.2",
        "a=candidate:1 1 udp 2015363327 192.0.2.2 20003 typ host",
        "a=candidate:2 1 udp 2015363583 fd00::2 20001 typ host",
        "a=candidate:3 1 tcp 1015363327 192.0.2.2 9 typ host tcptype active",
        "a=end-of-candidates",
        "",
    ]
)


def test_the_answer_s_candidates_go_to_their_proxies_and_nothing_else_is_left() -> None:
    route = route_of(["192.0.2.2:20002", "192.0.2.2:20003"], ["127.0.0.1:41002", "127.0.0.1:41003"])
    sdp = routed(ANSWER, route)
    assert candidates(sdp) == [("127.0.0.1", 41003, "host")]
    assert "fd00::2" not in sdp and " tcp " not in sdp
    assert "a=end-of-candidates" in sdp and sdp.startswith("v=0\r\n")


def test_an_answer_with_no_proxied_candidate_is_refused_with_what_it_offered() -> None:
    with pytest.raises(SdpError, match=r"192\.0\.2\.2:20003"):
        routed(ANSWER, route_of(["192.0.2.2:1"], ["127.0.0.1:2"]))


def test_a_malformed_candidate_names_its_line() -> None:
    with pytest.raises(SdpError, match="line 2"):
        candidates("v=0\r\na=candidate:1 1 udp x 1.2.3.4 5 typ host")


def test_route_of_pairs_targets_and_dialled_in_order() -> None:
    assert route_of(["[::1]:5", "h:6"], ["a:1", "b:2"]) == {
        ("::1", 5): ("a", 1),
        ("h", 6): ("b", 2),
    }
    with pytest.raises(ValueError):
        route_of(["h:1"], [])


_ports = st.integers(min_value=1, max_value=65535)


@given(st.lists(st.tuples(_ports, _ports), min_size=1, max_size=12, unique_by=lambda p: p[0]))
def test_every_routed_candidate_is_a_proxy_and_every_known_one_survives(
    pairs: list[tuple[int, int]],
) -> None:
    lines = ["v=0", "m=audio 9 UDP/TLS/RTP/SAVPF 111"]
    lines += [
        f"a=candidate:{i} 1 udp {2000 - i} 192.0.2.2 {server} typ host"
        for i, (server, _) in enumerate(pairs)
    ]
    route = {("192.0.2.2", server): ("127.0.0.1", proxy) for server, proxy in pairs}
    found = candidates(routed("\r\n".join(lines), route))
    assert sorted(found) == sorted(("127.0.0.1", proxy, "host") for _, proxy in pairs)


@given(st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=300))
def test_without_candidates_leaves_no_candidate_and_keeps_every_other_line(text: str) -> None:
    stripped = without_candidates(text)
    kept = stripped.split("\r\n")
    assert not any(line.startswith("a=candidate:") for line in kept)
    others = [
        line
        for line in text.replace("\r\n", "\n").split("\n")
        if not line.startswith("a=candidate:")
    ]
    assert kept == others
