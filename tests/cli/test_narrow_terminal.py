"""The README's table commands in an 80-column terminal: every line fits and no cell is cut.

Rich cut what did not fit with an ellipsis: the margin report's liquidation price became
``56,005.…`` and the backtest table's policy column was zero characters wide.  The commands run
with ``FORCE_COLOR`` (rich then takes the output for a terminal) and ``COLUMNS=80``.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from levguard.cli.main import app

_ANSI = re.compile(r"\x1b\[[0-9;?]*[a-zA-Z]")

COMMANDS = [
    ["margin", "account.yaml"],
    [
        "liq",
        "--venue",
        "binance-usdm",
        "--symbol",
        "BTCUSDT",
        "--side",
        "long",
        "--entry",
        "60000",
        "--leverage",
        "20",
        "--wallet",
        "3000",
    ],
    ["risk", "book.yaml", "--vol", "0.6", "--sims", "2000"],
    ["size", "account.yaml", "--policy", "policy.yaml", "--vol", "0.6"],
    ["defi", "defi_aave.yaml"],
    ["backtest", "backtest.yaml"],
    ["validate", "liquidation", "ohlcv/BTCUSDT-PERP_1h.csv", "--mark", "ohlcv/BTCUSDT-MARK_1h.csv"],
]


@pytest.fixture(scope="module")
def samples(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("samples")
    assert CliRunner().invoke(app, ["init", str(folder)]).exit_code == 0
    return folder


@pytest.mark.parametrize("args", COMMANDS, ids=[" ".join(c[:2]) for c in COMMANDS])
def test_every_table_fits_80_columns_with_nothing_cut(
    samples: Path, args: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(samples)
    res = CliRunner().invoke(app, args, env={"FORCE_COLOR": "1", "COLUMNS": "80"})
    assert res.exit_code == 0, res.output
    text = _ANSI.sub("", res.stdout)
    assert "…" not in text
    # validate's description line of each file (paths, tiers' source) is soft-wrapped by the terminal.
    lines = [line for line in text.splitlines() if not line.startswith("BTCUSDT: ")]
    assert max(len(line) for line in lines) <= 80
    if args[0] == "validate":  # a reliability bucket and its interval are read whole, not wrapped
        assert "(0.01, 0.05]" in text
        assert re.search(r"\d+\.\d\d% – \d+\.\d\d%", text)
