"""Public sizing API: leverage policies, policy files, and sizing an account now.

>>> from levguard.sizing import VolatilityTarget, LiquidationBudget, Composite  # doctest: +SKIP

:func:`size_account` is what ``levguard size`` runs: the policy decides the account's gross
leverage (the context of its largest position tells venue-aware policies which tiers and
liquidation rules apply); portfolio policies give per-instrument allocations, otherwise the
target is split across positions in proportion to their current notional, keeping directions;
the rebalancing rules then turn the target into a trade.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from levguard.core.records import LegacyMapping, Record
from levguard.core.validate import annual_vol
from levguard.lazy import lazy_getattr

_EXPORTS: dict[str, str] = {
    "SizingState": "levguard.core.sizing.base",
    "SizingDecision": "levguard.core.sizing.base",
    "SeriesInputs": "levguard.core.sizing.base",
    "MarketContext": "levguard.core.sizing.base",
    "Policy": "levguard.core.sizing.base",
    "FixedLeverage": "levguard.core.sizing.base",
    "Composite": "levguard.core.sizing.base",
    "VolatilityTarget": "levguard.core.sizing.policies",
    "Kelly": "levguard.core.sizing.policies",
    "DrawdownControl": "levguard.core.sizing.policies",
    "CPPI": "levguard.core.sizing.policies",
    "GapCap": "levguard.core.sizing.policies",
    "Rebalancer": "levguard.core.sizing.policies",
    "TierCap": "levguard.core.sizing.venue",
    "LiquidationBudget": "levguard.core.sizing.venue",
    "HealthFactorTarget": "levguard.core.sizing.health",
    "LendingTerms": "levguard.core.sizing.health",
    "PortfolioCap": "levguard.core.sizing.portfolio",
    "RiskBudget": "levguard.core.sizing.portfolio",
    "RegimeSwitch": "levguard.core.sizing.regime",
    "load_policy_file": "levguard.config.policies",
    "parse_policy_config": "levguard.config.policies",
    "build_policy": "levguard.config.policies",
    "screen_walk_forward": "levguard.backtest.walkforward",
    # Deprecated alias of screen_walk_forward (the walk-forward is levguard.backtest.walk_forward).
    "walk_forward": "levguard.backtest.walkforward",
    "grid_search": "levguard.backtest.calibrate",
    "random_search": "levguard.backtest.calibrate",
    "evaluate_path": "levguard.backtest.calibrate",
}

__all__ = sorted([*_EXPORTS, "SizingReport", "size_account"])

__getattr__ = lazy_getattr("levguard.sizing", _EXPORTS, globals())


@dataclass(frozen=True, slots=True)
class SizingReport(LegacyMapping, Record):
    """An account sized under a policy (:func:`size_account`, ``levguard size``).

    :meth:`to_dict` is the JSON document ``levguard size --json`` prints.  Reading the report as
    a dict (``report["target_leverage"]``) is deprecated (it was a plain dict before this release).

    Attributes
    ----------
    venue, settlement : str
        The account's venue and settlement asset.
    equity : float
        Account equity (settlement units).
    volatility : float or None
        The annualised volatility the policy read (None when there was none).
    liquidation_forecast : dict or None
        The model behind P(liq) (None without one).
    current_leverage, target_leverage, after_rebalance : float
        Gross leverage now, the policy's target and what the rebalancing rules trade to.
    binding_constraint : str
        The constraint that set the target (e.g. ``vol_target``, ``liq_budget``).
    reasons : list of str
        Each constraint's reading, in the policy's order.
    positions : list of dict
        Per position: ``symbol, side, qty, current_leverage, target_leverage, target_qty,
        trade_qty, notional, liquidation_price, p_liq_1d, p_liq_7d, p_liq_30d, model, source``
        (``model`` and ``source``: the forecaster of its P(liq), None without one).
    notes : list of str
        What was read otherwise than given: histories of assets the account does not hold (not
        read), the one as-of of histories that end at different times.
    """

    venue: str
    equity: float
    settlement: str
    volatility: float | None
    liquidation_forecast: dict[str, Any] | None
    current_leverage: float
    target_leverage: float
    after_rebalance: float
    binding_constraint: str
    reasons: list[str]
    positions: list[dict[str, Any]]
    notes: list[str] = field(default_factory=list)


def size_account(
    source: Mapping[str, Any] | str | Path,
    policy: Mapping[str, Any] | str | Path,
    *,
    history: Any = None,
    vol: float | None = None,
    forecaster: Any = None,
    volatility: Mapping[str, float] | None = None,
    returns: Mapping[str, Any] | None = None,
    peak_equity: float | None = None,
) -> SizingReport:
    """Target leverage and quantity per position of an account under a policy file.

    Parameters
    ----------
    source : dict or path
        One account spec (docs/margin.md).
    policy : dict or path
        A policy file (docs/policies.md) or its content.
    history : DataFrame, path, mapping of asset to either, or a sequence of either, optional
        OHLC bars of the underlyings, hourly or finer (``mark_*`` columns when present), each of
        the asset it is given for or its symbol names, as :func:`levguard.risk.report.risk_report`
        reads them (:mod:`levguard.risk.histories`): per position, the liquidation forecaster of
        its own asset (:func:`levguard.risk.liquidation_forecaster`, fitted at the spec's
        ``as_of``, default the last bar's close) that the P(liq) columns read; the largest
        position's gives the liquidation budget's forecaster, the volatility forecast
        (GARCH(1,1)-t on daily returns, as in the risk report) and the daily returns estimator
        policies use.
    vol : float, optional
        Annualised volatility forecast of the positions whose asset has no history (or
        forecaster): the volatility policies read it for them, their P(liq) is the GBM closed
        form at it (the row's ``model`` and ``source`` say so).  A position whose asset has a
        history reads the history's volatility, as ``levguard risk`` and the guardian do; when
        every one has, ``vol`` is not read and ``notes`` say so.  Without it a position on an
        asset without a history is an InputError naming it.
    forecaster : LiquidationForecaster or mapping of symbol to one, optional
        Already fitted liquidation forecaster(s) (the guardian passes its own); override the
        history's.
    volatility : mapping of symbol to float, optional
        Volatility forecasts already made of the symbols whose asset has a history (the guardian
        passes its own, :meth:`levguard.live.forecasts.LiquidationForecasts.volatilities`): such
        a position reads it as it would its history's, before ``vol``.
    returns : mapping of symbol to 1-D array, optional
        Daily log returns (complete UTC days) already read of the symbols' histories (the guardian
        passes its own, :meth:`levguard.live.forecasts.LiquidationForecasts.returns`): the policy
        reads the largest position's when it has no history here, as it would its history's.

    peak_equity : float, optional
        The account's highest equity so far (settlement units; default: the spec's
        ``peak_equity``), which drawdown control and CPPI read; at least the equity now.  Without
        one such a policy sizes as at the peak and ``notes`` say so.

    A policy that finds no forecast (``no_forecast``) without the returns it reads is an
    InputError, not a target of 0x (which reads as "close everything").

    Returns
    -------
    SizingReport
        ``target_leverage``, ``binding_constraint``, ``reasons``, ``current_leverage``,
        ``after_rebalance``, ``liquidation_forecast`` (the model behind P(liq), None without one)
        and per position ``qty``, ``target_qty``, ``trade_qty`` and ``p_liq_1d``, ``p_liq_7d``,
        ``p_liq_30d`` (:func:`levguard.risk.forecast.position_forecasts`, the numbers
        ``levguard risk``, the guardian and the service show).
    """
    import numpy as np

    from levguard.config.policies import (
        build_policy,
        build_rebalancer,
        check_account_policy,
        load_policy_file,
        parse_policy_config,
    )
    from levguard.core.margin import evaluate, venue_tiers
    from levguard.core.risk.excursion import GbmForecaster
    from levguard.core.rules import get_venue
    from levguard.core.sizing.base import MarketContext, SizingState
    from levguard.core.spec import account_from_spec
    from levguard.errors import InputError
    from levguard.risk.forecast import forecaster_info, liquidation_forecaster, position_forecasts
    from levguard.risk.histories import (
        PriceHistory,
        book_as_of,
        ends_apart_note,
        history_of,
        history_source,
        hourly_of,
        largest_position,
        load_histories,
        unused_notes,
        vol_unused_note,
    )
    from levguard.risk.option_specs import as_of_ns
    from levguard.risk.report import load_portfolio, volatility_section

    specs = load_portfolio(source)
    if len(specs) != 1:
        raise InputError(f"size one account at a time, was given {len(specs)}")
    as_of = specs[0].get("as_of")
    spec = {
        k: v
        for k, v in specs[0].items()
        if k
        not in ("name", "options", "as_of", "vol_surfaces", "options_wallet_balance", "cross_collateral", "peak_equity")
    }
    if peak_equity is None and specs[0].get("peak_equity") is not None:
        peak_equity = specs[0]["peak_equity"]
    if peak_equity is not None:
        from levguard.core.validate import positive_number

        peak_equity = positive_number(peak_equity, "peak_equity")
    account = account_from_spec(spec)
    if not account.positions:
        raise InputError("the account has no positions to size; add the instrument with its current qty")
    pf = parse_policy_config(policy) if isinstance(policy, Mapping) else load_policy_file(policy)
    check_account_policy(pf, "policy" if isinstance(policy, Mapping) else str(policy))
    pol = build_policy(pf.policy)
    reb = build_rebalancer(pf.rebalance)
    report = evaluate(account)
    equity = report.equity
    if not equity > 0:
        raise InputError(f"the account's equity must be > 0 to size it, was {equity!r}")
    if vol is not None:
        vol = annual_vol(vol)
    import pandas as pd

    histories = load_histories(history)
    # Each position reads the history of its own asset, or the given volatility (or forecaster).
    of = history_of(
        histories, [p.symbol for p in account.positions], vol_given=vol is not None or forecaster is not None
    )
    when = pd.Timestamp(as_of_ns({"as_of": as_of}), tz="UTC") if as_of is not None else None
    used = list({id(h.frame): h for h in of.values() if h is not None}.values())
    notes = unused_notes(histories, [p.symbol for p in account.positions])
    if when is None:  # one as-of for the book: the latest time all its histories cover
        when, note = book_as_of(used)
    else:  # read at its as_of, as the guardian at now: say when the histories end far apart
        note = ends_apart_note(used, as_of=when)
    notes += [note] if note is not None else []
    fits: dict[int, tuple[float, Any, Any, dict[str, Any] | None]] = {}

    def fit(h: PriceHistory) -> tuple[float, Any, Any, dict[str, Any] | None]:
        # A history's volatility forecast, daily returns and (without a given forecaster) fitted
        # liquidation forecaster with its info: only the bars closed by the account's as_of.
        if id(h.frame) not in fits:
            try:
                _section, estimated, daily = volatility_section(h.frame, when)
            except InputError as exc:  # say which file
                raise InputError(f"{h.name}: {exc}") from None
            fitted_h, info_h = None, None
            if forecaster is None:
                hourly = hourly_of(h)  # an error names the file
                fitted_h = liquidation_forecaster(hourly, when)
                at = when if when is not None else hourly.index[-1] + pd.Timedelta("1h")
                info_h = forecaster_info(fitted_h, as_of=at, source=history_source(h.frame))
            fits[id(h.frame)] = (estimated, np.asarray(daily, dtype=np.float64), fitted_h, info_h)
        return fits[id(h.frame)]

    model = get_venue(account.venue)
    notional = {r.symbol: r.notional for r in report.positions}
    # Coin-settled notionals are converted to a common unit with the mark price.
    usd = {
        r.symbol: r.notional * (r.mark_price if p.instrument.inverse else 1.0)
        for p, r in zip(account.positions, report.positions, strict=True)
    }
    total = sum(usd.values())
    main_symbol = largest_position([r.symbol for r in report.positions], [usd[r.symbol] for r in report.positions])
    main = next(p for p in account.positions if p.symbol == main_symbol)
    main_h = of[main.symbol]
    # The policy reads the largest position's volatility, returns and forecaster.
    known = {str(k): annual_vol(v, f"volatility[{k!r}]") for k, v in (volatility or {}).items()}

    def own_vol(symbol: str) -> float | None:
        # The volatility of the history of the symbol's asset (its own, or one made elsewhere).
        h = of[symbol]
        return fit(h)[0] if h is not None else known.get(symbol)

    # The given vol is the volatility of a position whose asset has no history (none: the main one's).
    sigma: float | None = own_vol(main.symbol)
    sigma = vol if sigma is None else sigma
    given_returns = _given_returns(returns).get(main.symbol)
    main_returns = fit(main_h)[1] if main_h is not None else None
    if main_returns is None and given_returns is not None:
        main_returns = given_returns
    info: dict[str, Any] | None = None if main_h is None else fit(main_h)[3]

    def forecaster_of(symbol: str) -> Any:
        if forecaster is not None:
            return forecaster.get(symbol) if isinstance(forecaster, Mapping) else forecaster
        h = of[symbol]
        return None if h is None else fit(h)[2]

    main_forecaster = forecaster_of(main.symbol)
    if info is None and main_forecaster is not None:
        info = forecaster_info(main_forecaster, source="given forecaster")
    if sigma is None and info is not None and math.isfinite(info["annual_vol"]) and info["annual_vol"] > 0:
        # A forecaster without a vol (the guardian's): its volatility scale is the vol forecast.
        sigma = float(info["annual_vol"])
    # Each position's volatility: its own asset's history's, else the given one, else the main one.
    vols: dict[str, float | None] = {}
    for p in account.positions:
        own = own_vol(p.symbol)
        vols[p.symbol] = own if own is not None else vol if vol is not None else sigma
    if vol is not None and histories and all(h is not None for h in of.values()):
        notes.append(vol_unused_note(vol))
    shown: dict[str, dict[str, Any]] = {}
    for r in report.positions:
        f = forecaster_of(r.symbol)
        h = of[r.symbol]
        row_info = None if h is None or forecaster is not None else fit(h)[3]
        s_r = vols[r.symbol]
        if f is None and s_r is not None and math.isfinite(s_r) and s_r > 0:
            f = GbmForecaster(float(s_r))  # the closed-form special case: no bars of its asset
            why = "; no price history of its asset" if histories else ""
            row_info = forecaster_info(f, source=f"given volatility (closed-form GBM special case{why})")
            if info is None:
                info = row_info
        if f is not None:
            row_info = row_info or forecaster_info(f, source="given forecaster")
            shown[r.symbol] = {
                **position_forecasts([r], f)[0],
                "model": row_info["model"],
                "source": row_info["source"],
            }
    # A size-scaled rate (Deribit) read at the position's size would cap every leverage at that
    # size's rate: the context names the venue instead, and the policies solve the size the
    # leverage buys (levguard.core.sizing.caps.rate_cap).  Own rates (imr, size_coef) stay fixed.
    by_rates = main.tiers is None and main.imr is None and not main.params and model.rates(main) is not None
    context = MarketContext(
        venue=account.venue,
        symbol=main.symbol,
        side=main.side,
        tiers=None if by_rates else venue_tiers(model, main),  # by size (OKX) too: valued at the mark
        taker_fee_rate=model.taker_fee(main),
        contract_kind=main.instrument.kind.value,
        contract_size=main.instrument.contract_size,
    )
    eq_unit = equity * (main.mark_price if main.instrument.inverse else 1.0)
    current = total / eq_unit
    state = SizingState(
        equity=equity,
        price=main.mark_price,
        vol_forecast=sigma if sigma is not None and math.isfinite(sigma) and sigma > 0 else None,
        returns=main_returns,
        periods_per_year=365.0,
        current_leverage=current,
        context=context,
        # In the equity's unit (coins on an inverse account), as SizingState reads them.
        exposures={r.symbol: r.side * usd[r.symbol] * equity / eq_unit for r in report.positions},
        vols={k: v for k, v in vols.items() if v is not None},
        venues={r.symbol: account.venue for r in report.positions},
        liquidation_forecaster=main_forecaster,
        # The peak is at least the equity now (an equity above an older peak is the new peak).
        peak_equity=None if peak_equity is None else max(float(peak_equity), equity),
    )
    if peak_equity is None and _reads_peak(pol):
        notes.append(
            "the policy's drawdown control / CPPI reads the account's equity peak, which was not given "
            "(peak_equity in the spec, --peak-equity): sized as at the peak"
        )
    decision = pol.decide(state)
    nothing_given = not histories and vol is None and forecaster is None
    if decision.binding_constraint.endswith("no_forecast") and nothing_given and main_returns is None:
        # Sizing to zero because no input was given reads as "close everything": say what is missing.
        raise InputError(
            "the policy needs a volatility: give a price history (history=, --history FILE) "
            "or a volatility (vol=, --vol 0.6)"
        )
    if decision.binding_constraint.endswith("no_forecast") and nothing_given and main_returns is not None:
        # The returns given were read (finite: _given_returns) but gave no forecast.
        raise InputError(
            f"the policy's {decision.binding_constraint} has no forecast from the {len(main_returns)} daily "
            f"returns given of {main.symbol} (too few for its lookback?) and no volatility was given "
            f"(a price history: history=, --history FILE; or vol=, --vol 0.6): {'; '.join(decision.reasons)}"
        )
    if decision.binding_constraint.endswith("no_forecast"):
        # A policy that estimates from returns (Kelly's mu, a regime) found none, or too few for
        # its lookback: not a 0x target (the guardian then keeps its fixed target and alerts).
        where = (
            f"without the daily returns of a price history of {main.symbol} (history=, --history FILE)"
            if main_returns is None
            else f"from the {len(main_returns)} daily returns read of {main.symbol} (too few for its lookback?)"
        )
        raise InputError(
            f"the policy's {decision.binding_constraint} has no forecast {where}: {'; '.join(decision.reasons)}"
        )
    if len(account.positions) > 1:
        decision = _book_tier_cap(pol, decision, account, [usd[r.symbol] for r in report.positions], equity, eq_unit)
    target = decision.target_leverage
    after = reb.apply(current, target, eq_unit)
    rows = []
    suppressed = False
    for p, r in zip(account.positions, report.positions, strict=True):
        share = usd[r.symbol] / total if total > 0 else 0.0
        if decision.allocations:
            lev_i = abs(decision.allocations.get(r.symbol, 0.0)) * (after / target if target > 0 else 0.0)
        else:
            lev_i = after * share
        target_usd = lev_i * eq_unit
        # Back to contracts: linear notional = |qty| cs P; inverse (coin) = |qty| cs / P.
        per_contract = p.instrument.contract_size * (1.0 if p.instrument.inverse else p.mark_price)
        target_qty = p.side * target_usd / per_contract
        small = _below_min_order(model, p, target_qty)
        # The policy's own, before the rebalance rule and the venue's smallest order: what the
        # guardian aims at when it acts (it applies the venue's minimum itself, live/actions.py).
        policy_lev = abs(decision.allocations.get(r.symbol, 0.0)) if decision.allocations else target * share
        if small is not None:  # no order the venue would refuse: the position stays as it is
            notes.append(small)
            target_qty, lev_i = p.qty, usd[r.symbol] / eq_unit
            suppressed = True
        liq = shown.get(r.symbol, {})
        rows.append(
            {
                "symbol": r.symbol,
                "side": r.side_name,
                "qty": p.qty,
                "current_leverage": usd[r.symbol] / eq_unit,
                "target_leverage": lev_i,
                "policy_target_leverage": policy_lev,
                "target_qty": target_qty,
                "trade_qty": target_qty - p.qty,
                "notional": notional[r.symbol],
                "liquidation_price": r.liquidation_price,
                **{k: liq.get(k) for k in ("p_liq_1d", "p_liq_7d", "p_liq_30d", "model", "source")},
            }
        )
    if suppressed:  # what is traded: the rows kept at their quantity hold their leverage now
        after = math.fsum(row["target_leverage"] for row in rows)
    return SizingReport(
        venue=account.venue,
        equity=equity,
        settlement=report.settlement,
        volatility=sigma if sigma is None or math.isfinite(sigma) else None,
        liquidation_forecast=info,
        current_leverage=current,
        target_leverage=target,
        after_rebalance=after,
        binding_constraint=decision.binding_constraint,
        reasons=list(decision.reasons),
        positions=rows,
        notes=notes,
    )


def _given_returns(returns: Any) -> dict[str, Any]:
    """The ``returns`` argument of :func:`size_account` as ``{symbol: float64 array}``, each array
    checked (None values: no returns of that symbol).

    Raises InputError naming the symbol and the value: bools and strings (``True`` was a return of
    1.0, ``"a"`` a raw ValueError), non-finite returns (a NaN ended a Kelly's window and was
    reported as a missing volatility; an infinite one was skipped by the EWMA) and returns whose
    squares overflow (no variance: reported as a missing volatility).
    """
    import numpy as np

    from levguard.core.validate import array_1d, no_bools_or_strings, require_finite, require_squarable
    from levguard.errors import InputError

    if returns is None:
        return {}
    if not isinstance(returns, Mapping):
        raise InputError(f"returns must be a mapping of symbol to daily log returns, was {type(returns).__name__}")
    out: dict[str, Any] = {}
    for key, values in returns.items():
        if values is None:
            continue
        what = f"returns[{key!r}]"
        no_bools_or_strings(values, what)
        arr = np.array(array_1d(values, what))  # a copy: the caller's array is not the report's
        require_finite(arr, what)
        require_squarable(arr, what)
        out[str(key)] = arr
    return out


def _below_min_order(model: Any, position: Any, target_qty: float) -> str | None:
    """Why the trade from ``position.qty`` to ``target_qty`` (contracts) is one the venue refuses,
    or None: the part that opens or adds is below the venue's smallest order
    (:meth:`~levguard.core.rules.base.VenueModel.min_order_notional` at the mark), or a reduction
    below its minimum quantity (a linear contract's base units; an inverse one's is its minimum
    notional, in contracts of USD).  A reduction's notional is not bounded (reduce-only orders
    pass Binance's minimum notional), as the backtester reads the minimum."""
    qty = float(position.qty)
    if target_qty == qty:
        return None
    inst = position.instrument
    px = float(position.mark_price)
    # Base units (linear) or USD (inverse) per contract, and USD per contract.
    size = float(inst.contract_size)
    usd_per = size if inst.inverse else size * px
    opened = abs(target_qty) - abs(qty) if qty * target_qty > 0.0 else abs(target_qty)
    symbol = position.symbol
    if opened > 0.0:
        minimum = float(model.min_order_notional(symbol, px))
        if minimum > 0.0 and opened * usd_per < minimum * (1.0 - 1e-12):
            return (
                f"{symbol}: the trade of {target_qty - qty:+.6g} contracts opens {opened * usd_per:,.2f} USD, "
                f"below the venue's smallest order {minimum:,.2f} USD: no trade"
            )
        return None
    reduced = abs(qty) - abs(target_qty)
    floor = float(model.min_notional(symbol)) if inst.inverse else float(model.min_qty(symbol))
    amount = reduced * size
    if floor > 0.0 and amount < floor * (1.0 - 1e-12):
        unit = "USD" if inst.inverse else "base units"
        return (
            f"{symbol}: the reduction of {amount:.6g} {unit} is below the venue's minimum order {floor:g} "
            f"{unit}: no trade"
        )
    return None


