"""One P(liq) everywhere (issue 13): for the same account and bars, the risk report, ``levguard size``
(library and CLI --json), the guardian, the service's /risk and the dashboard's data endpoint
(/positions) give the number :func:`levguard.risk.liquidation_forecasts` gives directly.

One vol and one VaR everywhere (issue 15): the volatility forecast of the bars
(:func:`levguard.risk.report.volatility_forecast`) is the risk report's, ``levguard size``'s
(library and CLI --json), the guardian's and the service's /risk; the one-day 99 % VaR of the
position (:func:`levguard.risk.report.position_var` at that vol) is the risk report's and /risk's."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from forecast_markets import jumpy_bars
from typer.testing import CliRunner

from levguard.cli.main import app
from levguard.core.risk.excursion import ExcursionForecaster
from levguard.core.sizing.base import MarketContext, SizingState
from levguard.core.sizing.venue import LiquidationBudget
from levguard.live.guardian import AccountSetup, Guardian
from levguard.live.states import Thresholds
from levguard.live.store import Store
from levguard.risk import liquidation_forecaster, liquidation_forecasts
from levguard.risk.report import position_var, risk_report, volatility_forecast, volatility_section
from levguard.service.app import create_app
from levguard.service.auth import ensure_admin_token
from levguard.service.runtime import Runtime
from levguard.sizing import size_account
from levguard.venues.paper import PaperVenue, PriceFeed

ACCOUNT = "one-path"
HORIZONS = (1.0, 7.0, 30.0)
POLICY: dict[str, Any] = {
    "policy": {
        "type": "composite",
        "policies": [{"type": "liquidation_budget", "max_prob": 0.01, "horizon_days": 7}, {"type": "tier_cap"}],
    }
}


def _bars() -> pd.DataFrame:
    """200 days of hourly BTC-like bars with a mark that differs from the last price."""
    raw = jumpy_bars(24 * 200, seed=23, start="2024-01-01")
    px = raw * 600.0
    basis = 1.0 + 0.0004 * np.sin(np.arange(len(px)) / 7.0)
    for c in ("open", "high", "low", "close"):
        px[f"mark_{c}"] = px[c].to_numpy() * basis
    return px


def _guardian(folder: Path, venue: PaperVenue, bars: Any, owner: str, **setup: Any) -> tuple[Store, Guardian]:
    # The account's guardian (dry run) over a fresh store, its forecasts wired as `levguard guard`
    # and `levguard serve --config` wire them.
    store = Store(f"sqlite:///{folder / 'guard.db'}")
    store.upsert_account(ACCOUNT, venue.name, live_enabled=False)
    account = AccountSetup(
        name=ACCOUNT,
        venue=venue,
        thresholds=Thresholds(margin_ratio=(0.95, 0.97, 0.99), distance=(0.02, 0.01, 0.005), p_liq=(0.97, 0.98, 0.99)),
        horizon_days=1.0,
        max_age_s=3_600.0,
        bars=bars,
        volatility=volatility_forecast,
        **setup,
    )
    return store, Guardian([account], store, live=False, clock=lambda: venue.now_ns, owner=owner, lease_ttl_s=3_600.0)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A guardian (in the service) watching an isolated 10x BTC long at the bars' last mark."""
    bars = _bars()
    as_of = bars.index[-1] + pd.Timedelta("1h")
    mark = float(bars["mark_close"].iloc[-1])
    venue = PaperVenue(
        "binance-usdm",
        feeds={"BTCUSDT": PriceFeed.from_path([mark] * 10)},
        wallet_balance=50_000.0,
        positions=[
            {
                "symbol": "BTCUSDT",
                "qty": 1.0,
                "entry_price": mark,
                "margin_mode": "isolated",
                "isolated_margin": mark / 10.0,
            }
        ],
        funding_rate=0.0,
        start_ns=as_of.value,
    )
    store, guardian = _guardian(tmp_path_factory.mktemp("one"), venue, lambda symbol: bars, "one-path")
    # No paper venue to step: the clock stays at as_of, so every cycle forecasts at the same time.
    runtime = Runtime(guardian, [], interval_s=0.05, fast_interval_s=0.05)
    token = ensure_admin_token(store)
    with TestClient(create_app(runtime), raise_server_exceptions=False) as client:
        deadline = time.monotonic() + 30.0
        while guardian.last_reports.get(ACCOUNT, {}).get("status") != "ok":
            assert time.monotonic() < deadline, guardian.last_reports
            time.sleep(0.02)
        auth = {"Authorization": f"Bearer {token}"}
        risk = client.get(f"/api/accounts/{ACCOUNT}/risk", headers=auth)
        positions = client.get(f"/api/accounts/{ACCOUNT}/positions", headers=auth)
        view = dict(guardian.last_reports[ACCOUNT]["positions"][0])
        spec = dict(guardian.last_specs[ACCOUNT])
        fitted = guardian.forecaster(ACCOUNT, "BTCUSDT")
        vol = guardian.volatility(ACCOUNT, "BTCUSDT")
    assert risk.status_code == 200, risk.text
    assert positions.status_code == 200, positions.text
    lp = view["liquidation_price"]
    distance = (mark - lp) / mark
    expected = liquidation_forecasts(bars, as_of, "long", distance, list(HORIZONS))
    return {
        "bars": bars,
        "as_of": as_of,
        "mark": mark,
        "view": view,
        "spec": {**spec, "as_of": as_of.isoformat()},
        "risk": risk.json(),
        "positions": positions.json(),
        "fitted": fitted,
        "vol": vol,
        "expected": expected,
    }


