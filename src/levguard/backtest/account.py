"""Replay a held cross or unified account through history: collateral at its haircut, every
position marked, funding paid, liquidation found bar by bar at the bar's joint extremes.

The strategy backtester (:mod:`levguard.backtest.engine`) trades one instrument from one wallet;
an account whose collateral is a coin (BTC backing an ETH short on Binance Portfolio Margin or a
Bybit Unified Trading Account) is liquidated by a joint move of several prices, so it is
replayed here: the account spec (docs/unified.md, docs/margin.md) is held as it is, every price
it depends on follows its asset's bars, and at each bar the venue's ratio is evaluated exactly
(:func:`levguard.core.risk.joint_stress.scenario_values`, the kernel of the liquidation surface)
at the bar's close and, with ``intrabar="corners"``, at every corner of the bar's ranges (each
asset at its high or its low: 2^K joint extremes), so a liquidation between closes is found.

>>> from levguard.backtest.account import replay_account  # doctest: +SKIP
>>> run = replay_account("unified_account.yaml", {"BTC": btc_bars, "ETH": eth_bars})  # doctest: +SKIP
"""

from __future__ import annotations

import copy
import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from levguard.core.positions import Account
from levguard.core.records import json_ready
from levguard.core.risk.joint_stress import JointAccount, breached, joint_account, scenario_values
from levguard.core.spec import account_from_spec
from levguard.core.symbols import base_asset, is_usd, listed_pair, other_instrument
from levguard.core.unified import UnifiedAccount, is_unified_spec, unified_account_from_spec
from levguard.core.unified_pm import is_portfolio_margin_spec
from levguard.data.frames import ns_to_interval, utc_frame, utc_time
from levguard.data.resample import bar_step_ns, in_gaps, sum_into_bars
from levguard.documents import load_spec
from levguard.errors import DataError, InputError

__all__ = ["AccountReplay", "replay_account"]

Intrabar = Literal["corners", "close"]
_OHLC = ("open", "high", "low", "close")


@dataclass(frozen=True, slots=True, eq=False)
class AccountReplay:
    """A held account replayed through history (see :func:`replay_account`).

    Attributes
    ----------
    venue, ratio_name : str
        The venue and the name of its account ratio (``uniMMR``, ``account_mm_rate``, ...).
    trigger : float
        The ratio's value at the liquidation trigger (``equity = c * MM``).
    intrabar : str
        ``"corners"`` or ``"close"`` (see :func:`replay_account`).
    frame : DataFrame
        One row per bar up to and including the liquidating one, indexed by bar open time (UTC):
        ``equity`` and ``mm`` (USD for a unified account, the settlement currency of a single
        wallet) and ``ratio`` at the close, ``funding_paid`` (cumulative, > 0 when paid),
        ``worst_equity``, ``worst_mm`` and ``worst_ratio`` (the bar's scenario with the least
        equity above ``c * MM``), ``liquidated``.
    liquidated_at : Timestamp or None
        Open time of the first bar in which a scenario liquidates the account.
    liquidation_prices : dict
        Asset -> price of the liquidating scenario (empty when not liquidated).
    equity_at_liquidation : float
        Equity in that scenario, before the venue's liquidation fees (NaN when not liquidated).
    notes : tuple of str
        What the replay could not see: bars one asset has inside the replayed span and another
        lacks (the replay runs on the bars every asset has, so a move inside such a gap is not
        replayed), bars no asset has inside it, and each funding series' coverage (prints
        settling inside a gap, charged at the bar after it; funding starting after the first bar
        or ending before the last; prints inside the asked window but outside the bars).
    """

    venue: str
    ratio_name: str
    trigger: float
    intrabar: str
    frame: pd.DataFrame = field(repr=False)
    liquidated_at: pd.Timestamp | None
    liquidation_prices: dict[str, float]
    equity_at_liquidation: float
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, object]:
        """JSON-ready summary; the frame as a list of rows with ISO times (NaN as None)."""
        out = {f: json_ready(getattr(self, f)) for f in ("venue", "ratio_name", "trigger", "intrabar")}
        out["liquidated_at"] = None if self.liquidated_at is None else self.liquidated_at.isoformat()
        out["liquidation_prices"] = dict(self.liquidation_prices)
        out["equity_at_liquidation"] = json_ready(self.equity_at_liquidation)
        out["notes"] = list(self.notes)
        rows = self.frame.reset_index(names="time")
        rows["time"] = rows["time"].map(lambda t: t.isoformat())
        out["frame"] = [json_ready(r) for r in rows.to_dict(orient="records")]
        return out


