"""Documentation examples stay true: doctests of the public facade."""

from __future__ import annotations

import doctest

import levguard.margin


def test_facade_doctest() -> None:
    result = doctest.testmod(levguard.margin)
    assert result.attempted > 0
    assert result.failed == 0
