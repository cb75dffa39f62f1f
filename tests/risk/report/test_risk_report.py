"""The account risk report and `levguard risk`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from levguard.cli.main import app
from levguard.core.options.black76 import black76
from levguard.core.risk.stress import Scenario
from levguard.data.synth import SynthConfig, synth_market
from levguard.errors import InputError
from levguard.risk.report import parse_options, risk_report

runner = CliRunner()

BOOK: dict[str, Any] = {
    "name": "binance",
    "venue": "binance-usdm",
    "wallet_balance": 20_000,
    "as_of": "2024-06-01T00:00:00Z",
    "positions": [
        {"symbol": "BTCUSDT", "qty": 2, "entry_price": 60_000, "mark_price": 61_000, "leverage": 10},
        {
            "symbol": "ETHUSDT",
            "qty": -30,
            "entry_price": 3_000,
            "mark_price": 3_050,
            "leverage": 10,
            "margin_mode": "isolated",
        },
    ],
    "options": [{"symbol": "BTC-28JUN24-55000-P", "qty": 3, "vol": 0.55, "settlement": "usd"}],
}


def test_report_sections_with_a_given_vol() -> None:
    rep = risk_report(BOOK, vol=0.6, n_sims=4_000).to_dict()
    (acc,) = rep["accounts"]
    assert {v["method"] for v in acc["var"]} == {"monte_carlo", "normal"}
    for v in acc["var"]:
        assert v["es"] >= v["var"] > 0
    probs = acc["prob_liquidation"]
    assert [p["symbol"] for p in probs] == ["BTCUSDT", "ETHUSDT"]
    for p in probs:
        assert 0 <= p["p_liq_1d"] <= p["p_liq_7d"] <= p["p_liq_30d"] <= 1
    assert rep["exposure"][0]["share"] == pytest.approx(1.0)
    names = [s["scenario"] for s in rep["stress"]]
    assert "black-thursday" in names
    assert "price -30%, vol +30%" in names
    crash = next(s for s in rep["stress"] if s["scenario"] == "black-thursday")["accounts"][0]
    assert [p["symbol"] for p in crash["positions"]] == ["BTCUSDT", "ETHUSDT"]
    assert crash["positions"][0]["liquidated"] is True
    assert crash["positions"][1]["pnl"] > 0  # the isolated short gains
    # Binance keeps its options in the Options account, apart from the futures (VenueModel
    # .options_share_margin): the long put's gain does not pay the cross long's loss beyond the
    # wallet, which is bad debt, and the account keeps the put's gain (the ETH short's too).
    raw = sum(p["pnl"] for p in crash["positions"]) + crash["option_pnl"]
    assert crash["bad_debt"] == pytest.approx(39_657, abs=1.0)
    assert crash["option_pnl"] == pytest.approx(74_035, abs=1.0)
    assert crash["pnl"] - crash["bad_debt"] == pytest.approx(raw, rel=1e-12)
    assert crash["equity_before"] + crash["pnl"] == pytest.approx(crash["equity_after"], rel=1e-12)
    assert crash["shortfall_before"] == 0.0
    # Without the put, position P&L is before the bankruptcy floor: the wiped-out cross long shows
    # its full loss, the account only loses what it holds (the rest is the venue's bad debt).
    bare = risk_report({**BOOK, "options": []}, vol=0.6, n_sims=500).to_dict()
    crash = next(s for s in bare["stress"] if s["scenario"] == "black-thursday")["accounts"][0]
    raw = sum(p["pnl"] for p in crash["positions"])
    assert crash["bad_debt"] > 0
    assert crash["pnl"] > raw
    assert crash["pnl"] - crash["bad_debt"] == pytest.approx(raw, rel=1e-12)  # the fund takes the rest
    json.dumps(rep, default=str)


def test_coin_settled_option_values_are_converted_to_the_account_currency() -> None:
    """A coin-settled BTC put (priced in BTC) held next to a USDT account is valued at price x forward
    (on ``generic``: Binance's options settle in USDT, test_option_settlement_follows_the_venue)."""
    positions = [{**p, "mmr": 0.005} for p in BOOK["positions"]]
    book = {
        **BOOK,
        "venue": "generic",
        "positions": positions,
        "options": [{**BOOK["options"][0], "settlement": "coin"}],
    }
    rep = risk_report(book, vol=0.6, n_sims=2_000).to_dict()
    (g,) = rep["accounts"][0]["greeks"]
    t = (np.datetime64("2024-06-28T08:00") - np.datetime64("2024-06-01T00:00")) / np.timedelta64(1, "h") / 8760
    coin = float(black76("put", 61_000, 55_000, t, 0.55, 0.0, "coin").price)
    assert g["value"] == pytest.approx(3 * coin)
    assert g["value_in_account"] == pytest.approx(3 * coin * 61_000)
    stress = {s["scenario"]: s["accounts"][0] for s in rep["stress"]}
    # Puts gain when the price falls and vol rises; the vol shock adds value on top.
    assert stress["price -30%, vol +30%"]["option_pnl"] > stress["price -30%"]["option_pnl"] > 0


def test_option_settlement_follows_the_venue() -> None:
    """Binance's options settle in USDT (Bybit's and Gate's in USDC/USDT): an option without
    ``settlement`` is usd-settled there and a coin-settled one is refused naming the venue; Deribit's
    default stays coin (VenueModel.option_settlements)."""
    t = (np.datetime64("2024-06-28T08:00") - np.datetime64("2024-06-01T00:00")) / np.timedelta64(1, "h") / 8760
    bare = {k: v for k, v in BOOK["options"][0].items() if k != "settlement"}
    (g,) = risk_report({**BOOK, "options": [bare]}, vol=0.6, n_sims=500).to_dict()["accounts"][0]["greeks"]
    assert g["settlement"] == "usd"
    assert g["price"] == pytest.approx(float(black76("put", 61_000, 55_000, t, 0.55, 0.0, "usd").price))
    for venue in ("binance-usdm", "binance-coinm", "bybit-linear", "gate"):
        spec = {**BOOK, "venue": venue, "options": [{**bare, "settlement": "coin"}]}
        if venue == "binance-coinm":
            spec = {
                **spec,
                "wallet_balance": 1.0,
                "positions": [
                    {"symbol": "BTCUSD_PERP", "qty": 100, "entry_price": 60_000, "mark_price": 61_000, "leverage": 10}
                ],
            }
        with pytest.raises(InputError, match=rf"options\[0\]\.settlement 'coin': {venue}'s options settle in usd only"):
            risk_report(spec, vol=0.6, n_sims=200)
    deribit = {
        "venue": "deribit",
        "wallet_balance": 30_000,
        "as_of": "2024-06-01T00:00:00Z",
        "positions": [
            {"symbol": "BTC_USDC-PERPETUAL", "qty": 0.5, "entry_price": 60_500, "mark_price": 61_000, "leverage": 5}
        ],
        "options": [bare],
    }
    (g,) = risk_report(deribit, vol=0.6, n_sims=200).to_dict()["accounts"][0]["greeks"]
    assert g["settlement"] == "coin"


def test_history_gives_realized_and_garch_vol_and_historical_var(tmp_path: Path) -> None:
    # Two years ending at the book's as_of (2024-06-01): a history that ended long before the
    # book's date is refused (test_a_history_that_ends_long_before_as_of_is_refused).
    market = synth_market(SynthConfig(years=2.0, seed=3, start="2022-06-02"))
    single = {k: v for k, v in BOOK.items() if k != "options"}
    single["positions"] = BOOK["positions"][:1]
    rep = risk_report(single, history=market.ohlcv, n_sims=2_000).to_dict()
    vol = rep["volatility"]
    assert set(vol["annualised"]) >= {"close_to_close", "parkinson", "garman_klass", "yang_zhang", "ewma"}
    assert 0.1 < vol["used"] < 3.0
    methods = {v["method"]: v for v in rep["accounts"][0]["var"]}
    assert methods["historical"]["var"] > 0
    assert methods["fhs"]["var"] > 0
    # A BTC history and a BTC, ETH book: ETH reads the given vol, and historical VaR needs its history.
    two = risk_report(BOOK, history=market.ohlcv, vol=0.6, n_sims=2_000).to_dict()
    errors = {v["method"]: v.get("error", "") for v in two["accounts"][0]["var"]}
    assert "no price history of ETH; use Monte Carlo here" in errors["historical"]
    # The CLI prints the reason whole under the table (it was cut to 60 characters in the ES cell).
    book, hist = tmp_path / "book.yaml", tmp_path / "BTCUSDT_1h.csv"  # a pair's name: a BTC history
    book.write_text(yaml.safe_dump({k: v for k, v in BOOK.items() if k != "options"}))
    market.ohlcv.iloc[-2_000:].to_csv(hist)
    res = runner.invoke(app, ["risk", str(book), "--history", str(hist), "--vol", "0.6", "--sims", "2000"])
    assert res.exit_code == 0, res.output
    assert f"historical: {errors['historical']}" in " ".join(res.stdout.split())


def test_a_history_that_ends_long_before_as_of_is_refused(tmp_path: Path) -> None:
    # An API audit: this book (as_of 2024-06-01) was reported on a history that ended on
    # 2022-12-31, its volatility and probabilities of liquidation those of 517 days before.
    market = synth_market(SynthConfig(years=2.0, seed=3))
    single = {**{k: v for k, v in BOOK.items() if k != "options"}, "positions": BOOK["positions"][:1]}
    with pytest.raises(InputError, match=r"as_of 2024-06-01T00:00:00\+00:00 is 517 days, 0:00:00 after the last bar"):
        risk_report(single, history=market.ohlcv, n_sims=1_000)
    book, hist = tmp_path / "book.yaml", tmp_path / "btc.csv"
    book.write_text(yaml.safe_dump(single))
    market.ohlcv.iloc[-2_000:].to_csv(hist)
    res = runner.invoke(app, ["risk", str(book), "--history", str(hist), "--sims", "1000"])
    assert res.exit_code == 2, res.output
    assert res.output.count("\n") == 1, res.output
    assert "517 days, 0:00:00 after the last bar" in res.output, res.output


def test_multi_venue_portfolio_reports_exposure_and_defaults() -> None:
    other = {
        "name": "hl",
        "venue": "hyperliquid",
        "wallet_balance": 10_000,
        "positions": [{"symbol": "BTC", "qty": 1, "entry_price": 60_000, "mark_price": 60_000, "leverage": 5}],
    }
    first = {k: v for k, v in BOOK.items() if k != "options"}
    rep = risk_report({"accounts": [first, other]}, vol=0.6, n_sims=2_000).to_dict()
    shares = [e["share"] for e in rep["exposure"]]
    assert sum(shares) == pytest.approx(1.0)
    default = next(s for s in rep["stress"] if s["scenario"] == "hl default")
    hl = next(a for a in default["accounts"] if a["name"] == "hl")
    assert hl["defaulted"]
    assert hl["pnl"] == pytest.approx(-10_000)


@pytest.mark.parametrize("qty", [3, -3])
def test_a_venue_default_loses_the_options_held_there_too(qty: int) -> None:
    """Everything held on a defaulted venue is lost: before + P&L = after = 0 with the options'
    value in the equity before.  On Binance the options are a wallet of their own: a short put's
    liability there, with no cash in that wallet (``options_wallet_balance: 0``), is a shortfall already before the
    default (``shortfall_before``), not a smaller loss of the futures' equity."""
    other = {"name": "hl", "venue": "hyperliquid", "wallet_balance": 10_000, "positions": []}
    first = BOOK | {"options": [BOOK["options"][0] | {"qty": qty}], "options_wallet_balance": 0}
    rep = risk_report({"accounts": [first, other]}, vol=0.6, n_sims=500).to_dict()
    before = next(e for e in rep["exposure"] if e["name"] == BOOK["name"])["equity"]
    default = next(s for s in rep["stress"] if s["scenario"] == f"{BOOK['name']} default")
    row = next(a for a in default["accounts"] if a["name"] == BOOK["name"])
    assert row["defaulted"]
    assert row["equity_after"] == 0.0
    assert row["bad_debt"] == 0.0
    value = next(a for a in rep["accounts"] if a["name"] == BOOK["name"])["option_value"]
    assert (value > 0) == (qty > 0)
    assert row["equity_before"] == pytest.approx(before - min(value, 0.0), rel=1e-12)
    assert row["shortfall_before"] == pytest.approx(max(-value, 0.0), rel=1e-12)
    assert row["pnl"] == pytest.approx(-row["equity_before"], rel=1e-12)


def test_a_venue_default_of_an_account_below_zero_is_the_venues_loss() -> None:
    # 3 short calls deep in the money behind 2,000: equity (options included) -18,808 before.
    book = {"name": "binance", "venue": "binance-usdm", "wallet_balance": 2_000, "as_of": "2024-06-01T00:00:00Z",
            "positions": [{"symbol": "BTCUSDT", "qty": 1, "entry_price": 60_000, "mark_price": 61_000, "leverage": 10}],
            "options": [{"symbol": "BTC-28JUN24-55000-C", "qty": -3, "vol": 0.55, "settlement": "usd"}],
            "options_wallet_balance": 0}  # fmt: skip
    other = {"name": "hl", "venue": "hyperliquid", "wallet_balance": 10_000, "positions": []}
    rep = risk_report({"accounts": [book, other]}, vol=0.6, n_sims=500).to_dict()
    before = next(e for e in rep["exposure"] if e["name"] == "binance")["equity"]
    assert before < -18_000
    default = next(s for s in rep["stress"] if s["scenario"] == "binance default")
    row = next(a for a in default["accounts"] if a["name"] == "binance")
    # The short calls sit in Binance's Options account: that wallet is below zero before, the
    # futures keep their 3,000 (wallet plus the long's 1,000), which is all the default takes; the
    # options' hole is the venue's loss already (before the fix: P&L +18,808 and bad debt 18,808).
    value = next(a for a in rep["accounts"] if a["name"] == "binance")["option_value"]
    assert row["equity_before"] == pytest.approx(3_000.0, rel=1e-12)
    assert row["pnl"] == pytest.approx(-3_000.0, rel=1e-12)
    assert row["shortfall_before"] == pytest.approx(-value, rel=1e-12)
    assert before == pytest.approx(3_000.0 + value, rel=1e-12)
    assert row["bad_debt"] == 0.0


def test_option_spec_errors() -> None:
    with pytest.raises(InputError, match=r"options\[0\]\.vol is required"):
        parse_options({"options": [{"symbol": "BTC-28JUN24-55000-P", "qty": 1}]}, {"BTC": 60_000})
    with pytest.raises(InputError, match=r"options\[0\] has expired"):
        parse_options(
            {"as_of": "2024-07-01T00:00:00Z", "options": [{"symbol": "BTC-28JUN24-55000-P", "qty": 1, "vol": 0.5}]},
            {"BTC": 60_000},
        )
    with pytest.raises(InputError, match=r"options\[0\]: no price for ETH"):
        parse_options(
            {"as_of": "2024-06-01T00:00:00Z", "options": [{"symbol": "ETH-28JUN24-3000-C", "qty": 1, "vol": 0.5}]},
            {"BTC": 60_000},
        )
    with pytest.raises(InputError, match="give a price history"):
        risk_report(BOOK)


ETH_PUT = {"symbol": "ETH-X", "underlying": "ETH", "kind": "put", "strike": 3000, "t_years": 0.1, "qty": 3, "vol": 0.55}


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"t_years": "abc"}, r"options\[0\]\.t_years must be a number, was 'abc'"),
        ({"underlying_price": "abc"}, r"options\[0\]\.underlying_price must be a number, was 'abc'"),
        ({"strike": 1e308}, r"options\[0\]\.strike must be 0 or between 1e-30 and 1e30 in magnitude"),
        ({"qty": 1e308}, r"^options\[0\]\.qty must be 0 or between 1e-30 and 1e30 in magnitude"),
        ({"qty": 10**400}, r"^options\[0\]\.qty must be 0 or between 1e-30 and 1e30 in magnitude"),
        ({"t_years": None, "expiry": "9999-01-01T00:00:00Z"}, r"options\[0\]\.expiry must lie between 1677-09-22"),
    ],
)
def test_option_fields_a_bad_input_campaign_found(change: dict[str, Any], needle: str) -> None:
    # Found 2026-12-05: each was a traceback (ValueError, OverflowError: fsum) or, for a qty of
    # 1e308, a report of NaN shares and inf VaR, from `levguard risk`.
    option = {**ETH_PUT, "underlying_price": 3_050, **change}
    with pytest.raises(InputError, match=needle):
        risk_report({**BOOK, "options": [{k: v for k, v in option.items() if v is not None}]}, vol=0.6, n_sims=500)
    with pytest.raises(InputError, match=r"as_of must lie between 1677-09-22 and 2262-04-11 UTC"):
        parse_options({**BOOK, "as_of": "9999-01-01T00:00:00Z"}, {"BTC": 60_000})