def _bars(frame: object, asset: str) -> pd.DataFrame:
    if not isinstance(frame, pd.DataFrame):
        raise InputError(f"prices[{asset!r}] must be a DataFrame of OHLC bars, was {type(frame).__name__}")
    mark = all(f"mark_{c}" in frame.columns for c in _OHLC)
    cols = [f"mark_{c}" for c in _OHLC] if mark else list(_OHLC)
    missing = [c for c in cols if c not in frame.columns]
    if missing:
        raise InputError(f"prices[{asset!r}] lacks column(s) {missing} (open, high, low, close or mark_*)")
    if not isinstance(frame.index, pd.DatetimeIndex) or frame.index.tz is None:
        raise InputError(f"prices[{asset!r}] needs a UTC DatetimeIndex of bar open times")
    out = utc_frame(frame[cols].astype(np.float64))  # the replay's rows are UTC, as a run's
    out.columns = list(_OHLC)
    values = out.to_numpy()
    bad = ~(np.isfinite(values) & (values > 0.0))
    if bad.any():
        i, j = np.argwhere(bad)[0]
        raise InputError(
            f"prices[{asset!r}] {_OHLC[j]} at {out.index[i]} must be a finite price > 0, was {float(values[i, j])!r}"
        )
    return out.sort_index()


def _funding_rates(raw: object, asset: str) -> pd.Series:
    series = raw["funding_rate"] if isinstance(raw, pd.DataFrame) and "funding_rate" in raw.columns else raw
    if not isinstance(series, pd.Series) or not isinstance(series.index, pd.DatetimeIndex):
        raise InputError(
            f"funding[{asset!r}] must be a Series (or a frame with funding_rate) indexed by UTC settlement times"
        )
    rates = series.astype(np.float64)
    if not np.isfinite(rates.to_numpy()).all():
        raise InputError(f"funding[{asset!r}] must hold finite rates (fractions per interval)")
    return rates.sort_index()


def _held(spec: Mapping[str, Any], opens: Mapping[str, float]) -> dict[str, Any]:
    """The spec with every non-USD price and mark at the first bar's open of its asset."""
    out = copy.deepcopy(dict(spec))
    out.pop("name", None)
    out.pop("as_of", None)
    raw_prices = out.get("prices") or {}
    if not isinstance(raw_prices, Mapping):
        raise InputError(f"prices must map each asset to its price, was {raw_prices!r}")
    prices = dict(raw_prices)
    for asset in list(prices) + [a for a in (out.get("balances") or {}) if not is_usd(str(a))]:
        name = str(asset).upper()
        if is_usd(name):
            continue
        if name not in opens:
            raise InputError(f"prices has no bars for balance asset {name!r}; give prices[{name!r}]")
        prices[name] = opens[name]
    if prices:
        out["prices"] = prices
    positions = []
    for i, p in enumerate(out.get("positions") or []):
        if not isinstance(p, Mapping):
            raise InputError(f"positions[{i}] must be a mapping, was {p!r}")
        base = base_asset(str(p.get("symbol", "")))
        if base not in opens:
            raise InputError(f"prices has no bars for positions[{i}] ({p.get('symbol')!r}); give prices[{base!r}]")
        positions.append({**p, "mark_price": opens[base]})
    out["positions"] = positions
    return out


