"""What every config model shares: the strict frozen base, the number types, the file reader."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from levguard.errors import ConfigError, InputError

Pos = Annotated[float, Field(gt=0, allow_inf_nan=False)]
NonNeg = Annotated[float, Field(ge=0, allow_inf_nan=False)]
Finite = Annotated[float, Field(allow_inf_nan=False)]


def _as_tuple(value: Any) -> Any:
    # A YAML/JSON list for a tuple field: strict validation takes tuples only.
    return tuple(value) if isinstance(value, list) else value


AsTuple = BeforeValidator(_as_tuple)
"""Annotate every tuple field of a config with it (``Annotated[tuple[Pos, Pos], AsTuple]``)."""


class _Model(BaseModel):
    # Config sections are frozen and refuse unknown keys (typos).  Strict: a number is a number
    # (an int is accepted where a float is wanted), never ``true`` or the string '3', which
    # pydantic's lax mode turned into 1.0 and 3.0; a flag is a bool, not "yes".
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    @model_validator(mode="before")
    @classmethod
    def _plain_scalars(cls, data: Any) -> Any:
        # NumPy scalars from Python callers (np.int64(2), np.float64(0.5), np.bool_(True)) as the
        # Python values they hold, which strict validation then checks as it checks any other:
        # np.int64 was refused in an int field, and np.bool_ passed as the number 1.0.
        return {k: _plain(v) for k, v in data.items()} if isinstance(data, dict) else data


def _plain(value: Any) -> Any:
    # A NumPy scalar's Python value (without importing NumPy), inside lists, tuples and mappings too.
    if type(value).__module__ == "numpy" and hasattr(value, "item") and getattr(value, "shape", None) == ():
        return value.item()
    if isinstance(value, list | tuple):
        return type(value)(_plain(v) for v in value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _read_file(path: str | Path) -> Any:
    # A YAML/JSON config file as loaded data; read and parse errors become ConfigError.
    from levguard.documents import load_spec

    try:
        return load_spec(path)
    except InputError as exc:
        raise ConfigError(str(exc)) from None
