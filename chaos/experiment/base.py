"""The one pydantic configuration every experiment model shares.

Unknown keys are errors (a misspelt `lateny:` must not be silently ignored), models are
immutable once loaded, and fields whose YAML name is a Python keyword (`for`, `from`) are
declared with an alias and can be given by either name.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

RESERVED_WINDOWS = ("baseline", "method", "recovery", "run")
"""Windows every run has; no phase, fault or SLO may take these names."""

Name = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=63)]
"""A name people refer to elsewhere in the file: letters, digits, `-`, `_`, `.`."""


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
