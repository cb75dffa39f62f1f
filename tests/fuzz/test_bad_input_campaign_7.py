"""A seventh bad-input campaign (2026-12-06): names, loop rates, NaN and empty frames, and
InputErrors that named an internal helper's parameter instead of the public argument.

Each case was accepted, answered with a NaN, NaT or wrong number, raised an exception not from
levguard.errors, or named the wrong argument; each now raises a LevguardError naming the public
argument and the value, or answers as its docstring says.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from fuzz_inputs import MORPHO
from typer.testing import CliRunner

from levguard.backtest.metrics import compute_metrics
from levguard.cli.main import app
from levguard.core.liquidation_outcome import liquidation_outcome
from levguard.data import synth_market, validate_funding, validate_ohlcv
from levguard.data.frames import OHLCV_COLUMNS, make_funding_frame, make_ohlcv_frame
from levguard.data.synth import SynthConfig
from levguard.defi import morpho, oracles, risk
from levguard.defi.health_target import safe_borrow
from levguard.defi.loops import loop_position
from levguard.errors import DataError, InputError, LevguardError

runner = CliRunner()
NAN, INF = float("nan"), float("inf")
H = 3_600 * 10**9  # one hour in ns
T0 = 1_704_067_200 * 10**9  # 2024-01-01T00:00Z
ROOT = Path(__file__).resolve().parents[2]
AAVE = str(ROOT / "src" / "levguard" / "resources" / "samples" / "defi_aave.yaml")
MARKET = {
    "total_supply_assets": 10**12,
    "total_supply_shares": 10**18,
    "total_borrow_assets": 8 * 10**11,
    "total_borrow_shares": 8 * 10**17,
}
POSITION = {"borrow_shares": 8 * 10**15, "collateral": 10 * 10**18}
NO_DEBT = {"borrow_shares": 0, "collateral": 10 * 10**18}
LLTV = 86 * 10**16


def _bad(value: object) -> Any:
    # A bad value as the argument's type (for mypy): the point of the call is that it is not one.
    return value


def _one_line_exit_2(res: Any, needle: str) -> None:
    assert res.exit_code == 2, res.output
    assert res.stderr.count("\n") == 1, res.stderr
    assert res.stderr.startswith("levguard: error: "), res.stderr
    assert needle in res.stderr, res.stderr
    assert "Traceback" not in res.output


# --- 1. one short_name rule: symbols, asset names, token names, who re-enables an account ----------
def _store(tmp_path: Path) -> Any:
    from levguard.live.store import Store

    return Store(f"sqlite:///{tmp_path / 'tokens.db'}", create=True)


def _new_token(tmp_path: Path, name: str) -> Any:
    from levguard.service.auth import new_token

    store = _store(tmp_path)
    try:
        return new_token(store, name, "read")
    finally:
        store.close()


@pytest.mark.parametrize(
    ("call", "needle"),
    [
        pytest.param(
            lambda p: SynthConfig(symbol="B" * 10_000),
            "symbol must be a non-empty string of at most 100 printable characters, was 'BBB",
            id="synth-symbol-10000-chars",
        ),
        pytest.param(
            lambda p: SynthConfig(symbol="BTC\nSYNTH"),
            "symbol must be a non-empty string of at most 100 printable characters",
            id="synth-symbol-newline",
        ),
        pytest.param(lambda p: _new_token(p, ""), "name must be a non-empty string of at most 200", id="token-empty"),
        pytest.param(lambda p: _new_token(p, "  "), "name must be a non-empty string of at most 200", id="token-blank"),
        pytest.param(
            lambda p: _new_token(p, "ops\nadmin"), "name must be a non-empty string of at most 200", id="token-newline"
        ),
        pytest.param(
            lambda p: _new_token(p, "x" * 201), "name must be a non-empty string of at most 200", id="token-201-chars"
        ),
    ],
)
def test_short_names_are_checked_by_the_library(tmp_path: Path, call: Callable[[Path], Any], needle: str) -> None:
    with pytest.raises(InputError) as exc:
        call(tmp_path)
    assert needle in str(exc.value)


@pytest.mark.parametrize(
    "key",
    [pytest.param("B" * 21, id="21-chars"), pytest.param("", id="empty"), pytest.param("BT\tC", id="tab")],
)
def test_unified_asset_names_use_the_shared_rule(key: str) -> None:
    import levguard

    with pytest.raises(InputError, match=r"balances keys \(asset names\) must be a non-empty string of at most 20"):
        levguard.evaluate_account({"venue": "okx-mcm", "balances": {key: 1}, "prices": {"USDT": 1}})


@pytest.mark.parametrize(
    "symbol",
    [pytest.param("B" * 10_000, id="10000-chars"), pytest.param("", id="empty"), pytest.param("BTC\x00", id="nul")],
)
def test_data_synth_refuses_a_bad_symbol_in_one_line(tmp_path: Path, symbol: str) -> None:
    out = tmp_path / "btc.parquet"
    res = runner.invoke(app, ["data", "synth", "--symbol", symbol, "--years", "0.01", str(out)])
    _one_line_exit_2(res, "symbol must be a non-empty string of at most 100 printable characters")
    assert not out.exists()


@pytest.mark.parametrize(
    "by",
    [pytest.param("", id="empty"), pytest.param("   ", id="blank"), pytest.param("a\nb", id="newline"),
     pytest.param("x" * 10_000, id="10000-chars")],
)  # fmt: skip
def test_guard_enable_refuses_a_bad_by_before_opening_the_database(tmp_path: Path, by: str) -> None:
    cfg = {
        "database": f"sqlite:///{tmp_path / 'g.db'}",
        "alerts": {"log": False},
        "accounts": [{"name": "paper-btc", "venue": {"type": "paper", "wallet_balance": 10_000.0}}],
    }
    path = tmp_path / "guard.yaml"
    path.write_text(yaml.safe_dump(cfg))
    res = runner.invoke(app, ["guard-enable", str(path), "paper-btc", "--by", by])
    _one_line_exit_2(res, "--by must be a non-empty string of at most 100 printable characters")
    assert not (tmp_path / "g.db").exists()


# --- 2. the loop's yearly rates: (-1, 100], finite -------------------------------------------------
@pytest.mark.parametrize(
    ("arg", "value"),
    [
        pytest.param("supply_rate", -1, id="supply-minus-100pct"),
        pytest.param("supply_rate", -1.5, id="supply-minus-150pct"),
        pytest.param("supply_rate", NAN, id="supply-nan"),
        pytest.param("supply_rate", INF, id="supply-inf"),
        pytest.param("borrow_rate", -1, id="borrow-minus-100pct"),
        pytest.param("borrow_rate", -INF, id="borrow-minus-inf"),
        pytest.param("borrow_rate", "nan", id="borrow-nan-string"),
        pytest.param("staking_yield", -1, id="staking-minus-100pct"),
        pytest.param("staking_yield", 101, id="staking-10100pct"),
    ],
)
def test_loop_rates_at_or_below_minus_one_are_refused(arg: str, value: object) -> None:
    rates: dict[str, Any] = {"supply_rate": 0.02, "borrow_rate": 0.05, arg: value}
    with pytest.raises(InputError, match=rf"^{arg} must be in \(-1, 100\] \(a yearly rate"):
        loop_position(MORPHO, steps=1, **rates)


def test_loop_rates_just_above_minus_one_are_accepted() -> None:
    report = loop_position(MORPHO, steps=1, supply_rate=-0.99, borrow_rate=-0.5, staking_yield=-0.99)
    assert report.rates is not None
    assert report.rates.supply_apy == -0.99


@pytest.mark.parametrize(
    "option",
    [pytest.param("--supply-rate", id="supply"), pytest.param("--borrow-rate", id="borrow"),
     pytest.param("--staking-yield", id="staking")],
)  # fmt: skip
def test_defi_loop_cli_refuses_a_rate_of_minus_100pct(option: str) -> None:
    res = runner.invoke(app, ["defi", "loop", AAVE, option, "-1"])
    _one_line_exit_2(res, f"{option[2:].replace('-', '_')} must be in (-1, 100]")


@pytest.mark.parametrize(
    ("arg", "value"),
    [pytest.param("supply_rate", NAN, id="supply-nan"), pytest.param("borrow_rate", INF, id="borrow-inf"),
     pytest.param("staking_yield", -1.0, id="staking-minus-one")],
)  # fmt: skip
def test_loop_rates_function_names_its_bad_rate(arg: str, value: float) -> None:
    from fractions import Fraction

    from levguard.defi.loop_rates import loop_rates
    from levguard.defi.positions import load_position

    pos = load_position(MORPHO)
    rates: dict[str, float] = {"supply_rate": 0.02, "borrow_rate": 0.05, arg: value}
    with pytest.raises(InputError, match=rf"^{arg} must be in \(-1, 100\]"):
        loop_rates(pos, pos, "collateral", "loan", (Fraction(30_000), Fraction(20_000)), **rates)  # type: ignore[arg-type]


# --- 3. NaN, inf and empty input to the frame builders and compute_metrics ------------------------
def _ohlcv(ts: Any, n: int | None = None, **cols: Any) -> pd.DataFrame:
    k = n if n is not None else len(ts)
    o, h, lo, c = (cols.get(name, np.full(k, 100.0)) for name in ("open", "high", "low", "close"))
    return make_ohlcv_frame(ts, o, h, lo, c, cols.get("volume"), symbol="X", interval="1h", source="t")


def _funding(ts: object, rate: object) -> pd.DataFrame:
    return make_funding_frame(ts, rate, symbol="X", source="t", interval="8h")


@pytest.mark.parametrize(
    ("call", "needle"),
    [
        pytest.param(lambda: _ohlcv(np.array([T0, NAN])), "ts_ns[1] must be a whole number of nanoseconds", id="ohlcv-nan-time"),
        pytest.param(lambda: _ohlcv(np.array([T0, INF])), "ts_ns[1] must be a whole number of nanoseconds", id="ohlcv-inf-time"),
        pytest.param(lambda: _ohlcv(np.array([-INF, T0])), "ts_ns[0] must be a whole number of nanoseconds", id="ohlcv-minus-inf-time"),
        pytest.param(lambda: _ohlcv(np.array([0.0, 1.5])), "ts_ns[1] must be a whole number", id="ohlcv-fractional-time"),
        pytest.param(lambda: _ohlcv(pd.Series([T0, None])), "ts_ns[1] must be a whole number", id="ohlcv-series-with-none"),
        pytest.param(lambda: _ohlcv(np.array([T0, np.iinfo(np.int64).min])), "ts_ns[1] must be a time", id="ohlcv-nat-int"),
        pytest.param(
            lambda: _ohlcv(pd.DatetimeIndex(["2024-01-01", None], tz="UTC")), "ts_ns[1] must be a time, was NaT",
            id="ohlcv-nat-in-datetimeindex",
        ),
        pytest.param(
            lambda: _ohlcv(pd.DatetimeIndex(["2024-01-01", "2024-01-02"])), "ts_ns must be int64 nanoseconds",
            id="ohlcv-naive-datetimeindex",
        ),
        pytest.param(lambda: _funding(np.array([T0, NAN]), [0.1, 0.1]), "ts_ns[1] must be a whole number", id="funding-nan-time"),
        pytest.param(
            lambda: _funding(pd.DatetimeIndex([None, "2024-01-01"], tz="UTC"), [0.1, 0.1]), "ts_ns[0] must be a time",
            id="funding-nat-in-datetimeindex",
        ),
    ],
)  # fmt: skip
def test_frame_builders_refuse_a_time_that_is_not_one(call: Callable[[], Any], needle: str) -> None:
    with pytest.raises(DataError) as exc:
        call()
    assert needle in str(exc.value)


@pytest.mark.parametrize(
    "index",
    [pytest.param(pd.DatetimeIndex(["2024-01-01", "2024-01-01 01:00"], tz="UTC").as_unit(u), id=f"unit-{u}")
     for u in ("s", "ms", "us", "ns")],
)  # fmt: skip
def test_frame_builders_read_a_utc_datetimeindex_in_any_unit(index: pd.DatetimeIndex) -> None:
    expected = pd.DatetimeIndex(["2024-01-01", "2024-01-01 01:00"], tz="UTC")
    assert (_ohlcv(index).index == expected).all()
    assert (_funding(index, [0.1, 0.2]).index == expected).all()


@pytest.mark.parametrize(
    "build",
    [pytest.param(lambda: _ohlcv([]), id="ohlcv-list"),
     pytest.param(lambda: _ohlcv(np.zeros(0, np.int64), n=0), id="ohlcv-array"),
     pytest.param(lambda: _funding([], []), id="funding")],
)  # fmt: skip
def test_frame_builders_build_an_empty_frame_from_empty_arrays(build: Callable[[], pd.DataFrame]) -> None:
    frame = build()
    assert len(frame) == 0
    assert isinstance(frame.index, pd.DatetimeIndex)
    assert str(frame.index.tz) == "UTC"
    assert list(frame.columns) in (list(OHLCV_COLUMNS), ["funding_rate"])
    assert all(dtype == np.float64 for dtype in frame.dtypes)


@pytest.mark.parametrize(
    ("cols", "row"),
    [pytest.param({"close": [NAN, NAN, NAN]}, 0, id="all-nan-close"),
     pytest.param({"high": [100.0, NAN, 100.0]}, 1, id="nan-mid-high"),
     pytest.param({"low": [100.0, 100.0, INF]}, 2, id="inf-low"),
     pytest.param({"volume": [1.0, -INF, 1.0]}, 1, id="minus-inf-volume")],
)  # fmt: skip
def test_ohlcv_builder_keeps_non_finite_values_for_the_validator_to_name(cols: dict[str, Any], row: int) -> None:
    frame = _ohlcv([T0, T0 + H, T0 + 2 * H], **cols)
    (column, values), = cols.items()  # fmt: skip
    np.testing.assert_array_equal(frame[column].to_numpy(), values)
    _, report = validate_ohlcv(frame)
    assert not report.ok
    assert any(issue.rule == "nan" and issue.row == row and issue.column == column for issue in report.issues)


@pytest.mark.parametrize("rates", [pytest.param([NAN, NAN], id="all-nan"), pytest.param([0.0001, INF], id="inf")])
def test_funding_builder_keeps_non_finite_rates_for_the_validator_to_name(rates: list[float]) -> None:
    frame = _funding([T0, T0 + 8 * H], rates)
    np.testing.assert_array_equal(frame["funding_rate"].to_numpy(), rates)
    assert not validate_funding(frame)[1].ok


def _metrics(**changed: Any) -> dict[str, float]:
    n = len(changed.get("equity", [1_000.0, 1_010.0, 990.0]))
    args: dict[str, Any] = {
        "equity": np.array([1_000.0, 1_010.0, 990.0]),
        "initial_equity": 1_000.0,
        "periods_per_year": 365.0,
        "leverage": np.ones(n),
        "fees": np.zeros(n),
        "funding": np.zeros(n),
        "traded_notional": 0.0,
        "n_liquidations": 0,
        **changed,
    }
    return compute_metrics(args.pop("equity"), args.pop("initial_equity"), args.pop("periods_per_year"), **args)


@pytest.mark.parametrize(
    ("changed", "needle"),
    [
        pytest.param({"fees": np.array([0.0, NAN, 0.0])}, "fees[1] must be finite, was nan", id="fees-nan-mid"),
        pytest.param({"fees": np.full(3, NAN)}, "fees[0] must be finite, was nan", id="fees-all-nan"),
        pytest.param({"fees": np.array([0.0, 0.0, INF])}, "fees[2] must be finite, was inf", id="fees-inf"),
        pytest.param({"funding": np.array([0.0, -INF, 0.0])}, "funding[1] must be finite, was -inf", id="funding-minus-inf"),
        pytest.param({"funding": np.full(3, NAN)}, "funding[0] must be finite, was nan", id="funding-all-nan"),
    ],
)  # fmt: skip
def test_compute_metrics_refuses_non_finite_fees_and_funding(changed: dict[str, Any], needle: str) -> None:
    with pytest.raises(InputError) as exc:
        _metrics(**changed)
    assert needle in str(exc.value)


@pytest.mark.parametrize(
    ("changed", "needle"),
    [
        pytest.param({"equity": np.zeros(0)}, "equity must hold at least one bar, was empty", id="empty"),
        pytest.param({"equity": np.full(3, NAN)}, "equity[0] must be finite, was nan", id="equity-all-nan"),
        pytest.param({"equity": np.array([1_000.0, NAN, 990.0])}, "equity[1] must be finite", id="equity-nan-mid"),
        pytest.param({"equity": np.array([1_000.0, 990.0, -INF])}, "equity[2] must be finite, was -inf", id="equity-minus-inf"),
        pytest.param({"ruin_index": NAN}, "ruin_index must be an integer", id="ruin-index-nan"),
    ],
)  # fmt: skip
def test_compute_metrics_refuses_empty_and_non_finite_equity(changed: dict[str, Any], needle: str) -> None:
    with pytest.raises(InputError) as exc:
        _metrics(**changed)
    assert needle in str(exc.value)


def test_compute_metrics_documented_answers() -> None:
    # Non-finite leverage is skipped (none finite: NaN); one bar has no standard deviation;
    # fees after the ruin bar do not count (the run has stopped).
    m = _metrics(leverage=np.full(3, NAN))
    assert np.isnan(m["avg_leverage"])
    assert np.isnan(m["max_leverage"])
    assert np.isfinite(m["sharpe"])
    one = _metrics(equity=np.array([1_010.0]))
    assert np.isnan(one["volatility"])
    assert np.isnan(one["sharpe"])
    assert one["total_return"] == pytest.approx(0.01)
    ruined = _metrics(equity=np.array([1_000.0, 0.0, 0.0]), fees=np.array([1.0, 0.0, NAN]), ruin_index=1)
    assert ruined["fees_paid"] == 1.0
    assert np.isnan(ruined["sharpe"])


# --- 4. messages name the public argument ----------------------------------------------------------
def _oracle() -> Any:
    return oracles.MorphoChainlinkOracleV2(18, 6, base_feed_1_decimals=8, quote_feed_1_decimals=8)


@pytest.mark.parametrize(
    ("call", "error", "needle"),
    [
        pytest.param(lambda: morpho.health_factor(MARKET, POSITION, LLTV, _bad("x")), InputError,
                     "oracle_price must be an integer (uint256), was 'x'", id="morpho-hf-price-str"),
        pytest.param(lambda: morpho.health_factor(MARKET, POSITION, LLTV, -1), InputError,
                     "oracle_price must be an integer in the uint256 range, was -1", id="morpho-hf-price-negative"),
        pytest.param(lambda: morpho.health_factor(MARKET, NO_DEBT, LLTV, _bad(None)), InputError,
                     "oracle_price must be an integer (uint256), was None", id="morpho-hf-no-debt-price-none"),
        pytest.param(lambda: oracles.morpho_oracle_price(_oracle(), base_feed_1=_bad("x"), quote_feed_1=10**8), InputError,
                     "base_feed_1 must be an integer (int256), was 'x'", id="morpho-oracle-base-feed-str"),
        pytest.param(lambda: oracles.morpho_oracle_price(_oracle(), base_feed_1=10**8, quote_feed_1=_bad(1.5)), InputError,
                     "quote_feed_1 must be an integer (int256), was 1.5", id="morpho-oracle-quote-feed-float"),
        pytest.param(lambda: oracles.morpho_oracle_price(_oracle(), base_feed_1=-5, quote_feed_1=10**8),
                     oracles.MorphoOracleError, "negative answer: base_feed_1 = -5", id="morpho-oracle-negative-feed"),
        pytest.param(lambda: risk.position_risk(MORPHO, None, -1), InputError,
                     "horizons must be in (0, 30] days, was -1", id="position-risk-horizon-negative"),
        pytest.param(lambda: risk.position_risk(MORPHO, None, (1, 31)), InputError,
                     "horizons must be in (0, 30] days, was 31", id="position-risk-horizon-31-days"),
        pytest.param(lambda: safe_borrow(MORPHO, 1.5, max_leverage=_bad("x")), InputError,
                     "max_leverage must be a number, was 'x'", id="safe-borrow-max-leverage-str"),
        pytest.param(lambda: safe_borrow(MORPHO, 1.5, max_leverage=_bad(None)), InputError,
                     "max_leverage must be a number, was None", id="safe-borrow-max-leverage-none"),
    ],
)  # fmt: skip
def test_errors_name_the_public_argument(call: Callable[[], Any], error: type[Exception], needle: str) -> None:
    with pytest.raises(error) as exc:
        call()
    assert isinstance(exc.value, LevguardError)
    assert needle in str(exc.value)


def _loop_rates(**changed: Any) -> Any:
    from fractions import Fraction

    from levguard.defi.loop_rates import loop_rates
    from levguard.defi.positions import load_position

    pos = load_position(MORPHO)
    args: dict[str, Any] = {
        "start": pos,
        "end": pos,
        "collateral": "collateral",
        "debt": "loan",
        "values": (Fraction(30_000), Fraction(20_000)),
        "supply_rate": 0.02,
        "borrow_rate": 0.05,
    }
    args.update(changed)
    return loop_rates(**args)


def _aave_reserve_rates(state: object, debt_change: object = 0) -> Any:
    from levguard.defi.loop_rates import aave_reserve_rates

    return aave_reserve_rates(state, "3.3", debt_change)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("call", "needle"),
    [
        pytest.param(lambda: _loop_rates(start=1), "start must be an AavePosition or a MorphoPosition, was int 1",
                     id="loop-rates-start-int"),
        pytest.param(lambda: _loop_rates(state="x"), "state must be an AaveIrmState, a MorphoIrmState or None",
                     id="loop-rates-state-str"),
        pytest.param(lambda: _loop_rates(values="x"), "values must be a pair (collateral value, debt value), was 'x'",
                     id="loop-rates-values-str"),
        pytest.param(lambda: _loop_rates(values=None), "values must be a pair", id="loop-rates-values-none"),
        pytest.param(lambda: _loop_rates(totals=(1, "x")), "totals[1] must be a number, was 'x'",
                     id="loop-rates-totals-str"),
        pytest.param(lambda: _loop_rates(values=(1.0, NAN)), "values[1] must be >= 0, was nan",
                     id="loop-rates-values-nan"),
        pytest.param(lambda: _aave_reserve_rates("x"), "state must be a AaveReserveState, was str 'x'",
                     id="aave-reserve-rates-state-str"),
    ],
)  # fmt: skip
def test_loop_rate_functions_refuse_what_is_not_their_record(call: Callable[[], Any], needle: str) -> None:
    with pytest.raises(InputError) as exc:
        call()
    assert needle in str(exc.value)


def test_valid_calls_are_unchanged() -> None:
    assert morpho.health_factor(MARKET, NO_DEBT, LLTV, 10**36) == 2**256 - 1
    assert morpho.health_factor(MARKET, POSITION, LLTV, 1_000 * 10**24) >= 10**18
    assert oracles.morpho_oracle_price(_oracle(), base_feed_1=2_000 * 10**8, quote_feed_1=10**8) == 2_000 * 10**24
    assert SynthConfig(symbol="B" * 100).symbol == "B" * 100
    assert len(synth_market(years=0.01, seed=1, interval="1h").ohlcv) > 0


def test_a_numpy_datetime64_array_is_read_as_utc_in_any_unit() -> None:
    """NumPy's datetime64 carries no zone and means UTC (an aware index's ``.values`` is one);
    it was read before this campaign in ns, and is again in any unit (a review mend)."""
    aware = pd.DatetimeIndex(["2024-01-01", "2024-01-01 01:00"], tz="UTC")
    for ts in (
        aware.tz_convert(None).to_numpy(),
        aware.tz_convert(None).to_numpy().astype("datetime64[us]"),
        aware.tz_convert(None).to_numpy().astype("datetime64[s]"),
    ):
        frame = make_ohlcv_frame(
            ts, [1.0, 1.0], [1.0, 1.0], [1.0, 1.0], [1.0, 1.0], symbol="X", interval="1h", source="t"
        )
        assert frame.index.equals(aware.rename(frame.index.name))


def test_a_masked_datetime64_array_is_refused_and_a_liquidation_fee_above_10_percent_names_the_taker_fee() -> None:
    aware = pd.DatetimeIndex(["2024-01-01", "2024-01-01 01:00"], tz="UTC")
    masked = np.ma.masked_array(
        aware.tz_convert(None).to_numpy(), mask=[False, True]
    )  # its mask would have been read as a time
    with pytest.raises(DataError, match="naive datetimes"):
        make_ohlcv_frame(masked, [1.0, 1.0], [1.0, 1.0], [1.0, 1.0], [1.0, 1.0], symbol="X", interval="1h", source="t")
    with pytest.raises(InputError, match=r"taker_fee 0\.095 makes a liquidation fee of 0\.1025"):
        liquidation_outcome("deribit", 1.0, 60_000.0, 50_000.0, 1_000.0, taker_fee=0.095)


def test_timestamps_in_a_list_are_read_with_their_zones_and_naive_ones_are_named() -> None:
    """A list (or object array) of Timestamps or datetimes was refused as "not numbers"; each now
    counts with its own zone, converted to UTC, and a naive one is named by its index."""
    aware = pd.DatetimeIndex(["2024-01-01", "2024-01-01 01:00"], tz="UTC")
    tokyo = [aware[0].tz_convert("Asia/Tokyo"), dt.datetime(2024, 1, 1, 1, tzinfo=dt.UTC)]
    for ts in (list(aware), np.array(list(aware), dtype=object), tokyo):
        frame = make_ohlcv_frame(
            ts, [1.0, 1.0], [1.0, 1.0], [1.0, 1.0], [1.0, 1.0], symbol="X", interval="1h", source="t"
        )
        assert frame.index.equals(aware.rename(frame.index.name))
    with pytest.raises(
        DataError, match=r"ts_ns\[1\] must be a time with its zone \(UTC\), was the naive datetime 2024-01-01T01:00:00"
    ):
        make_ohlcv_frame([aware[0], dt.datetime(2024, 1, 1, 1)], [1.0] * 2, [1.0] * 2, [1.0] * 2, [1.0] * 2,
                         symbol="X", interval="1h", source="t")  # fmt: skip
    with pytest.raises(DataError, match=r"ts_ns\[1\] must be a time, was NaT"):  # NaT is a datetime too
        make_funding_frame([aware[0], pd.NaT], [0.0, 0.0], symbol="X", source="t")
    with pytest.raises(DataError, match="between 1677-09-22 and 2262-04-11"):
        make_ohlcv_frame([dt.datetime(3000, 1, 1, tzinfo=dt.UTC)], [1.0], [1.0], [1.0], [1.0], symbol="X",
                         interval="1h", source="t")  # fmt: skip


def test_a_taker_fee_that_makes_a_liquidation_fee_above_10_percent_is_refused_up_front() -> None:
    """Deribit charges its liquidation fee and the taker fee together: a taker fee of 9.5 % makes
    10.25 %.  VaR's revaluation and the stress scenarios refused it only when a scenario crossed
    the liquidation price (a note of the last session); now whatever the scenarios."""
    from levguard.core.risk.portfolio import revalue
    from levguard.core.risk.stress import Scenario, apply_scenario
    from levguard.core.spec import account_from_spec

    spec = {"venue": "deribit", "wallet_balance": 0, "positions": [
        {"symbol": "BTC_USDC-PERPETUAL", "qty": 1.0, "entry_price": 60_000.0, "mark_price": 60_000.0,
         "margin_mode": "isolated", "isolated_margin": 20_000.0, "taker_fee_rate": 0.095}]}  # fmt: skip
    account = account_from_spec(spec)
    with pytest.raises(InputError, match=r"taker_fee 0\.095 makes a liquidation fee of 0\.1025"):
        revalue(account, {"BTC": np.full((3, 1), 1.01)}, horizon_days=1.0)  # no scenario crosses
    with pytest.raises(InputError, match=r"taker_fee 0\.095 makes a liquidation fee of 0\.1025"):
        apply_scenario(account, Scenario("up", price_shock=0.01))
    ok = account_from_spec({**spec, "positions": [{**spec["positions"][0], "taker_fee_rate": 0.0005}]})
    assert revalue(ok, {"BTC": np.full((3, 1), 1.01)}, horizon_days=1.0).pnl.shape == (3,)
