"""JSON Schemas of the experiment and stack-spec files, for editors and `gameday schema`.

Made from the pydantic models that load the files, so a schema never drifts from what the loader
accepts (the repository's copies in ``schemas/`` are checked against these by a test). Values
with units are strings (`200ms`, `5%`, `64kbps`) with examples; defaults are written as the
files write them, not as their Python form. The loader stays the judge: it also checks what a
schema cannot say (links that exist in the stack, metrics the stack exposes, window order).

An editor with the YAML language server reads a file's schema from a first-line modeline:
``# yaml-language-server: $schema=../schemas/experiment.schema.json``.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema

from chaos.experiment.experiment import Experiment
from chaos.experiment.stack import StackSpec
from chaos.experiment.units import _Quantity

Kind = Literal["experiment", "stack"]
KINDS: tuple[Kind, ...] = ("experiment", "stack")
FILE_NAMES: dict[Kind, str] = {
    "experiment": "experiment.schema.json",
    "stack": "stack.schema.json",
}
MODELS: dict[Kind, type[BaseModel]] = {"experiment": Experiment, "stack": StackSpec}
TITLES: dict[Kind, str] = {
    "experiment": "gameday experiment file",
    "stack": "gameday stack spec",
}
MODELINE = "# yaml-language-server: $schema="


class _AsWritten(GenerateJsonSchema):
    """Defaults as a file writes them: `10s`, not ``{"nanoseconds": 10000000000}``."""

    def encode_default(self, dft: Any) -> Any:
        return super().encode_default(_written(dft))


def _written(value: Any) -> Any:
    if isinstance(value, _Quantity):
        return str(value)
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", by_alias=True)
    if isinstance(value, list | tuple):
        return [_written(v) for v in value]
    if isinstance(value, dict):
        return {k: _written(v) for k, v in value.items()}
    return value


def schema(kind: Kind) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of one kind of file."""
    body = MODELS[kind].model_json_schema(schema_generator=_AsWritten, mode="validation")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        **body,
        "title": TITLES[kind],
    }


def schema_text(kind: Kind) -> str:
    """The schema as the repository ships it: stable key order, two-space indents, a newline."""
    return json.dumps(schema(kind), indent=2, ensure_ascii=False) + "\n"