@pytest.mark.parametrize(
    ("symbol", "needle"),
    [
        ("BTC-31FEB24-55000-P", r"options\[0\]\.symbol has no such expiry date, was 'BTC-31FEB24-55000-P'"),
        ("BTC-28XYZ24-55000-P", r"options\[0\]\.symbol has no month 'XYZ', was 'BTC-28XYZ24-55000-P'"),
    ],
)
def test_a_deribit_symbol_without_a_calendar_date_is_refused(tmp_path: Path, symbol: str, needle: str) -> None:
    # Found 2026-12: a ValueError (day is out of range for month) or KeyError('XYZ') traceback,
    # exit 1, from `levguard risk book.json --vol 0.6`.
    book = {**BOOK, "options": [{"symbol": symbol, "qty": 3, "vol": 0.55}]}
    with pytest.raises(InputError, match=needle):
        parse_options(book, {"BTC": 60_000})
    f = tmp_path / "book.json"
    f.write_text(json.dumps(book))
    res = runner.invoke(app, ["risk", str(f), "--vol", "0.6"])
    assert res.exit_code == 2, res.output
    assert res.stderr.startswith("levguard: error: options[0].symbol has no ")
    assert res.stderr.count("\n") == 1


def test_an_underlying_in_small_letters_takes_its_given_price() -> None:
    # Found 2026-12-05: `underlying: eth` with an underlying_price raised KeyError('ETH').
    # (3,050: the ETHUSDT mark; another underlying_price is refused, test_underlying_price_conflict.py)
    lower = {**ETH_PUT, "underlying": "eth", "underlying_price": 3_050}
    upper = {**ETH_PUT, "underlying_price": 3_050}
    a = risk_report({**BOOK, "options": [lower]}, vol=0.6, n_sims=500).to_dict()
    b = risk_report({**BOOK, "options": [upper]}, vol=0.6, n_sims=500).to_dict()
    assert a["accounts"][0]["greeks"] == b["accounts"][0]["greeks"]


