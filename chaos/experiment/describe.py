"""Faults in words, with their parameters as the experiment file wrote them.

What a person reads about a fault (the dry run, the live view's event lines, the CI log, the
reports) is ``latency 150ms ± 40ms, downstream`` on ``listener->edge``, never a dict repr.
Works on a fault's JSON form (``fault_params``: the model dumped with its canonical unit text,
which is also what the journal records), so a report describes the faults of any journal
without the experiment file.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

_TARGET_KEYS = ("kill", "pause", "partition", "restart")
_DEFAULT = {"direction": "both", "toxicity": "100%", "layer": "proxy"}


def _text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _nonzero(value: Any) -> bool:
    return value not in (None, "0s", "0B", 0, 0.0, "0")


def effect(kind: str, params: Mapping[str, Any]) -> str:
    """What the fault does: ``latency 150ms ± 40ms, downstream``; ``kill edge-1``."""
    value = params.get(kind)
    match kind:
        case "latency":
            text = f"latency {_text(value)}"
            if _nonzero(params.get("jitter")):
                text += f" ± {_text(params['jitter'])}"
        case "slicer" if isinstance(value, Mapping):
            text = f"slicer {_text(value.get('average_size'))}"
            if _nonzero(value.get("size_variation")):
                text += f" ± {_text(value['size_variation'])}"
            text += " slices"
            if _nonzero(value.get("delay")):
                text += f", {_text(value['delay'])} apart"
        case "timeout":
            text = "timeout (connections hang)" if not _nonzero(value) else f"timeout {value}"
        case "reset_peer":
            text = f"reset_peer after {_text(value)}"
        case "down":
            text = "down (connections refused)"
        case "flood":
            text = f"flood {_text(value)}"
            if params.get("connections") is not None:
                text += f" over {_text(params['connections'])} connections"
        case "feedback" if isinstance(value, Mapping):
            text = f"feedback into {_text(value.get('speaker'))}: gain {_text(value.get('gain'))}"
            if value.get("delay") is not None:
                text += f", delay {_text(value['delay'])}"
            if value.get("via") == "harness":
                text += ", via the harness"
        case _ if value is None:
            text = kind
        case _:
            text = f"{kind} {_text(value)}"
    for key in ("direction", "layer"):
        if params.get(key) not in (None, _DEFAULT[key]):
            text += f", {params[key]}" if key == "direction" else f", in the {params[key]}"
    if params.get("toxicity") not in (None, _DEFAULT["toxicity"]):
        text += f", on {_text(params['toxicity'])} of connections"
    return text


def target(params: Mapping[str, Any]) -> str | None:
    """The link or component the fault acts on."""
    if params.get("link") is not None:
        return str(params["link"])
    for key in _TARGET_KEYS:
        if params.get(key) is not None:
            return str(params[key])
    return None


def fault(kind: str, params: Mapping[str, Any], *, length: bool = True) -> str:
    """``latency 150ms ± 40ms, downstream on listener->edge for 30s`` (``length=False``: without
    ``for 30s``, where the time left is shown instead)."""
    text = effect(kind, params)
    link = params.get("link")
    if link is not None:
        text += f" on {link}"
    if length and params.get("for") is not None:
        text += f" for {_text(params['for'])}"
    return text
