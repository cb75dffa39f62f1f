"""What every config model shares: the strict frozen base, the number types, the file reader."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from levguard.errors import ConfigError, InputError

Pos = Annotated[float, Field(gt=0, allow_inf_nan=False)]
NonNeg = Annotated[float, Field(ge=0, allow_inf_nan=False)]
Finite = Annotated[float, Field(allow_inf_nan=False)]


class _Model(BaseModel):
    # Config sections are frozen and refuse unknown keys (typos).
    model_config = ConfigDict(extra="forbid", frozen=True)


def _read_file(path: str | Path) -> Any:
    # A YAML/JSON config file as loaded data; read and parse errors become ConfigError.
    from levguard.documents import load_spec

    try:
        return load_spec(path)
    except InputError as exc:
        raise ConfigError(str(exc)) from None
