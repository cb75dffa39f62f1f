"""The facades are attributes of ``levguard`` (issue 15: ``import levguard; levguard.risk``)."""

from __future__ import annotations

import subprocess
import sys

import pytest

import levguard


@pytest.mark.parametrize(
    ("facade", "name"),
    [
        ("risk", "realized_vol"),
        ("backtest", "run"),
        ("cascade", "simulate_path"),
        ("sizing", "size_account"),
        ("margin", "evaluate_account"),
        ("options", "black76_price"),
    ],
)
def test_facades_are_attributes(facade: str, name: str) -> None:
    module = getattr(levguard, facade)
    assert callable(getattr(module, name))
    assert facade in dir(levguard)


def test_unknown_attribute_raises_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no_such_facade"):
        _ = levguard.no_such_facade  # type: ignore[attr-defined]


def test_import_levguard_does_not_import_pandas() -> None:
    code = "import sys, levguard; print('pandas' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
