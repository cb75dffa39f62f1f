"""What an account's sizing reads (``levguard size``, the guardian): refused policies, returns.

A Kelly with ``mu_estimator: given`` (the default) sized every account at 0x (``no_forecast``):
there is no way to pass ``mu_forecast``; it is now refused with the remedy.  The guardian's sizer
passed no returns where ``levguard size --history`` did, so a regime switch or an estimating
Kelly disagreed (Kelly ewma_mean 0.514x in the CLI, 0x ``no_forecast`` in the guardian, which it
would act on)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from levguard.cli.main import app
from levguard.errors import ConfigError, InputError
from levguard.sizing import size_account


def _bars(hours: int = 24 * 200, seed: int = 11) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    r = rng.normal(0.0002, 0.006, hours)
    close = 60_000.0 * np.exp(np.cumsum(r))
    opens = np.concatenate([[60_000.0], close[:-1]])
    high = np.maximum(opens, close) * 1.002
    low = np.minimum(opens, close) * 0.998
    idx = pd.date_range("2024-01-01", periods=hours, freq="1h", tz="UTC")
    bars = pd.DataFrame({"open": opens, "high": high, "low": low, "close": close}, index=idx)
    bars.attrs["symbol"] = "BTCUSDT"
    return bars


BARS = _bars()
MARK = float(BARS["close"].iloc[-1])
SPEC: dict[str, Any] = {
    "venue": "binance-usdm",
    "wallet_balance": 10_000.0,
    "positions": [{"symbol": "BTCUSDT", "qty": 0.2, "entry_price": MARK, "mark_price": MARK}],
}
KELLY_EST: dict[str, Any] = {"policy": {"type": "kelly", "mu_estimator": "ewma_mean", "lookback": 10}}
REGIME: dict[str, Any] = {
    "policy": {
        "type": "regime",
        "policies": {
            "calm": {"type": "fixed", "leverage": 3},
            "normal": {"type": "fixed", "leverage": 2},
            "stress": {"type": "fixed", "leverage": 1},
        },
    }
}


@pytest.mark.parametrize(
    ("policy", "at"),
    [
        ({"policy": {"type": "kelly", "fraction": 0.5}}, "policy"),
        ({"policy": {"type": "kelly", "mu_estimator": "given"}}, "policy"),
        (
            {"policy": {"type": "composite", "policies": [{"type": "gap_cap", "max_gap": 0.3}, {"type": "kelly"}]}},
            "policy.policies[1]",
        ),
        (
            {
                "policy": {
                    "type": "regime",
                    "policies": {"calm": {"type": "kelly"}, "stress": {"type": "fixed", "leverage": 1}},
                }
            },
            "policy.policies.calm",
        ),
    ],
)
def test_a_kelly_that_needs_a_given_mu_is_refused(policy: dict[str, Any], at: str) -> None:
    with pytest.raises(
        ConfigError, match=rf"{re.escape(at)}: kelly with mu_estimator 'given'.*mu_estimator: ewma_mean"
    ):
        size_account(SPEC, policy, vol=0.6)
    from levguard.config.policies import check_account_policy, parse_policy_config

    check_account_policy(parse_policy_config(KELLY_EST))  # an estimator is fine


def test_cli_size_refuses_a_given_mu_kelly_in_one_line(tmp_path: Path) -> None:
    import yaml

    acct = tmp_path / "acct.yaml"
    acct.write_text(yaml.safe_dump(SPEC))
    pol = tmp_path / "kelly.yaml"
    pol.write_text("policy: {type: kelly, fraction: 0.5}\n")
    out = CliRunner().invoke(app, ["size", str(acct), "--policy", str(pol), "--vol", "0.6"])
    assert out.exit_code == 2
    text = out.output.strip()
    assert "mu_estimator: ewma_mean" in text
    assert "Traceback" not in text


def _guardian_sizer(policy: dict[str, Any]) -> Any:
    # The guardian's sizer over its forecasts fitted on the same history, as levguard guard builds it.
    from levguard.cli.guard import _sizer
    from levguard.live.forecasts import LiquidationForecasts
    from levguard.risk.report import volatility_forecast

    forecasts = LiquidationForecasts(lambda symbol: BARS, volatility=volatility_forecast)
    now = int((BARS.index[-1] + pd.Timedelta("1h")).value)
    forecasts.forecaster("BTCUSDT", now, None)
    return _sizer(policy, None, forecasts)


@pytest.mark.parametrize("policy", [KELLY_EST, REGIME], ids=["kelly_ewma_mean", "regime"])
def test_guardian_sizer_agrees_with_levguard_size_history(policy: dict[str, Any]) -> None:
    cli = size_account(SPEC, policy, history=BARS)
    guardian = _guardian_sizer(policy)(SPEC)
    assert guardian["binding_constraint"] == cli.binding_constraint
    assert guardian["target_leverage"] == pytest.approx(cli.target_leverage, rel=1e-9)


def test_a_policy_without_its_returns_is_an_error_not_a_0x_target() -> None:
    from levguard.risk import liquidation_forecaster

    f = liquidation_forecaster(BARS)
    with pytest.raises(InputError, match="daily returns of a price history of BTCUSDT"):
        size_account(SPEC, KELLY_EST, forecaster={"BTCUSDT": f}, volatility={"BTCUSDT": 0.5})


def test_too_few_returns_for_the_lookback_is_an_error_not_a_0x_target() -> None:
    # A review: 10 or 40 daily returns under a 60-day lookback gave a 0x no_forecast target (a
    # guardian's 1,000-hour venue bars hold about 40 days), which the guardian would act on.
    pol = {"policy": {"type": "kelly", "mu_estimator": "ewma_mean", "fraction": 0.5, "lookback": 60}}
    rng = np.random.default_rng(1)
    for days in (10, 40):
        with pytest.raises(InputError, match=rf"from the {days} daily returns read of BTCUSDT"):
            size_account(SPEC, pol, vol=0.6, returns={"BTCUSDT": rng.normal(0.002, 0.03, days)})
    out = size_account(SPEC, pol, vol=0.6, returns={"BTCUSDT": rng.normal(0.002, 0.03, 200)})
    assert out.binding_constraint != "no_forecast"


DD: dict[str, Any] = {"policy": {"type": "drawdown", "max_drawdown": 0.2, "base_leverage": 3}}


def test_drawdown_policy_reads_the_given_peak_equity(tmp_path: Path) -> None:
    # 10,000 now against a 11,111.1 peak: a 10 % drawdown halves the 3x (0.2 max drawdown).
    at_peak = size_account(SPEC, DD, vol=0.6)
    assert at_peak.target_leverage == pytest.approx(3.0)
    assert any("equity peak, which was not given" in n for n in at_peak.notes)
    out = size_account(SPEC, DD, vol=0.6, peak_equity=10_000.0 / 0.9)
    assert out.target_leverage == pytest.approx(1.5)
    assert not any("equity peak" in n for n in out.notes)
    from_spec = size_account({**SPEC, "peak_equity": 10_000.0 / 0.9}, DD, vol=0.6)
    assert from_spec.target_leverage == pytest.approx(1.5)
    cppi = size_account(SPEC, {"policy": {"type": "cppi", "floor": 0.8, "multiplier": 3}}, vol=0.6, peak_equity=12_000)
    # floor 0.8 x 12,000 = 9,600; cushion 400; 3 x 400 / 10,000 = 0.12x
    assert cppi.target_leverage == pytest.approx(0.12)
    import yaml

    acct = tmp_path / "acct.yaml"
    acct.write_text(yaml.safe_dump(SPEC))
    pol = tmp_path / "dd.yaml"
    pol.write_text(yaml.safe_dump(DD))
    res = CliRunner().invoke(
        app, ["size", str(acct), "--policy", str(pol), "--vol", "0.6", "--peak-equity", "12500", "--json"]
    )
    assert res.exit_code == 0, res.output
    # 20 % drawdown: the maximum, 0x
    assert '"target_leverage": 0.0' in res.output
