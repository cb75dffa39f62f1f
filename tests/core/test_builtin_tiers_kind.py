"""Built-in tiers are of the venue's own contracts: a position of the other kind brings its own.

Found by a review: ``contract_kind: inverse`` on Binance USDⓈ-M put 1,000,000 USD of BTCUSDT
contracts at 50,000 (a notional of 20 BTC) in the first USDT bracket (0.4 %, 125x) and accepted
100x, which the 1,000,000 USDT bracket caps at 75x; on Hyperliquid and dYdX, which list no inverse
contracts, coin amounts were valued with USDC rates.
"""

from __future__ import annotations

from typing import Any

import pytest
from typer.testing import CliRunner

import levguard
from levguard.cli.main import app
from levguard.core.instruments import ContractKind
from levguard.core.margin import builtin_tiers
from levguard.core.rules import get_venue


def _spec(venue: str, **position: Any) -> dict[str, Any]:
    p = {"symbol": "BTCUSDT", "qty": 1_000_000, "entry_price": 50_000, "mark_price": 50_000, "leverage": 100}
    return {"venue": venue, "wallet_balance": 0, "positions": [{**p, "margin_mode": "isolated", **position}]}


def test_linear_brackets_are_not_applied_to_an_inverse_position() -> None:
    with pytest.raises(
        levguard.InputError,
        match=r"^positions\[0\] BTCUSDT: the built-in tiers of binance-usdm are for its linear contract \(notional "
        r"in USDT\), not an inverse one; pass tiers, or mmr",
    ):
        levguard.evaluate_account(_spec("binance-usdm", contract_kind="inverse"))
    # The linear position of the same size is in the 1,000,000 USDT bracket, capped at 75x.
    with pytest.raises(levguard.InputError, match=r"exceeds the maximum 75 for notional 1,000,000\.00"):
        levguard.evaluate_account(_spec("binance-usdm", qty=20))
    # With its own rate the inverse position is evaluated, in BTC.
    row = levguard.evaluate_account(_spec("binance-usdm", contract_kind="inverse", mmr=0.004)).positions[0]
    assert (row.contract_kind, row.notional, row.mmr) == ("inverse", pytest.approx(20.0), 0.004)


def test_a_fixed_mmr_of_the_other_kind_takes_no_cap_from_the_built_in_brackets() -> None:
    # The cap was the USDT bracket of 20 (125x); a fixed 1 % rate caps at 1 / (2 x 1 %) = 50x.
    with pytest.raises(levguard.InputError, match=r"leverage 100\.0 exceeds the maximum 50 for notional 20\.00"):
        levguard.evaluate_account(_spec("binance-usdm", contract_kind="inverse", mmr=0.01))
    linear = levguard.evaluate_account(_spec("binance-usdm", qty=0.02, mmr=0.01)).positions[0]
    # The linear position keeps its bracket's cap (125x) up to 1 / mmr: at 125x its IM (0.8 %) was
    # below the 1 % MM, liquidatable at entry.
    assert linear.max_leverage == 100.0
    assert linear.initial_margin == pytest.approx(linear.maintenance_margin)


def test_builtin_tiers_by_kind() -> None:
    usdm = get_venue("binance-usdm")
    assert builtin_tiers(usdm, "BTCUSDT", ContractKind.LINEAR) is usdm.builtin_tiers["BTCUSDT"]
    assert builtin_tiers(usdm, "BTCUSDT", ContractKind.INVERSE) is None
    assert builtin_tiers(usdm, "BTCUSD_PERP", ContractKind.INVERSE) is None


@pytest.mark.parametrize(
    ("venue", "symbol", "extra"),
    [
        ("hyperliquid", "BTC", {}),
        ("hyperliquid", "BTC", {"mmr": 0.01}),
        ("dydx-v4", "BTC-USD", {}),
        ("dydx-v4", "BTC-USD", {"mmr": 0.03, "imr": 0.05}),
    ],
)
def test_a_venue_without_inverse_contracts_refuses_one(venue: str, symbol: str, extra: dict[str, Any]) -> None:
    spec = _spec(venue, symbol=symbol, contract_kind="inverse", qty=1_000, leverage=10, **extra)
    with pytest.raises(
        levguard.InputError,
        match=rf"^positions\[0\] {symbol}: contract_kind must be linear on {venue} \(.* USDC-margined perpetuals "
        r"only\), was 'inverse'$",
    ):
        levguard.evaluate_account(spec)


def test_the_cli_prints_one_line_and_exits_2(tmp_path: Any) -> None:
    import json

    path = tmp_path / "inverse.json"
    path.write_text(json.dumps(_spec("binance-usdm", contract_kind="inverse")))
    out = CliRunner().invoke(app, ["margin", str(path)])
    assert out.exit_code == 2
    lines = out.output.strip().splitlines()
    assert len(lines) == 1
    assert "the built-in tiers of binance-usdm are for its linear contract" in lines[0]
