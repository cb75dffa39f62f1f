"""One volatility from a 15-minute history ending mid-hour: ``levguard risk``, ``levguard size``,
the guardian (which reads the file's hourly aggregate) and the service's ``/risk`` read the same
daily returns, the unfinished last hour ending where its bars end (not a full hour), so a file
ending in hour 23 is an unfinished day, not a complete one."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from forecast_markets import jumpy_bars
from test_one_path import ACCOUNT, VOL_POLICY, _guardian

from levguard.data.loaders import load_ohlcv, save_frame
from levguard.risk.report import risk_report, volatility_section
from levguard.service.app import create_app
from levguard.service.auth import ensure_admin_token
from levguard.service.runtime import Runtime
from levguard.sizing import size_account
from levguard.venues.paper import PaperVenue, PriceFeed


def _quarter_hours(end: str) -> pd.DataFrame:
    # 15-minute bars from 120 days of hourly ones: closes stepped from open to close in each hour.
    h = jumpy_bars(24 * 120, seed=23, start="2024-01-01") * 600.0
    o, c = h["open"].to_numpy(), h["close"].to_numpy()
    t = np.repeat(h.index.tz_convert(None).to_numpy(), 4) + np.tile(np.arange(4) * np.timedelta64(15, "m"), len(h))
    cc = np.repeat(o, 4) + (np.repeat(c, 4) - np.repeat(o, 4)) * np.tile(np.arange(1, 5) / 4, len(h))
    oo = np.concatenate([[o[0]], cc[:-1]])
    idx = pd.DatetimeIndex(t, tz="UTC", name="timestamp")
    f = pd.DataFrame(
        {"open": oo, "high": np.maximum(oo, cc) * 1.001, "low": np.minimum(oo, cc) * 0.999, "close": cc, "volume": 1.0},
        index=idx,
    )
    return f.loc[: h.index[-1].floor("1D") - pd.Timedelta("1D") + pd.Timedelta(f"{end}:00")]


@pytest.fixture(scope="module", params=["05:15", "23:15"])
def sub(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from levguard.cli.guard import _bars_source, _sizer

    tmp = tmp_path_factory.mktemp("sub")
    path = save_frame(_quarter_hours(request.param), tmp / "BTCUSDT-PERP_15m.parquet")
    frame = load_ohlcv(path)
    as_of = frame.index[-1] + pd.Timedelta("2h")  # the last (unfinished) hour has closed for the guardian
    mark = float(frame["close"].iloc[-1])
    venue = PaperVenue(
        "binance-usdm",
        feeds={"BTCUSDT": PriceFeed.from_path([mark] * 10)},
        wallet_balance=50_000.0,
        positions=[{"symbol": "BTCUSDT", "qty": 1.0, "entry_price": mark, "margin_mode": "cross"}],
        funding_rate=0.0,
        start_ns=as_of.value,
    )
    store, guardian = _guardian(tmp, venue, _bars_source({"BTC": str(path)}), "sub", vol=0.6)
    guardian.accounts[0].sizer = _sizer(VOL_POLICY, 0.6, guardian.accounts[0].forecasts)
    runtime = Runtime(guardian, [], interval_s=0.05, fast_interval_s=0.05)
    token = ensure_admin_token(store)
    with TestClient(create_app(runtime), raise_server_exceptions=False) as client:
        deadline = time.monotonic() + 30.0
        while guardian.last_reports.get(ACCOUNT, {}).get("status") != "ok":
            assert time.monotonic() < deadline, guardian.last_reports
            time.sleep(0.02)
        risk = client.get(f"/api/accounts/{ACCOUNT}/risk", headers={"Authorization": f"Bearer {token}"})
        spec = dict(guardian.last_specs[ACCOUNT])
        vol = guardian.volatility(ACCOUNT, "BTCUSDT")
    assert risk.status_code == 200, risk.text
    (api,) = risk.json()["positions"]
    return {
        "end": request.param,
        "path": str(path),
        "frame": frame,
        "as_of": as_of,
        "spec": {**spec, "as_of": as_of.isoformat()},
        "guardian": vol,
        "api": api["vol"],
    }


def test_risk_size_guardian_and_api_read_one_unfinished_day(sub: dict[str, Any]) -> None:
    section, sigma, _ = volatility_section(sub["frame"], sub["as_of"])
    # The file ends at 05:30 (23:30): the day is 5.5 (23.5) hours in, not 6 (complete at 24).
    hours = 5.5 if sub["end"] == "05:15" else 23.5
    assert section["garch"]["last_day"]["elapsed"] == pytest.approx(hours / 24, rel=1e-12)
    rep = risk_report(sub["spec"], history=sub["path"], n_sims=200).to_dict()
    assert rep["volatility"]["used"] == sigma
    assert size_account(sub["spec"], VOL_POLICY, history=sub["path"]).volatility == sigma
    assert sub["guardian"] == sigma  # the guardian's hourly aggregate: the same daily returns
    assert sub["api"] == sigma  # /risk
