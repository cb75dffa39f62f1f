"""Reading JSON/YAML input documents (account specs, tier files, policy and config files) safely.

Layer-neutral (like ``levguard.typing``): the facades, ``config`` and the CLI all read documents through
it, so every document meets the same limits and every failure is one
:class:`~levguard.errors.InputError` naming the document (and the line or field where known):

- at most :data:`MAX_INPUT_BYTES` bytes are read from a file or a stream (``-`` for stdin);
  ``LEVGUARD_MAX_INPUT_BYTES`` overrides the limit;
- the text must be UTF-8 (a byte-order mark is skipped);
- objects and lists nest at most :data:`MAX_NESTING` levels deep (YAML is refused while it is
  parsed, before Python's recursion limit is near);
- a document holds at most :data:`MAX_VALUES` values, counting a YAML alias each time it is used
  (a "billion laughs" document is refused), and no value may contain itself (a recursive alias);
- numbers must be numbers Python can read (integers of at most 4,300 digits); values out of
  float64 range are refused by the field that reads them, naming it;
- YAML numbers are read as YAML 1.2 reads them: YAML 1.1's base-60 (``1:30``) and binary
  (``0b101``) values stay strings, and a leading zero is decimal (``010`` is 10, not octal 8);
- a YAML mapping may not name a key twice (YAML 1.2 requires keys to be unique; PyYAML would
  keep the last value silently, so ``venue: binance-usdm`` followed by ``venue: okx`` ran on OKX).
"""

from __future__ import annotations

import errno
import json
import os
import re
import stat
from collections.abc import Collection, Iterator, Mapping
from pathlib import Path
from typing import IO, Any, TypeGuard

import yaml

from levguard.core.validate import integer_in, path_arg, show
from levguard.errors import InputError

__all__ = [
    "JSON_PARSE_DEPTH",
    "MAX_INPUT_BYTES",
    "MAX_NESTING",
    "MAX_VALUES",
    "check_structure",
    "json_depth_exceeds",
    "load_spec",
    "load_spec_stream",
    "max_input_bytes",
    "parse_spec_text",
    "read_file_bytes",
]

MAX_INPUT_BYTES = 16 * 1024 * 1024
"""Largest document read from a file or stream (16 MiB); ``LEVGUARD_MAX_INPUT_BYTES`` overrides it."""
MAX_NESTING = 64
"""Deepest nesting of objects and lists in a document (an account spec needs 4)."""
MAX_VALUES = 1_000_000
"""Most values (scalars, objects, lists, keys) in one document, aliases counted at every use."""
_MAX_READ_BYTES = 1 << 40
"""Largest ``LEVGUARD_MAX_INPUT_BYTES`` accepted (1 TiB): a larger number cannot size a read buffer."""

_ENV_MAX_BYTES = "LEVGUARD_MAX_INPUT_BYTES"
# What a parser may raise for malformed text besides its own error type: int() past 4,300 digits
# (ValueError), a date like 2024-13-45 (ValueError), an unhashable or odd tagged value (TypeError),
# nesting beyond the recursion limit in json's C scanner (RecursionError).
_PARSE_ERRORS = (yaml.YAMLError, ValueError, TypeError, OverflowError, RecursionError)


def max_input_bytes() -> int:
    """Return the size limit: ``LEVGUARD_MAX_INPUT_BYTES`` if set, else :data:`MAX_INPUT_BYTES`."""
    raw = os.environ.get(_ENV_MAX_BYTES)
    if raw is None or not raw.strip():
        return MAX_INPUT_BYTES
    try:
        value = int(raw.strip())
    except ValueError:
        value = 0
    if not 0 < value <= _MAX_READ_BYTES:
        raise InputError(f"{_ENV_MAX_BYTES} must be a number of bytes from 1 to {_MAX_READ_BYTES:,}, was {show(raw)}")
    return value


def _limit(max_bytes: int | None) -> int:
    # A str limit was a raw TypeError at the size comparison.
    return max_input_bytes() if max_bytes is None else integer_in(max_bytes, "max_bytes", 0, _MAX_READ_BYTES + 1)


