"""The fault proxies of a run's links: created for the run, or adopted from the server.

On a fault proxy that several game days share, a run's proxies must never collide with
another's, and a run must never replace or delete a proxy it did not create. So:

- a proxy the run creates is named ``KEY@RUNID`` (``KEY`` is the link's name, or ``LINK#N`` for
  its N-th target replica) and created with ``POST /proxies``, which refuses a name that
  exists (409) instead of replacing it as ``/populate`` would; it listens on a free port, or
  on the link's fixed ``listen:`` address;
- a link with ``proxy: NAME`` in the stack spec adopts that existing proxy: faults go there,
  and nothing about it is created, changed or deleted (its clients already dial it);
- at the end the run deletes exactly the proxies it created (``created``), nothing else.

Planning is pure (``plan_link_proxies``); setting up is a sans-IO operation (``set_up``) that
undoes what it created when a later step fails.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from chaos.errors import InfrastructureError, InvalidInput
from chaos.experiment.stack import StackSpec
from chaos.faults.client import Api, Operation, Proxy, ProxySpec, ToxiproxyError
from chaos.faults.client.errors import ToxiproxyConflict, ToxiproxyNotFound
from chaos.runner.run_tag import tag
from chaos.stack.plan import StackPlan


@dataclass(frozen=True, slots=True)
class LinkProxy:
    """One proxy of one link target."""

    key: str
    """The stack's name for it (``LINK`` or ``LINK#N``): what the backend dials by."""
    link: str
    name: str
    """Its name on the server."""
    upstream: str
    spec: ProxySpec | None
    """What to create; None for an adopted proxy."""

    @property
    def adopted(self) -> bool:
        return self.spec is None


def plan_link_proxies(
    spec: StackSpec,
    plan: StackPlan,
    links: Sequence[str],
    run_id: str,
    *,
    host: str = "127.0.0.1",
    tags: bool = False,
    shared: bool = True,
) -> list[LinkProxy]:
    """The proxies of ``links``: adopted (``proxy:``), else created on the link's ``listen:``
    addresses or free ports of ``host``, as ``KEY@RUNID`` on a server others may share
    (``shared``), as ``KEY`` on the run's own embedded one. ``tags``: the server records the
    creating run on each proxy (feature ``tags``)."""
    found = []
    for link in links:
        entry = spec.links[link]
        adopt, listens = entry.proxies(), entry.listens()
        keys, targets = plan.proxy_names(link), plan.links[link]
        for n, (key, target) in enumerate(zip(keys, targets, strict=True)):
            if adopt:
                found.append(LinkProxy(key, link, adopt[n], target, None))
                continue
            name = tag(key, run_id) if shared else key
            create = ProxySpec(
                name=name,
                upstream=target,
                listen=listens[n] if listens else f"{host}:0",
                protocol="udp" if entry.protocol == "udp" else None,
                run=run_id if tags else None,
            )
            found.append(LinkProxy(key, link, name, target, create))
    return found


def dial_address(proxy: Proxy, api_url: str) -> str:
    """Where clients reach a proxy: its listen address, with an unspecified host (``0.0.0.0``,
    ``[::]``) replaced by the API's host (the proxy runs on the API's machine)."""
    host, port = proxy.listen_host_port
    if host not in ("", "0.0.0.0", "::"):
        return proxy.listen
    api_host = urlsplit(api_url).hostname or "127.0.0.1"
    return f"[{api_host}]:{port}" if ":" in api_host else f"{api_host}:{port}"


@dataclass(frozen=True, slots=True)
class SetUp:
    proxies: dict[str, Proxy]
    """Key → the proxy on the server (created or adopted)."""
    created: list[str]
    """Server names of the proxies this run created (and must delete, and only these)."""
    notes: list[str]
    """What a person should know (an adopted proxy forwarding elsewhere than the link's target)."""


def set_up(api: Api, planned: Sequence[LinkProxy], *, where: str) -> Operation[SetUp]:
    """Look up every adopted proxy, then create the others one by one; on any failure delete
    the ones created here and raise. ``where``: the stack spec's path, for error messages."""
    proxies: dict[str, Proxy] = {}
    created: list[str] = []
    notes: list[str] = []
    try:
        for item in planned:
            if item.spec is not None:
                continue
            try:
                proxy = yield from api.get_proxy(item.name)
            except ToxiproxyNotFound:
                raise InvalidInput(
                    f"link {item.link} adopts proxy {item.name!r}, which {api.url} does not have",
                    where=f"{where}: links.{item.link}.proxy",
                    fix="create it on that server first (its clients must already dial it), "
                    "check --toxiproxy / TOXIPROXY_URL, or remove `proxy:` so gameday makes one",
                ) from None
            proxies[item.key] = proxy
            if proxy.upstream != item.upstream:
                notes.append(
                    f"adopted proxy {item.name!r} forwards to {proxy.upstream}, and link "
                    f"{item.link}'s target is {item.upstream}: faults on it reach whatever "
                    "it forwards to"
                )
        for item in planned:
            if item.spec is None:
                continue
            s = item.spec
            try:
                proxy = yield from api.create_proxy(
                    s.name, s.upstream, listen=s.listen, protocol=s.protocol, run=s.run
                )
            except ToxiproxyConflict:
                raise InfrastructureError(
                    f"a proxy named {s.name!r} already exists on {api.url}; gameday never "
                    "replaces a proxy it did not create",
                    where=f"{where}: links.{item.link}",
                    fix="use a new run id, or adopt that proxy with `proxy:` on the link",
                    part="fault-proxy",
                ) from None
            except ToxiproxyError as exc:
                fix = (
                    f"free {s.listen} or change links.{item.link}.listen"
                    if not s.listen.endswith(":0")
                    else "check the fault proxy's log"
                )
                raise InfrastructureError(
                    f"cannot create proxy {s.name!r} ({s.listen} -> {s.upstream}): {exc.message}",
                    where=f"{where}: links.{item.link}",
                    fix=fix,
                    part="fault-proxy",
                ) from None
            created.append(proxy.name)
            proxies[item.key] = proxy
    except BaseException:  # a half-made set of proxies is undone, even on Ctrl-C
        for name in reversed(created):
            with contextlib.suppress(Exception):  # the error being raised says more
                yield from api.delete_proxy(name)
        raise
    return SetUp(proxies, created, notes)
