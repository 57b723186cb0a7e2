"""Packet loss in the kernel with nftables: random, and bursty (Gilbert–Elliott-like).

Pure: builds the text of an ``nft -f`` script, so the rules are tested without root. Loss is
decided per packet by ``numgen random``, as iptables' ``statistic --mode random`` does. Bursty
loss is a two-state model: in the good state each packet is lost with ``probability`` and
enters the bad state with ``burst_enter``; the bad state is a timed element of a dynamic set
(``update @bad {… timeout …}``), and every packet of the protocol is dropped while it lasts,
so losses come in runs of ``burst`` duration as on a fading or congested link. One table per
fault, so removing the fault is deleting its table, and a table named with the run's key is
found again by a clean-up after a killed run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Direction = Literal["upstream", "downstream", "both"]
"""``upstream``: packets into the namespace (to the link's target); ``downstream``: out of it."""

SCALE = 1_000_000
"""numgen range: probabilities are applied in millionths."""

_HOOKS: dict[str, tuple[str, ...]] = {
    "upstream": ("input",),
    "downstream": ("output",),
    "both": ("input", "output"),
}


@dataclass(frozen=True)
class LossRule:
    table: str
    protocols: tuple[Literal["udp", "tcp"], ...]
    probability: float
    direction: Direction = "both"
    burst_enter: float = 0.0
    """Per-packet probability of entering the bad state (0: no bursts)."""
    burst: float = 0.0
    """Seconds the bad state lasts (every packet of the protocol dropped meanwhile)."""
    port: int | None = None
    """Only packets to or from this port of the namespace (None: every port)."""

    def __post_init__(self) -> None:
        if not 0.0 <= self.probability <= 1.0 or not 0.0 <= self.burst_enter <= 1.0:
            raise ValueError("loss probabilities are between 0 and 1")
        if self.burst_enter and self.burst <= 0:
            raise ValueError("a bursty loss needs a burst duration above 0")
        if not self.protocols:
            raise ValueError("name at least one protocol")


def _threshold(probability: float) -> int:
    return round(probability * SCALE)


def _match(protocol: str, port: int | None, hook: str) -> str:
    if port is None:
        return f"meta l4proto {protocol}"
    side = "dport" if hook == "input" else "sport"
    return f"meta l4proto {protocol} th {side} {port}"


def ruleset(rule: LossRule) -> str:
    """The ``nft -f`` script that adds the fault's table."""
    lines = [f"table inet {rule.table} {{"]
    bursty = rule.burst_enter > 0
    if bursty:
        lines.append("  set bad { type inet_proto; flags timeout; }")
    for hook in _HOOKS[rule.direction]:
        lines += [
            f"  chain {hook} {{",
            f"    type filter hook {hook} priority -10; policy accept;",
        ]
        for protocol in rule.protocols:
            match = _match(protocol, rule.port, hook)
            if bursty:
                milliseconds = max(1, round(rule.burst * 1000))
                lines.append(f"    {match} meta l4proto @bad drop")
                lines.append(
                    f"    {match} numgen random mod {SCALE} < {_threshold(rule.burst_enter)} "
                    f"update @bad {{ meta l4proto timeout {milliseconds}ms }} drop"
                )
            if rule.probability > 0:
                lines.append(
                    f"    {match} numgen random mod {SCALE} < {_threshold(rule.probability)} drop"
                )
        lines.append("  }")
    lines.append("}")
    return "\n".join(lines) + "\n"


def delete(table: str) -> list[str]:
    """The ``nft`` arguments that remove a fault's table."""
    return ["delete", "table", "inet", table]


def mean_loss(rule: LossRule, packets_per_second: float) -> float:
    """Long-run fraction of packets lost, for a steady packet rate (what a receiver measures).

    Each good-state packet starts a burst with ``burst_enter``; a burst drops the triggering
    packet plus about ``burst * rate`` more; the other good packets are lost with
    ``probability``.
    """
    if rule.burst_enter == 0:
        return rule.probability
    per_burst = 1 + rule.burst * packets_per_second
    good_run = 1 / rule.burst_enter
    lost_good = (good_run - 1) * rule.probability
    return (per_burst + lost_good) / (good_run - 1 + per_burst)
