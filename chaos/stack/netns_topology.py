"""Names and addresses of a run's network namespaces: pure, derived from the run id alone.

Everything is named from a short key of the run id, so a clean-up after a SIGKILLed run
(``gameday stack down --run-id``) finds exactly that run's namespaces and interfaces again
without any state file. Addresses come from one /24 of 10.213.0.0/16 that no interface of
this host uses; namespaces get a connected route to that /24 only and no default route, so
nothing they send can leave the project's own namespaces and the harness's veth.
"""

from __future__ import annotations

import hashlib
import ipaddress
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

POOL = ipaddress.IPv4Network("10.213.0.0/16")
PREFIX = "gd-"


def run_key(run_id: str) -> str:
    """8 hex digits: short enough for a 15-character interface name."""
    return hashlib.sha256(run_id.encode()).hexdigest()[:8]


def choose_subnet(
    key: str, used: Iterable[ipaddress.IPv4Network], pool: ipaddress.IPv4Network = POOL
) -> ipaddress.IPv4Network:
    """The run's /24 of ``pool``: one picked by its key, or the next that overlaps nothing in
    ``used``."""
    subnets = list(pool.subnets(new_prefix=24))
    taken = list(used)
    start = int(key, 16) % len(subnets)
    for offset in range(len(subnets)):
        candidate = subnets[(start + offset) % len(subnets)]
        if not any(candidate.overlaps(net) for net in taken):
            return candidate
    raise ValueError(f"every /24 of {pool} is in use on this host")


@dataclass(frozen=True)
class Topology:
    key: str
    subnet: ipaddress.IPv4Network
    replicas: tuple[str, ...]

    @classmethod
    def of(
        cls, run_id: str, replicas: Sequence[str], used: Iterable[ipaddress.IPv4Network] = ()
    ) -> Topology:
        if len(replicas) > 250:
            raise ValueError("at most 250 replicas fit one namespace /24")
        key = run_key(run_id)
        return cls(key, choose_subnet(key, used), tuple(replicas))

    @property
    def prefix(self) -> str:
        return f"{PREFIX}{self.key}-"

    @property
    def hub(self) -> str:
        """The namespace holding the bridge every veth joins."""
        return f"{self.prefix}hub"

    def namespace(self, replica: str) -> str:
        return f"{self.prefix}{replica}"

    @property
    def host_device(self) -> str:
        """The harness's end of its veth into the hub (root namespace)."""
        return f"gd{self.key}h"

    @property
    def host_address(self) -> str:
        return str(self.subnet[1])

    def address(self, replica: str) -> str:
        return str(self.subnet[self.replicas.index(replica) + 2])

    def hub_port(self, replica: str) -> str:
        return f"p{self.replicas.index(replica) + 1}"

    def setup(self) -> list[list[str]]:
        """The ``ip`` commands that build the topology, in order."""
        mask = self.subnet.prefixlen
        hub = self.hub
        commands = [
            ["ip", "netns", "add", hub],
            ["ip", "-n", hub, "link", "set", "lo", "up"],
            ["ip", "-n", hub, "link", "add", "br0", "type", "bridge"],
            ["ip", "-n", hub, "link", "set", "br0", "up"],
            ["ip", "link", "add", self.host_device, "type", "veth", "peer", "name", "host",
             "netns", hub],
            ["ip", "addr", "add", f"{self.host_address}/{mask}", "dev", self.host_device],
            ["ip", "link", "set", self.host_device, "up"],
            ["ip", "-n", hub, "link", "set", "host", "master", "br0", "up"],
        ]  # fmt: skip
        for replica in self.replicas:
            namespace, port = self.namespace(replica), self.hub_port(replica)
            commands += [
                ["ip", "netns", "add", namespace],
                ["ip", "-n", namespace, "link", "set", "lo", "up"],
                ["ip", "-n", hub, "link", "add", port, "type", "veth", "peer", "name", "eth0",
                 "netns", namespace],
                ["ip", "-n", hub, "link", "set", port, "master", "br0", "up"],
                ["ip", "-n", namespace, "addr", "add", f"{self.address(replica)}/{mask}",
                 "dev", "eth0"],
                ["ip", "-n", namespace, "link", "set", "eth0", "up"],
            ]  # fmt: skip
        return commands


def used_networks() -> list[ipaddress.IPv4Network]:
    """Every IPv4 network configured on this (root) namespace's interfaces."""
    out = subprocess.run(
        ["ip", "-o", "-4", "addr", "show"], capture_output=True, text=True, check=False
    ).stdout
    networks = []
    for line in out.splitlines():
        words = line.split()
        if "inet" in words:
            networks.append(ipaddress.IPv4Interface(words[words.index("inet") + 1]).network)
    return networks


def namespaces_of(key: str, listed: Iterable[str]) -> list[str]:
    """The namespaces of ``ip netns list`` output lines that belong to run key ``key``."""
    prefix = f"{PREFIX}{key}-"
    names = (line.split()[0] for line in listed if line.strip())
    return sorted(name for name in names if name.startswith(prefix))
