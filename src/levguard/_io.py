"""Reading JSON/YAML input files (account specs, tier files, policy files) with clear errors.

Layer-neutral (like ``_typing``): the facades, ``config`` and the CLI all read files through it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from levguard.errors import InputError

__all__ = ["load_spec", "parse_spec_text"]


def load_spec(path: str | Path) -> Any:
    """Read a JSON or YAML file (by extension; YAML also reads JSON) and return its content.

    Raises
    ------
    InputError
        The file is missing, unreadable, or not valid JSON/YAML (the message names the file).
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"file {str(p)!r} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"file {str(p)!r} cannot be read: {exc}") from None
    return parse_spec_text(text, str(p), json_only=p.suffix.lower() == ".json")


def parse_spec_text(text: str, name: str = "<input>", *, json_only: bool = False) -> Any:
    """Parse JSON or YAML text; errors name ``name`` and the line."""
    if json_only:
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(f"{name}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise InputError(f"{name}: invalid YAML/JSON{where}: {getattr(exc, 'problem', exc)}") from None
