"""Can this machine run the namespace backend, and does its kernel have ``netem``?

Asked by `gameday backends` and before a run starts. ``netem`` is probed for real (a qdisc
on the loopback of a throw-away namespace), because many kernels (this project's CI among
them) are built without sch_netem: delay and jitter then go through the fault proxy.
"""

from __future__ import annotations

import os
import shutil
import subprocess

from chaos.stack.capabilities import Availability

_TOOLS = ("ip", "tc", "nft")


def _quiet(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, check=False, timeout=10)


def has_netem() -> bool:
    """True when ``tc qdisc add … netem`` works here (tried in a scratch namespace)."""
    scratch = f"gd-probe-{os.getpid()}"
    if _quiet(["ip", "netns", "add", scratch]).returncode != 0:
        return False
    try:
        added = _quiet(
            ["ip", "netns", "exec", scratch, "tc", "qdisc", "add", "dev", "lo", "root", "netem",
             "delay", "1ms"]
        )  # fmt: skip
        return added.returncode == 0
    finally:
        _quiet(["ip", "netns", "del", scratch])


def probe_netns() -> Availability:
    if os.geteuid() != 0:
        return Availability(False, "network namespaces need root (run gameday as root)")
    missing = [tool for tool in _TOOLS if shutil.which(tool) is None]
    if missing:
        return Availability(
            False, f"{', '.join(missing)} not installed (Debian: iproute2, nftables)"
        )
    scratch = f"gd-probe-{os.getpid()}"
    made = _quiet(["ip", "netns", "add", scratch])
    if made.returncode != 0:
        return Availability(False, f"cannot create a namespace: {made.stderr.strip()}")
    _quiet(["ip", "netns", "del", scratch])
    netem = (
        "netem available"
        if has_netem()
        else "no netem in this kernel: delay/jitter go through the fault proxy"
    )
    return Availability(True, f"root, ip/tc/nft present; {netem}")
