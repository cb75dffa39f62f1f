"""The account replay says what it cannot see and pays the funding a held position owes.

A hunt on other coins (a FOOUSDT long of 20,000 at 0.48 replayed through June 2022): a 3-day
hole in the price file dropped the 9 funding prints inside it (funding paid -13.807 -> -8.993)
and said nothing of the 72 missing bars; a funding file ending in 2021 paid 0.00 without a word;
another coin's funding file (LATEUSDT) was accepted and paid 0.00.  The single-wallet backtester
notes the first two and refuses the third (levguard.data.perp.perp_frame).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from levguard.backtest.account import replay_account
from levguard.errors import DataError

SPEC: dict[str, Any] = {
    "venue": "binance-usdm",
    "margin_mode": "cross",
    "wallet_balance": 10_000,
    "positions": [{"symbol": "FOOUSDT", "qty": 20_000.0, "entry_price": 0.48, "mark_price": 0.48, "mmr": 0.005}],
}
HOURS = pd.date_range("2022-06-01", periods=24 * 10, freq="1h", tz="UTC")


def _bars(index: pd.DatetimeIndex, level: float = 0.5) -> pd.DataFrame:
    opens = level * (1.0 + 0.01 * np.sin(np.arange(len(index))))  # the open moves: the price of a print matters
    return pd.DataFrame({"open": opens, "high": opens * 1.002, "low": opens * 0.998, "close": opens}, index=index)


def _funding(start: str = "2022-05-01", periods: int = 150, symbol: str | None = None) -> pd.Series:
    rates = pd.Series(0.0001, index=pd.date_range(start, periods=periods, freq="8h", tz="UTC"))
    if symbol is not None:
        rates.attrs.update(symbol=symbol, source=f"{symbol}_funding.csv")
    return rates


def test_a_gap_in_a_lone_asset_is_said_and_its_funding_paid_after_it() -> None:
    bars = _bars(HOURS)
    gap = (HOURS >= "2022-06-04") & (HOURS < "2022-06-07")  # 72 bars, 9 prints of 8h funding
    holed = bars.loc[~gap]
    rates = _funding()
    full = replay_account(SPEC, {"FOO": bars}, funding={"FOO": rates})
    run = replay_account(SPEC, {"FOO": holed}, funding={"FOO": rates})
    assert full.notes == ()
    assert run.notes == (
        "72 1h bar(s) inside the replayed span are missing from FOO's prices (1 gap from 2022-06-04 00:00 to "
        "2022-06-07 00:00): a move inside a gap is not seen",
        "FOO funding: 9 print(s) settle inside gaps between the bars: each is charged at the open of the bar "
        "after its gap, at that bar's price (the position is held through the gap)",
    )
    # Every print of the window is paid (30), the 9 of the gap at the open of 2022-06-07 00:00.
    after = holed["open"].loc["2022-06-07 00:00"]
    in_window = rates.loc[HOURS[0] : HOURS[-1]]
    expected = 20_000 * 0.0001 * (bars["open"].loc[in_window.index[~gap[::8]]].sum() + 9 * after)
    assert run.frame["funding_paid"].iloc[-1] == pytest.approx(expected, rel=1e-12)
    assert run.frame["funding_paid"].loc["2022-06-07 00:00"] - run.frame["funding_paid"].loc[
        "2022-06-03 23:00"
    ] == pytest.approx(20_000 * 0.0001 * 10 * after, rel=1e-12)  # with the bar's own print


@settings(max_examples=40, deadline=None)
@given(first=st.integers(1, 200), length=st.integers(1, 30))
def test_funding_in_gaps_is_never_lost(first: int, length: int) -> None:
    # A held position owes every print between the first bar's open and the last bar's end:
    # whatever bars are missing, the number of prints paid is the number settling in that span.
    keep = np.ones(len(HOURS), dtype=bool)
    keep[first : first + length] = False
    keep[-1] = True
    holed = _bars(HOURS, 1.0).loc[keep].assign(open=1.0)  # a flat open: each print pays 2.0
    rates = _funding()
    run = replay_account(SPEC, {"FOO": holed}, funding={"FOO": rates})
    owed = int(((rates.index >= holed.index[0]) & (rates.index < holed.index[-1] + pd.Timedelta("1h"))).sum())
    assert run.frame["funding_paid"].iloc[-1] == pytest.approx(owed * 20_000 * 0.0001)


def test_funding_that_ends_before_or_starts_after_the_window_is_said() -> None:
    bars = _bars(HOURS)
    early = replay_account(SPEC, {"FOO": bars}, funding={"FOO": _funding("2021-12-01", 93)})
    assert early.frame["funding_paid"].iloc[-1] == 0.0
    assert early.notes == ("FOO funding ends 2021-12-31 16:00, before the replayed bars: no funding charged after it",)
    late = replay_account(SPEC, {"FOO": bars}, funding={"FOO": _funding("2022-06-05")})
    assert late.notes == ("FOO funding starts 2022-06-05 00:00: no funding charged before it",)
    assert late.frame["funding_paid"].iloc[-1] > 0.0
    ends = replay_account(SPEC, {"FOO": bars}, funding={"FOO": _funding("2022-05-01", 100)})
    assert ends.notes == ("FOO funding ends 2022-06-03 00:00: no funding charged after it",)


def test_prints_in_the_asked_window_but_outside_the_bars_are_said() -> None:
    # Bars ending 2022-06-10 23:00 replayed with --end 2022-06-20: the 27 prints from 2022-06-11 00:00
    # to the file's last (2022-06-19 16:00) are not charged.
    run = replay_account(SPEC, {"FOO": _bars(HOURS)}, funding={"FOO": _funding()}, end="2022-06-20")
    assert run.notes == (
        "FOO funding: 27 print(s) inside the asked window but outside the replayed bars (2022-06-01 00:00 to "
        "2022-06-11 00:00) not charged",
    )


def test_funding_of_another_instrument_is_refused() -> None:
    bars = _bars(HOURS)
    with pytest.raises(
        DataError,
        match=r"funding\['FOO'\] \(LATEUSDT_funding.csv\) is LATEUSDT, the position on FOO is FOOUSDT "
        r"\(asset LATE vs FOO\); give the funding of FOOUSDT",
    ):
        replay_account(SPEC, {"FOO": bars}, funding={"FOO": _funding(symbol="LATEUSDT")})
    with pytest.raises(DataError, match=r"is FOOUSDC, .* \(settled in USDC vs USDT\)"):
        replay_account(SPEC, {"FOO": bars}, funding={"FOO": _funding(symbol="FOOUSDC")})
    frame = _funding(symbol="LATEUSDT").to_frame("funding_rate")
    frame.attrs.update(symbol="LATEUSDT")
    with pytest.raises(DataError, match="asset LATE vs FOO"):
        replay_account(SPEC, {"FOO": bars}, funding={"FOO": frame})
    paid = replay_account(SPEC, {"FOO": bars}, funding={"FOO": _funding()}).frame["funding_paid"].iloc[-1]
    for same in ("FOOUSDT", "FOO/USDT:USDT", "FOO-USDT-SWAP", "funding"):  # the same contract, or no pair named
        run = replay_account(SPEC, {"FOO": bars}, funding={"FOO": _funding(symbol=same)})
        assert run.frame["funding_paid"].iloc[-1] == paid


def test_cli_refuses_another_coins_funding_file_and_prints_the_notes(tmp_path: Path) -> None:
    from levguard.cli.main import app

    spec = tmp_path / "acct.yaml"
    spec.write_text(
        "venue: binance-usdm\nmargin_mode: cross\nwallet_balance: 10000\npositions:\n"
        "  - {symbol: FOOUSDT, qty: 20000.0, entry_price: 0.48, mark_price: 0.48, mmr: 0.005}\n",
        encoding="utf-8",
    )
    bars = _bars(HOURS).assign(volume=1.0)
    bars.index.name = "timestamp"
    bars.to_csv(tmp_path / "FOOUSDT-PERP_1h.csv")
    for sym, start in (("LATEUSDT", "2022-05-01"), ("FOOUSDT", "2021-12-01")):
        rates = _funding(start, 93).rename("funding_rate").to_frame()
        rates.index.name = "timestamp"
        rates.to_csv(tmp_path / f"{sym}_funding.csv")
    args = ["replay-account", str(spec), "--prices", f"FOO={tmp_path / 'FOOUSDT-PERP_1h.csv'}"]
    late = CliRunner().invoke(app, [*args, "--funding", f"FOO={tmp_path / 'LATEUSDT_funding.csv'}"])
    assert late.exit_code != 0
    assert "is LATEUSDT, the position on FOO is FOOUSDT (asset LATE vs FOO)" in " ".join(late.output.split())
    early = CliRunner().invoke(app, [*args, "--funding", f"FOO={tmp_path / 'FOOUSDT_funding.csv'}"])
    assert early.exit_code == 0, early.output
    assert "note: FOO funding ends 2021-12-31 16:00, before the replayed bars" in " ".join(early.output.split())


def test_funding_inside_bars_another_asset_lacks_is_paid_after_them() -> None:
    # A unified account: BTC lacks 30 hours that FOO has, so those FOO bars are not replayed
    # either; the 3 FOO prints settling in them (hours 56, 64, 72) were dropped: now paid after the gap.
    spec = {
        "venue": "binance-pm",
        "balances": {"USDT": 5_000, "BTC": 0.1},
        "prices": {"BTC": 60_000},
        "positions": [SPEC["positions"][0]],
    }
    btc = _bars(HOURS, 60_000.0).drop(HOURS[50:80])
    foo = _bars(HOURS).assign(open=0.5)
    run = replay_account(spec, {"BTC": btc, "FOO": foo}, funding={"FOO": _funding()})
    assert run.frame["funding_paid"].iloc[-1] == pytest.approx(30 * 20_000 * 0.5 * 0.0001)
    assert run.notes[0].startswith("30 of FOO's bars are not replayed: BTC has no bar there")
    assert run.notes[1].startswith("FOO funding: 3 print(s) settle inside gaps between the bars")


def test_funding_is_paid_by_the_positions_of_its_instrument_only() -> None:
    """A review (2026-12-07): funding is keyed by coin, and one position of another instrument on
    the coin (BTCUSDC, or a dated future, beside the BTCUSDT perpetual) refused the whole series,
    whichever file was given.  The series now pays the positions of the instrument it names; the
    others pay none of it, said in the notes."""
    idx = pd.date_range("2022-06-01", periods=24 * 5, freq="1h", tz="UTC")
    o = 30_000.0 * (1.0 + 0.001 * np.sin(np.arange(len(idx))))
    bars = pd.DataFrame({"open": o, "high": o * 1.001, "low": o * 0.999, "close": o}, index=idx)
    rates = pd.DataFrame({"funding_rate": 0.0001}, index=pd.date_range("2022-05-25", periods=60, freq="8h", tz="UTC"))
    rates.attrs.update(symbol="BTCUSDT", source="BTCUSDT_funding.csv")
    perp = {"symbol": "BTCUSDT", "qty": 1.0, "entry_price": 30_000, "mark_price": 30_000, "mmr": 0.004}

    def paid(*others: dict[str, object]) -> tuple[float, tuple[str, ...]]:
        spec = {"venue": "binance-usdm", "margin_mode": "cross", "wallet_balance": 10_000, "positions": [perp, *others]}
        run = replay_account(spec, {"BTC": bars}, funding={"BTC": rates})
        return float(run.frame["funding_paid"].iloc[-1]), run.notes

    alone, _ = paid()
    usdc, notes = paid({"symbol": "BTCUSDC", "qty": 0.5, "entry_price": 30_000, "mark_price": 30_000, "mmr": 0.004})
    assert usdc == alone
    assert any("BTCUSDC (settled in USDT vs USDC) pay none of it" in n for n in notes)
    future, notes = paid({"symbol": "BTCUSDT_221230", "qty": -1.0, "entry_price": 30_500, "mark_price": 30_500,
                          "mmr": 0.004})  # fmt: skip
    assert future == alone
    assert any("BTCUSDT_221230 (perpetual vs future" in n for n in notes)
