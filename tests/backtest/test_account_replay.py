"""Replaying a held unified account through history (levguard.backtest.account, issue 18).

The shared-data test holds a Binance Portfolio Margin account of 1 BTC collateral and a 40 ETH
USDⓈ-M short through 2021-05-19 and checks the bar of liquidation against an independent pandas
computation of the haircut equity: BTC at its collateral rate 0.95 (Binance's PM collateral
example, "3 BTC*0.95 = 2.85 BTC"), the short's P&L at the ETHUSDT mark, funding received, the
maintenance margin of Binance's ETHUSDT bracket 2 (notional 50,000-600,000 USDT: rate 0.5 %,
maintenance amount 50 USDT) and uniMMR <= 1.05 (Binance FAQ on uniMMR).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from levguard.backtest.account import replay_account
from levguard.errors import InputError

SPEC: dict[str, Any] = {
    "venue": "binance-pm",
    "balances": {"BTC": 1.0},
    "prices": {"BTC": 1.0},
    "positions": [{"symbol": "ETHUSDT", "qty": -40, "entry_price": 2300, "mark_price": 2300}],
}


def _bars(closes: np.ndarray, start: str = "2024-01-01", spread: float = 0.01) -> pd.DataFrame:
    idx = pd.date_range(start, periods=len(closes), freq="1h", tz="UTC")
    opens = np.concatenate([[closes[0]], closes[:-1]])
    return pd.DataFrame(
        {
            "open": opens,
            "high": np.maximum(opens, closes) * (1 + spread),
            "low": np.minimum(opens, closes) * (1 - spread),
            "close": closes,
        },
        index=idx,
    )


def _independent(btc: pd.DataFrame, eth: pd.DataFrame, fund: pd.Series, corners: bool) -> pd.Timestamp | None:
    q, entry, rate = -40.0, 2300.0, 0.95
    received = (-q * eth["open"] * fund.reindex(eth.index).fillna(0.0)).cumsum()  # a short receives

    def liquidated(btc_px: pd.Series, eth_px: pd.Series) -> pd.Series:
        equity = 1.0 * btc_px * rate + q * (eth_px - entry) + received
        notional = -q * eth_px
        assert (notional.between(50_000, 600_000)).all()  # bracket 2 of ETHUSDT throughout
        mm = notional * 0.005 - 50.0
        return equity / mm <= 1.05

    hit = liquidated(btc["close"], eth["close"])
    if corners:
        for b in ("low", "high"):
            for e in ("low", "high"):
                hit |= liquidated(btc[b], eth[e])
    return hit.idxmax() if hit.any() else None


@pytest.mark.parametrize("intrabar", ["corners", "close"])
def test_btc_collateral_eth_short_liquidates_where_the_haircut_equity_says(shared_dir: Path, intrabar: str) -> None:
    from levguard.data.loaders import load_funding, load_ohlcv

    data = shared_dir / "data"
    btc = load_ohlcv(data / "ohlcv" / "BTCUSDT-SPOT_1h.csv")
    eth = load_ohlcv(data / "ohlcv" / "ETHUSDT-MARK_1h.csv", kind="mark")
    fund = load_funding(data / "funding" / "ETHUSDT_funding.csv")["funding_rate"]
    window = slice(pd.Timestamp("2021-04-20", tz="UTC"), pd.Timestamp("2021-05-19 23:00", tz="UTC"))
    run = replay_account(
        SPEC, {"BTC": btc, "ETH": eth}, funding={"ETH": fund}, start=window.start, end=window.stop, intrabar=intrabar
    )
    btc_w, eth_w = btc.loc[window], eth.loc[window]
    expected = _independent(btc_w, eth_w, fund.loc[window], corners=intrabar == "corners")
    assert expected is not None
    assert run.liquidated_at == expected
    assert run.frame.index[-1] == expected
    assert run.ratio_name == "uniMMR"
    assert run.trigger == pytest.approx(1.05)
    # Before the liquidating bar every evaluated scenario keeps uniMMR above 1.05.
    assert (run.frame["worst_ratio"].iloc[:-1] > 1.05).all()
    # The close's equity equals the independent one at the first bar.
    first = eth_w.index[0]
    eq0 = btc_w.at[first, "close"] * 0.95 + 40 * (2300 - eth_w.at[first, "close"])
    f0 = 40 * eth_w.at[first, "open"] * float(fund.get(first, 0.0))
    assert run.frame["equity"].iloc[0] == pytest.approx(eq0 + f0, rel=1e-12)


def test_corners_find_a_liquidation_inside_a_bar_that_the_close_misses() -> None:
    n = 48
    btc = _bars(np.full(n, 60_000.0), spread=0.0)
    eth_close = np.full(n, 2300.0)
    eth = _bars(eth_close, spread=0.0)
    eth.iloc[20, eth.columns.get_loc("high")] = 3800.0  # a wick up: the short's loss inside one bar
    spec = {**SPEC, "balances": {"BTC": 1.0}}
    close_run = replay_account(spec, {"BTC": btc, "ETH": eth}, intrabar="close")
    corner_run = replay_account(spec, {"BTC": btc, "ETH": eth})
    assert close_run.liquidated_at is None
    assert len(close_run.frame) == n
    assert corner_run.liquidated_at == eth.index[20]
    assert corner_run.liquidation_prices["ETH"] == 3800.0
    assert corner_run.equity_at_liquidation <= 1.05 * corner_run.frame["worst_mm"].iloc[-1]
    assert corner_run.to_dict()["liquidated_at"] == eth.index[20].isoformat()


@settings(max_examples=25, deadline=None)
@given(extra=st.floats(0.0, 3.0), seed=st.integers(0, 10_000))
def test_more_collateral_never_liquidates_earlier(extra: float, seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 200
    btc = _bars(60_000.0 * np.exp(np.cumsum(rng.normal(0, 0.02, n))))
    eth = _bars(2300.0 * np.exp(np.cumsum(rng.normal(0.002, 0.02, n))))
    spec = {**SPEC, "balances": {"BTC": 1.0}}
    more = {**SPEC, "balances": {"BTC": 1.0 + extra}}
    base = replay_account(spec, {"BTC": btc, "ETH": eth})
    richer = replay_account(more, {"BTC": btc, "ETH": eth})
    end = btc.index[-1] + pd.Timedelta("1h")
    assert (richer.liquidated_at or end) >= (base.liquidated_at or end)
    k = min(len(base.frame), len(richer.frame))
    assert (richer.frame["equity"].iloc[:k] >= base.frame["equity"].iloc[:k] - 1e-9).all()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"intrabar": "open"}, "intrabar must be 'corners' or 'close', was 'open'"),
        ({"prices": {"BTC": "x"}}, r"prices\['BTC'\] must be a DataFrame"),
        ({"prices": {}}, "prices must map each asset"),
        ({"start": "2030-01-01"}, "no bar common to every asset"),
        ({"funding": {"ETH": [0.0001]}}, r"funding\['ETH'\] must be a Series"),
    ],
)
def test_bad_input_names_the_value(kwargs: dict[str, Any], match: str) -> None:
    closes = np.full(10, 100.0)
    args: dict[str, Any] = {"prices": {"BTC": _bars(closes * 600), "ETH": _bars(closes * 23)}}
    args.update(kwargs)
    prices = args.pop("prices")
    with pytest.raises(InputError, match=match):
        replay_account(SPEC, prices, **args)


def test_disjoint_prices_say_each_assets_span() -> None:
    closes = np.full(10, 100.0)
    prices = {"BTC": _bars(closes * 600), "ETH": _bars(closes * 23, start="2024-03-01")}
    with pytest.raises(InputError) as err:
        replay_account(SPEC, prices)
    message = str(err.value)
    assert "None" not in message
    assert "no bar common to every asset's prices (bars: BTC 2024-01-01 00:00 to 2024-01-01 09:00; " in message
    assert "ETH 2024-03-01 00:00 to 2024-03-01 09:00)" in message


def test_missing_bars_for_a_position_name_the_asset() -> None:
    closes = np.full(10, 60_000.0)
    with pytest.raises(InputError, match=r"no bars for positions\[0\] \('ETHUSDT'\); give prices\['ETH'\]"):
        replay_account(SPEC, {"BTC": _bars(closes)})
    bad = _bars(closes)
    bad.iloc[3, 1] = -1.0
    with pytest.raises(InputError, match=r"prices\['BTC'\] high at .* must be a finite price > 0, was -1.0"):
        replay_account(SPEC, {"BTC": bad, "ETH": _bars(closes / 26)})


def test_a_gap_in_one_asset_is_said() -> None:
    """ETH missing 10 bars that BTC has: the replay runs on the common bars and so cannot see
    BTC's or ETH's moves inside the gap; it said nothing ("not liquidated"), and now says how many
    bars of which asset it skipped and where the gap starts (the CLI prints it)."""
    n = 48
    btc = _bars(np.full(n, 60_000.0), spread=0.0)
    eth = _bars(np.full(n, 2300.0), spread=0.0)
    eth.iloc[20, eth.columns.get_loc("high")] = 3800.0  # the wick that liquidates (test above)
    gapped = eth.drop(eth.index[15:25])
    spec = {**SPEC, "balances": {"BTC": 1.0}}
    run = replay_account(spec, {"BTC": btc, "ETH": gapped})
    assert run.liquidated_at is None  # the wick is inside the gap
    assert run.notes == (
        "10 of BTC's bars are not replayed: ETH has no bar there (first 2024-01-01T15:00:00+00:00); "
        "a move inside such a gap is not seen",
    )
    assert run.to_dict()["notes"] == list(run.notes)
    assert replay_account(spec, {"BTC": btc, "ETH": eth}).notes == ()
    # An asset the account does not hold would cut the others' bars too (a one-bar file left one
    # bar to replay, a CLI audit): it is refused by name.
    doge = _bars(np.full(n, 0.1), spread=0.0).drop(btc.index[30:32])
    with pytest.raises(InputError, match=r"prices for DOGE: the account holds nothing priced in it .*drop it"):
        replay_account(spec, {"BTC": btc, "ETH": eth, "DOGE": doge})


@pytest.mark.parametrize("freq", ["1h", "4h"])
def test_funding_prints_between_bar_opens_are_paid(freq: str) -> None:
    """Hourly prints on 4-hour bars, or 8-hour prints a millisecond after the hour (as APIs stamp
    them), were dropped unless a print fell exactly on a bar's open: 36.36 of 145.44 paid, or none
    (a helper's funding audit).  Each print is paid in the bar it falls in."""
    n = 48 if freq == "1h" else 12
    idx = pd.date_range("2024-05-01", periods=n, freq=freq, tz="UTC")
    flat = pd.DataFrame({"open": 3000.0, "high": 3003.0, "low": 2997.0, "close": 3000.0}, index=idx)
    btc = flat * 20
    hourly = pd.Series(-0.0001, index=pd.date_range("2024-05-01", periods=48, freq="1h", tz="UTC"))
    late = pd.Series(-0.0001, index=hourly.index[::8] + pd.Timedelta(milliseconds=1))
    spec = {**SPEC, "balances": {"BTC": 1.0}}
    per_print = 40 * 3000 * 0.0001  # the spec's 40 ETH short pays 12 a print at a negative rate
    for prints in (hourly, late):
        run = replay_account(spec, {"BTC": btc, "ETH": flat}, funding={"ETH": prints})
        assert run.frame["funding_paid"].iloc[-1] == pytest.approx(per_print * len(prints))


def test_funding_for_an_asset_no_position_is_on_is_refused() -> None:
    # funding={"SOL": ...} on an account holding no SOL paid 0 without a word, while prices for
    # an unheld asset are refused; a balance of the asset is not a position: it pays no funding.
    idx = pd.date_range("2024-05-01", periods=24, freq="1h", tz="UTC")
    flat = pd.DataFrame({"open": 3000.0, "high": 3003.0, "low": 2997.0, "close": 3000.0}, index=idx)
    rates = pd.Series(0.0001, index=idx[::8])
    spec = {**SPEC, "balances": {"BTC": 1.0}}
    with pytest.raises(
        InputError, match=r"funding for SOL: the account holds no position on it \(its positions: ETH\)"
    ):
        replay_account(spec, {"BTC": flat * 20, "ETH": flat}, funding={"SOL": rates})
    with pytest.raises(InputError, match=r"funding for BTC, SOL: .* on them .*drop them"):
        replay_account(spec, {"BTC": flat * 20, "ETH": flat}, funding={"sol": rates, "BTC": rates})
    paid = replay_account(spec, {"BTC": flat * 20, "ETH": flat}, funding={"eth": rates}).frame["funding_paid"]
    assert paid.iloc[-1] == pytest.approx(-40 * 3000 * 0.0001 * 3)  # the 40 ETH short receives


def test_an_asset_given_twice_is_refused() -> None:
    # `--prices BTC=a.csv --prices BTC=b.csv`: the second replaced the first without a word.
    from levguard.risk.joint import parse_asset_files

    assert parse_asset_files(["btc=a.csv", "ETH=b.csv"]) == {"BTC": "a.csv", "ETH": "b.csv"}
    with pytest.raises(InputError, match=r"BTC is given twice \(a.csv and c.csv\)"):
        parse_asset_files(["BTC=a.csv", "ETH=b.csv", "btc=c.csv"])


def test_a_price_the_spec_names_is_replayed_though_the_account_holds_none() -> None:
    # The spec's own `prices` need bars (the first bar's open replaces them); the refusal of
    # unheld assets refused those too, so such a spec could not be replayed at all (a review).
    n = 24
    spec = {
        "venue": "binance-pm",
        "balances": {"USDT": 20_000, "BTC": 0.5},
        "prices": {"BTC": 60_000, "ETH": 3_000},
        "positions": [{"symbol": "BTCUSDT", "qty": 1.5, "entry_price": 60_000, "mark_price": 60_000}],
    }
    run = replay_account(spec, {"BTC": _bars(np.full(n, 60_000.0)), "ETH": _bars(np.full(n, 3_000.0))})
    assert run.liquidated_at is None
    with pytest.raises(InputError, match=r"prices for DOGE: the account holds nothing priced in it"):
        replay_account(
            spec,
            {"BTC": _bars(np.full(n, 60_000.0)), "ETH": _bars(np.full(n, 3_000.0)), "DOGE": _bars(np.full(n, 0.1))},
        )


def test_bars_in_another_zone_are_replayed_in_utc() -> None:
    # Asia/Tokyo bars gave a frame and liquidated_at in Tokyo time; the replay is UTC as a run is.
    n = 48
    btc = _bars(np.full(n, 60_000.0), spread=0.0)
    eth = _bars(np.full(n, 2300.0), spread=0.0)
    eth.iloc[20, eth.columns.get_loc("high")] = 3800.0
    utc = replay_account(SPEC, {"BTC": btc, "ETH": eth})
    tokyo = replay_account(SPEC, {"BTC": btc.tz_convert("Asia/Tokyo"), "ETH": eth.tz_convert("Asia/Tokyo")})
    assert str(tokyo.frame.index.tz) == "UTC"
    assert str(tokyo.liquidated_at.tz) == "UTC"
    pd.testing.assert_frame_equal(tokyo.frame, utc.frame)
    assert tokyo.to_dict()["liquidated_at"] == utc.to_dict()["liquidated_at"] == eth.index[20].isoformat()