def _too_large(name: str, limit: int) -> InputError:
    return InputError(f"{name}: input is larger than the {_bytes_text(limit)} limit (set {_ENV_MAX_BYTES} to raise it)")


def _bytes_text(n: int) -> str:
    if n >= 1024 * 1024 and n % (1024 * 1024) == 0:
        return f"{n // (1024 * 1024)} MiB"
    return f"{n:,} bytes"


def _decode(data: bytes, name: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{name}: not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start:,}); "
            "give a JSON or YAML document"
        ) from None


def read_file_bytes(path: str | Path, limit: int) -> bytes:
    """Read at most ``limit + 1`` bytes of the regular file ``path`` (the caller compares with ``limit``).

    Raises
    ------
    OSError
        As ``open`` does (``FileNotFoundError``, ``IsADirectoryError``, ...), and with ``EINVAL``
        for a FIFO, socket or device: reading one could wait for a writer forever (a FIFO) or
        never end (``/dev/zero``), so they are refused before they are opened.
    """
    p = Path(path)
    mode = p.stat().st_mode
    if stat.S_ISFIFO(mode) or stat.S_ISCHR(mode) or stat.S_ISBLK(mode) or stat.S_ISSOCK(mode):
        raise OSError(errno.EINVAL, "not a regular file (a FIFO, socket or device)")
    with p.open("rb") as fh:
        return fh.read(limit + 1)


def load_spec(path: str | Path, *, max_bytes: int | None = None) -> Any:
    """Read a JSON or YAML file (by extension; YAML also reads JSON) and return its content.

    Raises
    ------
    InputError
        The file is missing, unreadable, larger than the limit, not UTF-8, not valid JSON/YAML, or
        beyond the nesting or value limits (the message names the file).
    """
    p = path_arg(path)
    limit = _limit(max_bytes)
    try:
        data = read_file_bytes(p, limit)
    except FileNotFoundError:
        raise InputError(f"file {show(str(p))} does not exist") from None
    except OSError as exc:
        raise InputError(f"file {show(str(p))} cannot be read: {exc.strerror or type(exc).__name__}") from None
    except ValueError:  # a NUL byte in the path
        raise InputError(f"file {show(str(p))} cannot be read: not a valid path") from None
    if len(data) > limit:
        raise _too_large(f"file {show(str(p))}", limit)
    return parse_spec_text(_decode(data, str(p)), str(p), json_only=p.suffix.lower() == ".json", max_bytes=limit)