def replay_account(
    spec: Mapping[str, Any] | str | Path,
    prices: Mapping[str, pd.DataFrame],
    *,
    funding: Mapping[str, pd.Series | pd.DataFrame] | None = None,
    start: str | pd.Timestamp | None = None,
    end: str | pd.Timestamp | None = None,
    intrabar: Intrabar = "corners",
) -> AccountReplay:
    """Hold an account through history and find where its venue liquidates it.

    Parameters
    ----------
    spec : mapping or path
        A unified-account spec (``binance-pm``, ``bybit-uta``, ``okx-mcm``; docs/unified.md) or a
        single-wallet spec whose positions are all cross (docs/margin.md).  Balances, positions
        (qty, entry price) and loans are held as given; each non-USD price and mark is replaced by
        the first bar's open of its asset.
    prices : mapping of asset -> DataFrame
        OHLC bars per asset (``BTC``, ``ETH``, ...: a balance's name or a position's base asset)
        with a UTC DatetimeIndex of bar open times; the ``mark_*`` columns when present.  One
        series per asset moves both its positions' marks and its balance's collateral price.
        The replay runs over the bars every asset has.
    funding : mapping of asset -> Series, optional
        Funding rates (fraction per interval, indexed by settlement time) of the perpetuals on
        that base asset: at a settlement inside the replay, each position pays ``q * open * rate``
        (a long pays a positive rate) at the open of the bar it falls in, from the account's
        USD balance.  A print settling inside a gap between the bars is paid at the open of the
        bar after the gap (the held position owes it; its mark inside the gap is unseen), and
        said in ``notes``, as is funding that starts late or ends early.  A series whose
        ``attrs["symbol"]`` names another instrument than the positions on the asset
        (:func:`levguard.core.symbols.other_instrument`) is refused.
    start, end : str or Timestamp, optional
        First and last bar open times replayed.
    intrabar : {"corners", "close"}
        ``"corners"`` (default) evaluates each bar at its close and at each joint extreme (every
        asset at its high or its low: the bar's worst joint move is one of these corners when the
        ratio is monotone in each price, as it is for held linear positions and collateral);
        ``"close"`` only at the close.

    Returns
    -------
    AccountReplay

    Raises
    ------
    InputError
        A spec error (naming field and value), bars missing for an asset the account depends on,
        non-positive prices, no bar in the window, or an isolated position; prices for an asset
        the spec names nowhere, or funding for an asset no position is on.
    DataError
        A funding series whose ``attrs["symbol"]`` names another instrument than a position on
        its asset (``LATEUSDT`` funding for a ``FOOUSDT`` position paid nothing without a word).

    Notes
    -----
    Each scenario is the exact evaluation of :func:`levguard.core.unified.evaluate_unified` (or
    the cross part of :func:`levguard.core.margin.evaluate`) at the moved prices, through the
    scenario kernel of :func:`levguard.core.risk.joint_stress.scenario_values`: tiered collateral
    ratios on the moved collateral values, tiered maintenance margin on the moved notionals.  The
    venue's trigger: ``equity <= c * MM`` (Binance PM ``uniMMR <= 1.05``, Bybit UTA account MM
    rate ``>= 100 %``; docs/unified.md).  Funding paid lowers the equity one for one (a USD
    balance counts at face value on these venues, negative or not).  Corners are conservative
    where assets reach their extremes at different times within the bar.
    """
    if intrabar not in ("corners", "close"):
        raise InputError(f"intrabar must be 'corners' or 'close', was {intrabar!r}")
    raw = load_spec(spec) if isinstance(spec, str | Path) else spec
    if not isinstance(raw, Mapping):
        raise InputError(f"spec must be a mapping or a path, was {type(raw).__name__}")
    if is_portfolio_margin_spec(raw):
        raise InputError(
            f"venue {raw.get('venue')!r} is a portfolio-margin account: the account replay holds haircut and "
            "cross accounts (levguard risk gives its ladder, surface and reverse stress)"
        )
    if not isinstance(prices, Mapping) or not prices:
        raise InputError("prices must map each asset (e.g. 'BTC') to its OHLC bars")
    bars = {str(a).upper(): _bars(f, str(a)) for a, f in prices.items()}
    index = None
    for b in bars.values():
        index = b.index if index is None else index.intersection(b.index)
    assert index is not None
    lo, hi = utc_time(start, "start", naive_datetime="utc"), utc_time(end, "end", naive_datetime="utc")
    if lo is not None:
        index = index[index >= lo]
    if hi is not None:
        index = index[index <= hi]
    if len(index) == 0:
        span = f" between {start} and {end}" if start is not None or end is not None else ""
        ranges = "; ".join(
            f"{a} {b.index[0]:%Y-%m-%d %H:%M} to {b.index[-1]:%Y-%m-%d %H:%M}" if len(b) else f"{a} none"
            for a, b in bars.items()
        )
        raise InputError(f"no bar common to every asset's prices{span} (bars: {ranges})")
    index = pd.DatetimeIndex(index)
    opens = {a: float(b["open"].to_numpy()[b.index.get_loc(index[0])]) for a, b in bars.items()}
    held = _held(raw, opens)
    account = unified_account_from_spec(held) if is_unified_spec(held) else account_from_spec(held)
    if isinstance(account, UnifiedAccount) and (account.coin_positions or account.options):
        what = account.coin_positions[0].symbol if account.coin_positions else account.options[0].symbol
        raise InputError(
            f"{what} is a COIN-M position or an option: the account replay holds linear positions and "
            "collateral only (its funding and marks are those of linear perpetuals)"
        )
    ja = joint_account(account)
    # Files for assets the spec names nowhere (the spec's own `prices` need their bars: _held).
    named = {str(a).upper() for key in ("prices", "balances") for a in (raw.get(key) or {})}
    unused = sorted(a for a in bars if a not in ja.assets and a not in named)
    if unused:  # its bars would cut the replay to the bars it shares with the rest
        raise InputError(
            f"prices for {', '.join(unused)}: the account holds nothing priced in "
            f"{'it' if len(unused) == 1 else 'them'} (its assets: {', '.join(ja.assets) or 'none'}); drop "
            f"{'it' if len(unused) == 1 else 'them'}"
        )
    assets = [a for a in ja.assets if a in bars]
    starts = index.as_unit("ns").asi8
    bar = bar_step_ns(starts)
    notes = _gaps(bars, assets, index) + _missing_bars(bars, assets, starts, bar)
    k, n = len(assets), len(index)
    base = np.asarray([opens[a] for a in assets])
    ohlc = {a: bars[a].loc[index] for a in assets}
    close = np.stack([ohlc[a]["close"].to_numpy() for a in assets], axis=1) / base
    if intrabar == "corners":
        corners = list(itertools.product((0, 1), repeat=k))
        lows = np.stack([ohlc[a]["low"].to_numpy() for a in assets], axis=1) / base
        highs = np.stack([ohlc[a]["high"].to_numpy() for a in assets], axis=1) / base
        scen = [close] + [np.where(np.asarray(c, dtype=bool), highs, lows) for c in corners]
    else:
        scen = [close]
    m = len(scen)
    factors = np.stack(scen, axis=1).reshape(n * m, k)
    equity, mm, _ = scenario_values(ja, assets, factors)
    asked = (None if lo is None else lo.value, None if hi is None else hi.value)
    paid, funding_notes = _funding_paid(account, funding, starts, bar, ohlc, asked)
    notes += funding_notes
    lent = _settle_borrowed(held, ja)
    equity, mm = _after_funding(ja, assets, factors, equity.reshape(n, m), mm.reshape(n, m), paid, lent)
    liq = breached(ja, equity, mm)
    cushion = equity - ja.multiple * mm
    worst = np.argmin(cushion, axis=1)
    rows = np.arange(n)
    hit = liq.any(axis=1)
    last = int(np.argmax(hit)) if hit.any() else n - 1

    def ratio(e: float, mm_: float) -> float:
        r = ja.ratio(e, mm_)
        return math.nan if r is None else float(r)

    frame = pd.DataFrame(
        {
            "equity": equity[:, 0],
            "mm": mm[:, 0],
            "ratio": [ratio(e, x) for e, x in zip(equity[:, 0], mm[:, 0], strict=True)],
            "funding_paid": paid,
            "worst_equity": equity[rows, worst],
            "worst_mm": mm[rows, worst],
            "worst_ratio": [ratio(e, x) for e, x in zip(equity[rows, worst], mm[rows, worst], strict=True)],
            "liquidated": hit,
        },
        index=index,
    ).iloc[: last + 1]
    liquidation_prices: dict[str, float] = {}
    at: pd.Timestamp | None = None
    eq_liq = math.nan
    if hit.any():
        j = int(np.argmax(np.where(liq[last], -cushion[last], -np.inf)))  # the deepest liquidating scenario
        at = pd.Timestamp(index[last])
        liquidation_prices = {a: float(factors[last * m + j, i] * base[i]) for i, a in enumerate(assets)}
        eq_liq = float(equity[last, j])
    return AccountReplay(
        venue=ja.venue,
        ratio_name=ja.ratio_name,
        trigger=float(ja.trigger),
        intrabar=intrabar,
        frame=frame,
        liquidated_at=at,
        liquidation_prices=liquidation_prices,
        equity_at_liquidation=eq_liq,
        notes=notes,
    )


