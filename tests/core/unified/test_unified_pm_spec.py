"""Portfolio-margin specs (``deribit-pm``, ``okx-pm``): equity, rows, trigger, CLI and bad input."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import levguard
from levguard.cli.main import app
from levguard.core.options.black76 import black76_price
from levguard.core.portfolio_margin import DERIBIT_PME_BTC_2024_06_17, DeribitFuture, deribit_pme_margin
from levguard.core.portfolio_margin_okx import OkxRiskUnit, okx_risk_unit_margin
from levguard.core.rules.collateral import OKX_MCM
from levguard.core.unified_pm import is_portfolio_margin_spec
from levguard.errors import InputError

Spec = dict[str, Any]
runner = CliRunner()
UNIFIED_KEYS = {"account_ratio", "account_ratio_name", "account_status", "collateral"}


def deribit(**over: Any) -> Spec:
    spec: Spec = {
        "venue": "deribit-pm",
        "currency": "BTC",
        "balances": {"BTC": 1.0},
        "index_price": 60000.0,
        "as_of": "2024-06-17T08:00:00Z",
        "positions": [
            {"instrument_name": "BTC-PERPETUAL", "size": 30000, "average_price": 58000, "mark_price": 60000},
            {"instrument_name": "BTC-28JUN24", "size_currency": -0.2, "average_price": 61000, "mark_price": 60500},
        ],
    }
    spec.update(over)
    return spec


def okx(**over: Any) -> Spec:
    spec: Spec = {
        "venue": "okx-pm",
        "balances": {"USDT": 5000, "BTC": 0.1},
        "prices": {"BTC": 60000},
        "positions": [
            {"symbol": "BTC-USDT-SWAP", "qty": 20, "contract_size": 0.01, "entry_price": 59000, "mark_price": 60000},
            {"symbol": "ETH-USDT-SWAP", "qty": -1, "entry_price": 3000, "mark_price": 3100},
        ],
        "risk_units": [{"risk_unit": "BTC", "mr4_rate": 0.002, "mr7_rate": 0.0045}],
    }
    spec.update(over)
    return spec


# ============================================================================ Deribit
def test_deribit_equity_adds_the_futures_inverse_pnl() -> None:
    """E = balance + s_usd (1/avg - 1/mark) per future: 30,000 USD long from 58,000 to 60,000 and
    0.2 BTC (12,100 USD at 60,500) short from 61,000."""
    r = levguard.evaluate_account(deribit())
    perp = 30000 * (1 / 58000 - 1 / 60000)
    fut = -0.2 * 60500 * (1 / 61000 - 1 / 60500)
    assert [p.unrealized_pnl for p in r.positions] == pytest.approx([perp, fut], rel=1e-12)
    assert r.equity == pytest.approx(1.0 + perp + fut, rel=1e-15)
    assert r.wallet_balance == 1.0
    assert r.positions[0].qty == pytest.approx(0.5, rel=1e-15)  # 30,000 USD / 60,000
    assert [p.contract_kind for p in r.positions] == ["inverse", "inverse"]
    assert [c.to_dict() for c in r.collateral or ()] == [
        {"asset": "BTC", "amount": 1.0, "price": 60000.0, "haircut": 1.0, "value": 60000.0}
    ]


def test_deribit_position_rows_carry_the_standalone_requirement() -> None:
    """A row's IM/MM is the engine's answer for that instrument alone; with one position it is the
    account's (no charges); the account's is not the sum of the rows'."""
    one = deribit(positions=deribit()["positions"][:1])
    r = levguard.evaluate_account(one)
    assert r.positions[0].maintenance_margin == r.maintenance_margin
    alone = deribit_pme_margin([DeribitFuture("BTC-PERPETUAL", 0.5)], DERIBIT_PME_BTC_2024_06_17)
    assert r.maintenance_margin == pytest.approx(alone.maintenance_margin, rel=1e-15)
    both = levguard.evaluate_account(deribit())
    assert both.maintenance_margin < sum(p.maintenance_margin for p in both.positions)  # the short offsets