def load_spec_stream(stream: IO[Any], name: str = "<stdin>", *, max_bytes: int | None = None) -> Any:
    """Read a JSON or YAML document from a binary or text stream (e.g. ``sys.stdin``).

    Reads at most the size limit plus one byte, so an endless stream is refused, not exhausted.
    """
    limit = _limit(max_bytes)
    raw = getattr(stream, "buffer", stream)
    try:
        data = raw.read(limit + 1)
    except UnicodeDecodeError as exc:  # a text stream without a binary buffer
        raise InputError(f"{name}: not UTF-8 text (offset {exc.start:,})") from None
    except OSError as exc:
        raise InputError(f"{name} cannot be read: {exc.strerror or type(exc).__name__}") from None
    if isinstance(data, str):
        if len(data) > limit:
            raise _too_large(name, limit)
        return parse_spec_text(data, name, max_bytes=limit)
    if len(data) > limit:
        raise _too_large(name, limit)
    return parse_spec_text(_decode(data, name), name, max_bytes=limit)


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader that refuses nesting beyond a limit while composing (PyYAML's composer
    recurses once per level, so 3,000 nested brackets would otherwise hit the recursion limit)."""

    def __init__(self, stream: str, name: str, max_depth: int) -> None:
        super().__init__(stream)
        self._name = name
        self._max_depth = max_depth
        self._depth = 0
        self._unique_checked: set[int] = set()

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        nested = self.check_event(yaml.SequenceStartEvent, yaml.MappingStartEvent)
        if nested:
            self._depth += 1
            if self._depth > self._max_depth:
                line = self.peek_event().start_mark.line + 1  # type: ignore[no-untyped-call]
                raise InputError(f"{self._name}: nested deeper than {self._max_depth} levels at line {line}")
        try:
            return super().compose_node(parent, index)
        finally:
            if nested:
                self._depth -= 1

    def flatten_mapping(self, node: yaml.MappingNode) -> None:
        # A key given twice in one mapping is refused (YAML 1.2, section 3.2.1.1: keys are
        # unique).  Checked once per node, on its own keys, before PyYAML merges anything into it
        # (a merged node is flattened, and rewritten, when it is first merged); keys brought by a
        # merge (``<<: *alias``) may be overridden, as YAML allows.
        if id(node) not in self._unique_checked:
            self._unique_checked.add(id(node))
            seen: dict[Any, int] = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                line = key_node.start_mark.line + 1
                try:
                    first = seen.get(key)
                except TypeError:  # an unhashable key: PyYAML refuses it, with its line
                    break
                if first is not None:
                    raise InputError(f"{self._name}: the key {show(key, 40)} is given twice (lines {first} and {line})")
                seen[key] = line
        super().flatten_mapping(node)


# Numbers as YAML 1.2 reads them, not YAML 1.1: PyYAML's resolvers made ``qty: 1:30`` the
# base-60 number 90, ``0b101`` 5 and ``010`` the octal 8, silently.  Base-60 and binary values now
# stay strings, which the fields that read numbers refuse by name; a leading zero is decimal
# (``010`` is 10, YAML 1.2 core schema).  Kept: ``_`` separators in decimals (as before),
# hexadecimal ``0x``, ``.inf`` and ``.nan``; booleans, nulls and dates are PyYAML's.
_INT, _FLOAT = "tag:yaml.org,2002:int", "tag:yaml.org,2002:float"
_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag not in (_INT, _FLOAT)]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    _INT, re.compile(r"^[-+]?(?:[0-9][0-9_]*|0x[0-9a-fA-F][0-9a-fA-F_]*)$"), list("-+0123456789")
)


def _construct_int(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> int:
    # Decimal (leading zeros too) or 0x hexadecimal, never PyYAML's octal, binary or base 60.
    text = str(loader.construct_scalar(node)).replace("_", "")
    return int(text, 16) if text.lstrip("+-")[:2] in ("0x", "0X") else int(text, 10)


def _construct_float(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> float:
    # PyYAML's float, less its base 60 (an explicit ``!!float 1:30`` was 90.0).
    text = str(loader.construct_scalar(node))
    if ":" in text:
        raise ValueError(f"base-60 numbers are not read, was {text!r}")
    if not text.replace("_", "").strip():  # PyYAML read text[0]: an IndexError and a traceback
        raise ValueError(f"a float needs digits, was {text!r}")
    return float(loader.construct_yaml_float(node))


_Loader.add_constructor(_INT, _construct_int)
_Loader.add_constructor(_FLOAT, _construct_float)
_Loader.add_implicit_resolver(
    _FLOAT,
    re.compile(
        r"^(?:[-+]?[0-9][0-9_]*\.[0-9_]*(?:[eE][-+][0-9]+)?|[-+]?\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
    ),
    list("-+0123456789."),
)

# YAML 1.2 floats that PyYAML's YAML 1.1 resolver leaves as strings: an exponent without a sign
# or a mantissa without a dot (``1e4``, ``2.0e8``, ``1E-5``; 1.1 wants ``2.0e+8``).  The samples
# write ``total_notional: 2.0e8``; read as the string "2.0e8", only pydantic's lax coercion made
# it a number, and the configs' numbers are strict (a quoted '3' is refused).
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9][0-9_]*)[eE][-+]?[0-9]+$"),
    list("-+0123456789."),
)


def _load_yaml(text: str, name: str) -> Any:
    loader = _Loader(text, name, MAX_NESTING)  # the reader checks the characters here already
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


# JSON text nested deeper than this is refused before ``json.loads`` sees it.  The C decoder
# recurses once per level, bounded only by ``sys.getrecursionlimit()``, which some libraries raise
# at import (web3 sets 100,000): megabytes of "[" would then overflow the C stack instead of
# raising RecursionError.  Depths between MAX_NESTING and this bound parse and are refused by
# check_structure, naming the path.
JSON_PARSE_DEPTH = 512
_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")


def _json_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        twice = next(k for i, (k, _) in enumerate(pairs) if any(k == k2 for k2, _ in pairs[:i]))
        raise ValueError(f"the key {show(twice, 40)} is given twice in one object")
    return out


def json_depth_exceeds(text: str, bound: int) -> bool:
    """Whether JSON ``text`` opens more than ``bound`` arrays/objects at once (strings ignored)."""
    depth = 0
    for ch in _NOT_BRACKET.sub("", _JSON_STRING.sub("", text)):
        if ch in "[{":
            depth += 1
            if depth > bound:
                return True
        else:
            depth -= 1
    return False


def _yaml_message(exc: yaml.YAMLError) -> str:
    if isinstance(exc, yaml.reader.ReaderError):
        char = f"#x{exc.character:04x}" if isinstance(exc.character, int) else show(exc.character)
        return f"unacceptable character {char} at offset {exc.position:,}"
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        what = "; ".join(part for part in (exc.context, exc.problem) if part) or "malformed"
        return f"{what}{where}"
    return str(exc)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _parse_message(exc: BaseException) -> str:
    text = str(exc)
    if isinstance(exc, ValueError) and "integer string conversion" in text:
        # Python's own words point at sys.set_int_max_str_digits, which is no help to a user.
        return "a number has more than 4,300 digits"
    return _one_line(text)[:300]


def parse_spec_text(text: str, name: str = "<input>", *, json_only: bool = False, max_bytes: int | None = None) -> Any:
    """Parse JSON or YAML text within the input limits; errors name ``name`` and the line."""
    if not isinstance(text, str):  # len(None) was a raw TypeError
        raise InputError(f"text must be a str (the document), was {type(text).__name__} {show(text)}")
    limit = _limit(max_bytes)
    if len(text) > limit:  # characters <= bytes, so this never refuses text within the limit
        raise _too_large(name, limit)
    if json_only:
        if json_depth_exceeds(text, JSON_PARSE_DEPTH):
            raise InputError(f"{name}: nested deeper than {MAX_NESTING} levels")
        try:
            value = json.loads(text, object_pairs_hook=_json_object)
        except json.JSONDecodeError as exc:
            raise InputError(f"{name}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
        except RecursionError:
            raise InputError(f"{name}: nested deeper than {MAX_NESTING} levels") from None
        except _PARSE_ERRORS as exc:
            raise InputError(f"{name}: invalid JSON: {_parse_message(exc)}") from None
    else:
        try:
            value = _load_yaml(text, name)
        except InputError:
            raise
        except yaml.YAMLError as exc:
            raise InputError(f"{name}: invalid YAML/JSON: {_one_line(_yaml_message(exc))}") from None
        except _PARSE_ERRORS as exc:
            raise InputError(f"{name}: invalid YAML/JSON: {_parse_message(exc)}") from None
    check_structure(value, name)
    return value


_SCALARS = frozenset({str, int, float, bool, type(None)})


def _container(value: object) -> TypeGuard[Mapping[object, object] | Collection[object]]:
    return type(value) not in _SCALARS and isinstance(value, Mapping | list | tuple | set | frozenset)


def _size(value: Mapping[object, object] | Collection[object]) -> int:
    return 2 * len(value) if isinstance(value, Mapping) else len(value)


_Container = Mapping[object, object] | Collection[object]


# Where a child sits in its parent, for an error's path: (_AT_KEY, key) the value of a key,
# (_IS_KEY, key) a key that is itself a container, (_AT_INDEX, i) an item of a sequence.
_AT_KEY, _IS_KEY, _AT_INDEX = 0, 1, 2
_Step = tuple[int, object]


def _nested(value: _Container) -> Iterator[tuple[_Step, _Container]]:
    # The (place, child) pairs whose child is itself a container; keys count too (a YAML key can
    # be a sequence).  Scalars are only counted (by _size): the type test before _container
    # passes over them without a call, and a place becomes text only for an error (_label).
    scalars = _SCALARS
    if isinstance(value, Mapping):
        for k, v in value.items():
            if type(k) not in scalars and _container(k):
                yield (_IS_KEY, k), k
            if type(v) not in scalars and _container(v):
                yield (_AT_KEY, k), v
    else:
        for i, v in enumerate(value):
            if type(v) not in scalars and _container(v):
                yield (_AT_INDEX, i), v


def _label(step: _Step) -> str:
    kind, key = step
    if kind == _AT_INDEX:
        return f"[{key}]"
    if kind == _AT_KEY and isinstance(key, str) and key.isidentifier():
        return f".{key}"
    return f"[{show(key, 30)}]"


def _where(name: str, steps: list[_Step]) -> str:
    path = "".join(_label(s) for s in steps[:6]) + ("..." if len(steps) > 6 else "")
    return f"{name}: {path.lstrip('.')}"


def check_structure(
    value: object, name: str = "input", *, max_depth: int | None = None, max_values: int | None = None
) -> None:
    """Refuse a parsed document (or a dict given by a caller) beyond the nesting or size limits.

    Walks iteratively (no recursion), stops at the first violation, and counts a shared object
    (a YAML alias) at each place it appears, so a "billion laughs" document is refused early.
    A shared object is walked once: its count and height are remembered when its walk ends, and
    a later use adds them at once (a walk that ended found no cycle through it), so the work is
    proportional to the distinct objects, not to the values they stand for.  An error at such a
    use names the place of the use (the walk does not go down it again).

    Raises
    ------
    InputError
        Nesting deeper than ``max_depth`` (:data:`MAX_NESTING`), more than ``max_values``
        (:data:`MAX_VALUES`) values, or a value that contains itself.
    """
    depth_limit = MAX_NESTING if max_depth is None else max_depth
    value_limit = MAX_VALUES if max_values is None else max_values
    if not _container(value):
        return
    count = 1 + _size(value)
    on_path = {id(value)}
    # A frame: the container's id, its children and the count before it was added; tall[i]: the
    # height of frame i's tallest container child (-1: none); walked: id -> (values, height).
    stack: list[tuple[int, Iterator[tuple[_Step, _Container]], int]] = [(id(value), _nested(value), 0)]
    tall = [-1]
    walked: dict[int, tuple[int, int]] = {}
    held: list[object] = []  # every container walked, alive until the end: no id() is reused
    labels: list[_Step] = []
    while True:
        if count > value_limit:
            raise InputError(f"{name}: more than {value_limit:,} values (YAML aliases count at each use)")
        oid, it, before = stack[-1]
        step = next(it, None)
        if step is None:
            stack.pop()
            if not stack:
                return
            height = tall.pop() + 1
            walked[oid] = (count - before, height)
            if height > tall[-1]:
                tall[-1] = height
            on_path.discard(oid)
            labels.pop()
            continue
        label, child = step
        cid = id(child)
        if cid in on_path:
            raise InputError(f"{_where(name, [*labels, label])} contains itself (a recursive YAML alias)")
        known = walked.get(cid)
        # A child at stack depth d puts its deepest container at d + its height.
        if len(stack) + (0 if known is None else known[1]) >= depth_limit:
            raise InputError(f"{_where(name, [*labels, label])} is nested deeper than {depth_limit} levels")
        if known is None:
            on_path.add(cid)
            labels.append(label)
            held.append(child)
            stack.append((cid, _nested(child), count))
            tall.append(-1)
            count += _size(child)
        else:
            count += known[0]
            if known[1] > tall[-1]:
                tall[-1] = known[1]
