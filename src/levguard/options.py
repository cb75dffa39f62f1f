"""Public options API: Black-76 prices and Greeks, implied volatility, volatility surfaces.

The math lives in :mod:`levguard.core.options`; this module re-exports it on first use.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS: dict[str, str] = {}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'levguard.options' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value
