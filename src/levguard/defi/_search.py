"""Integer searches over the exact engines: the boundaries the analytics report are found by asking
the engine itself, never by a second copy of a protocol's formula."""

from __future__ import annotations

from collections.abc import Callable

_MAX_BITS = 255  # search bounds stay below 2**255 (uint256 products are the engines' business)


def first_true(ok: Callable[[int], bool], lo: int, hi: int) -> int:
    """Smallest ``x`` in ``[lo, hi]`` with ``ok(x)``, given ``ok(hi)`` and ``ok`` monotone
    (False then True)."""
    while lo < hi:
        mid = (lo + hi) // 2
        if ok(mid):
            hi = mid
        else:
            lo = mid + 1
    return lo


def last_true(ok: Callable[[int], bool], lo: int, hi: int) -> int:
    """Largest ``x`` in ``[lo, hi]`` with ``ok(x)``, given ``ok(lo)`` and ``ok`` monotone (True
    then False)."""
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if ok(mid):
            lo = mid
        else:
            hi = mid - 1
    return lo


def target_bound(x: int) -> str:
    """Why a search for the most that keeps the target health factor stopped at ``x`` when the
    protocol itself would allow ``x + 1``: the target (already reached at ``x = 0``)."""
    if x == 0:
        return "the health factor is already at or below the target"
    return "bounded by the target health factor"


def false_on(
    pred: Callable[[int], bool], errors: type[Exception] | tuple[type[Exception], ...]
) -> Callable[[int], bool]:
    """``pred`` read as False where it raises ``errors``: where the engine reverts on overflow
    (prices and amounts near 2**256), so a growing search stops short of it."""

    def wrapped(x: int) -> bool:
        try:
            return pred(x)
        except errors:
            return False

    return wrapped


def grow_until(ok: Callable[[int], bool], start: int) -> int | None:
    """The first of ``start, 2 start, 4 start, ...`` (from at least 1) with ``ok``; None past 2**255."""
    x = max(start, 1)
    while x.bit_length() <= _MAX_BITS:
        if ok(x):
            return x
        x *= 2
    return None


def _same(key: Callable[[int], int], k: int) -> Callable[[int], bool]:
    return lambda y: key(y) == k


def last_crossing(ok: Callable[[int], bool], key: Callable[[int], int], lo: int, hi: int) -> int:
    """Smallest ``x`` in ``(lo, hi]`` with ``ok`` on all of ``[x, hi]``, where ``ok(hi)`` holds and
    ``ok(lo)`` does not.

    ``ok`` is monotone (False then True) on each run of equal ``key`` (``key`` itself monotone in
    ``x``); across runs it may fall back (Aave's floored average liquidation threshold makes the
    health factor a saw-tooth in a collateral's price or amount).  A bisection finds one crossing;
    the runs above it are then checked from their first point upwards, and a crossing in a higher
    run replaces it, until a run starts with ``ok``.  The health factor at the starts of
    successive runs increases (each new run starts one threshold bp lower with more collateral),
    so the first run that starts with ``ok`` ends the walk.  The result ``x`` always has ``ok(x)``
    and not ``ok(x - 1)``; the caller picks ``hi`` with a margin so that ``ok`` also holds above it.
    """
    x = first_true(ok, lo + 1, hi)
    top = key(hi)
    while True:
        k = key(x)
        if k == top:
            return x
        # End of x's run (the run is contiguous because key is monotone).
        end = last_true(_same(key, k), x, hi)
        start = end + 1
        if ok(start):
            return x
        x = first_true(ok, start + 1, hi) if start < hi else hi
