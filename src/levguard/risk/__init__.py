"""Public risk API: volatility, GARCH, VaR/ES and their backtests, probability of liquidation,
stress tests and the account risk report (docs/risk.md).

The pure math lives in :mod:`levguard.core.risk`; this facade adds pandas-facing wrappers, the
``arch``-based GARCH models and the report that composes the margin engine with the risk
measures.  Names are imported on first use.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS: dict[str, str] = {}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'levguard.risk' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value