def test_cli_risk(tmp_path: Path) -> None:
    f = tmp_path / "book.yaml"
    f.write_text(yaml.safe_dump(BOOK))
    res = runner.invoke(app, ["risk", str(f), "--vol", "0.6", "--sims", "2000"])
    assert res.exit_code == 0, res.output
    for needle in ("VaR / ES", "probability of liquidation", "option Greeks", "Stress scenarios", "black-thursday"):
        assert needle in res.stdout
    js = runner.invoke(app, ["risk", str(f), "--vol", "0.6", "--sims", "2000", "--json"])
    assert json.loads(js.stdout)["accounts"][0]["name"] == "binance"
    bad = runner.invoke(app, ["risk", str(f)])
    assert bad.exit_code == 2
    assert bad.stderr.strip() == "levguard: error: give a price history (--history) or a volatility (--vol)"
    neg = runner.invoke(app, ["risk", str(f), "--vol", "-1"])
    assert neg.exit_code == 2
    assert "vol must be an annualised volatility from 1e-06 to 20" in neg.stderr


SURFACE = {
    "BTC": {
        "slices": [
            {
                "expiry": "2024-06-28T08:00:00Z",
                "forward": 61_000,
                "a": 0.010,
                "b": 0.10,
                "rho": -0.30,
                "m": 0.0,
                "sigma": 0.20,
            },
            {
                "expiry": "2024-09-27T08:00:00Z",
                "forward": 61_500,
                "a": 0.040,
                "b": 0.12,
                "rho": -0.25,
                "m": 0.0,
                "sigma": 0.25,
            },
        ]
    }
}