def _gaps(bars: Mapping[str, pd.DataFrame], assets: list[str], index: pd.DatetimeIndex) -> tuple[str, ...]:
    """Say which bars of a held asset inside the replayed span another asset lacks.

    The replay runs on the bars every asset has; a gap in one asset's file drops the other
    assets' bars there (a crash inside the gap is not replayed; its funding is paid at the bar after
    the gap, :func:`_funding_coverage`).  Real
    archives have such gaps (Binance's BTCUSDT lacks hours that ETHUSDT has), so they are said,
    not refused.
    """
    notes = []
    for a in assets:
        own = bars[a].index
        extra = own[(own >= index[0]) & (own <= index[-1])].difference(index)
        if len(extra):
            first = extra[0]
            lacking = ", ".join(b for b, f in bars.items() if first not in f.index)
            notes.append(
                f"{len(extra):,} of {a}'s bars are not replayed: {lacking} has no bar there (first "
                f"{first.isoformat()}); a move inside such a gap is not seen"
            )
    return tuple(notes)


def _when(ns: int) -> str:
    return pd.Timestamp(int(ns), unit="ns", tz="UTC").strftime("%Y-%m-%d %H:%M")


def _missing_bars(
    bars: Mapping[str, pd.DataFrame], assets: list[str], starts: np.ndarray[Any, np.dtype[np.int64]], bar: int
) -> tuple[str, ...]:
    """Say how many bars inside the replayed span no held asset has (a gap in every file).

    A 3-day hole in a lone asset's file was replayed over without a word (the prices there and,
    before funding was placed after gaps, the 9 funding prints in it were not seen)."""
    own = [pd.DatetimeIndex(bars[a].index).as_unit("ns").asi8 for a in assets]
    union = np.unique(np.concatenate([t[(t >= starts[0]) & (t <= starts[-1])] for t in own]))
    gaps = (np.diff(union) - 1) // bar  # whole bars missing between two present ones
    if bar <= 1 or not (gaps > 0).any():
        return ()
    i = int(np.argmax(gaps))
    who = f"{assets[0]}'s prices" if len(assets) == 1 else "any asset's prices"
    count = int(np.count_nonzero(gaps > 0))
    span = f"{count:,} gaps, the longest" if count > 1 else "1 gap"
    return (
        f"{int(gaps.sum()):,} {ns_to_interval(bar)} bar(s) inside the replayed span are missing from {who} "
        f"({span} from {_when(int(union[i]) + bar)} to {_when(int(union[i + 1]))}): "
        "a move inside a gap is not seen",
    )


