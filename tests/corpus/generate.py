# ruff: noqa: E501
"""Write the bad-input corpus: experiment files gameday must refuse, each a small change to
one good experiment, so every refusal has a single cause to name.

Run from the repository root: ``python tests/corpus/generate.py`` rewrites
``tests/corpus/bad_experiments/`` (checked in; this script documents how each file was made).
``benchmarks/corpus.py`` measures what ``gameday validate`` and ``gameday run --dry-run`` say
about them; ``tests/test_corpus.py`` holds them to it.
"""

from __future__ import annotations

import copy
import io
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

HERE = Path(__file__).resolve().parent
OUT = HERE / "bad_experiments"

BASE: dict[str, Any] = {
    "title": "Corpus base: a storm over a slow edge",
    "seed": 7,
    "stack": "soundstage",
    "baseline": "5s",
    "recovery": "10s",
    "workload": {
        "speakers": 1,
        "listeners": [
            {"arrival": "storm", "count": 20, "at": "0s", "spread": "1s"},
            {"arrival": "ramp", "count": 10, "from": "5s", "to": "10s"},
        ],
    },
    "faults": [
        {"name": "slow-edge", "at": "2s", "for": "6s", "link": "listener->edge",
         "latency": "100ms", "jitter": "20ms"},
        {"name": "lossy-ingest", "at": "3s", "for": "4s", "link": "speaker->ingest",
         "loss": "5%"},
    ],
    "slos": [
        {"name": "launch-delay", "p95": "gameday_listener_time_to_first_audio_seconds",
         "below": "3s", "during": "storm"},
        {"name": "join-success",
         "ratio": "gameday_listener_joins_ok_total/gameday_listener_join_attempts_total",
         "above": "99%"},
        {"name": "recovered", "recovers_within": "5s", "after": "slow-edge"},
    ],
    "abort": [
        {"name": "collapse",
         "ratio": "gameday_listener_joins_ok_total/gameday_listener_join_attempts_total",
         "below": "50%", "for": "5s"},
    ],
}  # fmt: skip

Case = tuple[str, Callable[[dict[str, Any]], Any] | str]
"""A file's name and either a change to BASE (it may return None) or the file's whole text."""


def _dump(data: dict[str, Any]) -> str:
    yaml = YAML()
    yaml.default_flow_style = None
    yaml.width = 4096
    stream = io.StringIO()
    yaml.dump(data, stream)
    return stream.getvalue()


