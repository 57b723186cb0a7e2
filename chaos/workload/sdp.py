"""ICE through a fault proxy: the SDP edits that make a WebRTC speaker's media take the proxy.

A UDP proxy forwards one listen address to one upstream address, but ICE picks its own paths.
So the speaker (the controlling agent) gives the server no candidates of its own
(``without_candidates``): the server learns the speaker's address only from connectivity
checks that reach it *through* the proxy (a peer-reflexive candidate), and answers there. The
server's candidates in its answer are rewritten (``routed``) to the proxy in front of each
(server address → proxy listen address, one proxy per port of the server's media range);
candidates with no proxy are dropped, so no check can go around the proxy. STUN, DTLS, RTP and
RTCP then all cross the proxy, where loss, jitter and rate toxics act on them.

Pure text functions over SDP (RFC 8866 lines, RFC 8839 candidate attributes).
"""

from __future__ import annotations

import re
from collections.abc import Mapping


class SdpError(ValueError):
    """An SDP the speaker cannot route: the message names the line or what is missing."""


_CANDIDATE = re.compile(
    r"^a=candidate:(?P<foundation>\S+) (?P<component>\d+) (?P<transport>\S+) (?P<priority>\d+) "
    r"(?P<address>\S+) (?P<port>\d+) typ (?P<type>\S+)(?P<rest>.*)$"
)

Route = Mapping[tuple[str, int], tuple[str, int]]
"""Server (address, port) → (address, port) to send to instead: the proxy in front of it."""


def _lines(sdp: str) -> list[str]:
    return sdp.replace("\r\n", "\n").split("\n")


def _join(lines: list[str]) -> str:
    return "\r\n".join(lines)


def without_candidates(sdp: str) -> str:
    """The offer with every ``a=candidate`` removed (``a=end-of-candidates`` stays): the
    answerer has no address to check and waits for the offerer's checks."""
    return _join([line for line in _lines(sdp) if not line.startswith("a=candidate:")])


def candidates(sdp: str) -> list[tuple[str, int, str]]:
    """Each UDP candidate's (address, port, type), in order; a malformed one raises
    ``SdpError`` naming its line."""
    found = []
    for number, line in enumerate(_lines(sdp), start=1):
        if not line.startswith("a=candidate:"):
            continue
        match = _CANDIDATE.match(line)
        if match is None:
            raise SdpError(f"SDP line {number}: malformed candidate {line[:80]!r}")
        if match["transport"].lower() == "udp":
            found.append((match["address"], int(match["port"]), match["type"]))
    return found


def routed(sdp: str, route: Route) -> str:
    """The answer with each UDP candidate the route knows sent to its proxy, and every other
    candidate (TCP, IPv6, an address with no proxy) removed. Raises ``SdpError`` when no
    candidate is left: the media could never take the proxy."""
    out: list[str] = []
    kept = 0
    for number, line in enumerate(_lines(sdp), start=1):
        if not line.startswith("a=candidate:"):
            out.append(line)
            continue
        match = _CANDIDATE.match(line)
        if match is None:
            raise SdpError(f"SDP line {number}: malformed candidate {line[:80]!r}")
        via = route.get((match["address"], int(match["port"])))
        if match["transport"].lower() != "udp" or via is None:
            continue
        kept += 1
        out.append(
            f"a=candidate:{match['foundation']} {match['component']} {match['transport']} "
            f"{match['priority']} {via[0]} {via[1]} typ {match['type']}{match['rest']}"
        )
    if kept == 0:
        offered = ", ".join(f"{a}:{p}" for a, p, _ in candidates(sdp)) or "none"
        raise SdpError(
            f"no candidate of the answer has a proxy (answer offers {offered}; "
            f"routes known for {len(route)} addresses)"
        )
    return _join(out)


def route_of(targets: list[str], dialled: list[str]) -> dict[tuple[str, int], tuple[str, int]]:
    """The route from a link's target addresses to what its clients dial (same order, one per
    target: `{addrs:C.P}` and `{links:LINK}`)."""
    if len(targets) != len(dialled):
        raise ValueError(f"{len(targets)} targets but {len(dialled)} dialled addresses")
    return {_split(t): _split(d) for t, d in zip(targets, dialled, strict=True)}


def _split(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"{address!r} is not host:port")
    return host.strip("[]"), int(port)