def test_deribit_option_adds_its_value_and_a_requirement() -> None:
    """An option's equity is qty x mark (coin; Black-76 in coin when no mark is given); the dated
    name gives its strike, type and expiry (08:00 UTC)."""
    opt = {"instrument_name": "BTC-28JUN24-70000-C", "size": -1, "vol": 0.6, "underlying_price": 60500}
    r = levguard.evaluate_account(deribit(positions=[opt]))
    t = 11 / 365  # 17 Jun 08:00 -> 28 Jun 08:00
    value = float(black76_price("call", 60500, 70000, t, 0.6, settlement="coin"))
    assert r.positions[0].mark_price == pytest.approx(value, rel=1e-12)
    assert r.equity == pytest.approx(1.0 - value, rel=1e-12)
    assert r.positions[0].contract_kind == "option"
    assert r.maintenance_margin > 0.0
    given = levguard.evaluate_account(deribit(positions=[{**opt, "mark_price": 0.002, "average_price": 0.003}]))
    assert given.equity == pytest.approx(1.0 - 0.002, rel=1e-15)
    assert given.positions[0].unrealized_pnl == pytest.approx(-1 * (0.002 - 0.003), rel=1e-12)


def test_deribit_closed_position_as_get_positions_prints_it() -> None:
    """A closed future (size 0, average_price 0) needs no margin and adds no PnL; an open one must
    carry a positive average price."""
    closed = {"instrument_name": "BTC-PERPETUAL", "size": 0, "average_price": 0, "mark_price": 60000}
    r = levguard.evaluate_account(deribit(positions=[closed]))
    assert (r.equity, r.maintenance_margin, r.positions[0].unrealized_pnl) == (1.0, 0.0, 0.0)
    with pytest.raises(InputError, match=r"positions\[0\].average_price must be > 0, was 0.0"):
        levguard.evaluate_account(deribit(positions=[{**closed, "size": 10}]))


def test_deribit_trigger_is_mm_at_or_above_the_margin_balance() -> None:
    """Liquidation while MM >= equity (usage >= 100 %); just above it the account is normal."""
    mm = levguard.evaluate_account(deribit(balances={"BTC": 0.0})).maintenance_margin
    upnl = levguard.evaluate_account(deribit(balances={"BTC": 0.0})).equity
    safe = levguard.evaluate_account(deribit(balances={"BTC": (mm - upnl) * (1 + 1e-6) + 1e-6 * mm}))
    gone = levguard.evaluate_account(deribit(balances={"BTC": mm - upnl - 1e-6 * mm}))
    assert (safe.liquidatable, safe.account_status) == (False, "normal")
    assert safe.account_ratio is not None
    assert safe.account_ratio < 1.0
    assert (gone.liquidatable, gone.account_status) == (True, "liquidation")
    assert gone.account_ratio is not None
    assert gone.account_ratio > 1.0
    assert all(p.liquidatable for p in gone.positions)


# ============================================================================ OKX
def test_okx_adjusted_equity_and_risk_units() -> None:
    """USDT carries the swaps' PnL at face; BTC at OKX's discount tiers; units per underlying with
    cash delta q x mark x P_USDT; MM = sum of units' MMR (no borrowing, no liquidation fee)."""
    r = levguard.evaluate_account(okx())
    upnl = 0.2 * (60000 - 59000) + -1 * (3100 - 3000)
    btc = OKX_MCM.get("BTC")
    assert btc is not None
    assert r.equity == pytest.approx(5000 + upnl + btc.value(0.1, 60000), rel=1e-15)
    assert [c.asset for c in r.collateral or ()] == ["USDT", "BTC"]
    assert r.wallet_balance == pytest.approx(5000 + 6000, rel=1e-15)
    btc_unit = okx_risk_unit_margin(OkxRiskUnit("BTC", 12000.0, mr4_rate=0.002, mr7_rate=0.0045))
    eth_unit = okx_risk_unit_margin(OkxRiskUnit("ETH", -3100.0))
    assert r.maintenance_margin == pytest.approx(btc_unit.mmr + eth_unit.mmr, rel=1e-14)
    assert r.initial_margin == pytest.approx(1.3 * r.maintenance_margin, rel=1e-14)
    assert [p.maintenance_margin for p in r.positions] == pytest.approx([btc_unit.mmr, eth_unit.mmr], rel=1e-14)
    assert r.account_ratio == pytest.approx(r.equity / r.maintenance_margin, rel=1e-15)


def test_okx_liquidation_fees_and_borrowing_enter_the_denominator() -> None:
    """margin ratio = adjusted equity / (MMR + MR8 + liquidation fees); IMR adds borrow_imr."""
    base = levguard.evaluate_account(okx())
    more = levguard.evaluate_account(okx(borrow_mmr=100, borrow_imr=150, liquidation_fees=7.5))
    assert more.maintenance_margin == pytest.approx(base.maintenance_margin + 107.5, rel=1e-14)
    assert more.initial_margin == pytest.approx(base.initial_margin + 150, rel=1e-14)