def _surface_book() -> dict[str, Any]:
    book = {k: v for k, v in BOOK.items() if k != "options"}
    book["positions"] = BOOK["positions"][:1]
    book["vol_surfaces"] = SURFACE
    book["options"] = [{"symbol": "BTC-28JUN24-55000-P", "qty": 3, "settlement": "usd"}]
    return book


def test_options_take_their_vol_from_the_surface_and_stress_uses_its_shape() -> None:
    """An option without ``vol`` reads it off the SVI surface; stress vol shocks are term-shaped
    (sqrt(30/DTE)) rather than flat, and VaR revaluation reprices on the smile."""
    from levguard.core.options.surface import SVISlice, VolSurface
    from levguard.core.options.svi import SVIParams

    book = _surface_book()
    rep = risk_report(book, vol=0.6, n_sims=2_000).to_dict()
    acc = rep["accounts"][0]
    assert acc["vol_surfaces"]["BTC"] == {"expiries": 2, "arbitrage_free": True}
    t = (np.datetime64("2024-06-28T08:00") - np.datetime64("2024-06-01T00:00")) / np.timedelta64(1, "h") / 8760
    surface = VolSurface([SVISlice(t, 61_000, SVIParams(0.010, 0.10, -0.30, 0.0, 0.20))])
    vol = float(surface.vol(55_000, t, 61_000))
    (g,) = acc["greeks"]
    assert g["price"] == pytest.approx(float(black76("put", 61_000, 55_000, t, vol, 0.0, "usd").price))
    stress = {s["scenario"]: s["accounts"][0] for s in rep["stress"]}
    shocked = float(surface.shocked("term", 0.3).vol(55_000, t, 61_000 * 0.7))
    flat = float(surface.vol(55_000, t, 61_000 * 0.7)) + 0.3
    assert shocked > flat  # 27 days to expiry: the term shock is larger than the flat 30 points
    expect = 3 * float(black76("put", 61_000 * 0.7, 55_000, t, shocked, 0.0, "usd").price) - g["value_in_account"]
    assert stress["price -30%, vol +30%"]["option_pnl"] == pytest.approx(expect, rel=1e-9)