def _same_instrument(raw: object, asset: str, positions: list[Any], notes: list[str]) -> list[Any]:
    """The positions on ``asset`` that the funding series pays: those of the instrument its
    ``attrs["symbol"]`` names (:func:`~levguard.core.symbols.other_instrument`, as the backtester
    checks its funding file against its bars), all of them when it names no pair.  The others
    (a USDC-settled perpetual or a dated future beside the USDT perpetual whose prints these are)
    pay none of it, said in ``notes``; DataError when it pays none of them (``LATEUSDT`` funding
    for a ``FOOUSDT`` position paid 0.00)."""
    attrs = getattr(raw, "attrs", {}) or {}
    theirs = listed_pair(str(attrs.get("symbol") or ""))
    if theirs is None:
        return positions
    why = {p.symbol: other_instrument(theirs, p.symbol) for p in positions}
    paid = [p for p in positions if why[p.symbol] is None]
    source = attrs.get("source") or "series"
    if positions and not paid:
        p = positions[0]
        raise DataError(
            f"funding[{asset!r}] ({source}) is {theirs}, the position on {asset} is "
            f"{p.symbol} ({why[p.symbol]}); give the funding of {p.symbol}"
        )
    others = [f"{p.symbol} ({why[p.symbol]})" for p in positions if why[p.symbol] is not None]
    if others:
        notes.append(f"funding[{asset!r}] ({source}) is {theirs}'s: {', '.join(others)} pay none of it")
    return paid


