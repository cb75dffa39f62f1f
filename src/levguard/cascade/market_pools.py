"""Lending pools in the market of the cascade simulator (v2): an Aave- or Morpho-style pool as a venue.

A lending position, collateral ``C_a`` units of assets ``a`` at prices ``P_a`` against a debt
``D`` in the quote stablecoin, with liquidation thresholds ``LT_a``, is liquidatable when its
health factor ``HF = sum_a C_a P_a LT_a / D`` is below 1.  With equity ``E = sum_a C_a P_a - D``
and maintenance rate ``mmr_a = 1 - LT_a`` on each collateral's value::

    E <= MM  <=>  sum C P - D <= sum (1 - LT) C P  <=>  sum C P LT <= D  <=>  HF <= 1

so a pool is a :class:`~levguard.cascade.market_settings.MarketVenue` whose accounts are long
their collateral (``qty = C``, ``entry = P0``, ``wallet = sum C P0 - D``), liquidated when the
v2 kernel's test ``E <= MM`` holds.  :func:`lending_pool_venue` builds it (maintenance per
asset, bonus, close factor, oracle lag, no fund, no ADL), :func:`lending_borrowers`,
:func:`random_borrowers` and :func:`borrowers_from_positions` its accounts, and
:func:`pool_indices` / :func:`is_pool` say which venues of a market are pools.

See docs/cascade.md, "Lending pools in the market", for the derivation, the sources and the
approximations.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from levguard.cascade.market_settings import MarketPopulation, MarketSpec, MarketVenue
from levguard.cascade.settings import MarginRegime, Market, VenueSettings, _int, _pos
from levguard.core.defi.aave import AaveReserve, EModeCategory
from levguard.core.defi.morpho import WAD, liquidation_incentive_factor, to_assets_up
from levguard.core.defi.morpho import Market as MorphoMarket
from levguard.core.defi.morpho import Position as MorphoPos
from levguard.core.validate import float_values, show
from levguard.errors import InputError

__all__ = [
    "LendingPoolVenue",
    "PoolTerms",
    "borrowers_from_positions",
    "health_factors",
    "is_pool",
    "lending_borrowers",
    "lending_pool_venue",
    "morpho_bonus",
    "pool_indices",
    "random_borrowers",
]

FloatArray = npt.NDArray[np.float64]

_MAX_FEE = 0.1  # MarginRegime.liquidation_fee's upper bound: bonus / (1 + bonus) <= 0.1


@dataclass(frozen=True)
class PoolTerms:
    """The lending terms a pool venue was built from (reports and checks).

    Attributes
    ----------
    lt : tuple of (float or None)
        Liquidation threshold per asset of the market (None: not a collateral of the pool).
    bonus : float
        Liquidation bonus (the liquidator's premium on the debt it repays, ``0.05`` = 5 %).
    close_factor : float
        Share of the debt a liquidator may repay in one call (Aave 0.5, Morpho 1).
    oracle_lag_steps : int
        Steps the pool's oracle lags its book's traded price.
    slice_fraction : float
        The share of every collateral position one liquidation round sells (see Notes of
        :func:`lending_pool_venue`).
    full_close_below : float
        Collateral value (quote) at or below which a liquidation closes the account whole.
    """

    lt: tuple[float | None, ...]
    bonus: float
    close_factor: float
    oracle_lag_steps: int
    slice_fraction: float
    full_close_below: float

    def lt_of(self, a: int) -> float:
        """The liquidation threshold of asset ``a``; InputError when it is not a collateral."""
        lt = self.lt[a]
        if lt is None:
            raise InputError(f"asset {a} is not a collateral of this pool (lt is None)")
        return lt


@dataclass(frozen=True)
class LendingPoolVenue(MarketVenue):
    """A :class:`MarketVenue` that is a lending pool; ``terms`` are its lending terms.

    Build it with :func:`lending_pool_venue` (which derives the venue's regime and settings from
    the terms); the simulator treats it like any venue.
    """

    terms: PoolTerms | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if not isinstance(self.terms, PoolTerms):
            raise InputError(f"pool {self.name!r}: terms must be a PoolTerms, was {self.terms!r}")


def is_pool(venue: object) -> bool:
    """Whether ``venue`` is a lending pool venue (:class:`LendingPoolVenue`)."""
    return isinstance(venue, LendingPoolVenue)


def pool_indices(spec: MarketSpec) -> tuple[int, ...]:
    """The indices of the market's lending pool venues (in ``spec.venues`` order)."""
    if not isinstance(spec, MarketSpec):
        raise InputError(f"spec must be a MarketSpec, was {type(spec).__name__}")
    return tuple(v for v, mv in enumerate(spec.venues) if is_pool(mv))


def morpho_bonus(lltv: float) -> float:
    """The liquidation bonus of a Morpho Blue market: ``LIF - 1``.

    Notes
    -----
    Morpho.sol ``liquidate`` (morpho-org/morpho-blue, src/Morpho.sol):
    ``LIF = min(MAX_LIQUIDATION_INCENTIVE_FACTOR, WAD / (WAD - LIQUIDATION_CURSOR (WAD - lltv)))``
    with the cursor 0.3 and the cap 1.15, through :func:`levguard.core.defi.morpho.liquidation_incentive_factor`
    (the contract's integers); ``lltv`` is rounded to WAD first.
    """
    x = _pos(lltv, "lltv", upper=1.0)
    return liquidation_incentive_factor(round(x * WAD)) / WAD - 1.0


def _per_asset(value: Any, assets: tuple[str, ...], name: str) -> list[Any]:
    # A mapping asset -> value, a sequence of K values, or one value for every asset.
    if isinstance(value, Mapping):
        unknown = sorted(set(map(str, value)) - set(assets))
        if unknown:
            raise InputError(f"{name} names unknown assets {unknown}; the market's are {list(assets)}")
        return [value.get(a) for a in assets]
    if isinstance(value, Sequence) and not isinstance(value, str):
        if len(value) != len(assets):
            raise InputError(f"{name} must have one entry per asset ({len(assets)}), had {len(value)}")
        return list(value)
    return [value] * len(assets)


def lending_pool_venue(
    name: str,
    assets: Sequence[str],
    lt: float | Sequence[float | None] | Mapping[str, float],
    bonus: float,
    close_factor: float = 0.5,
    oracle_lag_steps: int = 0,
    books: Market | Sequence[Market] | Mapping[str, Market] | None = None,
    *,
    slice_fraction: float | None = None,
    full_close_below: float = 0.0,
    latency_steps: int = 0,
    max_rounds: int = 100,
    oracle_source: str = "book",
) -> LendingPoolVenue:
    """Return a lending pool as a venue of the v2 market.

    Parameters
    ----------
    name : str
        The pool's name (reports).
    assets : sequence of str
        The market's assets (``MarketSpec.assets``), in order.
    lt : float, sequence or mapping
        Liquidation threshold per asset in ``[0.5, 1)`` (None or missing: not a collateral of
        the pool; the kernel's maintenance rate is capped at 0.5).
    bonus : float
        Liquidation bonus in ``[0, 1/9]`` (Aave ``liquidationBonus - 1``; Morpho
        :func:`morpho_bonus`).  One per pool: the v2 fee is one rate per venue.
    close_factor : float
        Share of the debt one liquidation may repay, in ``(0, 1]``.
    oracle_lag_steps : int
        Steps by which the pool's oracle (its mark) lags the traded price of its book.
    books : Market, sequence or mapping of Market
        The DEX / aggregator liquidity liquidators sell the seized collateral into, per asset
        (one :class:`~levguard.cascade.settings.Market` for all, one per asset, or by name).
    slice_fraction : float, optional
        Share of every collateral position one liquidation round sells (default
        ``min(1, close_factor (1 + bonus) max LT)``, see Notes).
    full_close_below : float
        Collateral value (quote) at or below which the account is liquidated whole (Aave 3.3:
        2,000 USD of collateral or debt; at HF = 1 the debt is ``LT`` x the collateral, so
        ``2000 / LT`` reproduces the debt test).
    latency_steps, max_rounds : int
        Liquidator latency and liquidation rounds per step (:class:`VenueSettings`).
    oracle_source : str
        The price the pool's oracle reads: ``"book"``, ``"exogenous"`` or a venue's name
        (Notes, "Oracle").

    Returns
    -------
    LendingPoolVenue
        Static maintenance ``mmr_a = 1 - LT_a`` per asset, liquidation fee
        ``bonus / (1 + bonus)``, partial closes of ``slice_fraction`` above
        ``full_close_below``, the ``"book"`` outcome (the borrower keeps what is left), mark lag
        ``oracle_lag_steps``, no insurance fund, no ADL and the fee paid to the liquidators
        (``fee_to_fund=False``).

    Notes
    -----
    **Liquidation test.**  Aave v3 ``ValidationLogic.validateLiquidationCall`` requires
    ``healthFactor < HEALTH_FACTOR_LIQUIDATION_THRESHOLD`` (1e18) with
    ``HF = percentMul(totalCollateral, avgLT).wadDiv(totalDebt)`` from
    ``GenericLogic.calculateUserAccountData`` (aave-dao/aave-v3-origin,
    src/contracts/protocol/libraries/logic/{ValidationLogic,GenericLogic}.sol); Morpho Blue
    ``Morpho._isHealthy`` (morpho-org/morpho-blue, src/Morpho.sol) requires
    ``collateral * price / 1e36 * lltv >= borrowed``.  Both are ``sum C P LT < D``, which with
    ``E = sum C P - D`` and ``mmr = 1 - LT`` is the kernel's ``E <= MM`` (module docstring),
    equal but for the boundary ``HF = 1`` itself (the kernel liquidates, the pools do not) and
    the contracts' integer rounding (tests/cascade/test_market_pools.py checks the crossing price
    against :func:`levguard.core.defi.aave.get_user_account_data` and
    :func:`levguard.core.defi.morpho.is_healthy`).

    **Bonus.**  A liquidator repays ``X`` of debt and seizes ``X (1 + b) / P`` collateral
    (Aave ``LiquidationLogic._calculateAvailableCollateralToLiquidate``; Morpho ``liquidate``
    with ``LIF``): the borrower's equity falls by ``b X``.  The kernel sells ``c`` units at the
    fill ``F`` and charges ``fee x c F``; with ``c = X (1 + b) / P`` the same loss needs
    ``fee = b / (1 + b)``, exact when ``F = P``.  With impact ``F < P`` the kernel's borrower
    bears the slippage, which on-chain the liquidator bears (its repaid debt is fixed by the
    oracle price).  The bonus is the liquidator's money, not the pool's: the venue is built
    with ``fee_to_fund=False``, so the kernel pays the fee out to the liquidators
    (``MarketOutputs.fees_paid``, the venues table's ``liquidator_fees``) and the pool's fund
    stays at 0.  A shortfall is then never absorbed by earlier bonuses: the pool's kernel bad
    debt (``MarketResult``, :func:`levguard.cascade.market_montecarlo.market_monte_carlo`) IS
    its deficit, as :func:`levguard.cascade.contagion.pool_outcomes` reports.

    **Close factor.**  Aave v3.0 - 3.2: a call repays at most 50 % of the debt while
    ``HF > 0.95`` and 100 % below (``CLOSE_FACTOR_HF_THRESHOLD``); v3.3: 100 % when collateral or
    debt is worth less than 2,000 USD; Morpho: no close factor.  The kernel's partial rule is a
    fraction of every position per round, above a notional floor; it cannot condition on the
    health factor.  At ``HF = 1`` a call seizes ``close_factor (1 + b) LT`` of the collateral,
    the default ``slice_fraction``; an account still liquidatable is sliced again in the next
    round of the same step (rounds run to a fixed point), which stands for the 100 % close
    factor below 0.95 (both close the account within the step; the fills differ).  With
    several collaterals the slice is pro rata (a liquidator picks one collateral on-chain).

    **Oracle.**  Chainlink feeds update on a deviation threshold or a heartbeat; in a crash
    the deviation trigger fires, so the on-chain price trails the market by the update's
    latency plus up to the threshold.  The kernel's mark is the book's traded price
    ``oracle_lag_steps`` ago: set it to the expected staleness in steps (e.g. a 0.5 %
    threshold in a fall of 0.25 % per step: 1 - 2 steps).  ``oracle_source`` says which
    price the oracle reads (:class:`~levguard.cascade.MarketVenue` ``mark_source``): the
    pool's own book (``"book"``, the default: liquidators' sales move the pool's own oracle,
    as a DEX TWAP oracle would), the exogenous index (``"exogenous"``) or a centralised
    venue of the market by name (a Chainlink feed aggregates exchange prices, so the pool's
    liquidations reach its oracle only through the arbitrage that carries them to that
    venue).

    **Losses.**  No insurance fund and no ADL: a loss beyond the collateral is the pool's
    deficit (Aave 3.3 ``_burnBadDebt`` books it as the reserve's ``deficit``; Morpho
    socialises it over the suppliers in ``liquidate``).  Only debt in the quote (a stablecoin)
    maps exactly; a volatile debt asset would need a per-account maintenance rule.
    """
    if not isinstance(assets, Sequence) or isinstance(assets, str) or not assets:
        raise InputError(f"assets must be the market's asset names, was {assets!r}")
    names = tuple(str(a) for a in assets)
    lts: list[float | None] = []
    for a, x in zip(names, _per_asset(lt, names, "lt"), strict=True):
        lts.append(None if x is None else _pos(x, f"lt[{a}]"))
        if x is not None and not 0.5 <= float(x) < 1.0:
            raise InputError(f"lt[{a}] must be in [0.5, 1) (maintenance 1 - LT <= 0.5), was {x!r}")
    present = [x for x in lts if x is not None]
    if not present:
        raise InputError(f"lt must give at least one collateral asset, was {lt!r}")
    b = _pos(bonus, "bonus", allow_zero=True)
    fee = b / (1.0 + b)
    if fee > _MAX_FEE:
        raise InputError(f"bonus must be <= 1/9 (a fee b / (1 + b) <= 0.1), was {bonus!r}")
    cf = _pos(close_factor, "close_factor", upper=1.0)
    lag = _int(oracle_lag_steps, "oracle_lag_steps")
    frac = min(1.0, cf * (1.0 + b) * max(present)) if slice_fraction is None else slice_fraction
    frac = _pos(frac, "slice_fraction", upper=1.0)
    floor = _pos(full_close_below, "full_close_below", allow_zero=True)
    if books is None:
        raise InputError(f"pool {name!r}: books must be given (the liquidity liquidators sell into)")
    book_list = [books] if isinstance(books, Market) else _per_asset(books, names, "books")
    if len(book_list) == len(names) and any(m is None for m in book_list):
        missing = [a for a, m in zip(names, book_list, strict=True) if m is None]
        raise InputError(f"pool {name!r}: books lacks the assets {missing}")

    def regime(mmr: float) -> MarginRegime:
        return MarginRegime(
            kind="static",
            mmr=mmr,
            liquidation_fee=fee,
            partial=frac,
            partial_min_notional=floor,
            outcome="book",
            backstop=0.0,
        )

    ref = 1.0 - max(present)
    maintenance = [None if x is None else regime(1.0 - x) for x in lts]
    settings = VenueSettings(
        insurance_fund=0.0,
        adl=False,
        latency_steps=_int(latency_steps, "latency_steps"),
        mark_lag_steps=lag,
        max_rounds=_int(max_rounds, "max_rounds", 1),
        fee_to_fund=False,
    )
    terms = PoolTerms(tuple(lts), b, cf, lag, frac, floor)
    return LendingPoolVenue(
        name, book_list, regime(ref), maintenance, settings, "bitmex", None, oracle_source, terms=terms
    )


def _terms(pool: object) -> PoolTerms:
    if not isinstance(pool, LendingPoolVenue) or pool.terms is None:
        raise InputError(f"pool must be a LendingPoolVenue (lending_pool_venue), was {type(pool).__name__}")
    return pool.terms


def lending_borrowers(
    collateral: npt.ArrayLike,
    debt: npt.ArrayLike,
    prices: npt.ArrayLike,
    *,
    venue: int,
    owner_offset: int = 0,
) -> MarketPopulation:
    """Return borrowers of one pool as accounts of the market.

    Parameters
    ----------
    collateral : array (N, K)
        Collateral units per asset (>= 0).
    debt : array (N,)
        Debt in the quote (stablecoin), >= 0.
    prices : array (K,)
        The prices the accounts start at (the path's first prices).
    venue : int
        The pool's index in ``MarketSpec.venues``.
    owner_offset : int
        Owner id of the first borrower (the next ones follow).

    Returns
    -------
    MarketPopulation
        ``qty = C``, ``entry = P0``, ``wallet = sum C P0 - D``: the equity at ``P`` is
        ``sum C P - D`` (module docstring).

    Raises
    ------
    InputError
        Negative amounts, or a borrower already insolvent at ``prices`` (``sum C P0 < D``).
    """
    # float_values: 'abc' or object() was a raw ValueError/TypeError, True read as 1.0.
    c = np.array(float_values(collateral, "collateral"))
    if c.ndim != 2:
        raise InputError(f"collateral must be (N, K) units, had shape {c.shape}")
    n, k = c.shape
    d = np.array(float_values(debt, "debt")).reshape(-1)
    p = np.array(float_values(prices, "prices")).reshape(-1)
    if d.shape[0] != n:
        raise InputError(f"debt must have one entry per borrower ({n}), had {d.shape[0]}")
    if p.shape[0] != k:
        raise InputError(f"prices must have one entry per asset ({k}), had {p.shape[0]}")
    for nm, arr in (("collateral", c), ("debt", d)):
        bad = ~(np.isfinite(arr) & (arr >= 0.0))
        if bad.any():
            idx = tuple(int(x) for x in np.argwhere(bad)[0])
            raise InputError(f"{nm}[{idx[0] if len(idx) == 1 else idx}] must be finite and >= 0, was {arr[idx]!r}")
    bad_p = ~(np.isfinite(p) & (p > 0.0))
    if bad_p.any():
        i = int(np.argmax(bad_p))
        raise InputError(f"prices[{i}] must be a finite price > 0, was {float(p[i])!r}")
    value = c @ p
    short = value < d
    if short.any():
        i = int(np.argmax(short))
        raise InputError(f"borrower {i} is insolvent at the start: collateral {value[i]!r} < debt {d[i]!r}")
    v = _int(venue, "venue")
    off = _int(owner_offset, "owner_offset")
    entry = np.where(c > 0.0, p[None, :], 1.0)
    return MarketPopulation(np.full(n, v), value - d, c, entry, np.arange(off, off + n))


MAX_BORROWERS = 100_000_000
"""Most borrowers :func:`random_borrowers` draws."""


def _pair(value: object, name: str) -> tuple[object, object]:
    # Unpacking None or [] was a raw TypeError/ValueError.
    pair = tuple(value) if isinstance(value, Iterable) and not isinstance(value, str | bytes | Mapping) else ()
    if len(pair) != 2:
        raise InputError(f"{name} must be a pair of numbers, was {show(value)}")
    return pair[0], pair[1]


def random_borrowers(
    n: int,
    prices: npt.ArrayLike,
    pool: LendingPoolVenue,
    *,
    venue: int,
    hf: tuple[float, float] = (1.05, 2.5),
    notional: tuple[float, float] = (20_000.0, 1.0),
    seed: int = 0,
    owner_offset: int = 0,
) -> MarketPopulation:
    """Draw ``n`` borrowers of ``pool``, each with one collateral asset and a stablecoin debt.

    The collateral asset is uniform over the pool's collateral assets, its value lognormal
    ``(median, sigma) = notional`` (quote), and the health factor at ``prices`` log-uniform on
    ``hf``; the debt is then ``C P LT / HF``.  An assumption, not a measurement: fit it to the
    pool's positions (an indexer's borrower list) where you have them.
    """
    n = _int(n, "n", 1)
    if n > MAX_BORROWERS:  # the draws are allocated up front: 2**62 was NumPy's "array is too big"
        raise InputError(f"n must be an integer in [1, {MAX_BORROWERS:,}], was {n!r}")
    terms = _terms(pool)
    p = np.array(float_values(prices, "prices")).reshape(-1)
    if p.shape[0] != len(terms.lt):
        raise InputError(f"prices must have one entry per asset ({len(terms.lt)}), had {p.shape[0]}")
    lo, hi = (_pos(x, "hf") for x in _pair(hf, "hf"))
    if not 1.0 <= lo <= hi:
        raise InputError(f"hf must be (low, high) with 1 <= low <= high, was {hf!r}")
    med, sig = _pair(notional, "notional")
    med = _pos(med, "notional median")
    sig = _pos(sig, "notional sigma", allow_zero=True)
    cols = [a for a, x in enumerate(terms.lt) if x is not None]
    rng = np.random.default_rng(_int(seed, "seed"))
    which = np.array(cols)[rng.integers(0, len(cols), n)]
    value = np.exp(rng.normal(math.log(med), sig, n))
    h = np.exp(rng.uniform(math.log(lo), math.log(hi), n))
    lt = np.array([terms.lt_of(int(a)) for a in which])
    c = np.zeros((n, p.shape[0]))
    c[np.arange(n), which] = value / p[which]
    return lending_borrowers(c, value * lt / h, p, venue=venue, owner_offset=owner_offset)


def _aave_rows(pos: Any, names: tuple[str, ...], terms: PoolTerms, j: int) -> tuple[FloatArray, float, FloatArray]:
    # One Aave account: collateral units and oracle prices per market asset, debt in USD.
    reserves: tuple[AaveReserve, ...] = tuple(pos.reserves)
    emode: EModeCategory | None = pos.emode_category
    if emode is not None and emode.price != 0 and str(pos.version) in ("3.0", "3.1"):
        # 3.0 / 3.1: the category's price source prices its reserves; the venue reads one price per asset.
        raise InputError(f"positions[{j}]: an e-mode category with its own price source is not supported")
    c = np.zeros(len(names))
    p = np.full(len(names), np.nan)
    debt = 0.0
    for r in reserves:
        price = r.price / 1e8
        if r.debt > 0:
            if r.symbol in names:
                raise InputError(
                    f"positions[{j}]: debt in {r.symbol}, a market asset; only a stablecoin (quote) debt maps exactly"
                )
            debt += r.debt * price / 10**r.decimals
        lt_bps = emode.lt if emode is not None and r.in_emode else r.lt
        if r.collateral_enabled and lt_bps != 0 and r.collateral > 0:
            if r.symbol not in names:
                raise InputError(f"positions[{j}]: collateral {r.symbol} is not a market asset {list(names)}")
            a = names.index(r.symbol)
            want = terms.lt[a]
            if want is None or abs(want - lt_bps / 1e4) > 1e-12:
                raise InputError(f"positions[{j}]: {r.symbol} has lt {lt_bps / 1e4}, the pool {want}")
            c[a] = r.collateral / 10**r.decimals
            p[a] = price
    return c, debt, p


def _morpho_rows(pos: Any, names: tuple[str, ...], terms: PoolTerms, j: int) -> tuple[FloatArray, float, FloatArray]:
    # One Morpho Blue borrower: collateral units, debt (loan tokens, rounded up as _isHealthy).
    sym = str(pos.collateral_symbol)
    if sym not in names:
        raise InputError(f"positions[{j}]: collateral {sym} is not a market asset {list(names)}")
    a = names.index(sym)
    lltv = pos.lltv / WAD
    if terms.lt[a] is None or abs(float(terms.lt[a]) - lltv) > 1e-12:  # type: ignore[arg-type]
        raise InputError(f"positions[{j}]: {sym} has lltv {lltv}, the pool {terms.lt[a]}")
    market: MorphoMarket = pos.market
    position: MorphoPos = pos.position
    borrowed = to_assets_up(position.borrow_shares, market.total_borrow_assets, market.total_borrow_shares)
    c = np.zeros(len(names))
    p = np.full(len(names), np.nan)
    c[a] = position.collateral / 10**pos.collateral_decimals
    p[a] = pos.oracle_price / pos.price_scale
    return c, borrowed / 10**pos.loan_decimals, p


def borrowers_from_positions(
    positions: Sequence[Any], pool: LendingPoolVenue, assets: Sequence[str], *, venue: int, owner_offset: int = 0
) -> MarketPopulation:
    """Return the accounts of Aave v3 / Morpho Blue positions (:func:`levguard.defi.positions.load_position`).

    Each position starts at its own oracle prices (the entries): Aave's ``price`` (8 decimals),
    Morpho's ``oracle_price / price_scale`` (loan tokens per collateral token, the loan token
    being the quote).  Collateral units are the balances over ``10**decimals``; the debt is
    Aave's ``debt x price`` summed, Morpho's ``toAssetsUp(borrow_shares)`` (as ``_isHealthy``
    reads it).  The pool must have each position's liquidation threshold (e-mode's for e-mode
    reserves) for its collateral assets, the symbols being the market's asset names.

    Raises
    ------
    InputError
        A position that is neither kind, a collateral that is not a market asset or whose
        threshold differs from the pool's, debt in a market asset, an insolvent position.
    """
    terms = _terms(pool)
    names = tuple(str(a) for a in assets)
    if len(names) != len(terms.lt):
        raise InputError(f"assets must be the pool's {len(terms.lt)} market assets, was {list(names)}")
    if not positions:
        raise InputError("positions must not be empty")
    n, k = len(positions), len(names)
    c = np.zeros((n, k))
    d = np.zeros(n)
    entry = np.ones((n, k))
    wallet = np.zeros(n)
    for j, pos in enumerate(positions):
        kind = getattr(pos, "protocol", None)
        if kind == "aave-v3":
            cj, dj, pj = _aave_rows(pos, names, terms, j)
        elif kind == "morpho-blue":
            cj, dj, pj = _morpho_rows(pos, names, terms, j)
        else:
            raise InputError(f"positions[{j}] must be an AavePosition or MorphoPosition, was {type(pos).__name__}")
        held = cj > 0.0
        value = float(np.sum(cj[held] * pj[held]))
        if value < dj:
            raise InputError(f"positions[{j}] is insolvent at its oracle prices: collateral {value!r} < debt {dj!r}")
        c[j], d[j] = cj, dj
        entry[j] = np.where(held, pj, 1.0)
        wallet[j] = value - dj
    off = _int(owner_offset, "owner_offset")
    return MarketPopulation(np.full(n, _int(venue, "venue")), wallet, c, entry, np.arange(off, off + n))


def health_factors(population: MarketPopulation, spec: MarketSpec, prices: npt.ArrayLike) -> FloatArray:
    """Health factor per account at ``prices`` (K,): ``sum q P LT / D`` with ``D = sum q entry - wallet``
    on pool venues (``inf`` without debt), NaN on other venues."""
    if not isinstance(population, MarketPopulation) or not isinstance(spec, MarketSpec):
        raise InputError("health_factors needs a MarketPopulation and a MarketSpec")
    p = np.array(prices, dtype=np.float64).reshape(-1)
    if p.shape[0] != spec.n_assets:
        raise InputError(f"prices must have one entry per asset ({spec.n_assets}), had {p.shape[0]}")
    qty = np.asarray(population.qty)
    entry = np.asarray(population.entry)
    ven = np.asarray(population.venue)
    out = np.full(population.n, np.nan)
    for v in pool_indices(spec):
        terms = _terms(spec.venues[v])
        lt = np.array([0.0 if x is None else x for x in terms.lt])
        sel = ven == v
        q = qty[sel]
        debt = (q * entry[sel]).sum(axis=1) - np.asarray(population.wallet)[sel]
        weighted = (q * p[None, :] * lt[None, :]).sum(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            out[sel] = np.where(debt > 0.0, weighted / np.where(debt > 0.0, debt, 1.0), np.inf)
    return out
