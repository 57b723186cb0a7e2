"""Free loopback ports for the processes of a stack.

Ports are found by binding to port 0 and held open until every port of the stack is chosen,
so one stack never gets the same port twice; they are released just before the processes
start, which leaves only a short window in which another program could take one.
"""

from __future__ import annotations

import fcntl
import random
import socket
import struct
from contextlib import ExitStack

from chaos.errors import InfrastructureError

RANGE_PORTS = (20000, 32000)
"""Where consecutive ranges are sought: below Linux's ephemeral ports (32768–60999), so a
released range is not taken by some program's outgoing connection before its server binds it."""

_SIOCGIFFLAGS = 0x8913
_SIOCGIFADDR = 0x8915
_IFF_UP, _IFF_LOOPBACK, _IFF_RUNNING = 0x1, 0x8, 0x40


class PortReservation:
    """Holds sockets on the ports it handed out until ``release``."""

    def __init__(self) -> None:
        self._held = ExitStack()

    def take(self, host: str, protocol: str, port: int = 0, count: int = 1) -> int:
        """A port (or the first of ``count`` consecutive ones) held until ``release``."""
        if count == 1:
            return self._take_one(host, protocol, port)
        if port:
            for offset in range(count):
                self._take_one(host, protocol, port + offset)
            return port
        rng = random.Random()
        for _ in range(200):
            first = rng.randrange(RANGE_PORTS[0], RANGE_PORTS[1] - count)
            taken = ExitStack()
            try:
                for offset in range(count):
                    taken.enter_context(self._bind(host, protocol, first + offset))
            except OSError:
                taken.close()
                continue
            self._held.enter_context(taken)
            return first
        raise InfrastructureError(
            f"no {count} consecutive free {protocol} ports on {host}",
            fix="free some ports in 20000-32000, or give the range a fixed `port`",
        )

    @staticmethod
    def _bind(host: str, protocol: str, port: int) -> socket.socket:
        kind = socket.SOCK_DGRAM if protocol == "udp" else socket.SOCK_STREAM
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, kind)
        try:
            if kind == socket.SOCK_STREAM:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, port))
        except OSError:
            sock.close()
            raise
        return sock

    def _take_one(self, host: str, protocol: str, port: int) -> int:
        kind = socket.SOCK_DGRAM if protocol == "udp" else socket.SOCK_STREAM
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, kind)
        try:
            if kind == socket.SOCK_STREAM:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, port))
        except OSError as exc:
            sock.close()
            what = f"{protocol} port {port} on {host}" if port else f"a free {protocol} port"
            raise InfrastructureError(
                f"cannot bind {what}: {exc.strerror or exc}",
                fix="free the port, or use port 0 in the spec to let gameday choose",
            ) from None
        self._held.enter_context(sock)
        bound: int = sock.getsockname()[1]
        return bound

    def release(self) -> None:
        self._held.close()


def interface_address() -> str:
    """This machine's first IPv4 address on an interface that is up and not loopback: where a
    server that never uses loopback (an ICE agent) listens when its stack runs as local
    processes. Traffic to it stays on the machine (the kernel delivers it locally)."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        for _, name in socket.if_nameindex():
            request = struct.pack("256s", name.encode()[:15])
            try:
                flags = struct.unpack("H", fcntl.ioctl(probe, _SIOCGIFFLAGS, request)[16:18])[0]
                if flags & _IFF_LOOPBACK or not (flags & _IFF_UP and flags & _IFF_RUNNING):
                    continue
                raw = fcntl.ioctl(probe, _SIOCGIFADDR, request)
            except OSError:  # no IPv4 address on this interface
                continue
            return socket.inet_ntoa(raw[20:24])
    finally:
        probe.close()
    raise InfrastructureError(
        "this machine has no IPv4 address outside loopback for a port marked `interface`",
        fix="bring a network interface up, or run the stack with --backend netns or docker",
    )