def test_revalue_reprices_on_the_smile_at_the_scenario_forward() -> None:
    from levguard.core.options.surface import SVISlice, VolSurface
    from levguard.core.options.svi import SVIParams
    from levguard.core.risk.portfolio import OptionPosition, revalue
    from levguard.core.spec import account_from_spec

    surface = VolSurface([SVISlice(0.25, 60_000, SVIParams(0.02, 0.15, -0.4, 0.0, 0.2))])
    opt = OptionPosition("BTC-P", "put", 50_000, 0.25, 1.0, "usd", vol=0.5, underlying="BTC", surface=surface)
    acc = account_from_spec({"venue": "generic", "wallet_balance": 1_000, "positions": []})
    ratios = np.array([0.8, 1.0, 1.2])
    pnl = revalue(acc, {"BTC": ratios}, horizon_days=1, options=[opt], prices={"BTC": 60_000}).pnl
    t1 = 0.25 - 1 / 365
    v0 = float(black76("put", 60_000, 50_000, 0.25, float(surface.vol(50_000, 0.25, 60_000))).price)
    for r, got in zip(ratios, pnl, strict=True):
        f1 = 60_000 * r
        v1 = float(black76("put", f1, 50_000, t1, float(surface.vol(50_000, t1, f1))).price)
        assert got == pytest.approx(v1 - v0, rel=1e-9, abs=1e-9)


