"""The ``to_dict`` of frozen result dataclasses, written once.

A result class inherits :class:`Record` (the fields as they are, mappings as dicts) or
:class:`JsonRecord` (the fields made JSON-ready: nested results through their ``to_dict``,
tuples as lists, non-finite floats as None) instead of listing its fields again in a
hand-written dict.  Both mixins hold no state (``__slots__ = ()``), so slotted dataclasses keep
their slots.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, ClassVar

import numpy as np

from levguard.errors import InputError

__all__ = ["JsonRecord", "LegacyMapping", "Record", "empty_mapping", "field_dict", "json_dict", "json_ready"]


def empty_mapping() -> Mapping[Any, Any]:
    """Return a new read-only empty mapping (the ``default_factory`` of mapping fields)."""
    return MappingProxyType({})


def field_dict(value: object, /, *, omit: tuple[str, ...] = (), **replace: object) -> dict[str, object]:
    """Return the fields of dataclass ``value`` in declaration order, mappings as dicts.

    Parameters
    ----------
    value : dataclass instance
    omit : tuple of str, default ()
        Field names to leave out.
    **replace
        Values that replace a field's (keeping its place) or, for a name that is no field,
        follow the fields in the order given.
    """
    if not dataclasses.is_dataclass(value) or isinstance(value, type):
        raise InputError(f"value must be a dataclass instance, was {type(value).__name__}")
    out: dict[str, object] = {}
    for f in dataclasses.fields(value):
        if f.name not in omit:
            v = getattr(value, f.name)
            out[f.name] = dict(v) if isinstance(v, Mapping) else v
    out.update(replace)
    return out


def json_ready(value: object) -> Any:
    """Return ``value`` as JSON-ready data: objects with ``to_dict()`` through it, other dataclasses as
    dicts of their fields, tuples as lists, mappings as dicts, non-finite floats as None, NumPy
    scalars as Python numbers."""
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict) and not isinstance(value, type):
        return to_dict()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return json_dict(value)
    if isinstance(value, Mapping):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_ready(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def json_dict(value: object) -> dict[str, object]:
    """Return the fields of dataclass ``value`` (those shown in its repr) as a JSON-ready dict."""
    if not dataclasses.is_dataclass(value) or isinstance(value, type):
        raise InputError(f"value must be a dataclass instance, was {type(value).__name__}")
    return {f.name: json_ready(getattr(value, f.name)) for f in dataclasses.fields(value) if f.repr}


class Record:
    """Mixin of a result dataclass whose ``to_dict`` is its fields (see :func:`field_dict`).

    ``_dict_omit`` names fields the dict leaves out (e.g. one that repeats another).
    """

    __slots__ = ()
    _dict_omit: ClassVar[tuple[str, ...]] = ()

    def to_dict(self) -> dict[str, object]:
        """Return the JSON-ready dict: every field in order, mappings as dicts."""
        return field_dict(self, omit=self._dict_omit)


class JsonRecord:
    """Mixin of a result dataclass whose ``to_dict`` is :func:`json_dict` (NaN as None)."""

    __slots__ = ()

    def to_dict(self) -> dict[str, object]:
        """Return a JSON-ready dict (NaN as None)."""
        return json_dict(self)


class LegacyMapping:
    """Mixin of a result dataclass that a public function used to return as a plain dict.

    Reading it as a mapping (``result["key"]``, ``"key" in result``, ``result.get``, ``keys``) still
    works for one release and raises a :class:`DeprecationWarning` naming the attribute or
    ``to_dict()`` to use instead.
    """

    __slots__ = ()

    def _legacy(self, key: object) -> None:
        warnings.warn(
            f"{type(self).__name__} is a dataclass now: read .{key} or .to_dict()[{key!r}] instead of "
            f"[{key!r}] (dict access is deprecated and goes in the next release)",
            DeprecationWarning,
            stacklevel=3,
        )

    def _field_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(self))  # type: ignore[arg-type]

    def __getitem__(self, key: str) -> Any:
        self._legacy(key)
        if not isinstance(key, str) or key not in self._field_names():
            raise KeyError(key)
        return getattr(self, key)

    def __contains__(self, key: object) -> bool:
        self._legacy(key)
        return key in self._field_names()

    def get(self, key: str, default: Any = None) -> Any:
        """Deprecated: ``getattr(result, key, default)``."""
        self._legacy(key)
        return getattr(self, key) if key in self._field_names() else default

    def keys(self) -> tuple[str, ...]:
        """Deprecated: the field names (``dataclasses.fields``)."""
        self._legacy("keys")
        return self._field_names()