def test_okx_trigger_at_margin_ratio_100_percent() -> None:
    """With USDT at face (ratio 1) and no other asset, E = (balance + PnL) x P_USDT; the account is
    liquidated at E <= MM and normal just above."""
    base = okx(balances={"USDT": 0}, collateral_ratios={"USDT": 1})
    r0 = levguard.evaluate_account(base)
    mm, upnl = r0.maintenance_margin, r0.equity
    safe = levguard.evaluate_account({**base, "balances": {"USDT": mm * (1 + 1e-6) - upnl}})
    gone = levguard.evaluate_account({**base, "balances": {"USDT": mm * (1 - 1e-6) - upnl}})
    assert (safe.liquidatable, safe.account_status) == (False, "normal")
    assert safe.account_ratio is not None
    assert safe.account_ratio > 1.0
    assert (gone.liquidatable, gone.account_status) == (True, "liquidation")
    assert gone.account_ratio is not None
    assert gone.account_ratio < 1.0


# ============================================================================ contract, CLI
@pytest.mark.parametrize("make", [deribit, okx], ids=["deribit-pm", "okx-pm"])
def test_json_contract(make: Any) -> None:
    """The report is the unified shape: the four account keys, finite JSON, null liquidation prices."""
    out = levguard.evaluate_account(make()).to_dict()
    json.dumps(out, allow_nan=False)
    assert set(out) >= UNIFIED_KEYS
    assert all(p["liquidation_price"] is None and p["margin_mode"] == "portfolio" for p in out["positions"])  # type: ignore[attr-defined]


