"""Free loopback ports for the processes of a stack.

Ports are found by binding to port 0 and held open until every port of the stack is chosen,
so one stack never gets the same port twice; they are released just before the processes
start, which leaves only a short window in which another program could take one.
"""

from __future__ import annotations

import socket
from contextlib import ExitStack

from chaos.errors import InfrastructureError


class PortReservation:
    """Holds sockets on the ports it handed out until ``release``."""

    def __init__(self) -> None:
        self._held = ExitStack()

    def take(self, host: str, protocol: str, port: int = 0) -> int:
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
