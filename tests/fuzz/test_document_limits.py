"""``levguard.documents.check_structure`` against a plain recursive reference, on documents that
share objects (YAML aliases), contain themselves, or nest past the limits.

``check_structure`` walks a shared object once and adds its count and height at every later use;
the reference walks every use again, by recursion, until the count passes the limit.  Both must refuse the same
documents, for the same reason where an acyclic document breaks only one limit."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from levguard.documents import MAX_VALUES, check_structure
from levguard.errors import InputError

CONTAINERS = (Mapping, list, tuple, set, frozenset)  # what a document's structure counts


class _CycleError(Exception):
    pass


class _ManyError(Exception):
    pass


def _children(v: Any) -> list[Any]:
    if isinstance(v, Mapping):
        return [x for k, val in v.items() for x in (k, val) if isinstance(x, CONTAINERS)]
    return [x for x in v if isinstance(x, CONTAINERS)]


def reference(doc: Any, depth_limit: int, value_limit: int) -> tuple[set[str], bool]:
    """The limits ``doc`` breaks: "cycle", "deep" (a container ``depth_limit`` levels below the
    top) or "many" (more than ``value_limit`` values), and whether the set is complete.

    Every use of a shared object is walked again (no memo), so the walk stops once the count
    passes ``value_limit``: "many" is then known, "deep" maybe not (the set is incomplete)."""
    count = 1 + (2 * len(doc) if isinstance(doc, Mapping) else len(doc))
    deepest = 0
    path: set[int] = set()

    def visit(v: Any, level: int) -> None:
        nonlocal count, deepest
        path.add(id(v))
        for child in _children(v):
            if id(child) in path:
                raise _CycleError
            deepest = max(deepest, level + 1)
            count += 2 * len(child) if isinstance(child, Mapping) else len(child)
            if count > value_limit:
                raise _ManyError
            visit(child, level + 1)
        path.discard(id(v))

    try:
        visit(doc, 0)
    except _CycleError:
        return {"cycle"}, False
    except _ManyError:
        return {"many"} | ({"deep"} if deepest >= depth_limit else set()), False
    return ({"deep"} if deepest >= depth_limit else set()) | ({"many"} if count > value_limit else set()), True


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
    open_ = [n for n in nodes if isinstance(n, list | dict)]
    if draw(st.booleans()) and len(nodes) > 1 and open_:
        target = draw(st.sampled_from(open_))
        extra = draw(st.sampled_from(nodes))
        if isinstance(target, list):
            target.append(extra)
        else:
            target["back"] = extra
    return nodes[-1]


MESSAGES = {"cycle": "contains itself", "deep": "nested deeper than", "many": "more than"}


SHARED = [[[0]]]  # a container two levels deep, used at several depths below


@settings(max_examples=600, deadline=None)
@given(doc=documents(), depth_limit=st.integers(1, 8), value_limit=st.integers(1, 400))
@example(doc={"a": SHARED, "b": [[SHARED]]}, depth_limit=5, value_limit=400)  # reused deeper: 5 levels
@example(doc={"a": SHARED, "b": [[SHARED]]}, depth_limit=6, value_limit=400)  # the same, within 6
@example(doc={"a": SHARED, "b": [SHARED, SHARED]}, depth_limit=8, value_limit=13)  # 13 values: at the limit
@example(doc={"a": SHARED, "b": [SHARED, SHARED]}, depth_limit=8, value_limit=12)  # one over
@example(doc={((1, 2), (3,)): [frozenset({(1,), (2,)})], "t": ((0,), (0,))}, depth_limit=2, value_limit=100)
@example(doc={((1, 2), (3,)): [frozenset({(1,), (2,)})], "t": ((0,), (0,))}, depth_limit=3, value_limit=100)
def test_refuses_what_a_count_of_every_use_refuses(doc: Any, depth_limit: int, value_limit: int) -> None:
    broken, complete = reference(doc, depth_limit, value_limit)
    if not broken:
        check_structure(doc, "doc", max_depth=depth_limit, max_values=value_limit)
        return
    # A cycle may break a limit before it closes, and a walk cut short by the count may not have
    # seen the depth; an acyclic document known to break one limit is refused for that one.
    only = next(iter(broken)) if complete and len(broken) == 1 else None
    with pytest.raises(InputError, match=MESSAGES[only] if only else "contains itself|nested deeper|more than"):
        check_structure(doc, "doc", max_depth=depth_limit, max_values=value_limit)


def test_a_billion_laughs_of_shared_lists_is_refused_without_walking_every_use() -> None:
    """Ten levels of a list holding the level below ten times stand for 10**10 values: refused
    at once (each level walked once), as an unshared document of 10**6 values is."""
    level: list[Any] = [0] * 10
    for _ in range(10):
        level = [level] * 10
    t0 = time.thread_time()
    with pytest.raises(InputError, match=r"doc: more than 1,000,000 values"):
        check_structure(level, "doc")
    assert time.thread_time() - t0 < 0.05
    assert reference(level, 64, MAX_VALUES)[0] == {"many"}


class _BuiltOnReading(Mapping[int, Any]):
    """A caller's read-only Mapping that builds each value when it is read (a view over a store):
    a value walked and dropped could lend its id() to the next one."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __getitem__(self, k: int) -> Any:
        return [0] if k == 0 else [0] * 100_000

    def __iter__(self) -> Any:
        return iter(range(self.n))

    def __len__(self) -> int:
        return self.n


def test_values_built_on_reading_are_each_counted() -> None:
    """Eleven fresh lists of 100,000 values: refused, not taken for the small first value a
    review found reusing their id() (the walk keeps what it has walked alive)."""
    with pytest.raises(InputError, match=r"doc: more than 1,000,000 values"):
        check_structure(_BuiltOnReading(12), "doc")
    check_structure(_BuiltOnReading(10), "doc")  # 900,000 values and the keys: within the limit