def setter(*path: str | int, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(data: dict[str, Any]) -> None:
        node: Any = data
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value

    return change


def deleter(*path: str | int) -> Callable[[dict[str, Any]], None]:
    def change(data: dict[str, Any]) -> None:
        node: Any = data
        for key in path[:-1]:
            node = node[key]
        del node[path[-1]]

    return change


def fault(**fields: Any) -> Callable[[dict[str, Any]], None]:
    def change(data: dict[str, Any]) -> None:
        data["faults"].append({"name": "extra", "at": "2s", "for": "3s", **fields})

    return change


def slo(**fields: Any) -> Callable[[dict[str, Any]], None]:
    def change(data: dict[str, Any]) -> None:
        data["slos"].insert(0, {"name": "extra", **fields})

    return change


def guard(**fields: Any) -> Callable[[dict[str, Any]], None]:
    def change(data: dict[str, Any]) -> None:
        data["abort"].append(fields)

    return change


def phase(**fields: Any) -> Callable[[dict[str, Any]], None]:
    def change(data: dict[str, Any]) -> None:
        data["workload"]["listeners"].append(fields)

    return change


def with_stack(spec: str, *changes: Callable[[dict[str, Any]], None]) -> Callable[..., None]:
    """The experiment on a stack spec of its own (written next to it as ``NAME.stack.yaml``)."""

    def change(data: dict[str, Any]) -> None:
        data["stack"] = f"./stacks/{spec}"
        data["faults"] = []
        data["slos"] = [data["slos"][1]]
        data["abort"] = []
        data["workload"] = {"speakers": 0, "listeners": []}
        for more in changes:
            more(data)

    return change


TINY = """name: tiny
components:
  web:
    command: [python, -m, http.server, "{port:http}", --bind, "{host}"]
    ports: {http: {protocol: tcp}}
    health: {port: http, path: /}
links:
  client->web: {to: web.http, protocol: tcp}
"""

STACKS: dict[str, str] = {
    "unknown-target.yaml": TINY.replace("to: web.http", "to: wbe.http"),
    "unknown-port.yaml": TINY.replace("to: web.http", "to: web.htp"),
    "health-port.yaml": TINY.replace("health: {port: http", "health: {port: metrics"),
    "syntax.yaml": TINY.replace("ports: {http: {protocol: tcp}}", "ports: {http: {protocol: tcp}"),
    "list.yaml": "- name: tiny\n",
    "protocol.yaml": TINY.replace("protocol: tcp}\n", "protocol: sctp}\n"),
    "template.yaml": TINY.replace(
        "    health: {port: http, path: /}\n",
        "    health: {port: http, path: /}\n    files: {conf: {template: missing.conf}}\n",
    ),
    "no-command.yaml": TINY.replace(
        '    command: [python, -m, http.server, "{port:http}", --bind, "{host}"]\n', ""
    ),
    "external.yaml": TINY
    + "  client->cdn: {to: cdn.http, protocol: tcp}\n"
    + "components_extra: {}\n".replace("components_extra: {}\n", ""),
    "tiny.yaml": TINY,
    "unknown-placeholder.yaml": TINY.replace("{host}", "{hots}"),
    "link-name.yaml": TINY.replace("client->web:", "client-web:"),
    "health-udp.yaml": TINY.replace(
        "ports: {http: {protocol: tcp}}\n    health: {port: http, path: /}",
        "ports: {http: {protocol: tcp}, rtp: {protocol: udp}}\n    health: {port: rtp}",
    ),
    "health-other-unknown.yaml": TINY.replace(
        "health: {port: http, path: /}", "health: {component: wbe, port: http, path: /live.mp3}"
    ),
}
STACKS["external.yaml"] = (
    TINY.replace(
        "links:\n",
        "  cdn:\n    address: 127.0.0.1:9\n    ports: {http: {protocol: tcp}}\nlinks:\n",
    )
    + "  client->cdn: {to: cdn.http, protocol: tcp}\n"
)

CSVS: dict[str, bytes] = {
    "latin1.csv": "time,listeners\n0,10\n# écoute\n5,20\n".encode("latin-1"),
    "huge.csv": b"time,listeners\n0,0\n10,1000000000000\n",
    "columns.csv": b"time,listeners\n0,10,3\n",
    "negative.csv": b"time,listeners\n0,-10\n",
    "backwards.csv": b"time,listeners\n10,10\n5,20\n",
    "words.csv": b"time,listeners\n0,10\nfive,20\n",
    "empty.csv": b"",
    "binary.csv": bytes(range(256)),
    "nan.csv": b"time,listeners\n0,nan\n",
    "long.csv": b"time,listeners\n0,10\n600,20\n",
}


def curve(csv: str, **more: Any) -> Callable[[dict[str, Any]], None]:
    def change(data: dict[str, Any]) -> None:
        data["duration"] = "60s"
        data["workload"]["listeners"] = [{"arrival": "curve", "csv": f"curves/{csv}", **more}]
        data["slos"] = data["slos"][1:2]

    return change


# fmt: off
CASES: list[Case] = [
    # --- YAML itself
    ("yaml-tab-indent", "title: t\nworkload:\n\tspeakers: 1\n"),
    ("yaml-unclosed-flow", "title: t\nfaults:\n  - {name: a, at: 1s\n"),
    ("yaml-duplicate-key", "title: t\ntitle: u\nstack: soundstage\n"),
    ("yaml-empty", ""),
    ("yaml-list", "- title: t\n"),
    ("yaml-scalar", "just words\n"),
    ("yaml-unknown-alias", "title: *nothing\n"),
    ("yaml-bad-indent", "title: t\n  stack: soundstage\n"),
    ("yaml-comment-only", "# nothing here\n"),
    ("yaml-unclosed-quote", 'title: "t\nstack: soundstage\n'),
    # --- top level
    ("top-no-title", deleter("title")),
    ("top-unknown-field", setter("faluts", value=[])),
    ("top-title-list", setter("title", value=["a", "b"])),
    ("top-seed-string", setter("seed", value="forty-two")),
    ("top-seed-negative", setter("seed", value=-1)),
    ("top-seed-float", setter("seed", value=4.2)),
    ("top-seed-huge", setter("seed", value=2**80)),
    ("top-stack-unknown", setter("stack", value="soundstag")),
    ("top-stack-missing-file", setter("stack", value="./nowhere.yaml")),
    ("top-scale-zero", setter("scale", value="1:0")),
    ("top-scale-bare", setter("scale", value="five hundred")),
    ("top-baseline-bare", setter("baseline", value=5)),
    ("top-baseline-negative", setter("baseline", value="-5s")),
    ("top-recovery-unit", setter("recovery", value="10 parsecs")),
    ("top-duration-short", setter("duration", value="5s")),
    ("top-duration-bare", setter("duration", value=60)),
    ("top-rollback-typo", setter("rollback", value={"on_abort": "immediatly"})),
    ("top-lease-zero", setter("rollback", value={"lease": "0s"})),
    # --- workload
    ("workload-speakers-negative", setter("workload", "speakers", value=-1)),
    ("workload-speakers-word", setter("workload", "speakers", value="two")),
    ("workload-speakers-30000", setter("workload", "speakers", value=30000)),
    ("workload-speakers-1000000", setter("workload", "speakers", value=1000000)),
    ("workload-speakers-duplicate", setter("workload", "speakers", value=["host", "host"])),
    ("workload-listeners-map", setter("workload", "listeners", value={"arrival": "storm"})),
    ("workload-arrival-typo", setter("workload", "listeners", 0, "arrival", value="strom")),
    ("workload-arrival-missing", deleter("workload", "listeners", 0, "arrival")),
    ("workload-count-negative", setter("workload", "listeners", 0, "count", value=-5)),
    ("workload-count-word", setter("workload", "listeners", 0, "count", value="lots")),
    ("workload-count-huge", setter("workload", "listeners", 0, "count", value=999999999999)),
    ("workload-count-float", setter("workload", "listeners", 0, "count", value=2.5)),
    ("workload-count-unit", setter("workload", "listeners", 0, "count", value="2 k")),
    ("workload-spread-bare", setter("workload", "listeners", 0, "spread", value=2)),
    ("workload-ramp-backwards", setter("workload", "listeners", 1, "to", value="1s")),
    ("workload-ramp-no-to", deleter("workload", "listeners", 1, "to")),
    ("workload-paced-zero", phase(arrival="paced", count=10, at="1s", rate="0/s")),
    ("workload-paced-rate-unit", phase(arrival="paced", count=10, at="1s", rate="10 per s")),
    ("workload-paced-inflight", phase(arrival="paced", count=10, rate="5/s", max_in_flight=0)),
    ("workload-phase-unknown-field", setter("workload", "listeners", 0, "spred", value="1s")),
    ("workload-phase-name-run", setter("workload", "listeners", 0, "name", value="run")),
    ("workload-session-zero", setter("workload", "session", value="0s")),
    ("workload-churn-share", setter("workload", "churn", value={"share": "150%"})),
    ("workload-reconnect-typo", setter("workload", "reconnect", value={"policy": "backof"})),
    ("workload-reconnect-order", setter("workload", "reconnect", value={"initial": "10s", "max": "1s"})),
    ("workload-reconnect-fixed-nodelay", setter("workload", "reconnect", value={"policy": "fixed"})),
    ("workload-ears-negative", setter("workload", "ears", value=-1)),
    ("workload-ears-share", setter("workload", "ears", value="200%")),
    ("workload-unknown-field", setter("workload", "speakerz", value=1)),
    # --- curves
    ("curve-missing-file", curve("nowhere.csv")),
    ("curve-not-utf8", curve("latin1.csv")),
    ("curve-huge", curve("huge.csv")),
    ("curve-columns", curve("columns.csv")),
    ("curve-negative", curve("negative.csv")),
    ("curve-backwards", curve("backwards.csv")),
    ("curve-words", curve("words.csv")),
    ("curve-empty", curve("empty.csv")),
    ("curve-binary", curve("binary.csv")),
    ("curve-nan", curve("nan.csv")),
    ("curve-too-long", curve("long.csv")),
    ("curve-no-duration", lambda d: (curve("columns.csv")(d), d.pop("duration"))),
    ("curve-scale-bad", curve("long.csv", scale="1:-3")),
    # --- faults
    ("fault-link-unknown", setter("faults", 0, "link", value="listener->edg")),
    ("fault-link-arrow", setter("faults", 0, "link", value="listener-edge")),
    ("fault-latency-bare", setter("faults", 0, "latency", value=200)),
    ("fault-latency-negative", setter("faults", 0, "latency", value="-200ms")),
    ("fault-latency-unit", setter("faults", 0, "latency", value="200 lightyears")),
    ("fault-jitter-word", setter("faults", 0, "jitter", value="some")),
    ("fault-loss-150", setter("faults", 1, "loss", value="150%")),
    ("fault-loss-bare", setter("faults", 1, "loss", value=5)),
    ("fault-two-kinds", setter("faults", 0, "loss", value="5%")),
    ("fault-no-kind", deleter("faults", 0, "latency")),
    ("fault-no-for", deleter("faults", 0, "for")),
    ("fault-for-zero", setter("faults", 0, "for", value="0s")),
    ("fault-at-negative", setter("faults", 0, "at", value="-1s")),
    ("fault-no-name", deleter("faults", 0, "name")),
    ("fault-name-duplicate", setter("faults", 1, "name", value="slow-edge")),
    ("fault-name-reserved", setter("faults", 1, "name", value="baseline")),
    ("fault-name-spaces", setter("faults", 1, "name", value="slow edge!")),
    ("fault-unknown-field", setter("faults", 0, "lateny", value="1s")),
    ("fault-direction-typo", setter("faults", 0, "direction", value="downstram")),
    ("fault-toxicity-200", setter("faults", 0, "toxicity", value="200%")),
    ("fault-bandwidth-unit", fault(link="listener->edge", bandwidth="10 furlongs")),
    ("fault-bandwidth-zero", fault(link="listener->edge", bandwidth="0kbps")),
    ("fault-slicer-missing", fault(link="listener->edge", slicer={"average_size": "1KB"})),
    ("fault-slicer-on-udp", fault(link="speaker->ingest", slicer={"average_size": "1KB", "size_variation": "100B", "delay": "1ms"})),
    ("fault-timeout-bare", fault(link="listener->edge", timeout=5)),
    ("fault-limit-data-unit", fault(link="listener->edge", limit_data="lots")),
    ("fault-reset-peer-udp", fault(link="speaker->ingest", reset_peer="1s")),
    ("fault-down-false", fault(link="listener->edge", down=False)),
    ("fault-down-overlap", lambda d: d["faults"].extend([
        {"name": "down-1", "at": "2s", "for": "4s", "link": "listener->edge", "down": True},
        {"name": "down-2", "at": "3s", "for": "4s", "link": "listener->edge", "down": True}])),
    ("fault-flood-150", fault(link="listener->edge", flood="150%")),
    ("fault-flood-zero", fault(link="listener->edge", flood="0Mbps")),
    ("fault-flood-connections", fault(link="listener->edge", flood="10Mbps", connections=0)),
    ("fault-kill-unknown", fault(kill="edg")),
    ("fault-pause-unknown", fault(pause="edge-9")),
    ("fault-restart-with-for", fault(restart="edge-1")),
    ("fault-kill-overlap", lambda d: d["faults"].extend([
        {"name": "k1", "at": "2s", "for": "4s", "kill": "edge"},
        {"name": "k2", "at": "3s", "for": "4s", "pause": "edge-1"}])),
    ("fault-feedback-unknown-speaker", fault(feedback={"speaker": "nobody", "gain": "0.9", "delay": "100ms"})),
    ("fault-feedback-gain", fault(feedback={"speaker": "speaker-1", "gain": "lots", "delay": "100ms"})),
    ("fault-kernel-loss-local", fault(link="listener->edge", loss="5%", layer="kernel")),
    ("fault-layer-typo", fault(link="speaker->ingest", loss="5%", layer="kernal")),
    ("fault-capacity-local-udp", fault(link="speaker->ingest", capacity="1Mbps")),
    ("fault-partition-local", fault(partition="origin")),
    ("fault-partition-unknown", fault(partition="orgin")),
    ("fault-ends-after-duration", lambda d: (setter("duration", value="20s")(d), setter("faults", 0, "for", value="30s")(d))),
    ("fault-list-not-map", setter("faults", value={"name": "x"})),
    ("fault-item-string", setter("faults", value=["slow-edge"])),
    ("fault-bare-name", "title: t\nstack: soundstage\nfaults:\n  - {name: a, at: 1s, for: 2s, link: listener->edge, latency}\n"),
    # --- SLOs
    ("slo-no-kind", slo(below="3s")),
    ("slo-two-quantiles", slo(p95="gameday_listener_time_to_first_audio_seconds", p99="x", below="3s")),
    ("slo-no-comparison", slo(p95="gameday_listener_time_to_first_audio_seconds")),
    ("slo-two-comparisons", slo(p95="gameday_listener_time_to_first_audio_seconds", below="3s", above="1s")),
    ("slo-bare-seconds", slo(p95="gameday_listener_time_to_first_audio_seconds", below=3)),
    ("slo-ratio-150", slo(ratio="gameday_listener_joins_ok_total/gameday_listener_join_attempts_total", above="150%")),
    ("slo-ratio-seconds", slo(ratio="gameday_listener_joins_ok_total/gameday_listener_join_attempts_total", above="3s")),
    ("slo-ratio-not-pair", slo(ratio="gameday_listener_joins_ok_total", above="99%")),
    ("slo-metric-chars", slo(max="soundstage-edge-up", equals=1)),
    ("slo-selector-unclosed", slo(max='icecast_source_up{mount="/live"', equals=1)),
    ("slo-selector-bad-op", slo(max='icecast_source_up{mount=="/live"}', equals=1)),
    ("slo-selector-bad-regex", slo(max='icecast_source_up{mount=~"("}', equals=1)),
    ("slo-during-unknown", setter("slos", 0, "during", value="strom")),
    ("slo-during-and-after", setter("slos", 0, "after", value="slow-edge")),
    ("slo-window-too-long", setter("slos", 0, "window", value="1h")),
    ("slo-window-bare", setter("slos", 0, "window", value=30)),
    ("slo-recovers-too-long", setter("slos", 2, "recovers_within", value="1h")),
    ("slo-recovers-of-unknown", setter("slos", 2, "of", value=["launch-dely"])),
    ("slo-after-unknown", setter("slos", 2, "after", value="slow-edg")),
    ("slo-name-duplicate", setter("slos", 1, "name", value="launch-delay")),
    ("slo-unknown-field", setter("slos", 0, "belwo", value="3s")),
    ("slo-bare-metric", "title: t\nstack: soundstage\nslos:\n  - {name: s, stall_ratio, below: 1%}\n"),
    ("slo-unknown-short-name", slo(p95="ttfa", below="3s")),
    ("slo-ratio-alias-as-gauge", slo(max="joins_ok/joins", above="99%")),
    ("slo-threshold-word", slo(max="soundstage_api_edge_up", equals="one")),
    ("slo-quantile-of-counter-alias", slo(p95="joins_ok", below="3s")),
    ("slo-window-after-empty", lambda d: (setter("duration", value="15s")(d), d["faults"].__setitem__(0, {**d["faults"][0], "for": "13s"}), setter("slos", 2, "after", value="slow-edge")(d))),
    # --- guards
    ("guard-no-for", lambda d: d["abort"][0].pop("for")),
    ("guard-for-bare", setter("abort", 0, "for", value=10)),
    ("guard-metric-and-ratio", setter("abort", 0, "metric", value="gameday_listeners_stalled")),
    ("guard-no-limit", deleter("abort", 0, "below")),
    ("guard-two-limits", setter("abort", 0, "above", value="90%")),
    ("guard-for-longer-than-run", setter("abort", 0, "for", value="1h")),
    ("guard-ratio-150", setter("abort", 0, "below", value="150%")),
    ("guard-name-duplicate", guard(name="collapse", metric="gameday_listeners_stalled", above=10, **{"for": "2s"})),
    ("guard-unknown-field", setter("abort", 0, "fro", value="5s")),
    ("guard-bare-metric", "title: t\nstack: soundstage\nabort:\n  - {join_error_ratio, above: 50%, for: 10s}\n"),
    ("guard-selector-bad", guard(metric="gameday_listeners_stalled{edge=}", above=10, **{"for": "2s"})),
    # --- label selectors
    ("selector-unquoted-value", slo(max="soundstage_api_edge_up{edge=edge-1}", above=0)),
    ("selector-python-regex", slo(max='soundstage_api_edge_up{edge=~"(?!edge-1)"}', above=0)),
    ("selector-unknown-listener-label", slo(increase='heard_seconds{edgee="edge-1"}', above=0)),
    ("selector-bad-escape", slo(ratio='joins_ok{job="a\\.b"}/joins', above="99%")),
    ("selector-unclosed", guard(ratio='join_failures{reason="timeout"/joins', above="50%", **{"for": "2s"})),
    ("selector-range", slo(max="rate(soundstage_api_edge_up[1m])", above=0)),
    ("selector-flow-unquoted", "title: t\nstack: soundstage\nslos:\n  - {name: s, max: soundstage_api_edge_up{edge=\"edge-1\"}, above: 0}\n"),
    # --- stack specs
    ("stack-unknown-target", with_stack("unknown-target.yaml")),
    ("stack-unknown-port", with_stack("unknown-port.yaml")),
    ("stack-health-port", with_stack("health-port.yaml")),
    ("stack-syntax", with_stack("syntax.yaml")),
    ("stack-list", with_stack("list.yaml")),
    ("stack-protocol", with_stack("protocol.yaml")),
    ("stack-template-missing", with_stack("template.yaml")),
    ("stack-no-command", with_stack("no-command.yaml")),
    ("stack-unknown-placeholder", with_stack("unknown-placeholder.yaml")),
    ("stack-link-name", with_stack("link-name.yaml")),
    ("stack-health-udp", with_stack("health-udp.yaml")),
    ("stack-health-other-unknown", with_stack("health-other-unknown.yaml")),
    ("stack-fault-unknown-link", with_stack("tiny.yaml", fault(link="client->wbe", latency="1s"))),
    ("stack-kernel-external", with_stack("external.yaml", fault(link="client->cdn", loss="5%", layer="kernel"))),
    ("stack-kill-external", with_stack("external.yaml", fault(kill="cdn"))),
    ("stack-no-audience", with_stack("tiny.yaml", setter("workload", value={"listeners": [{"arrival": "storm", "count": 5}]}))),
    # --- the README's names, under the wrong key
    ("readme-ttfa-as-ratio", slo(ratio="time_to_first_audio", below="3s")),
    ("readme-howl-as-quantile", slo(p95="howl_seconds", equals=0)),
    ("readme-stall-ratio-max", slo(max="stall_ratio", below="1%")),
]
# fmt: on


def main() -> None:
    if OUT.exists():
        shutil.rmtree(OUT)
    (OUT / "stacks").mkdir(parents=True)
    (OUT / "curves").mkdir()
    for name, text in STACKS.items():
        (OUT / "stacks" / name).write_text(text)
    for name, data in CSVS.items():
        (OUT / "curves" / name).write_bytes(data)
    names = set()
    for index, (name, case) in enumerate(CASES, start=1):
        assert name not in names, name
        names.add(name)
        if isinstance(case, str):
            text = case
        else:
            data = copy.deepcopy(BASE)
            case(data)
            text = _dump(data)
        (OUT / f"{index:03d}-{name}.yaml").write_text(text)
    (OUT / "200-not-utf8.yaml").write_bytes("title: caf\xe9\nstack: soundstage\n".encode("latin-1"))
    print(f"wrote {len(CASES) + 1} experiments to {OUT}")


if __name__ == "__main__":
    main()
