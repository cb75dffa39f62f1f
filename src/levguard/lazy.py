"""Lazy re-exports for public facades: names are imported from their modules on first use."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from importlib import import_module
from typing import Any


def lazy_getattr(package: str, exports: Mapping[str, str], namespace: dict[str, Any]) -> Callable[[str], Any]:
    """Return a module ``__getattr__`` that imports ``exports[name]`` on first access and caches it."""

    def getattr_(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(import_module(module), name)
        namespace[name] = value
        return value

    return getattr_


def lazy_exports(
    package: str, exports: Mapping[str, str], namespace: dict[str, Any]
) -> tuple[list[str], Callable[[str], Any]]:
    """Return a lazy facade's ``__all__`` (the exported names, sorted) and its ``__getattr__``.

    Use as ``__all__, __getattr__ = lazy_exports(__name__, _EXPORTS, globals())``.
    """
    return sorted(exports), lazy_getattr(package, exports, namespace)
