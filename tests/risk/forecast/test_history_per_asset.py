"""Each position's P(liq) and vol come from its own asset's history (never another asset's bars).

A BTC long and an ETH short with a BTC history: the ETH short was fitted on the BTC bars without a
word by ``levguard risk`` and ``levguard size`` (library and CLI).  Now it reads an ETH history
(``history={"BTC": ..., "ETH": ...}``, ``--history ETH=FILE``), or the given ``vol`` (the GBM closed
form, said per row), or is an error naming it.  And a ``*-MARK`` file's forecaster source says mark
bars."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from forecast_markets import jumpy_bars
from typer.testing import CliRunner

from levguard.cli.main import app
from levguard.core.margin import evaluate
from levguard.core.risk.excursion import GbmForecaster
from levguard.core.spec import account_from_spec
from levguard.data.loaders import save_frame
from levguard.errors import InputError
from levguard.risk import liquidation_forecaster
from levguard.risk.forecast import position_forecasts
from levguard.risk.report import risk_report, volatility_forecast
from levguard.sizing import size_account

runner = CliRunner()
POLICY: dict[str, Any] = {"policy": {"type": "liquidation_budget", "max_prob": 0.01, "horizon_days": 7}}


def _bars(symbol: str, scale: float, seed: int) -> pd.DataFrame:
    bars = jumpy_bars(24 * 200, seed=seed, start="2024-01-01") * scale
    bars.attrs["symbol"] = symbol
    return bars


BTC = _bars("BTCUSDT", 600.0, 23)
ETH = _bars("ETHUSDT", 25.0, 5)
AS_OF = BTC.index[-1] + pd.Timedelta("1h")
SPEC: dict[str, Any] = {
    "venue": "binance-usdm",
    "wallet_balance": 30_000.0,
    "as_of": AS_OF.isoformat(),
    "positions": [
        {"symbol": "BTCUSDT", "qty": 1.0, "entry_price": float(BTC["close"].iloc[-1])},
        {"symbol": "ETHUSDT", "qty": -40.0, "entry_price": float(ETH["close"].iloc[-1])},
    ],
}
for p, bars in zip(SPEC["positions"], (BTC, ETH), strict=True):
    p["mark_price"] = float(bars["close"].iloc[-1])


def _expected(symbol: str, forecaster: Any) -> list[float]:
    (row,) = [
        r
        for r in evaluate(account_from_spec({k: v for k, v in SPEC.items() if k != "as_of"})).positions
        if r.symbol == symbol
    ]
    out = position_forecasts([row], forecaster)[0]
    return [out["p_liq_1d"], out["p_liq_7d"], out["p_liq_30d"]]


def _p(rows: list[dict[str, Any]], symbol: str) -> tuple[list[float], dict[str, Any]]:
    (row,) = [r for r in rows if r["symbol"] == symbol]
    return [row["p_liq_1d"], row["p_liq_7d"], row["p_liq_30d"]], row


def test_a_btc_history_does_not_forecast_the_eth_short() -> None:
    with pytest.raises(InputError, match=r"ETHUSDT: no price history of ETH .*BTC.*--vol"):
        risk_report(SPEC, history=BTC, n_sims=200)
    with pytest.raises(InputError, match=r"ETHUSDT: no price history of ETH"):
        size_account(SPEC, POLICY, history=BTC)


def test_the_other_asset_reads_the_given_vol_and_says_so() -> None:
    gbm = _expected("ETHUSDT", GbmForecaster(0.7))
    fitted = _expected("BTCUSDT", liquidation_forecaster(BTC, AS_OF))
    rep = risk_report(SPEC, history=BTC, vol=0.7, n_sims=200).to_dict()
    rows = rep["accounts"][0]["prob_liquidation"]
    (eth, eth_row), (btc, btc_row) = _p(rows, "ETHUSDT"), _p(rows, "BTCUSDT")
    assert eth == gbm
    assert eth_row["model"] == "gbm"
    assert "no price history of its asset" in eth_row["source"]
    assert btc == fitted
    assert btc_row["model"] == "excursion"
    # The account's forecaster: its largest position's (the ETH short), in risk and size alike.
    assert rep["liquidation_forecast"] == {k: eth_row[k] for k in ("model", "source")} | rep["liquidation_forecast"]
    assert rep["liquidation_forecast"]["model"] == "gbm"
    sized_out = size_account(SPEC, POLICY, history=BTC, vol=0.7).to_dict()
    assert sized_out["liquidation_forecast"] == rep["liquidation_forecast"]
    sized = sized_out["positions"]
    assert _p(sized, "ETHUSDT")[0] == gbm
    assert _p(sized, "ETHUSDT")[1]["model"] == "gbm"
    assert _p(sized, "BTCUSDT")[0] == fitted
    # Historical VaR needs a history of every underlying: it says which one is missing.
    hist = [v for v in rep["accounts"][0]["var"] if v["method"] == "historical"]
    assert "no price history of ETH" in hist[0]["error"]


def test_two_histories_forecast_each_asset_on_its_own_bars() -> None:
    histories = {"BTC": BTC, "ETH": ETH}
    eth_fit = _expected("ETHUSDT", liquidation_forecaster(ETH, AS_OF))
    assert eth_fit != _expected("ETHUSDT", liquidation_forecaster(BTC, AS_OF))  # the bars matter
    rep = risk_report(SPEC, history=histories, n_sims=200).to_dict()
    rows = rep["accounts"][0]["prob_liquidation"]
    assert _p(rows, "ETHUSDT")[0] == eth_fit
    assert _p(rows, "BTCUSDT")[0] == _expected("BTCUSDT", liquidation_forecaster(BTC, AS_OF))
    pv = {r["symbol"]: r["vol"] for r in rep["accounts"][0]["position_var"]}
    assert pv == {"BTCUSDT": volatility_forecast(BTC), "ETHUSDT": volatility_forecast(ETH)}
    assert rep["volatility"]["used_by_asset"] == {"BTC": pv["BTCUSDT"], "ETH": pv["ETHUSDT"]}
    assert all("error" not in v for v in rep["accounts"][0]["var"])  # historical/FHS on both histories
    sized = size_account(SPEC, POLICY, history=histories).to_dict()["positions"]
    assert _p(sized, "ETHUSDT")[0] == eth_fit  # the size command agrees with the risk report
    # A list of frames: each of the asset its symbol names.
    listed = risk_report(SPEC, history=[ETH, BTC], n_sims=200).to_dict()["accounts"][0]["prob_liquidation"]
    assert _p(listed, "ETHUSDT")[0] == eth_fit


def test_a_history_of_unknown_asset_is_for_a_one_underlying_book_only() -> None:
    bare = BTC.copy()
    bare.attrs = {}
    with pytest.raises(InputError, match=r"does not say which asset.*BTC, ETH.*ASSET=FILE"):
        risk_report(SPEC, history=bare, vol=0.7, n_sims=200)
    with pytest.raises(InputError, match=r"the bars are of BTC"):
        risk_report(SPEC, history={"ETH": BTC}, n_sims=200)
    with pytest.raises(InputError, match=r"two histories of BTC"):
        risk_report(SPEC, history=[BTC, BTC.copy()], n_sims=200)


def _files(tmp_path: Path, btc_name: str = "BTCUSDT-PERP_1h.csv") -> tuple[Path, Path, Path]:
    btc, eth = tmp_path / btc_name, tmp_path / "ETHUSDT-PERP_1h.csv"
    for frame, path in ((BTC, btc), (ETH, eth)):
        out = frame.copy()
        out["volume"] = 1.0
        out.index.name = "timestamp"
        save_frame(out, path)
    acc = tmp_path / "account.json"
    acc.write_text(json.dumps(SPEC))
    return acc, btc, eth


def test_cli_refuses_one_history_for_two_assets(tmp_path: Path) -> None:
    acc, btc, _eth = _files(tmp_path)
    pol = tmp_path / "policy.json"
    pol.write_text(json.dumps(POLICY))
    for args in (["risk", str(acc), "--sims", "200"], ["size", str(acc), "--policy", str(pol)]):
        res = runner.invoke(app, [*args, "--history", str(btc)])
        assert res.exit_code == 2, res.output
        assert res.output.count("\n") == 1
        assert "ETHUSDT: no price history of ETH" in res.output
        assert "BTCUSDT-PERP_1h.csv (BTC)" in res.output


def test_cli_history_per_asset(tmp_path: Path) -> None:
    acc, btc, eth = _files(tmp_path)
    pol = tmp_path / "policy.json"
    pol.write_text(json.dumps(POLICY))
    eth_fit = _expected("ETHUSDT", liquidation_forecaster(ETH, AS_OF))
    for given in (
        ["--history", f"BTC={btc}", "--history", f"eth={eth}"],
        ["--history", str(btc), "--history", str(eth)],
    ):
        res = runner.invoke(app, ["risk", str(acc), "--sims", "200", "--json", *given])
        assert res.exit_code == 0, res.output
        rows = json.loads(res.stdout)["accounts"][0]["prob_liquidation"]
        assert _p(rows, "ETHUSDT")[0] == eth_fit
        assert "ETHUSDT-PERP_1h.csv (last-price bars, hourly)" in _p(rows, "ETHUSDT")[1]["source"]
        res = runner.invoke(app, ["size", str(acc), "--policy", str(pol), "--json", *given])
        assert res.exit_code == 0, res.output
        assert _p(json.loads(res.stdout)["positions"], "ETHUSDT")[0] == eth_fit
    res = runner.invoke(app, ["risk", str(acc), "--history", str(btc), "--history", f"ETH={eth}"])
    assert res.exit_code == 2
    assert "give every --history as ASSET=FILE" in res.output
    # The table says which positions read the given volatility.
    res = runner.invoke(app, ["risk", str(acc), "--sims", "200", "--history", str(btc), "--vol", "0.7"])
    assert res.exit_code == 0, res.output
    # (The account's forecaster is its largest position's, the ETH short's; BTC's row says its own.)
    text = " ".join(res.stdout.split())
    assert "probability of liquidation: GBM closed form at the given volatility (no price history of its asset)" in text
    assert "BTCUSDT: P(liq) from the calibrated excursion forecaster on" in text


def test_a_mark_file_is_said_to_be_mark_bars(tmp_path: Path) -> None:
    # Mark-price klines (a *-MARK file, as in Binance's layout) were labelled last-price bars.
    _acc, btc, _eth = _files(tmp_path, "BTCUSDT-MARK_1h.csv")
    one = tmp_path / "btc.json"
    one.write_text(json.dumps({**SPEC, "positions": SPEC["positions"][:1]}))
    res = runner.invoke(app, ["risk", str(one), "--sims", "200", "--json", "--history", str(btc)])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["liquidation_forecast"]["source"].endswith("BTCUSDT-MARK_1h.csv (mark bars, hourly)")
    assert out["volatility"]["series"] == "mark"
    pol = tmp_path / "policy.json"
    pol.write_text(json.dumps(POLICY))
    res = runner.invoke(app, ["size", str(one), "--policy", str(pol), "--json", "--history", str(btc)])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["liquidation_forecast"]["source"].endswith("(mark bars, hourly)")


def test_a_file_whose_name_is_no_pair_is_for_a_one_underlying_book(tmp_path: Path) -> None:
    # history.csv names no asset: fine for a BTC-only book, an error naming the assets for BTC + ETH.
    acc, history, _eth = _files(tmp_path, "history.csv")
    one = tmp_path / "btc.json"
    one.write_text(json.dumps({**SPEC, "positions": SPEC["positions"][:1]}))
    assert runner.invoke(app, ["risk", str(one), "--sims", "200", "--history", str(history)]).exit_code == 0
    res = runner.invoke(app, ["risk", str(acc), "--sims", "200", "--history", str(history), "--vol", "0.7"])
    assert res.exit_code == 2
    assert "history.csv does not say which asset it is (no symbol) and the book is on BTC, ETH" in res.output


def test_a_capital_word_file_is_of_no_asset_and_a_bare_coin_is_keyed(tmp_path: Path) -> None:
    # A review: DATA.csv was read as a coin DATA, so a BTC-only book (and the guardian) lost its
    # fitted P(liq). A capital word names no asset, as any word: a one-underlying book reads it.
    # A bare coin file (Hyperliquid's ETH_1h.csv) is keyed by its asset on a book of several.
    _acc, _btc, _eth = _files(tmp_path, "DATA.csv")
    one = tmp_path / "btc.json"
    one.write_text(json.dumps({**SPEC, "positions": SPEC["positions"][:1]}))
    res = runner.invoke(app, ["risk", str(one), "--sims", "200", "--json", "--history", str(tmp_path / "DATA.csv")])
    assert res.exit_code == 0, res.output
    (row,) = json.loads(res.stdout)["accounts"][0]["prob_liquidation"]
    assert row["model"] == "excursion"


@pytest.mark.parametrize("name", ["binance-btc_1h.csv", "my-btc_1h.csv", "data_2024_1h.csv"])
def test_a_prefixed_file_name_names_no_made_up_asset(tmp_path: Path, name: str) -> None:
    # binance-btc_1h.csv was read as an asset BINANCE (data_2024 as DATA): a BTC-only book refused
    # it, and with --vol ignored it while the volatility section showed it.  It names no asset: the
    # history of a book on one underlying.
    _acc, history, _eth = _files(tmp_path, name)
    one = tmp_path / "btc.json"
    one.write_text(json.dumps({**SPEC, "positions": SPEC["positions"][:1]}))
    res = runner.invoke(app, ["risk", str(one), "--sims", "200", "--json", "--history", str(history)])
    assert res.exit_code == 0, res.output
    (row,) = json.loads(res.stdout)["accounts"][0]["prob_liquidation"]
    assert row["model"] == "excursion"
    assert name in row["source"]


NO_AS_OF = {k: v for k, v in SPEC.items() if k != "as_of"}


def test_histories_ending_apart_are_read_to_one_as_of() -> None:
    # BTC's history ends 10 days after ETH's: without an as_of each was fitted at its own last bar
    # (P(liq) of two dates side by side, without a word).  Now both are read to ETH's last bar.
    eth = ETH.iloc[: -24 * 10].copy()
    eth.attrs = dict(ETH.attrs)
    at = eth.index[-1] + pd.Timedelta("1h")
    rep = risk_report(NO_AS_OF, history=[BTC, eth], n_sims=200).to_dict()
    same = risk_report({**NO_AS_OF, "as_of": at.isoformat()}, history=[BTC, eth], n_sims=200).to_dict()
    assert rep["accounts"][0]["prob_liquidation"] == same["accounts"][0]["prob_liquidation"]
    assert rep["accounts"][0]["var"] == same["accounts"][0]["var"]
    assert any(n.startswith(f"as of {at.isoformat()}") for n in rep["volatility"]["notes"])
    sized = size_account(NO_AS_OF, POLICY, history=[BTC, eth]).to_dict()
    assert (
        sized["positions"] == size_account({**NO_AS_OF, "as_of": at.isoformat()}, POLICY, history=[BTC, eth]).positions
    )
    assert any(n.startswith(f"as of {at.isoformat()}") for n in sized["notes"])


def test_histories_that_share_no_time_are_refused_naming_them(tmp_path: Path) -> None:
    early = BTC.iloc[: 24 * 50].copy()
    early.attrs = dict(BTC.attrs)
    late = ETH.iloc[24 * 100 :].copy()
    late.attrs = dict(ETH.attrs)
    with pytest.raises(InputError, match=r"the histories share no time \(the BTC history 2024-01-01.*the ETH history"):
        risk_report(NO_AS_OF, history=[early, late], n_sims=200)
    with pytest.raises(InputError, match=r"the histories share no time"):
        size_account(NO_AS_OF, POLICY, history=[early, late])
    # Overlapping by a day: historical and FHS VaR say the histories share too few days.
    near = ETH.iloc[24 * 49 :].copy()
    near.attrs = dict(ETH.attrs)
    rep = risk_report({**SPEC, "as_of": early.index[-1] + pd.Timedelta("1h")}, history=[early, near], n_sims=200)
    errors = {v["method"]: v.get("error", "") for v in rep.accounts[0]["var"]}
    assert errors["historical"].startswith("the histories share fewer than 2 days of returns (the BTC history")


def test_a_history_of_an_asset_not_in_the_book_is_not_read() -> None:
    # A SOL history that ends before the account's as_of failed the whole BTC + ETH report.
    sol = _bars("SOLUSDT", 1.5, 9).iloc[: 24 * 10]
    rep = risk_report(SPEC, history=[BTC, ETH, sol], n_sims=200).to_dict()
    assert rep["volatility"]["notes"] == ["the SOL history: not read (no position on SOL)"]
    assert set(rep["volatility"]["used_by_asset"]) == {"BTC", "ETH"}
    sized = size_account(SPEC, POLICY, history=[BTC, ETH, sol]).to_dict()
    assert sized["notes"] == ["the SOL history: not read (no position on SOL)"]


def test_the_volatility_section_does_not_depend_on_the_order_of_the_histories() -> None:
    xrp = _bars("XRPUSDT", 0.01, 11)
    one = {**SPEC, "positions": SPEC["positions"][:1]}  # a BTC book
    a = risk_report(one, history=[xrp, BTC], n_sims=200).to_dict()["volatility"]
    b = risk_report(one, history=[BTC, xrp], n_sims=200).to_dict()["volatility"]
    assert a == b
    assert a["used"] == volatility_forecast(BTC)  # the BTC position's, as its position_var reads
    two = [risk_report(SPEC, history=h, n_sims=200).to_dict()["volatility"] for h in ([BTC, ETH], [ETH, BTC])]
    assert two[0] == two[1]
    assert set(two[0]["by_asset"]) == {"BTC", "ETH"}


def test_size_says_what_its_account_forecaster_was_given(tmp_path: Path) -> None:
    acc, btc, _eth = _files(tmp_path)
    pol = tmp_path / "policy.json"
    pol.write_text(json.dumps(POLICY))
    res = runner.invoke(app, ["size", str(acc), "--policy", str(pol), "--history", str(btc), "--vol", "0.7"])
    assert res.exit_code == 0, res.output
    text = " ".join(res.stdout.split())
    assert "GBM closed form at the given volatility (no price history of its asset)" in text
    assert "(no history)" not in text


def test_a_daily_history_among_several_names_its_file(tmp_path: Path) -> None:
    acc, _btc, eth = _files(tmp_path)
    daily = tmp_path / "BTCUSDT-PERP_1d.csv"
    out = BTC.resample("1D").agg({"open": "first", "high": "max", "low": "min", "close": "last"})
    out["volume"] = 1.0
    out.index.name = "timestamp"
    save_frame(out, daily)
    res = runner.invoke(app, ["risk", str(acc), "--sims", "200", "--history", str(daily), "--history", str(eth)])
    assert res.exit_code == 2, res.output
    assert "BTCUSDT-PERP_1d.csv: bars must be hourly or finer" in " ".join(res.output.split())


def test_the_guardians_bars_follow_the_same_rule() -> None:
    import asyncio

    from levguard.risk.histories import HistoryBars

    bars = HistoryBars({"BTCUSDT": BTC})  # a symbol key is its asset
    assert bars("BTC/USDT:USDT") is not None
    assert bars("ETHUSDT") is None  # never BTC's bars
    assert bars.why_none("ETHUSDT") == "no price history of ETH; histories given: the BTC history (BTC)"
    bare = BTC.copy()
    bare.attrs = {}
    one = HistoryBars(bare)  # no asset: the history of an account on one underlying
    assert one("ETHUSDT") is not None
    asyncio.run(one.refresh(["BTCUSDT", "ETHUSDT"], 0))
    with pytest.raises(InputError, match=r"does not say which asset it is .* BTC, ETH"):
        one("BTCUSDT")


def test_histories_read_to_the_same_as_of_are_not_said_to_end_apart() -> None:
    # BTC's file runs 10 days past ETH's, but read at an as_of by which both have ended the
    # same hour they read to the same time: no note (risk, size, the guardian's notes at now).
    import asyncio

    from levguard.risk.histories import HistoryBars, ends_apart_note, load_histories

    eth = ETH.iloc[: -24 * 10].copy()
    eth.attrs = dict(ETH.attrs)
    at = eth.index[-1] + pd.Timedelta("1h")  # ETH's end: BTC read to it too
    spec = {**NO_AS_OF, "as_of": at.isoformat()}
    both = load_histories([BTC, eth])
    assert ends_apart_note(both) is not None  # the files' ends are 10 days apart
    assert ends_apart_note(both, as_of=at) is None
    notes = risk_report(spec, history=[BTC, eth], n_sims=200).to_dict()["volatility"].get("notes") or []
    assert not any(n.startswith("the histories end") for n in notes)
    assert not any(n.startswith("the histories end") for n in size_account(spec, POLICY, history=[BTC, eth]).notes)
    bars = HistoryBars([BTC, eth])
    asyncio.run(bars.refresh(["BTCUSDT", "ETHUSDT"], at.value))
    assert bars.notes() == []
    asyncio.run(bars.refresh(["BTCUSDT", "ETHUSDT"], AS_OF.value))  # at BTC's end: 10 days apart
    assert [n[:33] for n in bars.notes()] == ["the histories end 10 days apart ("]
    # Read 25 hours past ETH's end: 25 hours apart (not "1.0 days").
    note = ends_apart_note(both, as_of=at + pd.Timedelta("25h"))
    assert note is not None
    assert note.startswith("the histories end 25 hours apart (")
    assert "more than 1 day)" in note
    assert ends_apart_note(both, as_of=at + pd.Timedelta("60h")).startswith("the histories end 2.5 days apart")  # type: ignore[union-attr]
