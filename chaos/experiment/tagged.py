"""Unions told apart by which key a mapping has (`latency: 200ms` is a latency fault).

Experiment files stay flat and readable — `{name: slow-edge, link: listener->edge,
latency: 200ms}` — instead of nesting a `type:` field, so the kind of a fault, an SLO or a
listener phase is read from the keys present. Pydantic's tagged unions do the dispatch; this
module supplies the discriminator and a pre-check whose messages say what is wrong (no kind,
two kinds, a misspelt kind) instead of pydantic's generic "unable to extract tag".

Tags are written `<kind>` so that the error locator can drop them from error paths: they are
never keys of a document.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, BeforeValidator, Discriminator, Tag
from pydantic_core import PydanticCustomError


def tag(kind: str) -> Tag:
    return Tag(f"<{kind}>")


def is_tag(segment: object) -> bool:
    return isinstance(segment, str) and segment.startswith("<") and segment.endswith(">")


def nearest(word: str, candidates: Any) -> str | None:
    """The closest candidate to a misspelt word, if one is close enough to be a good guess."""
    names = [str(c) for c in candidates]
    found = difflib.get_close_matches(word, names, n=1, cutoff=0.6)
    if found:
        return found[0]
    prefixed = [name for name in names if len(word) >= 2 and name.startswith(word)]
    return prefixed[0] if len(prefixed) == 1 else None


def field_error(field: str, message: str) -> PydanticCustomError:
    """A validation error located at `field` of the mapping being validated (see errors.py)."""
    return PydanticCustomError("field_error", "{message}", {"field": field, "message": message})


def _kinds_present(value: Mapping[Any, Any], keys: Mapping[str, str]) -> list[str]:
    present = [keys[k] for k in value if k in keys]  # read for every fault: kept cheap
    return present if len(present) < 2 else sorted(set(present))


def _guess(value: Mapping[Any, Any], keys: Mapping[str, str], shared: frozenset[str]) -> str | None:
    for key in value:
        if isinstance(key, str) and key not in shared:
            guess = nearest(key, keys)
            if guess is not None:
                return keys[guess]
    return None


def reject_bare_names(value: Any, shared: frozenset[str], spelling: str) -> None:
    """Refuse `{stall_ratio, below: 1%}`: YAML reads a bare word in a mapping as a key with no
    value, which is never what the author meant; say how to write it (`spelling` has `{key}`).
    """
    if isinstance(value, Mapping):
        for key, item in value.items():
            if item is None and isinstance(key, str) and key not in shared:
                raise field_error(
                    key,
                    f"{key!r} has no value: a bare name is not a field; write "
                    + spelling.format(key=key),
                )


def by_key(
    keys: Mapping[str, str],
    *,
    what: str,
    shared: frozenset[str],
    example: str,
    bare_name: str | None = None,
) -> tuple[Discriminator, BeforeValidator]:
    """Discriminator and pre-check for a union whose member is chosen by which of `keys` is set.

    `keys` maps each deciding key to its kind (several keys may share a kind, e.g. `p95` and
    `p99` are both quantile SLOs). `shared` are keys every member has (`name`, `at`…). When no
    deciding key is present but an unknown key is close to one (`lateny`), that kind is chosen
    so that the model reports the misspelt key with a suggestion. `bare_name` says how to
    write a bare word (see `reject_bare_names`).
    """
    choices = ", ".join(keys)

    def discriminate(value: Any) -> str | None:
        # a dict (what YAML gives) is told first: the checks against the ABCs cost µs each
        if not isinstance(value, dict) and isinstance(value, BaseModel):
            kind = getattr(value, "kind", None)
            return f"<{kind}>" if isinstance(kind, str) else None
        if not isinstance(value, Mapping):
            return None
        present = _kinds_present(value, keys)
        kind = present[0] if len(present) == 1 else _guess(value, keys, shared)
        return f"<{kind}>" if kind else None

    def precheck(value: Any) -> Any:
        if not isinstance(value, dict) and isinstance(value, BaseModel):
            return value
        if not isinstance(value, Mapping):
            raise PydanticCustomError(
                "not_a_mapping",
                "expected a {what} as a mapping, e.g. {example}",
                {"what": what, "example": example},
            )
        kinds = _kinds_present(value, keys)
        if not kinds and bare_name is not None:
            reject_bare_names(value, shared, bare_name)
        if len(kinds) > 1:
            present = [k for k in keys if k in value]
            raise PydanticCustomError(
                "several_kinds",
                "a {what} has exactly one kind, but this one sets {present}; "
                "split it into one {what} per kind",
                {"what": what, "present": ", ".join(present)},
            )
        if not kinds and _guess(value, keys, shared) is None:
            raise PydanticCustomError(
                "no_kind",
                "this {what} does not say what it does: add one of {choices}",
                {"what": what, "choices": choices},
            )
        return value

    return Discriminator(discriminate), BeforeValidator(precheck)


def by_value(
    field: str, kinds: tuple[str, ...], *, what: str
) -> tuple[Discriminator, BeforeValidator]:
    """Discriminator and pre-check for a union chosen by the value of `field` (`arrival: storm`).

    A bare string is accepted as shorthand for `{field: value}` (`reconnect: immediate`).
    """

    def discriminate(value: Any) -> str | None:
        if isinstance(value, BaseModel):
            chosen = getattr(value, field, None)
        elif isinstance(value, Mapping):
            chosen = value.get(field)
        else:
            return None
        return f"<{chosen}>" if chosen in kinds else None

    def precheck(value: Any) -> Any:
        if isinstance(value, str):
            value = {field: value}
        if isinstance(value, BaseModel):
            return value
        if not isinstance(value, Mapping):
            raise PydanticCustomError(
                "not_a_mapping",
                "expected {what}: a mapping with `{field}:` one of {kinds}",
                {"what": what, "kinds": ", ".join(kinds), "field": field},
            )
        chosen = value.get(field)
        if chosen is None:
            raise field_error(field, f"required field is missing: one of {', '.join(kinds)}")
        if chosen not in kinds:
            guess = nearest(str(chosen), kinds)
            hint = f"; did you mean '{guess}'?" if guess else ""
            raise field_error(field, f"unknown {chosen!r} (one of {', '.join(kinds)}){hint}")
        return value

    return Discriminator(discriminate), BeforeValidator(precheck)