@pytest.mark.parametrize("make", [deribit, okx], ids=["deribit-pm", "okx-pm"])
def test_cli_json_round_trip(make: Any, tmp_path: Path) -> None:
    """``levguard margin SPEC --json`` prints exactly ``evaluate_account(spec).to_dict()``."""
    spec = make()
    path = tmp_path / "pm.json"
    path.write_text(json.dumps(spec))
    res = runner.invoke(app, ["margin", str(path), "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout) == json.loads(json.dumps(levguard.evaluate_account(spec).to_dict()))
    table = runner.invoke(app, ["margin", str(path)])
    assert table.exit_code == 0
    assert ("maintenance_margin_usage" if spec["venue"] == "deribit-pm" else "margin_ratio") in table.stdout


def test_cli_bad_spec_is_one_line_exit_2(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(deribit(index_price=-1)))
    res = runner.invoke(app, ["margin", str(path)])
    assert res.exit_code == 2
    assert res.stderr.count("\n") == 1
    assert "index_price must be > 0, was -1.0" in res.stderr


def test_single_wallet_paths_refuse_pm_venues_by_name(tmp_path: Path) -> None:
    """Every one-wallet path names evaluate_account instead of unknown fields; ``levguard risk``
    reads a portfolio-margin account through it (margin, ladder, reverse stress)."""
    from levguard.core.spec import account_from_spec
    from levguard.errors import InputError

    with pytest.raises(InputError, match=r"portfolio-margin account: levguard\.evaluate_account"):
        account_from_spec(deribit())
    path = tmp_path / "pm.json"
    path.write_text(json.dumps(deribit()))
    res = runner.invoke(app, ["risk", str(path), "--vol", "0.6"])
    assert res.exit_code == 0, res.stderr
    assert "deribit-pm" in res.stdout
    assert is_portfolio_margin_spec({"venue": " OKX-PM "})
    assert not is_portfolio_margin_spec({"venue": "okx-mcm"})


# ============================================================================ bad input
def _pos(**kw: Any) -> Spec:
    return deribit(positions=[{"instrument_name": "BTC-PERPETUAL", "average_price": 1, "mark_price": 1, **kw}])


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (deribit(currency=None), "currency is required on deribit-pm"),
        (deribit(balances={"BTC": 1, "ETH": 2}), r"balances may hold only BTC .*was \['ETH'\]"),
        (deribit(index_price="x"), "index_price must be a number, was 'x'"),
        (deribit(currency="SOL", balances={"SOL": 1}, positions=[]), "model_params is required for SOL"),
        (deribit(leverage=3), r"unknown field\(s\) \['leverage'\]"),
        (deribit(charges={"mmp_margin": -1}), "charges.mmp_margin must be >= 0, was -1.0"),
        (deribit(charges={"fee": 1}), r"charges has unknown field\(s\) \['fee'\]"),
        (deribit(as_of="2024-06-17"), "as_of must carry a UTC offset"),
        (_pos(size=1, size_currency=1), r"positions\[0\] needs size .* or size_currency .*exactly one"),
        (_pos(size_currency=float("nan")), r"positions\[0\].size_currency must be finite, was nan"),
        (_pos(size_currency=1, mark_price=0), r"positions\[0\].mark_price must be > 0, was 0.0"),
        (_pos(size_currency=1, vol=0.5), r"positions\[0\]: vol and underlying_price are option fields"),
        (_pos(size_currency=1, kind="option"), r"positions\[0\].kind must be future for BTC-PERPETUAL"),
        (
            deribit(positions=[{"instrument_name": "BTC_USDC-PERPETUAL", "size_currency": 1}]),
            r"positions\[0\].instrument_name must be an inverse BTC instrument .*was 'BTC_USDC-PERPETUAL'",
        ),
        (
            deribit(positions=[{"instrument_name": "BTC-28JUN24-70000-C", "size": 1}]),
            r"positions\[0\].vol is required for an option",
        ),
        (
            deribit(
                as_of=None,
                positions=[{"instrument_name": "BTC-28JUN24", "size_currency": 1, "mark_price": 1, "average_price": 1}],
            ),
            r"positions\[0\]: as_of is required to time BTC-28JUN24",
        ),
        (
            deribit(as_of="2024-07-01T00:00:00+00:00"),
            r"positions\[1\]: BTC-28JUN24 expired before as_of",
        ),
        (
            deribit(positions=deribit()["positions"][:1] * 2),
            r"positions\[1\].instrument_name must be unique, was 'BTC-PERPETUAL'",
        ),
        (okx(balances=None), "balances is required on okx-pm"),
        (okx(balances={"USDT": 1, "SOL": 3}), r"prices.SOL is required"),
        (okx(balances={"USDT": 1, "SOL": 3}, prices={"SOL": 150}), "no discount rate for SOL on okx-pm"),
        (okx(margin_mode="isolated"), "margin_mode must be cross on okx-pm"),
        (okx(risk_units=[{"risk_unit": "BTC", "delta_usd": 5}]), r"risk_units\[0\].delta_usd must be left out"),
        (okx(risk_units=[{"risk_unit": "SOL", "mr4": 1}]), r"risk_units\[0\].delta_usd is required"),
        (okx(risk_units=[{"risk_unit": "BTC", "mr7": -1}]), r"risk_units\[0\].mr7 must be >= 0, was -1.0"),
        (
            okx(risk_units=[{"risk_unit": "BTC", "mr4": 1, "mr4_rate": 0.1}]),
            r"risk_units\[0\]: give mr4 or mr4_rate, not both",
        ),
        (
            okx(risk_units=[{"risk_unit": "BTC", "spot_shocks": [0.1, 2]}]),
            r"risk_units\[0\].spot_shocks\[1\] must be in \(0, 1\], was 2.0",
        ),
        (okx(risk_units=[{"risk_unit": "BTC"}, {"risk_unit": "btc"}]), r"risk_units\[1\].risk_unit must be unique"),
        (okx(risk_units=[{"risk_unit": "BTC", "gamma": 1}]), r"risk_units\[0\] has unknown field\(s\) \['gamma'\]"),
        (okx(borrow_mmr=-3), "borrow_mmr must be >= 0, was -3.0"),
        (okx(borrow_mmr=3, borrow_imr=2), r"borrow_imr must be >= borrow_mmr"),
        (
            okx(
                positions=[
                    {"symbol": "BTCUSD", "qty": 1, "entry_price": 1, "mark_price": 1, "contract_kind": "inverse"}
                ]
            ),
            r"positions\[0\] \(BTCUSD\) must be a linear USDT swap on okx-pm",
        ),
        (okx(loan_mmr=0.1), r"unknown field\(s\) \['loan_mmr'\]"),
    ],
)
def test_bad_spec_names_field_and_value(spec: Spec, message: str) -> None:
    with pytest.raises(InputError, match=message):
        levguard.evaluate_account(spec)


def test_nan_never_reaches_the_report() -> None:
    """Zero positions: zero requirement, ratio 0 (Deribit) or None (OKX), nothing liquidatable."""
    d = levguard.evaluate_account(deribit(positions=[]))
    o = levguard.evaluate_account(okx(positions=[], risk_units=[]))
    assert (d.maintenance_margin, d.initial_margin, d.account_ratio, d.liquidatable) == (0.0, 0.0, 0.0, False)
    assert (o.maintenance_margin, o.account_ratio, o.liquidatable) == (0.0, None, False)
    assert not math.isnan(o.equity)
