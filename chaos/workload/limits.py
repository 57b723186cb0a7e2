"""File-descriptor limits: every listener is a socket, and the default soft limit is 1024.

Raised to the hard limit once at start (child processes inherit it). When even the hard limit
is too low the run stops before opening anything, with the numbers and the knob to turn,
instead of failing thousands of joins with EMFILE halfway through a storm.
"""

from __future__ import annotations

import resource

from chaos.errors import InfrastructureError

#: Descriptors a worker needs besides its listeners: the event loop, pipes, logs, imports.
RESERVED_FDS = 64


def raise_fd_limit(listeners: int) -> int:
    """Raise the soft limit as far as allowed; fail clearly if ``listeners`` cannot fit."""
    needed = listeners + RESERVED_FDS
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = max(soft, needed) if hard == resource.RLIM_INFINITY else hard
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    if target < needed:
        raise InfrastructureError(
            f"{listeners} concurrent listeners in one worker need {needed} file descriptors, "
            f"but the hard limit is {hard}",
            where="workload: file-descriptor limit",
            fix="raise the hard limit (`ulimit -Hn`, LimitNOFILE= for systemd, "
            "`--ulimit nofile=N:N` for Docker) or spread the listeners over more workers",
        )
    return target