def test_quotes_are_fitted_into_a_surface_and_bad_surfaces_are_refused() -> None:
    strikes = [45_000, 50_000, 55_000, 60_000, 65_000, 70_000, 80_000]
    vols = [0.78, 0.70, 0.63, 0.58, 0.56, 0.56, 0.59]
    book = _surface_book()
    book["vol_surfaces"] = {
        "BTC": {"quotes": [{"expiry": "2024-06-28T08:00:00Z", "forward": 61_000, "strikes": strikes, "vols": vols}]}
    }
    rep = risk_report(book, vol=0.6, n_sims=1_000).to_dict()
    (g,) = rep["accounts"][0]["greeks"]
    assert 0.60 < g["vol"] < 0.66  # the fitted smile at 55k sits by the 0.63 quote
    bad = _surface_book()
    bad["vol_surfaces"] = {"BTC": {"slices": [{"forward": 61_000, "a": 0.01}]}}
    with pytest.raises(InputError, match=r"vol_surfaces\['BTC'\]"):
        risk_report(bad, vol=0.6)


@pytest.mark.parametrize(
    ("option", "value", "needle"),
    [
        ("--level", "1.5", "level must be a confidence"),
        ("--level", "0.5", "level must be a confidence in (0.5, 1)"),  # was a table of dashes, exit 0
        ("--sims", "0", "n_sims must be an integer >= 100"),
        ("--sims", str(10**23), "n_sims must be an integer >= 100 (at most 100,000,000)"),  # was a numpy ValueError
        ("--seed", "-1", "seed must be a whole number from 0 to 2**63 - 1, was -1"),  # was a numpy ValueError
        ("--horizon", "0", "horizon_days must be an integer"),
    ],
)
def test_risk_cli_refuses_bad_var_settings_with_one_line(tmp_path: Path, option: str, value: str, needle: str) -> None:
    spec = tmp_path / "a.yaml"
    spec.write_text(
        "venue: binance-usdm\nwallet_balance: 10000\n"
        "positions: [{symbol: BTCUSDT, qty: 0.5, entry_price: 60000, mark_price: 60000}]\n"
    )
    res = runner.invoke(app, ["risk", str(spec), "--vol", "0.6", option, value])
    assert res.exit_code == 2, res.output
    assert res.output.startswith("levguard: error: ")
    assert needle in res.output
    assert res.output.count("\n") == 1


