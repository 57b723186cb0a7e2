"""What the HLS listeners of one process share: resolved URIs and parsed playlists.

All listeners of an edge reload the same playlist and get the same bytes, so a worker parses
each distinct playlist body once (keyed by URL and bytes) and resolves each URI against its
base once; at thousands of listeners per core that is the difference between parsing a
playlist per listener per reload and per edge per reload. Resolving is also where traffic is
kept on the declared endpoint: a URI on any other scheme, host or port resolves to None.
"""

from __future__ import annotations

from collections import OrderedDict
from urllib.parse import urljoin, urlsplit

from chaos.workload.hls.playlist import Playlist, parse_playlist

#: Distinct playlist bodies kept per process (a few per edge and variant), and the largest
#: body worth keeping (a long event playlist is parsed each time rather than held).
PARSED_KEPT = 64
PARSED_MAX_BYTES = 256 * 1024
RESOLVED_KEPT = 8192


class EndpointResolver:
    """Resolves URIs for listeners of ``host:port`` (an ``http`` endpoint) and caches parses."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host.lower()
        self.port = port
        self.parses = 0  # cache misses: what the listeners' playlists cost
        self._resolved: OrderedDict[tuple[str, str], tuple[str, str] | None] = OrderedDict()
        self._parsed: OrderedDict[tuple[str, bytes], Playlist] = OrderedDict()

    def resolve(self, base: str, uri: str) -> tuple[str, str] | None:
        key = (base, uri)
        cache = self._resolved
        if key in cache:
            return cache[key]
        absolute = urljoin(base, uri.strip())
        parts = urlsplit(absolute)
        try:
            port = parts.port or 80
        except ValueError:
            port = -1
        found: tuple[str, str] | None = None
        if parts.scheme == "http" and (parts.hostname or "") == self.host and port == self.port:
            path = parts.path or "/"
            found = (absolute.partition("#")[0], f"{path}?{parts.query}" if parts.query else path)
        cache[key] = found
        if len(cache) > RESOLVED_KEPT:
            cache.popitem(last=False)
        return found

    def parse(self, url: str, body: bytes) -> Playlist:
        if len(body) > PARSED_MAX_BYTES:
            self.parses += 1
            return parse_playlist(body)
        key = (url, body)
        cache = self._parsed
        hit = cache.get(key)
        if hit is not None:
            return hit
        self.parses += 1
        parsed = parse_playlist(body)
        cache[key] = parsed
        if len(cache) > PARSED_KEPT:
            cache.popitem(last=False)
        return parsed
