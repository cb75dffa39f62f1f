"""The HealthFactorTarget policy on a real position: exact health by leverage, and the safe borrow.

:class:`PositionLeverage` gives :class:`levguard.core.sizing.health.HealthFactorTarget` the
health factor and the liquidation distance of a one-collateral, one-debt position at any
leverage, from the protocols' exact engines (not the closed form :class:`~levguard.core.sizing.
health.LendingTerms`); :func:`safe_borrow` runs the policy with the liquidation forecaster fitted
on the position's collateral / debt ratio (:func:`levguard.defi.risk.ratio_forecaster`) and
reads the answer back in tokens.

Examples
--------
>>> from levguard.defi.health_target import safe_borrow
>>> spec = {"protocol": "morpho-blue", "collateral_symbol": "WETH", "loan_symbol": "USDC",
...         "lltv": 0.86, "collateral": 10, "borrow": 10_000, "collateral_price": 3_000,
...         "collateral_decimals": 18, "loan_decimals": 6}
>>> r = safe_borrow(spec, target_hf=1.5)   # 30,000 x 0.86 / 1.5 = 17,200 of debt in all
>>> r.binding_constraint, round(r.leverage, 4), round(r.borrow, 2), round(r.health_factor, 6)
('target_hf', 2.3438, 7200.0, 1.5)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from fractions import Fraction

from levguard.core.defi.aave import AaveReserve, collateral_ltv
from levguard.core.defi.morpho import VIRTUAL_SHARES, Market, Position
from levguard.core.defi.wadray import RAY
from levguard.core.records import JsonRecord
from levguard.core.sizing.base import SizingState
from levguard.core.sizing.health import HealthFactorTarget
from levguard.core.validate import show
from levguard.defi import _aave_analytics as _aave
from levguard.defi import _morpho_analytics as _morpho
from levguard.defi.analytics import Spec, _debts, _pick, liquidation_price, max_safe_borrow, repay_to_target
from levguard.defi.positions import DefiPosition, MorphoPosition, load_position
from levguard.defi.risk import BarsSource, ratio_forecaster
from levguard.errors import InputError

__all__ = ["PositionLeverage", "SafeBorrow", "safe_borrow"]

_WAD = 10**18


def _ceil(x: Fraction) -> int:
    return -((-x.numerator) // x.denominator)


class PositionLeverage:
    """The exact health of a one-collateral, one-debt position by leverage (``collateral / equity``).

    At leverage ``L`` the position holds ``floor(L E / p)`` collateral tokens' smallest units and
    owes ``ceil((L - 1) E / q)`` of the debt token (``E`` its equity now, ``p``, ``q`` the oracle
    prices): a loop that swaps borrowed funds into collateral at the oracle price.  The health
    factor is the engine's (Aave ``getUserAccountData``, Morpho ``wDivDown(maxBorrow,
    borrowed)``, the position alone in its market); the liquidation distance is ``1 - p* / p``
    with ``p*`` the exact liquidation price (:func:`levguard.defi.analytics.liquidation_price`).
    ``max_leverage`` is ``1 / (1 - LTV)`` (Aave: the LTV the Pool lends at,
    :func:`levguard.core.defi.aave.collateral_ltv`: the reserve's, e-mode's in e-mode, 0 for a
    reserve whose own LTV is 0 before 3.6 or that is in its category's ltvzero set from 3.6;
    Morpho: the LLTV).

    Parameters
    ----------
    spec : mapping, path or position
        One collateral and one debt with balances (Aave: other reserves hold nothing).
    collateral, debt : str, optional
        Aave symbols, needed when the position lists several candidates.

    Raises
    ------
    InputError
        Not exactly one collateral and one debt, or equity <= 0.
    """

    def __init__(self, spec: Spec, collateral: str | None = None, debt: str | None = None) -> None:
        pos = load_position(spec)
        self.position = pos
        if isinstance(pos, MorphoPosition):
            if pos.position.borrow_shares == 0 or pos.position.collateral == 0:
                raise InputError("the position needs collateral and debt (leverage = collateral / equity)")
            self.collateral_symbol, self.debt_symbol = pos.collateral_symbol, pos.loan_symbol
            # Values in the loan token's smallest units.
            coll = Fraction(pos.position.collateral * pos.oracle_price, 10**36)
            owed = Fraction(_morpho.borrowed(pos))
            self.collateral_unit = Fraction(pos.oracle_price, 10**36)  # value of one collateral unit
            self.debt_unit = Fraction(1)
            ltv = Fraction(pos.lltv, _WAD)
            self.price = pos.oracle_price
        else:
            held = [r.symbol for r in pos.reserves if r.collateral > 0]
            c = _pick(pos, collateral, held, "collateral", "collateral")
            d = _pick(pos, debt, _debts(pos), "debt", "debt")
            if c == d:
                raise InputError(f"collateral and debt must be two reserves, were both {c!r}")
            for r in pos.reserves:
                if r.symbol not in (c, d) and (r.collateral or r.debt):
                    raise InputError(f"{r.symbol} holds a balance: leverage needs one collateral and one debt")
            cr, dr = pos.reserve(c), pos.reserve(d)
            if cr.debt or dr.collateral:
                raise InputError(f"{c} must hold no debt and {d} no collateral")
            self.collateral_symbol, self.debt_symbol = c, d
            self.collateral_unit = Fraction(cr.price, 10**cr.decimals)  # base (USD 1e-8) per smallest unit
            self.debt_unit = Fraction(dr.price, 10**dr.decimals)
            coll = cr.collateral * self.collateral_unit
            owed = dr.debt * self.debt_unit
            # The LTV the Pool lends at (e-mode's only where the reserve's own is not 0 before 3.6).
            ltv = Fraction(collateral_ltv(cr, pos.emode_category, pos.version), 10_000)
            self.price = cr.price
        self.equity = coll - owed
        if self.equity <= 0:
            raise InputError(f"the position's equity must be > 0, was {float(self.equity):.6g} (collateral - debt)")
        self.leverage_now = float(coll / self.equity)
        self._max_leverage = math.inf if ltv >= 1 else float(1 / (1 - ltv))
        self._cache: dict[float, tuple[float, float]] = {}

    @property
    def max_leverage(self) -> float:
        """``1 / (1 - LTV)``."""
        return self._max_leverage

    def units(self, leverage: float) -> tuple[int, int]:
        """Collateral and debt in smallest units at ``leverage`` (the equity held)."""
        lev = Fraction(leverage)
        coll = int(lev * self.equity / self.collateral_unit)
        debt = _ceil(max(lev - 1, Fraction(0)) * self.equity / self.debt_unit)
        return coll, debt

    def position_at(self, leverage: float) -> DefiPosition:
        """The position at ``leverage``, in contract units."""
        coll, debt = self.units(leverage)
        pos = self.position
        if isinstance(pos, MorphoPosition):
            shares = debt * VIRTUAL_SHARES  # toSharesUp on the position's own empty market
            market = Market(debt, shares, debt, shares)
            return replace(pos, market=market, position=Position(shares, coll), market_given=False)

        # A position built at that leverage, not one grown from the scaled balances held: its
        # balances stand alone (index RAY; the health factor reads balances only).
        def fresh(r: AaveReserve, coll: int, debt: int) -> AaveReserve:
            r = replace(r, liquidity_index=RAY, variable_borrow_index=RAY, balance_rounding="half_up")
            return replace(r, collateral=coll, debt=debt)

        rows = tuple(
            fresh(r, coll, 0)
            if r.symbol == self.collateral_symbol
            else fresh(r, 0, debt)
            if r.symbol == self.debt_symbol
            else r
            for r in pos.reserves
        )
        return replace(pos, reserves=rows)

    def _evaluate(self, leverage: float) -> tuple[float, float]:
        if leverage not in self._cache:
            pos = self.position_at(leverage)
            if isinstance(pos, MorphoPosition):
                wad = _morpho.hf(pos)
                lp = liquidation_price(pos)
            else:
                wad = _aave.account(pos).health_factor
                lp = liquidation_price(pos, self.collateral_symbol)
            if wad < _WAD:
                d = 0.0
            elif lp.price is None:
                d = math.inf
            else:
                d = float(1 - Fraction(lp.price, self.price))
            self._cache[leverage] = (_aave.hf_float(wad), d)
        return self._cache[leverage]

    def health_factor(self, leverage: float) -> float:
        """The engine's health factor at ``leverage`` (``inf`` for ``L <= 1``)."""
        return math.inf if leverage <= 1.0 else self._evaluate(leverage)[0]

    def liquidation_distance(self, leverage: float) -> float:
        """``1 - p* / p`` at ``leverage`` (``inf`` for ``L <= 1``, 0 when liquidatable)."""
        return math.inf if leverage <= 1.0 else self._evaluate(leverage)[1]