def test_a_history_too_short_names_its_file(tmp_path: Path) -> None:
    # Found by a bad-input campaign (2026-12-05): the error named a column, not the file given.
    short = tmp_path / "short_1h.csv"
    short.write_text(
        "timestamp,open,high,low,close,volume\n2024-01-01T00:00:00Z,1,2,0.5,1.5,3\n2024-01-01T01:00:00Z,1,2,0.5,1.5,3\n"
    )
    with pytest.raises(InputError, match=r"^short_1h\.csv \(2 bars\): close must hold at least 2 values"):
        risk_report({**BOOK, "positions": BOOK["positions"][:1], "options": []}, history=str(short))


def test_an_empty_account_with_a_history_reports_and_does_not_crash() -> None:
    market = synth_market(SynthConfig(years=0.5, seed=5))
    empty = {"venue": "binance-usdm", "wallet_balance": 1_000, "positions": []}
    rep = risk_report(empty, history=market.ohlcv, n_sims=1_000).to_dict()
    rows = {v["method"]: v for v in rep["accounts"][0]["var"]}
    for method in ("monte_carlo", "normal", "historical", "fhs"):  # historical: an IndexError before
        assert rows[method]["error"] == "the portfolio is empty: no positions and no options"


def test_an_as_of_reads_only_the_bars_closed_by_then() -> None:
    """An account at a past ``as_of`` sees no later price: the same report from the history cut
    there as from the whole one, whose later bars are a crash (VaR and vol read them before)."""
    from levguard.sizing import size_account

    bars = synth_market(SynthConfig(years=1.0, seed=7)).ohlcv
    as_of = bars.index[6_000] + pd.Timedelta("1h")  # bar 6,000 closes at as_of
    later = bars.copy()
    later.iloc[6_001:, :4] = later.iloc[6_001:, :4] * 0.2  # an 80 % crash after as_of
    cut = bars.iloc[:6_001].copy()
    cut.attrs = dict(bars.attrs)
    book = {**{k: v for k, v in BOOK.items() if k != "options"}, "as_of": as_of.isoformat()}
    book["positions"] = BOOK["positions"][:1]
    a = risk_report(book, history=later, n_sims=2_000, seed=1).to_dict()
    b = risk_report(book, history=cut, n_sims=2_000, seed=1).to_dict()
    assert a["volatility"]["used"] == b["volatility"]["used"]
    assert a["volatility"]["last_bar"] == bars.index[6_000].isoformat()
    assert a["accounts"][0]["var"] == b["accounts"][0]["var"]
    policy = {"policy": {"type": "vol_target", "target_vol": 0.5}}
    sa = size_account(book, policy, history=later).to_dict()
    sb = size_account(book, policy, history=cut).to_dict()
    assert sa["target_leverage"] == sb["target_leverage"]
    with pytest.raises(InputError, match="no bar of the history closed by as_of"):
        risk_report({**book, "as_of": bars.index[0].isoformat()}, history=later, n_sims=1_000)


