"""The accept loop every TCP listener of the server runs (a proxy's, its flood ingress's)."""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
from collections.abc import Callable

from chaos.faults.server.endpoint import Endpoint

log = logging.getLogger(__name__)

ACCEPT_BURST = 64
"""Connections accepted in a row before the loop lets other tasks run."""


async def accept_forever(
    listener: Endpoint, on_client: Callable[[socket.socket], None], name: str
) -> None:
    """Hand each accepted socket to ``on_client`` until the listener closes. Out of descriptors
    or buffers, wait and retry: a join storm must neither end the loop nor starve traffic
    already flowing."""
    accepted = 0
    while True:
        try:
            client, _ = listener.sock.accept()
        except BlockingIOError:
            try:
                await listener.wait_readable()
            except OSError:
                return
            continue
        except OSError as exc:
            if listener.closed:
                return
            if exc.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                log.warning("%s cannot accept: %s; retrying", name, exc)
                await asyncio.sleep(0.1)
            continue
        on_client(client)
        accepted += 1
        if accepted % ACCEPT_BURST == 0:
            await asyncio.sleep(0)
