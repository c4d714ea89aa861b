"""Named crash points. In production nothing is installed and a crash point costs one ``None``
check; the local runtime installs a hook that kills the simulated Lambda environment at a chosen
point, so tests can prove that every place a function can die is repaired by a redelivery."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

_hook: Callable[[str, dict[str, Any]], None] | None = None


def crashpoint(name: str, **where: Any) -> None:
    if _hook is not None:
        _hook(name, where)


def install(hook: Callable[[str, dict[str, Any]], None] | None) -> None:
    global _hook
    _hook = hook