def test_a_coin_accounts_stress_total_is_the_change_of_its_usd_value() -> None:
    # 6,000 BTCUSD_PERP contracts of 100 USD at 60,000 on Binance COIN-M behind 2 BTC: 10 BTC of
    # exposure plus the 2 BTC wallet.  At -10% the account loses 6,000 x 100 x (1/54,000 -
    # 1/60,000) = 1.1111 BTC; its USD value goes from 2 x 60,000 = 120,000 to 0.8889 x 54,000 =
    # 48,000: -72,000 (E1 x P1 - E0 x P0).  The USDⓈ-M account (10 BTCUSDT) loses 60,000 USDT.
    # The coin P&L at the scenario's price (-60,000) left out the wallet's own 12,000 loss; a
    # USD-neutral inverse account read +30,000 at -50 % (a second review).
    coin = {
        "name": "coinm", "venue": "binance-coinm", "margin_mode": "cross", "wallet_balance": 2,
        "positions": [{"symbol": "BTCUSD_PERP", "qty": 6_000, "entry_price": 60_000, "mark_price": 60_000,
                       "leverage": 20, "mmr": 0.005}],
    }  # fmt: skip
    usdm = {
        "name": "usdm", "venue": "binance-usdm", "margin_mode": "cross", "wallet_balance": 120_000,
        "positions": [{"symbol": "BTCUSDT", "qty": 10, "entry_price": 60_000, "mark_price": 60_000, "leverage": 20}],
    }  # fmt: skip
    for spec, pnl, usd in ((coin, -10.0 * (1 / 0.9 - 1), -72_000.0), (usdm, -60_000.0, -60_000.0)):
        rep = risk_report(spec, vol=0.6, n_sims=1_000).to_dict()
        row = next(s for s in rep["stress"] if s["scenario"] == "price -10%")
        assert row["accounts"][0]["pnl"] == pytest.approx(pnl, rel=1e-9)
        assert row["total_pnl_usd"] == pytest.approx(usd, rel=1e-9)
    up = next(s for s in risk_report(coin, vol=0.6, n_sims=1_000).to_dict()["stress"] if s["scenario"] == "price +10%")
    assert up["total_pnl_usd"] == pytest.approx((2.0 + 6_000 * 100 * (1 / 60_000 - 1 / 66_000)) * 66_000 - 120_000)
    # A USD-neutral inverse account (1 BTC behind a 60,000 USD short) keeps its USD value.
    hedged = {"venue": "bybit-inverse", "wallet_balance": 1.0, "as_of": "2024-06-01T00:00:00Z",
              "positions": [{"symbol": "BTCUSD", "qty": -60_000, "entry_price": 60_000, "mark_price": 60_000,
                             "leverage": 2, "mmr": 0.005}]}  # fmt: skip
    rep = risk_report(hedged, vol=0.6, n_sims=100, scenarios=[Scenario("-50%", -0.5), Scenario("+50%", 0.5)])
    assert [s["total_pnl_usd"] for s in rep.stress] == pytest.approx([0.0, 0.0], abs=1e-6)


def test_stress_equity_after_holds_the_options_value() -> None:
    # docs/risk.md's book (BOOK): equity before (perpetuals at mark plus the options' value) plus the
    # scenario's P&L is the equity after, where nothing is liquidated.  equity_after left the
    # options' current value out (3,807.67 USDT too low; an API audit).
    rep = risk_report(BOOK, vol=0.6, n_sims=500).to_dict()
    before = rep["exposure"][0]["equity"]
    assert before == pytest.approx(33_307.67, abs=0.01)
    checked = 0
    for row in rep["stress"]:
        acc = row["accounts"][0]
        if acc["liquidated"]:
            continue
        assert acc["equity_after"] == pytest.approx(before + acc["pnl"], rel=1e-9), row["scenario"]
        checked += 1
    assert checked >= 3
