"""A wallet that a trade, not a liquidation, leaves negative is settled as bad debt.

A 10x long at 100 (liquidation price 90.96) whose last price gaps to 80 while the mark opens at
95: the mark never reaches the liquidation price, so the engine does not liquidate, but a
stop-loss or a market close fills at 80, beyond the bankruptcy price.  The wallet is then
-10,090 (10,000 - 50 entry fee - 20,000 loss - 40 exit fee); the venue's insurance fund pays
that (docs/backtest.md, Semantics step 5), so the run ends at exactly 0 with 10,090 of bad
debt on a settlement row (quantity 0), not at -10,090 forever.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from levguard.backtest.engine import BacktestResult, run
from levguard.core.tiers import TierTable

ONE_TIER = TierTable.from_rows([{"notional_floor": 0, "notional_cap": None, "mmr": 0.01, "max_leverage": 100}])
N = 8
E0 = 10_000.0
SHORTFALL = 10_090.0  # -(10,000 - 0.0005 x 100,000 - 1,000 x 20 - 0.0005 x 80,000)


def _gap_frame() -> pd.DataFrame:
    idx = pd.date_range("2024-01-01", periods=N, freq="1h", tz="UTC")
    c = np.full(N, 100.0)
    df = pd.DataFrame({"open": c, "high": c * 1.001, "low": c * 0.999, "close": c, "volume": 1e6}, index=idx)
    df["mark_open"], df["mark_high"], df["mark_low"], df["mark_close"] = c, c * 1.001, c * 0.999, c
    # Bar 4: the last price gaps to 80 at the open, the mark opens at 95 (above the LP 90.96).
    df.loc[idx[4:], ["open", "high", "low", "close"]] = [80.0, 81.0, 79.0, 80.0]
    df.loc[idx[4], ["mark_open", "mark_high", "mark_low", "mark_close"]] = [95.0, 96.0, 94.0, 95.0]
    return df


def _replay(res: BacktestResult, df: pd.DataFrame) -> np.ndarray:
    """Equity at each close from the cash flows of the result's rows (one linear instrument)."""
    tr, lq = res.trades, res.liquidations
    flow = np.zeros(len(df))
    np.add.at(flow, df.index.get_indexer(pd.Index(tr["timestamp"])), (-tr["qty"] * tr["price"] - tr["fee"]).to_numpy())
    signed = np.where(lq["side"] == "long", lq["qty"], -lq["qty"])
    liq_flow = signed * lq["price"].to_numpy() - lq["fee"].to_numpy() + lq["bad_debt"].to_numpy()
    np.add.at(flow, df.index.get_indexer(pd.Index(lq["timestamp"])), liq_flow)
    cash = E0 + np.cumsum(flow) - res.funding.cumsum().to_numpy()
    equity: np.ndarray = cash + res.positions["qty"].to_numpy() * df["mark_close"].to_numpy()
    return equity


@pytest.mark.parametrize(
    ("label", "kwargs", "signal", "kind"),
    [
        ("stop-loss", {"stop_loss": 0.05}, np.ones(N), "stop_loss"),
        ("market close", {}, np.r_[np.ones(3), np.zeros(N - 3)], "rebalance"),
    ],
)
def test_close_beyond_bankruptcy_is_bad_debt(
    label: str, kwargs: dict[str, float], signal: np.ndarray, kind: str
) -> None:
    df = _gap_frame()
    res = run(df, signal, 10.0, symbol="BTCUSDT", tiers=ONE_TIER, rebalance="never", **kwargs)  # type: ignore[arg-type]
    assert res.positions["liquidation_price"].iloc[2] > 90.0  # the mark (95) never reaches it
    close = res.trades.iloc[-1]
    assert (close["kind"], close["price"], close["timestamp"]) == (kind, 80.0, df.index[4])
    # The wallet is settled at 0, exactly, and stays there; the shortfall is bad debt.
    assert (res.equity.iloc[4:] == 0.0).all()
    assert res.metrics["total_return"] == -1.0
    assert res.metrics["bad_debt"] == pytest.approx(SHORTFALL, rel=1e-12)
    assert res.ruined_at == df.index[4]
    # On a settlement row of that bar: no quantity, no fee, not counted as a liquidation.
    assert len(res.liquidations) == 1
    row = res.liquidations.iloc[0]
    assert (row["timestamp"], row["side"], row["qty"], row["fee"], row["kept"]) == (df.index[4], "flat", 0.0, 0.0, 0.0)
    assert row["price"] == 80.0
    assert row["margin"] == pytest.approx(-SHORTFALL, rel=1e-12)
    assert res.metrics["n_liquidations"] == 0
    # Money is conserved: equity_T - equity_0 = PnL - fees - funding + bad debt, bar by bar.
    np.testing.assert_allclose(res.equity.to_numpy(), _replay(res, df), rtol=0.0, atol=1e-9 * E0)
    pnl = -(res.trades["qty"] * res.trades["price"]).sum()
    rhs = pnl - res.fees.sum() - res.funding.sum() + res.liquidations["bad_debt"].sum()
    assert res.equity.iloc[-1] - E0 == pytest.approx(rhs, rel=1e-12)


