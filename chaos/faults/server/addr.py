"""TCP addresses as Go's ``net`` package parses, resolves, prints and reports them.

Toxiproxy echoes ``listener.Addr().String()`` and compares ``ResolveTCPAddr(listen).String()``
to decide whether a proxy changed, and reports Go's error text with status 500; we follow the
same rules so ``listen`` values and error bodies match a real server.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import socket
from dataclasses import dataclass


class AddrError(OSError):
    """A Go-style address error; ``str()`` is the text Go would print."""


@dataclass(frozen=True)
class TCPAddr:
    """A resolved address; ``ip`` is None for "any" (an empty host)."""

    ip: ipaddress.IPv4Address | ipaddress.IPv6Address | None
    port: int

    def __str__(self) -> str:
        if self.ip is None:
            return f":{self.port}"
        if self.ip.version == 6:
            return f"[{self.ip}]:{self.port}"
        return f"{self.ip}:{self.port}"

    @property
    def is_wildcard(self) -> bool:
        return self.ip is None or self.ip.is_unspecified


def split_host_port(hostport: str) -> tuple[str, str]:
    """Go's ``net.SplitHostPort``."""

    def fail(why: str) -> AddrError:
        return AddrError(f"address {hostport}: {why}" if hostport else why)

    i = hostport.rfind(":")
    if i < 0:
        raise fail("missing port in address")
    j = k = 0
    if hostport.startswith("["):
        end = hostport.find("]")
        if end < 0:
            raise fail("missing ']' in address")
        if end + 1 == len(hostport):
            raise fail("missing port in address")
        if end + 1 != i:
            raise fail(
                "too many colons in address"
                if hostport[end + 1] == ":"
                else "missing port in address"
            )
        host = hostport[1:end]
        j, k = 1, end + 1
    else:
        host = hostport[:i]
        if ":" in host:
            raise fail("too many colons in address")
    if "[" in hostport[j:]:
        raise fail("unexpected '[' in address")
    if "]" in hostport[k:]:
        raise fail("unexpected ']' in address")
    return host, hostport[i + 1 :]


def parse_port(service: str) -> int:
    """Go's ``LookupPort`` for "tcp": digits, a service name, or empty for 0."""
    if service == "":
        return 0
    if service.isascii() and service.isdigit():
        port = int(service) if len(service) <= 6 else 0x10000
    else:
        try:
            port = socket.getservbyname(service, "tcp")
        except OSError:
            raise AddrError(f"lookup tcp/{service}: unknown port") from None
    if not 0 <= port <= 0xFFFF:
        raise AddrError(f"address {service}: invalid port")
    return port


def _literal(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


async def resolve(hostport: str) -> TCPAddr:
    """Go's ``net.ResolveTCPAddr("tcp", hostport)``: IPv4 preferred for names."""
    if hostport == "":
        return TCPAddr(None, 0)
    host, service = split_host_port(hostport)
    port = parse_port(service)
    if host == "":
        return TCPAddr(None, port)
    literal = _literal(host)
    if literal is not None:
        return TCPAddr(literal, port)
    return TCPAddr((await lookup(host))[0], port)


async def lookup(host: str) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    """A host's addresses, IPv4 first (Go's preference for "tcp")."""
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(
            host, None, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
        )
    except (socket.gaierror, UnicodeError):
        raise AddrError(f"lookup {host}: no such host") from None
    found = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
    unique = list(dict.fromkeys(found))
    return sorted(unique, key=lambda ip: ip.version)


@functools.cache
def ipv6_available() -> bool:
    """Whether wildcard listeners can be dual-stack, as Go makes them when it can."""
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


async def listen(hostport: str) -> socket.socket:
    """Go's ``net.Listen("tcp", hostport)``, errors worded as Go words them."""
    try:
        addr = await resolve(hostport)
    except AddrError as exc:
        raise AddrError(f"listen tcp: {exc}") from None
    return _listen_socket(addr)


def _listen_socket(addr: TCPAddr) -> socket.socket:
    """Bind and listen; wildcards are dual-stack, as Go makes them."""
    if addr.is_wildcard and ipv6_available():
        family, host = socket.AF_INET6, "::"
    elif addr.is_wildcard:
        family, host = socket.AF_INET, "0.0.0.0"
    else:
        assert addr.ip is not None
        family = socket.AF_INET6 if addr.ip.version == 6 else socket.AF_INET
        host = str(addr.ip)
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0 if addr.is_wildcard else 1)
        sock.bind((host, addr.port))
        sock.listen(4096)
    except OSError as exc:
        sock.close()
        reason = (exc.strerror or str(exc)).lower()
        raise AddrError(f"listen tcp {addr}: bind: {reason}") from None
    sock.setblocking(False)
    return sock


def bound_address(sock: socket.socket) -> str:
    """``listener.Addr().String()``."""
    host, port = sock.getsockname()[:2]
    return str(TCPAddr(ipaddress.ip_address(host), port))
