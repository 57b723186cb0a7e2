"""The data path's place in the CPU queue: real-time when the system allows it.

A latency toxic is exact only if its process runs when its deadline comes. On a machine whose
cores are busy (CI runners, a game day beside a load generator), a normal process woken by its
timer waits behind the busy ones for a scheduler slice: with two CPU-bound processes on two
cores its p99 lateness was 24 ms here, and ``nice -20`` still left 16 ms (the kernel's EEVDF
scheduler places a woken task by its lag, not at once). Under ``SCHED_FIFO`` the woken thread
preempts every normal one: 0.3 ms. So the server's event-loop thread asks for ``SCHED_FIFO``
at a low real-time priority when it starts, with ``SCHED_RESET_ON_FORK`` (nothing it starts
inherits it); other threads stay normal.

The kernel allows it to root, to a process with ``CAP_SYS_NICE``, or under an ``RLIMIT_RTPRIO``
of at least ``PRIORITY`` (``ulimit -r``, ``/etc/security/limits.conf``). Otherwise the server
runs as any process does and says so once in its log: toxics are then as exact as the CPU
left free allows. A real-time thread cannot take the machine: the kernel keeps 5 % of every
second for normal tasks (``kernel.sched_rt_runtime_us``), and the server is one thread, so at
most one core. ``-realtime=false`` keeps the default scheduling.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

PRIORITY = 10
"""Low among real-time priorities (1–99): kernel threads and audio servers stay above it."""


@dataclass(frozen=True)
class Scheduling:
    realtime: bool
    detail: str
    """What a person reads in the log: the policy, or why it stayed normal and how to fix it."""


def current() -> Scheduling:
    """The calling thread's scheduling, in the words of :func:`raise_priority`."""
    getscheduler = getattr(os, "sched_getscheduler", None)
    if getscheduler is None:
        return Scheduling(False, "normal (this platform has no real-time scheduling)")
    policy = getscheduler(0) & ~getattr(os, "SCHED_RESET_ON_FORK", 0)
    if policy == getattr(os, "SCHED_FIFO", -1):
        return Scheduling(True, f"SCHED_FIFO priority {os.sched_getparam(0).sched_priority}")
    return Scheduling(False, "normal")


def raise_priority() -> Scheduling:
    """Make the calling thread ``SCHED_FIFO`` at ``PRIORITY`` if the system allows it."""
    setscheduler = getattr(os, "sched_setscheduler", None)
    fifo = getattr(os, "SCHED_FIFO", None)
    if setscheduler is None or fifo is None:
        return current()
    try:
        setscheduler(0, fifo | getattr(os, "SCHED_RESET_ON_FORK", 0), os.sched_param(PRIORITY))
    except PermissionError:
        return Scheduling(
            False,
            "normal: real-time scheduling was refused (run as root, grant CAP_SYS_NICE, or "
            f"raise RLIMIT_RTPRIO to {PRIORITY}); latency toxics will be late by as long as "
            "busy cores keep this process waiting",
        )
    except OSError as exc:  # e.g. a container whose cgroup has no real-time budget
        return Scheduling(False, f"normal: real-time scheduling failed ({exc.strerror or exc})")
    return current()