def _reads_peak(policy: Any) -> bool:
    # Whether the policy (or a member of a composite or regime switch) reads the equity peak.
    from levguard.core.sizing.policies import CPPI, DrawdownControl

    if isinstance(policy, DrawdownControl):
        return True
    if isinstance(policy, CPPI):
        return policy.ratchet or policy.initial_equity is None
    members = getattr(policy, "policies", None)
    if isinstance(members, Mapping):
        members = tuple(members.values())
    return isinstance(members, tuple | list) and any(_reads_peak(m) for m in members)


def _tier_caps(policy: Any) -> list[Any]:
    # The members of a policy bounded by the venue's tiers (TierCap, and LiquidationBudget whose
    # upper end is the tier cap): itself, or inside composites and regime switches.
    from levguard.core.sizing.base import Composite
    from levguard.core.sizing.regime import RegimeSwitch
    from levguard.core.sizing.venue import LiquidationBudget, TierCap

    if isinstance(policy, TierCap | LiquidationBudget):
        return [policy]
    if isinstance(policy, Composite):
        return [tc for member in policy.policies for tc in _tier_caps(member)]
    if isinstance(policy, RegimeSwitch):
        return [tc for member in policy.policies.values() for tc in _tier_caps(member)]
    return []


def _book_tier_cap(policy: Any, decision: Any, account: Any, usd: list[float], equity: float, eq_unit: float) -> Any:
    """Bound a several-position target by every position's own tier cap (TierCap reads the largest
    position's context only): the largest gross whose book initial margin, each position on the
    tier of its own notional, is within the equity (:func:`levguard.core.sizing.caps.book_cap`)."""
    from types import MappingProxyType

    from levguard.core.sizing.base import SizingDecision
    from levguard.core.sizing.caps import book_cap

    caps = _tier_caps(policy)
    target = decision.target_leverage
    if not caps or not (math.isfinite(target) and target > 0.0):
        return decision
    symbols = [p.symbol for p in account.positions]
    # Portfolio members split the target their way; otherwise by current notional.
    allocated = decision.allocations
    weights = [abs(allocated.get(sym, 0.0)) for sym in symbols] if allocated else list(usd)
    total = math.fsum(weights)
    if not total > 0.0:
        return decision
    shares = [w / total for w in weights]
    per_lev = [
        p.side * s * eq_unit / (p.instrument.contract_size * (1.0 if p.instrument.inverse else p.mark_price))
        for p, s in zip(account.positions, shares, strict=True)
    ]
    book = book_cap(account, per_lev, equity, min(target, *(tc.cap for tc in caps)))
    if not book.leverage < target * (1.0 - 1e-12):
        return decision
    i = book.binding
    legs = ", ".join(
        f"{sym} {s:.0%} at its {lam:.4g}x cap" for sym, s, lam in zip(symbols, shares, book.max_leverage, strict=True)
    )
    why = (
        f"{symbols[i]}'s cap {book.max_leverage[i]:.4g}x binds the book: initial margin = equity at "
        f"{book.leverage:.4g}x gross ({legs})"
    )
    details = {**dict(decision.details), "book_tier_cap": book.leverage}
    allocations = {k: v * book.leverage / target for k, v in decision.allocations.items()}
    # Named after the tier cap when the policy has one (a liquidation budget's upper end is the
    # same tier bound): a composite of a budget and a tier cap named the budget.
    from levguard.core.sizing.venue import TierCap

    member = next((tc for tc in caps if isinstance(tc, TierCap)), caps[0])
    return SizingDecision(
        book.leverage,
        f"{member.name}:{symbols[i]}",
        (why, *decision.reasons),
        MappingProxyType(allocations),
        MappingProxyType(details),
    )