def _funding_coverage(
    t: np.ndarray[Any, np.dtype[np.int64]],
    starts: np.ndarray[Any, np.dtype[np.int64]],
    bar: int,
    asked: tuple[int | None, int | None],
) -> tuple[np.ndarray[Any, np.dtype[np.int64]], list[str]]:
    """The settlement times ``t`` as :func:`sum_into_bars` should book them, and what to say.

    A print inside a gap between bars is moved to the next bar's open (the replay's positions are
    held through the gap, so the print is owed; it was dropped: 9 prints, 4.81 of 13.81 paid, a
    hunt's 3-day hole).  Coverage notes follow :func:`levguard.data.perp.perp_frame`'s: funding
    starting more than one print spacing after the first bar or ending more than two before the
    span's end, and prints inside the asked ``[start, end]`` but outside the bars."""
    span_end = int(starts[-1]) + bar
    if len(t) == 0:
        return t, ["funding series is empty: no funding charged"]
    inside = (t >= starts[0]) & (t < span_end)
    in_gap = in_gaps(starts, bar, t)
    moved = t.copy()
    moved[in_gap] = starts[np.searchsorted(starts, t[in_gap])]  # the open after the gap
    notes = []
    spacing = int(np.median(np.diff(t))) if len(t) > 1 else 8 * 3_600 * 10**9
    if int(t[0]) - int(starts[0]) > spacing:
        after = ", after the replayed bars" if t[0] >= span_end else ""
        notes.append(f"funding starts {_when(int(t[0]))}{after}: no funding charged before it")
    if span_end - int(t[-1]) > 2 * spacing:
        before = ", before the replayed bars" if t[-1] < starts[0] else ""
        notes.append(f"funding ends {_when(int(t[-1]))}{before}: no funding charged after it")
    lo, hi = asked
    outside = ~inside & (t >= (starts[0] if lo is None else lo)) & (t <= (span_end - 1 if hi is None else hi))
    if outside.any():
        notes.append(
            f"funding: {int(outside.sum()):,} print(s) inside the asked window but outside the replayed bars "
            f"({_when(int(starts[0]))} to {_when(span_end)}) not charged"
        )
    if in_gap.any():
        notes.append(
            f"funding: {int(in_gap.sum()):,} print(s) settle inside gaps between the bars: each is charged at the "
            "open of the bar after its gap, at that bar's price (the position is held through the gap)"
        )
    return moved, notes


def _settle_borrowed(spec: Mapping[str, Any], ja: JointAccount) -> float:
    """The coins of the settlement asset (USDT) the spec's ``borrowed`` lends (0 without)."""
    if ja.settle < 0 or not isinstance(spec.get("borrowed"), Mapping):
        return 0.0
    name = ja.bal_asset[ja.settle]
    return math.fsum(float(v) for k, v in spec["borrowed"].items() if str(k).upper() == name)


