"""Reading a simulator config file (``levguard replay``, ``levguard contagion``): one place for the
file's errors, so that each command names the file and says what went wrong in one line."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from levguard.core.validate import path_arg
from levguard.documents import max_input_bytes, parse_spec_text, read_file_bytes
from levguard.errors import InputError

__all__ = ["known_keys", "load_config_file", "read_config_file"]

_C = TypeVar("_C")


def known_keys(value: Mapping[Any, Any], where: str, allowed: Iterable[str]) -> dict[str, Any]:
    """Return ``value`` with string keys; raise ``"<where>: unknown key(s) [...]; allowed: ..."``
    when it holds a key outside ``allowed``."""
    ok = set(allowed)
    bad = sorted(str(k) for k in value if k not in ok)
    if bad:
        raise InputError(f"{where}: unknown key(s) {bad}; allowed: {', '.join(sorted(ok))}")
    return {str(k): v for k, v in value.items()}


def read_config_file(path: str | Path, what: str) -> tuple[Any, Path]:
    """Return the parsed content of the YAML (or JSON) file ``path`` and the file's folder.

    Raises
    ------
    InputError
        ``"<path>: cannot read the <what> config (...)"`` when the file cannot be read,
        ``"<path>: not valid YAML (...)"`` when it does not parse or passes the size and nesting
        limits of :func:`levguard.documents.parse_spec_text`.
    """
    p = Path(path)
    limit = max_input_bytes()
    try:
        data = read_file_bytes(p, limit)
        text = data[:limit].decode("utf-8")
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        raise InputError(f"{p}: cannot read the {what} config ({reason})") from None
    if len(data) > limit:
        raise InputError(f"{p}: the {what} config is larger than {limit:,} bytes (LEVGUARD_MAX_INPUT_BYTES)")
    try:
        raw = parse_spec_text(text, str(p))
    except InputError as exc:
        detail = str(exc).removeprefix(f"{p}: ")
        raise InputError(f"{p}: not valid YAML ({' '.join(detail.split())})") from None
    return raw, p.resolve().parent


def load_config_file(path: str | Path, what: str, from_dict: Callable[[Any, Path, str], _C]) -> _C:
    """Read the ``what`` config file ``path`` (:func:`read_config_file`) and return
    ``from_dict(raw, folder, str(path))``, the validated config.

    Raises
    ------
    InputError
        As :func:`read_config_file`, or ``"<path>: <message>"`` when ``from_dict`` rejects a value.
    """
    p = path_arg(path, "path")  # Path(None) was a raw TypeError
    raw, folder = read_config_file(p, what)
    try:
        return from_dict(raw, folder, str(p))
    except InputError as exc:
        raise InputError(f"{p}: {exc}") from None
