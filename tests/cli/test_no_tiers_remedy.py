"""The "no built-in tiers" error names only what the command that raised it takes.

A hunt (2026-12-07): the margin engine's hint "pass tiers, or mmr (and maint_amount)" reached
`levguard liq` (which has --mmr but no --tiers) and `levguard backtest` (whose config has
`tiers:` but no `mmr`) unchanged.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from levguard.backtest import BuyAndHold, run
from levguard.cli.main import app
from levguard.core.sizing.base import FixedLeverage
from levguard.errors import InputError, NoTiersError
from levguard.margin import evaluate_account

runner = CliRunner()

FACT = "XRPUSDT: no built-in tiers for this symbol on binance-usdm"
SPEC = {
    "venue": "binance-usdm",
    "wallet_balance": 1000.0,
    "positions": [{"symbol": "XRPUSDT", "qty": 100.0, "entry_price": 1.0, "mark_price": 1.0, "leverage": 5.0}],
}


def _error(res: object) -> str:
    out = res.output  # type: ignore[attr-defined]
    assert res.exit_code == 2, out  # type: ignore[attr-defined]
    assert len(out.strip().splitlines()) == 1
    return " ".join(out.split())


def _bars(path: Path) -> Path:
    close = 0.6 * np.exp(np.cumsum(np.resize([0.004, -0.003], 60)))
    idx = pd.date_range("2024-01-01", periods=60, freq="1h", tz="UTC")
    rows = [f"{t:%Y-%m-%dT%H:%M:%SZ},{c},{c * 1.002},{c * 0.998},{c},50" for t, c in zip(idx, close, strict=True)]
    path.write_text("timestamp,open,high,low,close,volume\n" + "\n".join(rows) + "\n")
    return path


def test_the_library_keeps_the_fact_and_its_own_remedy(tmp_path: Path) -> None:
    with pytest.raises(NoTiersError) as spec_err:
        evaluate_account(SPEC)
    assert str(spec_err.value) == f"positions[0] {FACT}; pass tiers, or mmr (and maint_amount)"
    assert isinstance(spec_err.value, InputError)
    with pytest.raises(NoTiersError) as run_err:
        run(_bars(tmp_path / "XRPUSDT-PERP_1h.csv"), BuyAndHold(), FixedLeverage(2.0))
    assert run_err.value.fact == FACT
    assert "mmr" not in str(run_err.value)  # run() takes tiers only
    assert "pass tiers (a TierTable or tier rows" in str(run_err.value)


def test_liq_names_its_mmr_option_not_tiers() -> None:
    msg = _error(
        runner.invoke(app, ["liq", "--symbol", "XRPUSDT", "--entry", "1", "--leverage", "5", "--wallet", "100"])
    )
    assert FACT in msg
    assert "pass --mmr RATE" in msg
    assert "maint_amount" not in msg
    assert "pass tiers" not in msg


def test_margin_names_the_spec_keys_and_its_tiers_option(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(yaml.safe_dump(SPEC))
    msg = _error(runner.invoke(app, ["margin", str(tmp_path / "a.yaml")]))
    assert msg.endswith(f"{FACT}; pass tiers, or mmr (and maint_amount) in the spec, or --tiers FILE")


def test_a_backtest_config_is_told_its_tiers_key_not_mmr(tmp_path: Path) -> None:
    bars = _bars(tmp_path / "XRPUSDT-PERP_1h.csv")
    cfg = {"data": {"source": "file", "path": str(bars)}, "policies": {"fixed 2x": {"type": "fixed", "leverage": 2}}}
    (tmp_path / "bt.yaml").write_text(yaml.safe_dump(cfg))
    msg = _error(runner.invoke(app, ["backtest", str(tmp_path / "bt.yaml")]))
    assert msg.endswith(f"{FACT}; give tiers: in the config (a file, or a mapping symbol -> tier rows)")
    sweep = {"policies": {"fixed": {"type": "fixed", "leverage": 2}}, "output": {"report": None}}
    (tmp_path / "sw.yaml").write_text(yaml.safe_dump({"data": cfg["data"], "sweep": sweep}))
    msg = _error(runner.invoke(app, ["backtest", str(tmp_path / "sw.yaml")]))
    assert msg.endswith(f"{FACT}; give tiers: in the config (a file, or a mapping symbol -> tier rows)")