def _after_funding(
    ja: JointAccount,
    assets: list[str],
    factors: np.ndarray[Any, np.dtype[np.float64]],
    equity: np.ndarray[Any, np.dtype[np.float64]],
    mm: np.ndarray[Any, np.dtype[np.float64]],
    paid: np.ndarray[Any, np.dtype[np.float64]],
    lent: float = 0.0,
) -> tuple[np.ndarray[Any, np.dtype[np.float64]], np.ndarray[Any, np.dtype[np.float64]]]:
    """The (bars, scenarios) ``equity`` and ``mm`` after the cumulative funding ``paid`` (USDT)
    at each bar.

    A unified account's funding is paid from (or into) its USDT balance, which its collateral
    tiers value: the equity is the engine's with ``n_USDT - paid`` (OKX counts USDT above
    5,000,000 at 0.9: 6,000,000 USDT receiving 60,000 is worth 5,954,000, not 5,960,000).  With
    ``loan_mmr`` the USDT owed is ``max(lent, -n_USDT)`` (``lent``: the spec's ``borrowed``
    USDT), so funding that deepens a negative balance deepens the loans' MM as the engine's
    (USDT -20,000 paying 3,000: MM 2,600 with loan_mmr 0.1, was kept at 2,300).  A single
    wallet's funding changes its equity at face value, not its MM."""
    if not isinstance(ja.source, UnifiedAccount) or ja.settle < 0 or not paid.any():
        return equity - paid[:, None], mm
    n, m = equity.shape
    rows = factors.reshape(n, m, -1)
    out, out_mm = equity.copy(), mm.copy()
    for value in np.unique(paid[paid != 0.0]):
        at = paid == value
        net, loan = ja.asset_net.copy(), ja.asset_loan.copy()
        net[ja.settle] -= value
        loan[ja.settle] = max(lent, -net[ja.settle], 0.0) * ja.source.loan_mmr
        e, mm_, _ = scenario_values(
            replace(ja, asset_net=net, asset_loan=loan), assets, rows[at].reshape(-1, rows.shape[2])
        )
        out[at], out_mm[at] = e.reshape(-1, m), mm_.reshape(-1, m)
    return out, out_mm


def _funding_paid(
    account: Any,
    funding: Mapping[str, pd.Series | pd.DataFrame] | None,
    starts: np.ndarray[Any, np.dtype[np.int64]],
    bar: int,
    ohlc: Mapping[str, pd.DataFrame],
    asked: tuple[int | None, int | None] = (None, None),
) -> tuple[np.ndarray[Any, np.dtype[np.float64]], tuple[str, ...]]:
    """Cumulative funding paid (USD) at each bar, booked at the open of the bar each settlement
    time falls in (``[t, t + bar)``, the bars' commonest step: :func:`levguard.data.resample.sum_into_bars`,
    as the backtester's prints reach its bars): hourly prints on 4-hour bars, or a print a
    millisecond after the hour, were dropped unless they fell exactly on a bar's open.  A print
    inside a gap is booked at the bar after it; the notes say so and each series' coverage
    (:func:`_funding_coverage`)."""
    paid = np.zeros(len(starts))
    notes: list[str] = []
    if not funding:
        return paid, ()
    positions = account.positions if isinstance(account, Account) else account.positions.positions
    held = sorted({base_asset(p.symbol) for p in positions})
    # Rates for an asset no position is on would pay nothing without a word (as prices for an
    # unheld asset are refused in replay_account).
    unused = sorted({str(a).upper() for a in funding} - set(held))
    if unused:
        them = "it" if len(unused) == 1 else "them"
        raise InputError(
            f"funding for {', '.join(unused)}: the account holds no position on {them} "
            f"(its positions: {', '.join(held) or 'none'}); drop {them}"
        )
    for asset, raw in funding.items():
        name = str(asset).upper()
        rates = _funding_rates(raw, name)
        mine = _same_instrument(raw, name, [p for p in positions if base_asset(p.symbol) == name], notes)
        if any(p.instrument.inverse for p in mine):
            raise InputError(f"funding[{name!r}]: funding of inverse positions is not replayed; give linear ones")
        if mine and name not in ohlc:
            raise InputError(f"funding[{name!r}] needs prices[{name!r}] (the payment is q * open * rate)")
        q = sum(p.qty * p.instrument.contract_size for p in mine)
        if q == 0.0:
            continue
        t, said = _funding_coverage(pd.DatetimeIndex(rates.index).as_unit("ns").asi8, starts, bar, asked)
        notes.extend(f"{name} {note}" for note in said)
        opens = ohlc[name]["open"].to_numpy()
        rate = sum_into_bars(starts, bar, t, rates.to_numpy())
        step = np.zeros(len(starts))
        due = rate != 0.0
        step[due] = q * opens[due] * rate[due]
        paid += np.cumsum(step)
    return paid, tuple(notes)