def test_the_account_is_what_we_meant(world: dict[str, Any]) -> None:
    view = world["view"]
    assert view["mark"] == world["mark"]
    assert 0.05 < (world["mark"] - view["liquidation_price"]) / world["mark"] < 0.12  # a 10x isolated long
    assert isinstance(world["fitted"], ExcursionForecaster)  # the calibrated model, not the fallback
    p = world["expected"]
    assert 0.0 < p[0] < p[1] < p[2] < 1.0


def test_guardian_and_dashboard_endpoint(world: dict[str, Any]) -> None:
    p1 = world["expected"][0]
    assert world["view"]["p_liq"] == p1  # the guardian (horizon 1 day)
    (row,) = world["positions"]["positions"]  # what the dashboard renders
    assert row["p_liq"] == p1


def test_service_risk(world: dict[str, Any]) -> None:
    (row,) = world["risk"]["positions"]
    assert row["model"] == "excursion"
    assert [row["p_liq"][k] for k in ("1d", "7d", "30d")] == list(world["expected"])


def test_risk_report(world: dict[str, Any]) -> None:
    rep = risk_report(world["spec"], history=world["bars"], n_sims=500).to_dict()
    (row,) = rep["accounts"][0]["prob_liquidation"]
    assert row["liquidation_price"] == world["view"]["liquidation_price"]
    assert [row["p_liq_1d"], row["p_liq_7d"], row["p_liq_30d"]] == list(world["expected"])
    assert rep["liquidation_forecast"]["model"] == "excursion"
    assert rep["liquidation_forecast"]["empirical"] is True


def test_size_library(world: dict[str, Any]) -> None:
    out = size_account(world["spec"], POLICY, history=world["bars"]).to_dict()
    (row,) = out["positions"]
    assert [row["p_liq_1d"], row["p_liq_7d"], row["p_liq_30d"]] == list(world["expected"])
    assert out["liquidation_forecast"]["model"] == "excursion"
    # The budget policy reads the same forecaster: its leverage is the largest whose P(liq) at the
    # venue's liquidation price, computed directly, is within 1 % over 7 days.
    assert "excursion forecaster" in out["reasons"][0]
    budget = LiquidationBudget(0.01, 7.0)
    ctx = MarketContext(venue="binance-usdm", symbol="BTCUSDT")
    equity, price = out["equity"], world["mark"]
    fitted = liquidation_forecaster(world["bars"], world["as_of"])
    lev = budget.decide(SizingState(equity=equity, price=price, context=ctx, liquidation_forecaster=fitted))
    lp = budget.liquidation_price(ctx, equity, price, lev.target_leverage)
    assert lp is not None
    direct = liquidation_forecasts(world["bars"], world["as_of"], "long", (price - lp) / price, 7)[0]
    assert direct == lev.details["prob_liquidation"]
    assert direct <= 0.01


