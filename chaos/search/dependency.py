"""hypothesis drives every search (``gameday search``, the pytest plugin's strategies).

It is a dependency of gameday, so a normal install has it; an install made without its
dependencies (``pip install --no-deps``, a distro package) may not, and then what needs it must
say so, with the fix, instead of a traceback, and must not take the plugin, which pytest loads
into every session, down with it.
"""

from __future__ import annotations

from importlib.util import find_spec

from chaos.errors import InvalidInput

INSTALL = "pip install 'hypothesis>=6.100,<7' (gameday depends on it; this install lacks it)"


def require_hypothesis(what: str) -> None:
    """Raise ``InvalidInput`` (exit 2) naming ``what`` when hypothesis cannot be imported."""
    try:
        found = find_spec("hypothesis") is not None
    except ImportError:
        found = False
    if not found:
        raise InvalidInput(f"{what} needs hypothesis, which is not installed", fix=INSTALL)
