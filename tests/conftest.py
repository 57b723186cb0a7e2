"""Shared test fixtures."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def image() -> str:
    """The soundstage image of this tree, built once (its tag is a hash of what goes in)."""
    from chaos.stack.images import build

    tag, _ = build()
    return tag