@dataclass(frozen=True, slots=True)
class SafeBorrow(JsonRecord):
    """The most a position may borrow under :class:`~levguard.core.sizing.health.HealthFactorTarget`.

    Attributes
    ----------
    collateral_symbol, debt_symbol : str
    leverage, current_leverage : float
        ``collateral / equity``: the policy's answer and now.
    binding_constraint : str
        ``target_hf``, ``hf_budget``, ``protocol_ltv``, ``max_leverage`` or ``no_forecast``.
    reasons : tuple of str
    borrow : float
        Debt tokens that may still be borrowed with the collateral held as it is (negative: to
        repay): ``C (L - 1) / L`` of debt value in all, ``C`` the collateral's value, bounded by
        the exact engine (``borrow_units`` in whole tokens).
    borrow_units : int
        The same in the debt token's smallest units: a borrow at most
        :func:`levguard.defi.analytics.max_safe_borrow` at ``target_hf``, a repayment at least
        :func:`levguard.defi.analytics.repay_to_target`'s, so the position holds HF >= target
        after it; on Morpho a repayment is at most the largest ``Morpho.repay`` accepts by assets
        (:func:`levguard.defi._morpho_analytics.max_repay_by_assets`: the whole debt can burn
        more shares than owed and revert).
    loop_collateral, loop_debt : float
        Tokens held at ``leverage`` by looping (borrowed funds swapped into collateral at the
        oracle price, the equity held).
    health_factor : float
        Exact, at ``leverage`` (``inf`` at 1).
    prob_hf_below_1 : float or None
        At ``leverage``, within ``horizon_days`` (None without a budget).
    horizon_days : float or None
    """

    collateral_symbol: str
    debt_symbol: str
    leverage: float
    current_leverage: float
    binding_constraint: str
    reasons: tuple[str, ...]
    borrow: float
    borrow_units: int
    loop_collateral: float
    loop_debt: float
    health_factor: float
    prob_hf_below_1: float | None
    horizon_days: float | None