def _size_cli(world: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    # The CLI reads OHLC files: the mark bars as the history (what the forecaster reads of the frame).
    bars = world["bars"]
    mark = pd.DataFrame({c: bars[f"mark_{c}"] for c in ("open", "high", "low", "close")}, index=bars.index)
    mark["volume"] = 1.0
    mark.index.name = "timestamp"
    history = tmp_path / "BTCUSDT-mark_1h.parquet"
    mark.to_parquet(history)
    spec = {k: v for k, v in world["spec"].items() if k != "tiers"}  # the venue's built-in tiers
    acc = tmp_path / "account.json"
    acc.write_text(json.dumps(spec))
    pol = tmp_path / "policy.json"
    pol.write_text(json.dumps(POLICY))
    res = CliRunner().invoke(app, ["size", str(acc), "--policy", str(pol), "--history", str(history), "--json"])
    assert res.exit_code == 0, res.output
    return cast(dict[str, Any], json.loads(res.stdout))


def test_size_cli_json(world: dict[str, Any], tmp_path: Path) -> None:
    (row,) = _size_cli(world, tmp_path)["positions"]
    assert [row["p_liq_1d"], row["p_liq_7d"], row["p_liq_30d"]] == list(world["expected"])


def test_vol_and_var_agree_everywhere(world: dict[str, Any], tmp_path: Path) -> None:
    bars = world["bars"]
    section, sigma, _ = volatility_section(bars)
    vol = volatility_forecast(bars)
    assert vol == sigma == section["used"]
    assert section["series"] == "mark"  # read on the mark, as the forecaster reads the frame
    assert section["garch"]["forecast_1d"] == vol  # the GARCH(1,1)-t forecast, not the EWMA fallback
    assert 0.2 < vol < 2.0
    # The guardian: the forecast of the bars its forecaster was fitted on, not the fallback vol (0.8).
    assert world["vol"] == vol
    # The service's /risk: that vol, and position_var at it on the position's notional.
    (row,) = world["risk"]["positions"]
    assert row["vol"] == vol
    notional = abs(world["view"]["qty"]) * world["mark"]
    assert row["notional"] == pytest.approx(notional, rel=1e-12)
    var = position_var(row["notional"], vol, level=0.99, horizon_days=1)
    assert (row["var_1d_99"], row["es_1d_99"]) == (var.var, var.es)
    assert var.var == pytest.approx(2.326347874 * vol / np.sqrt(365.0) * notional, rel=1e-8)
    # The risk report: the same vol, and the same VaR and ES per position at the same level/horizon.
    rep = risk_report(world["spec"], history=bars, n_sims=500).to_dict()
    assert rep["volatility"]["used"] == vol
    (pv,) = rep["accounts"][0]["position_var"]
    assert (pv["symbol"], pv["method"], pv["level"], pv["horizon_days"]) == ("BTCUSDT", "normal", 0.99, 1)
    assert (pv["vol"], pv["notional"]) == (vol, row["notional"])
    assert (pv["var"], pv["es"]) == (row["var_1d_99"], row["es_1d_99"])
    # levguard size: the library and the CLI (--json) report the same vol.
    assert size_account(world["spec"], POLICY, history=bars).volatility == vol
    assert _size_cli(world, tmp_path)["volatility"] == vol


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_a_history_file_keeps_its_mark_bars(world: dict[str, Any], tmp_path: Path, suffix: str) -> None:
    # The same bars as a file (last price and mark_* columns): `levguard risk` and `levguard size`
    # forecast on the mark, as the library does with the frame (the loader kept only the last
    # price, and both commands forecast on it).
    from levguard.data.loaders import save_frame

    bars = world["bars"].copy()
    bars["volume"] = 1.0
    bars.index.name = "timestamp"
    history = tmp_path / f"BTCUSDT_1h{suffix}"
    save_frame(bars, history)
    spec = {k: v for k, v in world["spec"].items() if k != "tiers"}
    acc = tmp_path / "account.json"
    acc.write_text(json.dumps(spec))
    pol = tmp_path / "policy.json"
    pol.write_text(json.dumps(POLICY))
    res = CliRunner().invoke(app, ["size", str(acc), "--policy", str(pol), "--history", str(history), "--json"])
    assert res.exit_code == 0, res.output
    (row,) = json.loads(res.stdout)["positions"]
    assert [row["p_liq_1d"], row["p_liq_7d"], row["p_liq_30d"]] == list(world["expected"])
    res = CliRunner().invoke(app, ["risk", str(acc), "--history", str(history), "--json", "--sims", "200"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    (row,) = out["accounts"][0]["prob_liquidation"]
    assert [row["p_liq_1d"], row["p_liq_7d"], row["p_liq_30d"]] == list(world["expected"])
    assert "(mark bars, hourly)" in out["liquidation_forecast"]["source"]


def test_the_source_says_mark_only_when_the_mark_is_read(world: dict[str, Any]) -> None:
    # mark_close alone does not make the forecasts read the mark (they need its high and low too).
    bars = world["bars"].drop(columns=["mark_open", "mark_high", "mark_low"])
    rep = risk_report(world["spec"], history=bars, n_sims=200).to_dict()
    assert "(last-price bars, hourly)" in rep["liquidation_forecast"]["source"]
    assert rep["volatility"]["series"] == "last price"


@pytest.mark.parametrize("as_of", ["2300-01-01T00:00Z", pd.Timestamp("1500-01-01", tz="UTC")])
def test_an_as_of_beyond_nanoseconds_is_an_input_error(world: dict[str, Any], as_of: Any) -> None:
    from levguard.errors import InputError

    with pytest.raises(InputError, match="as_of must lie between 1677-09-22 and 2262-04-11 UTC"):
        liquidation_forecasts(world["bars"], as_of, "long", 0.1, 1)


# One account on BTC and ETH (a review of the per-asset histories): the guardian reads, per
# position, the history of its own asset by the rule of `levguard risk` and `levguard size`
# (levguard.risk.histories.HistoryBars, as `levguard guard` builds it from `history:`), keyed by
# symbol or by asset; a position without one reads the configured vol and its source says so.
# `vol` (0.6, given to all four paths) is the volatility of a position without a history only:
# a position with one reads its history's for VaR as for P(liq), everywhere.  "apart": ETH's
# history ends ETH_SHORT_H hours before BTC's; read at the guardian's now (the spec's as_of) every
# path agrees, and each says the histories end apart.
ETH_SHORT_H = 240
VOL_POLICY: dict[str, Any] = {"policy": {"type": "vol_target", "target_vol": 0.3, "max_leverage": 10}}


def _two_assets(tmp: Path, eth_short_h: int = 0) -> dict[str, Path]:
    from levguard.data.loaders import save_frame

    out = {}
    for sym, seed, scale in (("BTCUSDT", 23, 600.0), ("ETHUSDT", 31, 30.0)):
        raw = jumpy_bars(24 * 200, seed=seed, start="2024-01-01") * scale
        if sym == "ETHUSDT" and eth_short_h:
            raw = raw.iloc[:-eth_short_h]
        raw["volume"] = 1.0
        raw.index.name = "timestamp"
        out[sym] = save_frame(raw, tmp / f"{sym}-PERP_1h.parquet")
    return out


@pytest.fixture(scope="module", params=["btc-only", "both", "apart"])
def two(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from levguard.cli.guard import _bars_source, _sizer
    from levguard.data.loaders import load_ohlcv

    tmp = tmp_path_factory.mktemp("two")
    files = _two_assets(tmp, ETH_SHORT_H if request.param == "apart" else 0)
    btc, eth = (load_ohlcv(files[s]) for s in ("BTCUSDT", "ETHUSDT"))
    as_of = btc.index[-1] + pd.Timedelta("1h")
    marks = {"BTCUSDT": float(btc["close"].iloc[-1]), "ETHUSDT": float(eth["close"].iloc[-1])}
    # The guardian's config: a symbol key for BTC-only, asset keys for both.
    history = (
        {"BTCUSDT": str(files["BTCUSDT"])}
        if request.param == "btc-only"
        else {"BTC": str(files["BTCUSDT"]), "ETH": str(files["ETHUSDT"])}
    )
    venue = PaperVenue(
        "binance-usdm",
        feeds={s: PriceFeed.from_path([m] * 10) for s, m in marks.items()},
        wallet_balance=20_000.0,
        positions=[
            {"symbol": "BTCUSDT", "qty": 2.0, "entry_price": marks["BTCUSDT"], "margin_mode": "cross"},
            {"symbol": "ETHUSDT", "qty": -40.0, "entry_price": marks["ETHUSDT"], "margin_mode": "cross"},
        ],
        funding_rate=0.0,
        start_ns=as_of.value,
    )
    # The bars: what `levguard guard` builds from the account's `history:`, and its sizer.
    store, guardian = _guardian(tmp, venue, _bars_source(history), "two", vol=0.6)
    guardian.accounts[0].sizer = _sizer(VOL_POLICY, 0.6, guardian.accounts[0].forecasts)
    runtime = Runtime(guardian, [], interval_s=0.05, fast_interval_s=0.05)
    token = ensure_admin_token(store)
    with TestClient(create_app(runtime), raise_server_exceptions=False) as client:
        deadline = time.monotonic() + 30.0
        while guardian.last_reports.get(ACCOUNT, {}).get("status") != "ok":
            assert time.monotonic() < deadline, guardian.last_reports
            time.sleep(0.02)
        risk = client.get(f"/api/accounts/{ACCOUNT}/risk", headers={"Authorization": f"Bearer {token}"})
        views = {v["symbol"]: dict(v) for v in guardian.last_reports[ACCOUNT]["positions"]}
        spec = dict(guardian.last_specs[ACCOUNT])
        vols = {s: guardian.volatility(ACCOUNT, s) for s in marks}
        alerts = [a for a in store.alerts(account=ACCOUNT) if a["kind"] == "history_as_of"]
    assert risk.status_code == 200, risk.text
    paths = [str(files["BTCUSDT"])] if request.param == "btc-only" else [str(f) for f in files.values()]
    return {
        "case": request.param,
        "views": views,
        "api": {r["symbol"]: r for r in risk.json()["positions"]},
        "api_notes": risk.json().get("notes"),
        "alerts": alerts,
        "spec": {**spec, "as_of": as_of.isoformat()},
        "vols": vols,
        "paths": paths,
        "frames": {"BTCUSDT": btc, "ETHUSDT": eth},
        "as_of": as_of,
    }


def test_two_assets_the_guardian_reads_each_asset_its_own_history(two: dict[str, Any]) -> None:
    btc = two["views"]["BTCUSDT"]
    assert "BTCUSDT-PERP_1h.parquet" in btc["forecast_source"]
    eth = two["views"]["ETHUSDT"]
    if two["case"] == "btc-only":  # no ETH history: the configured vol, said so (not BTC's bars)
        assert eth["forecast_source"].startswith(
            "closed-form GBM at the fallback volatility 0.6 (no price history of ETH"
        )
        assert two["vols"]["ETHUSDT"] == 0.6
    else:
        assert "ETHUSDT-PERP_1h.parquet" in eth["forecast_source"]
        assert two["vols"]["ETHUSDT"] == volatility_forecast(two["frames"]["ETHUSDT"])
    assert two["vols"]["BTCUSDT"] == volatility_forecast(two["frames"]["BTCUSDT"])


def test_two_assets_risk_size_guardian_and_api_agree(two: dict[str, Any]) -> None:
    vol = 0.6  # the guardian's configured vol, given to risk and size too
    rep = risk_report(two["spec"], history=two["paths"], vol=vol, n_sims=500).to_dict()
    rows = {r["symbol"]: r for r in rep["accounts"][0]["prob_liquidation"]}
    size_out = size_account(two["spec"], POLICY, history=two["paths"], vol=vol)
    sized = {r["symbol"]: r for r in size_out.positions}
    for sym, view in two["views"].items():
        p = [rows[sym][f"p_liq_{h}"] for h in ("1d", "7d", "30d")]
        assert rows[sym]["liquidation_price"] == view["liquidation_price"]
        assert view["p_liq"] == pytest.approx(p[0], rel=1e-12, abs=1e-15)  # the guardian (1 day)
        api = two["api"][sym]["p_liq"]
        assert [api[k] for k in ("1d", "7d", "30d")] == pytest.approx(p, rel=1e-12, abs=1e-15)
        assert [sized[sym][f"p_liq_{h}"] for h in ("1d", "7d", "30d")] == p
        assert rows[sym]["model"] == sized[sym]["model"] == two["api"][sym]["model"]
    assert rows["BTCUSDT"]["model"] == "excursion"
    assert rows["ETHUSDT"]["model"] == ("gbm" if two["case"] == "btc-only" else "excursion")
    # Each position's VaR volatility and VaR: the guardian's, /risk's and the risk report's, with
    # vol given (its history's where the asset has one, the given vol for ETH without one).
    pv = {r["symbol"]: r for r in rep["accounts"][0]["position_var"]}
    for sym in ("BTCUSDT", "ETHUSDT"):
        assert two["api"][sym]["vol"] == two["vols"][sym] == pv[sym]["vol"]
        assert (two["api"][sym]["var_1d_99"], two["api"][sym]["es_1d_99"]) == (pv[sym]["var"], pv[sym]["es"])
    assert two["vols"]["BTCUSDT"] == volatility_forecast(two["frames"]["BTCUSDT"]) != vol
    expected_eth = vol if two["case"] == "btc-only" else volatility_forecast(two["frames"]["ETHUSDT"])
    assert two["vols"]["ETHUSDT"] == expected_eth
    # levguard size: the policy's volatility is its largest position's, the guardian's of that symbol.
    main = max(two["api"].values(), key=lambda r: r["notional"])["symbol"]
    assert size_out.volatility == two["vols"][main]
    # The given vol unread (every position has a history) is said, not an error.
    unused = [n for n in rep["volatility"].get("notes", []) if n.startswith("--vol 0.6 not used")]
    assert len(unused) == (0 if two["case"] == "btc-only" else 1)
    assert [n for n in size_out.notes if n.startswith("--vol 0.6 not used")] == unused


def test_two_assets_the_guardians_sizer_reads_the_histories_vol(two: dict[str, Any]) -> None:
    # The guardian's policy (a volatility target) reads the largest position's history's
    # volatility, as levguard size does, not the configured vol (0.6) that the symbols without a
    # history read.
    sized = size_account(two["spec"], VOL_POLICY, history=two["paths"], vol=0.6)
    main = max(two["api"].values(), key=lambda r: r["notional"])["symbol"]
    assert sized.volatility == two["vols"][main] != 0.6
    assert sized.target_leverage == pytest.approx(0.3 / two["vols"][main], rel=1e-12)
    assert sized.binding_constraint == "vol_target"
    for row in sized.positions:
        view = two["views"][row["symbol"]]
        assert view["binding_constraint"] == "vol_target"
        assert view["target_leverage"] == pytest.approx(row["target_leverage"], rel=1e-12)


def test_two_assets_histories_ending_apart_are_said_everywhere(two: dict[str, Any]) -> None:
    # Read at the guardian's now (the spec's as_of), every path reads each history to its own end
    # (the agreement above); each says the histories end ETH_SHORT_H hours apart.
    rep = risk_report(two["spec"], history=two["paths"], vol=0.6, n_sims=500).to_dict()
    size_notes = size_account(two["spec"], POLICY, history=two["paths"], vol=0.6).notes
    apart = [n for n in rep["volatility"].get("notes", []) if n.startswith("the histories end")]
    if two["case"] != "apart":
        assert apart == []
        assert two["api_notes"] == []
        assert two["alerts"] == []
        return
    (note,) = apart
    assert note.startswith(f"the histories end {ETH_SHORT_H // 24} days apart (")
    assert "more than 1 day)" in note
    assert "ETHUSDT-PERP_1h.parquet" in note
    assert "BTCUSDT-PERP_1h.parquet" in note
    assert two["api_notes"] == [note]  # /risk
    assert [a["message"] for a in two["alerts"]] == [note]  # the guardian's alert, once
    assert two["alerts"][0]["level"] == "warning"
    assert note in size_notes
    # Without the as_of, levguard risk reads both to ETH's end, and says so.
    spec = {k: v for k, v in two["spec"].items() if k != "as_of"}
    notes = risk_report(spec, history=two["paths"], vol=0.6, n_sims=500).to_dict()["volatility"]["notes"]
    eth_end = two["frames"]["ETHUSDT"].index[-1] + pd.Timedelta("1h")
    assert any(n.startswith(f"as of {eth_end.isoformat()}") for n in notes)


def test_the_cli_says_vol_was_not_used(two: dict[str, Any], tmp_path: Path) -> None:
    # levguard risk and levguard size print the note (no error) when every position has a history.
    spec = {k: v for k, v in two["spec"].items() if k != "tiers"}
    acc = tmp_path / "account.json"
    acc.write_text(json.dumps(spec))
    pol = tmp_path / "policy.json"
    pol.write_text(json.dumps(POLICY))
    hist = [a for p in two["paths"] for a in ("--history", p)]
    for args in (["risk", str(acc), "--sims", "200"], ["size", str(acc), "--policy", str(pol)]):
        res = CliRunner().invoke(app, [*args, *hist, "--vol", "0.6"], env={"COLUMNS": "400"})
        assert res.exit_code == 0, res.output
        assert ("note: --vol 0.6 not used" in res.output) == (two["case"] != "btc-only"), res.output
