"""``levguard.documents.check_structure`` against a plain recursive reference, on documents that
share objects (YAML aliases), contain themselves, or nest past the limits.

``check_structure`` walks a shared object once and adds its count and height at every later use;
the reference counts every use by recursion with a memo of its own.  Both must refuse the same
documents, for the same reason where an acyclic document breaks only one limit."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from levguard.documents import MAX_VALUES, check_structure
from levguard.errors import InputError


class _CycleError(Exception):
    pass


def _children(v: Any) -> list[Any]:
    if isinstance(v, Mapping):
        return [x for k, val in v.items() for x in (k, val) if isinstance(x, Mapping | list | tuple)]
    return [x for x in v if isinstance(x, Mapping | list | tuple)]


def reference(doc: Any, depth_limit: int, value_limit: int) -> set[str]:
    """The limits ``doc`` breaks: "cycle", or "deep" (a container ``depth_limit`` levels below
    the top) and "many" (more than ``value_limit`` values, each use of a shared object counted)."""
    memo: dict[int, tuple[int, int]] = {}
    path: set[int] = set()

    def visit(v: Any) -> tuple[int, int]:  # (values inside v, height of v's containers below it)
        if id(v) in path:
            raise _CycleError
        if id(v) in memo:
            return memo[id(v)]
        path.add(id(v))
        inside = 2 * len(v) if isinstance(v, Mapping) else len(v)
        height = 0
        for child in _children(v):
            n, h = visit(child)
            inside += n
            height = max(height, h + 1)
        path.discard(id(v))
        memo[id(v)] = (inside, height)
        return inside, height

    try:
        inside, height = visit(doc)
    except _CycleError:
        return {"cycle"}
    return {name for name, broken in (("deep", height >= depth_limit), ("many", 1 + inside > value_limit)) if broken}


@st.composite
def documents(draw: st.DrawFn) -> Any:
    """Up to 12 containers, each holding scalars and earlier containers (shared: an alias), the
    top one last; sometimes an earlier one is given a later one, which may close a cycle."""
    nodes: list[Any] = []
    for _ in range(draw(st.integers(1, 12))):
        items: list[Any] = [
            draw(st.one_of(st.integers(0, 9), st.sampled_from(nodes))) if nodes else draw(st.integers(0, 9))
            for _ in range(draw(st.integers(0, 5)))
        ]
        kind = draw(st.sampled_from(["list", "dict", "tuple"]))
        if kind == "dict":
            nodes.append({f"k{i}": x for i, x in enumerate(items)})
        else:
            nodes.append(items if kind == "list" else tuple(items))
    if draw(st.booleans()) and len(nodes) > 1:
        target = draw(st.sampled_from([n for n in nodes if isinstance(n, list | dict)] or [None]))
        if target is not None:
            extra = draw(st.sampled_from(nodes))
            if isinstance(target, list):
                target.append(extra)
            else:
                target["back"] = extra
    return nodes[-1]


MESSAGES = {"cycle": "contains itself", "deep": "nested deeper than", "many": "more than"}


@settings(max_examples=600, deadline=None)
@given(doc=documents(), depth_limit=st.integers(1, 8), value_limit=st.integers(1, 400))
def test_refuses_what_a_recursive_count_of_every_use_refuses(doc: Any, depth_limit: int, value_limit: int) -> None:
    broken = reference(doc, depth_limit, value_limit)
    if not broken:
        check_structure(doc, "doc", max_depth=depth_limit, max_values=value_limit)
        return
    # A cycle may break a limit before it closes; an acyclic document breaking one limit is
    # refused for that one.
    only = next(iter(broken)) if len(broken) == 1 and "cycle" not in broken else None
    with pytest.raises(InputError, match=MESSAGES[only] if only else "contains itself|nested deeper|more than"):
        check_structure(doc, "doc", max_depth=depth_limit, max_values=value_limit)


def test_a_billion_laughs_of_shared_lists_is_refused_without_walking_every_use() -> None:
    """Ten levels of a list holding the level below ten times stand for 10**10 values: refused
    at once (each level walked once), as an unshared document of 10**6 values is."""
    level: list[Any] = [0] * 10
    for _ in range(10):
        level = [level] * 10
    t0 = time.process_time()
    with pytest.raises(InputError, match=r"doc: more than 1,000,000 values"):
        check_structure(level, "doc")
    assert time.process_time() - t0 < 0.05
    assert reference(level, 64, MAX_VALUES) == {"many"}