def safe_borrow(
    spec: Spec,
    target_hf: float,
    *,
    bars: Mapping[str, BarsSource] | None = None,
    max_prob: float | None = None,
    horizon_days: float | None = None,
    model: str = "default",
    max_leverage: float = math.inf,
    collateral: str | None = None,
    debt: str | None = None,
) -> SafeBorrow:
    """Return the most a position may borrow with HF >= ``target_hf`` now and P(HF < 1) <= ``max_prob``.

    Parameters
    ----------
    spec : mapping, path or position
        One collateral against one debt (:class:`PositionLeverage`).
    target_hf : float
        ``>= 1``.
    bars : mapping of symbol to DataFrame or path, optional
        Needed with ``max_prob`` (:func:`levguard.defi.risk.ratio_bars`).
    max_prob, horizon_days : float, optional
        The probability budget and its horizon (days, ``<= 30``), together.
    model : str
        The forecaster's model.
    max_leverage : float
        A cap of one's own.
    collateral, debt : str, optional
        Aave symbols when ambiguous.

    Raises
    ------
    InputError
        A bad spec, target, budget, or bars.

    Notes
    -----
    :class:`~levguard.core.sizing.health.HealthFactorTarget` with :class:`PositionLeverage` and
    the forecaster :func:`levguard.defi.risk.ratio_forecaster` fitted on the position's ratio at
    its last common bar.  The leverage ``L`` fixes the debt-to-collateral ratio ``(L - 1) / L``, so
    the same answer reads as a loop (equity held) or as a borrow against the collateral held.
    That borrow, ``C (L - 1) / L - D`` in exact fractions, ignores the contracts' rounding (Morpho
    ``Morpho.borrow``: ``toSharesUp``, then ``toAssetsUp`` and ``mulDivDown`` in ``_isHealthy``;
    Aave ``validateBorrow``), which may cost a unit: the amount is floored and bounded by the
    exact engine's :func:`~levguard.defi.analytics.max_safe_borrow` at ``target_hf`` (a
    repayment: ceiled and at least :func:`~levguard.defi.analytics.repay_to_target`'s).
    """
    health = PositionLeverage(spec, collateral, debt)
    policy = HealthFactorTarget(target_hf, health, max_prob, horizon_days, max_leverage)
    forecaster = None
    if max_prob is not None:
        if bars is None:
            raise InputError(f"bars are needed with max_prob (the P(HF < 1) budget), was max_prob={show(max_prob)}")
        forecaster = ratio_forecaster(health.position, bars, model=model)
    state = SizingState(
        equity=float(health.equity),
        price=float(health.price) if health.price > 0 else 1.0,
        current_leverage=health.leverage_now,
        liquidation_forecaster=forecaster,
    )
    decision = policy.decide(state)
    lev = decision.target_leverage
    pos = health.position
    if isinstance(pos, MorphoPosition):
        coll_dec, debt_dec = pos.collateral_decimals, pos.loan_decimals
    else:
        coll_dec, debt_dec = pos.reserve(health.collateral_symbol).decimals, pos.reserve(health.debt_symbol).decimals
    held_value = health.equity * Fraction(health.leverage_now)  # the collateral's value now
    owed_value = held_value - health.equity
    units = 0
    if lev > 0:
        target_debt = held_value * (1 - 1 / Fraction(lev))
        units = _engine_bounded(health, (target_debt - owed_value) / health.debt_unit, target_hf)
    coll_units, debt_units = health.units(lev) if lev > 0 else (0, 0)
    p = decision.details.get("prob_hf_below_1", math.nan)
    return SafeBorrow(
        collateral_symbol=health.collateral_symbol,
        debt_symbol=health.debt_symbol,
        leverage=lev,
        current_leverage=health.leverage_now,
        binding_constraint=decision.binding_constraint,
        reasons=decision.reasons,
        borrow=units / 10**debt_dec,
        borrow_units=units,
        loop_collateral=coll_units / 10**coll_dec,
        loop_debt=debt_units / 10**debt_dec,
        health_factor=health.health_factor(lev) if lev > 0 else math.nan,
        prob_hf_below_1=None if max_prob is None or math.isnan(p) else p,
        horizon_days=horizon_days,
    )


def _engine_bounded(health: PositionLeverage, amount: Fraction, target_hf: float) -> int:
    # The policy's change of debt (smallest units, > 0 a borrow) as the contracts take it: a
    # borrow floored and at most max_safe_borrow's, a repayment ceiled and at least
    # repay_to_target's, both at the target (safe_borrow's Notes).
    pos = health.position
    symbol = None if isinstance(pos, MorphoPosition) else health.debt_symbol
    target = str(target_hf)
    if amount > 0:
        most = max_safe_borrow(pos, symbol, target).amount
        return min(math.floor(amount), most or 0)
    least = repay_to_target(pos, target, symbol).amount
    units = max(_ceil(-amount), least or 0)
    if isinstance(pos, MorphoPosition):  # Morpho.repay by assets reverts past the shares owed
        units = min(units, _morpho.max_repay_by_assets(pos.market, pos.position))
    return -units
