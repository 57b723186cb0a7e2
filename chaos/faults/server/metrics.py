"""``/metrics`` of the embedded server, with toxiproxy-server's flags, names and exposition.

As in Toxiproxy, byte counters of TCP proxies grow when a link ends (not while it runs), and
sent bytes count only when the write side ended without error; UDP proxies count as they go.

Toxiproxy's own series are written as its Go client writes them (text format 0.0.4): families
sorted by name and left out until they have a sample, an empty ``# HELP``, labels in name order,
values as Go's ``strconv.FormatFloat(v, 'g', -1, 64)`` (``1500``, ``1.5e+06``), no ``_created``
series, and promhttp's own error counter. ``-runtime-metrics`` adds this process's collectors
(Python's, under the same ``process_*`` names as Go's where they exist).

One family of ours follows Toxiproxy's, with ``-proxy-metrics``: ``gameday_proxy_sent_bytes_total
{direction,proxy}``, the bytes each proxy has written in each direction counted as they pass
(its live links' included), so a scrape mid-run sees the throughput of long-lived streams that
Toxiproxy's counters only show once their connections end.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_HANDLER_ERRORS = (
    "promhttp_metric_handler_errors_total",
    "Total number of internal errors encountered by the promhttp metric handler.",
)
_RECEIVED = "toxiproxy_proxy_received_bytes_total"
_SENT = "toxiproxy_proxy_sent_bytes_total"
THROUGH = "gameday_proxy_sent_bytes_total"
_THROUGH_HELP = (
    "Bytes each proxy has written, by direction, counted as they pass (live links included)."
)

Labels = tuple[str, str, str, str]
"""(direction, proxy, listener, upstream), Toxiproxy's label order."""
Through = tuple[str, str]
"""(direction, proxy): the labels of ``gameday_proxy_sent_bytes_total``."""


def go_float(value: float) -> str:
    """``strconv.FormatFloat(value, 'g', -1, 64)``: shortest digits, exponent from 1e+06."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == 0:
        return "-0" if math.copysign(1.0, value) < 0 else "0"
    sign = "-" if value < 0 else ""
    shortest = Decimal(repr(abs(value))).as_tuple()
    digits = "".join(map(str, shortest.digits))
    assert isinstance(shortest.exponent, int)
    exponent = len(digits) + shortest.exponent - 1
    digits = digits.rstrip("0")
    if exponent < -4 or exponent >= 6:
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{sign}{mantissa}e{'-' if exponent < 0 else '+'}{abs(exponent):02d}"
    if exponent < 0:
        return f"{sign}0.{'0' * (-exponent - 1)}{digits}"
    whole, fraction = digits[: exponent + 1].ljust(exponent + 1, "0"), digits[exponent + 1 :]
    return f"{sign}{whole}.{fraction}" if fraction else f"{sign}{whole}"


def _label_value(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _family(name: str, help_text: str, samples: list[tuple[str, float]]) -> str:
    lines = [f"# HELP {name} {help_text}", f"# TYPE {name} counter"]
    lines += [f"{name}{labels} {go_float(value)}" for labels, value in samples]
    return "\n".join(lines) + "\n"


def _byte_family(name: str, counts: Counter[Labels]) -> str | None:
    if not counts:
        return None
    by_label_name = sorted(
        ((direction, listener, proxy, upstream), value)
        for (direction, proxy, listener, upstream), value in counts.items()
    )
    samples = [
        (
            f'{{direction="{_label_value(d)}",listener="{_label_value(lis)}",'
            f'proxy="{_label_value(p)}",upstream="{_label_value(u)}"}}',
            float(value),
        )
        for (d, lis, p, u), value in by_label_name
    ]
    return _family(name, "", samples)


def _through_family(counts: Counter[Through]) -> str:
    """Ours, after Toxiproxy's families (so theirs read as Toxiproxy writes them)."""
    samples = [
        (f'{{direction="{_label_value(d)}",proxy="{_label_value(p)}"}}', float(value))
        for (d, p), value in sorted(counts.items())
    ]
    lines = [f"# HELP {THROUGH} {_THROUGH_HELP}", f"# TYPE {THROUGH} counter"]
    lines += [f"{THROUGH}{labels} {go_float(value)}" for labels, value in samples]
    return "\n".join(lines) + "\n"


class ServerMetrics:
    def __init__(self, *, proxy_metrics: bool, runtime_metrics: bool) -> None:
        self.enabled = proxy_metrics or runtime_metrics
        self._received: Counter[Labels] | None = Counter() if proxy_metrics else None
        self._sent: Counter[Labels] | None = Counter() if proxy_metrics else None
        self._through: Counter[Through] | None = Counter() if proxy_metrics else None
        """Bytes written by links that have ended (and UDP datagrams, as they pass)."""
        self._runtime: Any = _runtime_registry() if runtime_metrics else None

    def link_finished(self, labels: Labels, received: int, sent: int, write_failed: bool) -> None:
        if self._received is None or self._sent is None or self._through is None:
            return
        self._received[labels] += received
        if not write_failed:
            self._sent[labels] += sent
        self._through[labels[0], labels[1]] += sent

    def datagram(self, labels: Labels, received: int, sent: int) -> None:
        """A UDP proxy's bytes, counted as they pass (a datagram path has no end to wait for);
        ``received`` what came in, ``sent`` what went out after the toxics (drops, duplicates)."""
        if self._received is None or self._sent is None or self._through is None:
            return
        if received:
            self._received[labels] += received
        if sent:
            self._sent[labels] += sent
            self._through[labels[0], labels[1]] += sent

    def render(self, live: Mapping[Through, int] | None = None) -> tuple[bytes, str]:
        """The exposition; ``live``: what the TCP links still going on have written so far."""
        families: dict[str, str] = {
            _HANDLER_ERRORS[0]: _family(
                *_HANDLER_ERRORS, [('{cause="encoding"}', 0.0), ('{cause="gathering"}', 0.0)]
            )
        }
        for name, counts in ((_RECEIVED, self._received), (_SENT, self._sent)):
            text = _byte_family(name, counts) if counts is not None else None
            if text is not None:
                families[name] = text
        if self._runtime is not None:
            families.update(_runtime_families(self._runtime))
        body = "".join(families[name] for name in sorted(families))
        if self._through is not None:
            body += _through_family(self._through + Counter(live or {}))
        return body.encode(), CONTENT_TYPE


def _runtime_registry() -> Any:
    """The process, platform and GC collectors (imported only when asked for: start-up time)."""
    from prometheus_client import (
        CollectorRegistry,
        GCCollector,
        PlatformCollector,
        ProcessCollector,
    )

    registry = CollectorRegistry()
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    return registry


def _runtime_families(registry: Any) -> dict[str, str]:
    from prometheus_client import generate_latest

    families: dict[str, str] = {}
    name = ""
    for line in generate_latest(registry).decode().splitlines(keepends=True):
        if line.startswith("# HELP "):
            name = line.split(" ", 3)[2]
        families[name] = families.get(name, "") + line
    return families