def test_isolated_sleeve_settled_the_other_trades_on() -> None:
    # Two isolated sleeves: the gapped one is settled at 0, the other keeps its capital.
    df = _gap_frame()
    calm = df.copy()
    calm.loc[:, ["open", "high", "low", "close"]] = 100.0
    calm.loc[:, ["mark_open", "mark_high", "mark_low", "mark_close"]] = 100.0
    res = run(
        {"BTCUSDT": df, "ETHUSDT": calm},
        {"BTCUSDT": np.r_[np.ones(3), np.zeros(N - 3)], "ETHUSDT": np.zeros(N)},
        10.0,
        tiers=ONE_TIER,
        rebalance="never",
        margin_mode="isolated",
    )
    assert res.instruments["BTCUSDT"]["capital"].iloc[-1] == 0.0
    assert res.instruments["ETHUSDT"]["capital"].iloc[-1] == E0 / 2
    assert res.equity.iloc[-1] == E0 / 2
    assert res.metrics["bad_debt"] == pytest.approx(5_045.0, rel=1e-12)  # half the account, half the loss
    assert list(res.liquidations["side"]) == ["flat"]


def test_reports_name_a_settlement_and_mark_no_liquidation() -> None:
    """The liquidations table lists the settlement as such (no mark extreme: nothing was
    liquidated) and the charts put no liquidation marker on it."""
    from levguard.report.html import _liquidations
    from levguard.report.tables import liquidations_html

    df = _gap_frame()
    res = run(df, np.ones(N), 10.0, symbol="BTCUSDT", tiers=ONE_TIER, rebalance="never", stop_loss=0.05)
    table = liquidations_html({"10x": res}, df)
    assert "BTCUSDT bad-debt settlement" in table
    assert "flat" not in table
    assert "10,090.00" in table
    marked = _liquidations(res)
    assert marked is not None
    assert len(marked) == 0


@pytest.mark.parametrize("mode", ["cross", "isolated"])
def test_a_reversal_through_the_gap_closes_and_opens_nothing(mode: str) -> None:
    """A signal from long to short at the gapped open: the closing part alone leaves the wallet
    at -10,090, so the short is not opened (the venue checks its margin on what is left). It was
    opened on the capital of the decision, liquidated at the next mark, and the bad debt was
    25,054.8 for a position no venue would have let open (a review)."""
    df = _gap_frame()
    flip = np.r_[np.ones(3), -np.ones(N - 3)]
    res = run(df, flip, 10.0, symbol="BTCUSDT", tiers=ONE_TIER, rebalance="never", margin_mode=mode)  # type: ignore[arg-type]
    close = run(df, np.r_[np.ones(3), np.zeros(N - 3)], 10.0, symbol="BTCUSDT", tiers=ONE_TIER, rebalance="never",
                margin_mode=mode)  # type: ignore[arg-type]  # fmt: skip
    assert res.trades["qty"].tolist() == close.trades["qty"].tolist() == [1_000.0, -1_000.0]
    assert res.metrics["bad_debt"] == close.metrics["bad_debt"] == pytest.approx(SHORTFALL, rel=1e-12)
    assert res.metrics["n_liquidations"] == 0
    assert (res.equity.iloc[4:] == 0.0).all()
    assert (res.positions["qty"].iloc[4:] == 0.0).all()


def test_in_cross_margin_a_reversal_is_refused_only_where_the_wallet_is_settled() -> None:
    """Cross margin, an ETH long up 25,000 and a BTC long gapping through bankruptcy where its
    signal turns short: the closing part takes the shared wallet below 0 but ETH is still held,
    so nothing is settled and the account's equity carries the short: it opens at once (a
    review: checking the wallet alone refused it and opened it a bar later)."""
    idx = pd.date_range("2024-01-01", periods=N, freq="1h", tz="UTC")

    def frame(path: list[float]) -> pd.DataFrame:
        c = np.asarray(path, float)
        df = pd.DataFrame({"open": c, "high": c * 1.001, "low": c * 0.999, "close": c, "volume": 1e9}, index=idx)
        df["mark_open"], df["mark_high"], df["mark_low"], df["mark_close"] = c, c * 1.001, c * 0.999, c
        return df

    btc = frame([100, 100, 100, 100, 80, 80, 80, 80])
    btc.loc[idx[4], ["high", "low", "mark_open", "mark_high", "mark_low", "mark_close"]] = [81, 79, 95, 96, 94, 95]
    eth = frame([100, 100, 100, 150, 150, 150, 150, 150])
    signal = {"BTCUSDT": np.r_[np.ones(4), -np.ones(N - 4)], "ETHUSDT": np.ones(N)}
    res = run({"BTCUSDT": btc, "ETHUSDT": eth}, signal, 10.0, tiers=ONE_TIER, rebalance="never", margin_mode="cross")  # type: ignore[arg-type]
    btc_trades = res.trades[res.trades["symbol"] == "BTCUSDT"]
    assert btc_trades["timestamp"].tolist() == [idx[1], idx[5]]  # in, then the reversal after the gap
    assert btc_trades["qty"].iloc[1] < -1_000.0  # the close and the short in one order
    assert res.metrics["bad_debt"] == 0.0
