"""TierCap and LiquidationBudget with tiers by position size (``TierTable.basis == "quantity"``).

OKX counts its position tiers in contracts (``minSz``/``maxSz`` of ``GET
/api/v5/public/position-tiers``): a leverage ``L`` on equity ``E`` at price ``P`` buys the size
``L E / P`` (inverse: ``L E P`` USD), and that size's tier holds at every price.  A decision at one
price values the table there (exact at that price); the vectorised paths value a leverage per bar
(``kernels.sizing_venue.bracket_unit``) and solve liquidation prices with the size's tier, as the
margin engine does.  The sizing context used to refuse these tables.
"""

from __future__ import annotations

import numpy as np
import pytest

from levguard.core.sizing.base import MarketContext, SeriesInputs, SizingState
from levguard.core.sizing.venue import LiquidationBudget, TierCap, tier_fixed_point
from levguard.core.tiers import TierTable
from levguard.errors import InputError
from levguard.kernels import sizing_venue as sv
from levguard.kernels._jit import NUMBA_DISABLED

# BTC sizes: 0.4 % to 2 BTC at 100x, 0.6 % to 10 BTC at 50x, 1 % above at 20x.
ROWS = [
    {"notional_floor": 0, "notional_cap": 2.0, "mmr": 0.004, "max_leverage": 100},
    {"notional_floor": 2.0, "notional_cap": 10.0, "mmr": 0.006, "max_leverage": 50},
    {"notional_floor": 10.0, "notional_cap": None, "mmr": 0.01, "max_leverage": 20},
]
BY_SIZE = TierTable.from_rows(ROWS, deduction=False, basis="quantity")


def _ctx(tiers: TierTable, side: int = 1) -> MarketContext:
    return MarketContext(venue="okx", symbol="BTCUSDT", side=side, tiers=tiers, taker_fee_rate=0.0005)


def _inputs(n: int = 60, seed: int = 4) -> SeriesInputs:
    rng = np.random.default_rng(seed)
    price = 100_000.0 * np.exp(np.cumsum(rng.normal(0.0, 0.08, n)))  # 30k to 300k: the tiers move
    equity = rng.uniform(2_000.0, 60_000.0, n)
    vol = rng.uniform(0.3, 1.5, n)
    return SeriesInputs(rng.normal(0.0, 0.01, n), vol_forecast=vol, equity=equity, price=price)


def test_tier_cap_per_bar_is_the_table_valued_at_that_bars_price() -> None:
    si = _inputs()
    assert si.equity is not None
    assert si.price is not None
    path = TierCap(context=_ctx(BY_SIZE)).leverage_path(si)
    for t in range(path.shape[0]):
        valued = _ctx(BY_SIZE.in_notional(float(si.price[t])))
        state = SizingState(equity=float(si.equity[t]), price=float(si.price[t]), context=valued)
        assert path[t] == pytest.approx(TierCap().decide(state).target_leverage, rel=1e-12)
        by_size = SizingState(equity=float(si.equity[t]), price=float(si.price[t]), context=_ctx(BY_SIZE))
        assert TierCap().decide(by_size).target_leverage == pytest.approx(path[t], rel=1e-12)
    # The cap moves with the price at one equity of 40,000: at 2,000 a leverage of 1 buys 20 BTC
    # (tier 3, 20x); at 100,000 it buys 0.4 BTC, and 25x (10 BTC, tier 2's cap) is the most at 50x.
    lev, _ = tier_fixed_point(BY_SIZE, np.array([40_000.0, 40_000.0]), price=np.array([2_000.0, 100_000.0]))
    assert lev.tolist() == pytest.approx([20.0, 25.0], rel=1e-9)
    with pytest.raises(InputError, match=r"tiers by position size need the price .*\(price\)"):
        tier_fixed_point(BY_SIZE, np.array([1.0]))


@pytest.mark.parametrize("side", [1, -1])
def test_liquidation_budget_by_size_solves_on_the_sizes_tier(side: int) -> None:
    """The kernel path (its liquidation price matches the margin engine's at the probes, so it is
    taken) equals the per-bar decision, and its liquidation price at the chosen leverage is the
    engine's with the tier of the size, not of the notional at the liquidation price."""
    policy = LiquidationBudget(0.01, 7.0, model="gbm", max_leverage=60.0)
    ctx = _ctx(BY_SIZE, side)
    si = _inputs(40)
    assert si.equity is not None
    assert si.price is not None
    assert si.vol_forecast is not None
    spec = policy._lp_args(ctx, float(si.equity[0]), float(si.price[0]))
    assert spec is not None
    assert spec.by_size
    path = LiquidationBudget(0.01, 7.0, model="gbm", max_leverage=60.0, context=ctx).leverage_path(si)
    for t in range(path.shape[0]):
        e, p, s = float(si.equity[t]), float(si.price[t]), float(si.vol_forecast[t])
        lev, _binding, _prob = policy.solve(ctx, e, p, s)
        assert path[t] == pytest.approx(lev, rel=1e-9)
        kernel = sv.budget_liquidation_price(lev, e, p, spec)
        engine = policy.liquidation_price(ctx, e, p, lev)
        assert engine is not None
        assert kernel == engine  # bit for bit, so the probe keeps the kernel


def test_the_budget_differs_from_the_table_valued_at_the_entry_near_a_cap() -> None:
    """10.5 BTC at 100,000 (tier 3 by size, 1 %): valued at the entry the cap is 1M USDT, and at
    its liquidation price (about 91,500) the notional, 961,000, reads tier 2 (0.6 %): a lower
    liquidation price.  The budget on the table by size sees the nearer one."""
    equity, price = 100_000.0, 100_000.0
    policy = LiquidationBudget(0.01, 7.0, model="gbm", max_leverage=60.0)
    lev = 10.5  # 1.05M notional: 10.5 BTC
    by_size = policy.liquidation_price(_ctx(BY_SIZE), equity, price, lev)
    valued = policy.liquidation_price(_ctx(BY_SIZE.in_notional(price)), equity, price, lev)
    assert by_size is not None
    assert valued is not None
    assert by_size > valued + 300.0


@pytest.mark.skipif(NUMBA_DISABLED, reason="numba disabled: no compiled twin")
def test_by_size_kernels_agree_compiled_and_python() -> None:
    si = _inputs(50, seed=9)
    assert si.vol_forecast is not None
    assert si.equity is not None
    assert si.price is not None
    caps = np.ascontiguousarray(BY_SIZE.caps)
    floors = np.concatenate(([0.0], caps[:-1]))
    levs = np.array([t.max_leverage for t in BY_SIZE.tiers])
    for inverse in (False, True):
        for entry_basis in (False, True):
            venue = sv.liq_spec(1.0, 1.0, inverse, 0.0005, entry_basis, caps, BY_SIZE.mmrs, BY_SIZE.cums, True)
            brackets = sv.Brackets(caps, floors, levs, 1.0 - 1e-12, 100.0, True, inverse)
            budget = sv.Budget(7.0 / 365, 0.0, 0.0, 0.01)
            a, b = np.zeros(50), np.zeros(50)
            sv.liquidation_budget_path_py(si.vol_forecast, si.equity, si.price, venue, brackets, budget, a)
            sv.liquidation_budget_path_nb(si.vol_forecast, si.equity, si.price, venue, brackets, budget, b)
            assert np.array_equal(a, b)
            assert (a > 0).all()


def test_tiers_by_size_without_a_price_decide_nothing_rather_than_at_a_price_of_1() -> None:
    """``SizingState.price`` defaults to 1.0, which notional tiers never read; by size it put 20
    BTC of caps at 20 USDT (a review).  Without a price: 0 and ``no_tiers``, paths of 0."""
    for policy in (TierCap(), LiquidationBudget(0.01, 7.0, model="gbm")):
        no_price = policy.decide(SizingState(equity=1e4, vol_forecast=0.6, context=_ctx(BY_SIZE)))
        assert (no_price.target_leverage, no_price.binding_constraint) == (0.0, "no_tiers")
        assert "need the decision's price (SizingState.price)" in no_price.reasons[0]
        priced = policy.decide(SizingState(equity=1e4, price=1e5, vol_forecast=0.6, context=_ctx(BY_SIZE)))
        assert priced.target_leverage > 0.0
        si = _inputs(5)
        bare = SeriesInputs(si.returns, vol_forecast=si.vol_forecast, equity=si.equity)
        assert not type(policy)(**_fields(policy), context=_ctx(BY_SIZE)).leverage_path(bare).any()
    # A price of 1 given is a price: the state says so.
    assert SizingState(equity=1.0, price=1.0).price_given
    assert not SizingState(equity=1.0).price_given


def _fields(policy: object) -> dict[str, object]:
    if isinstance(policy, TierCap):
        return {}
    return {"max_prob": 0.01, "horizon_days": 7.0, "model": "gbm"}


def test_a_notional_table_needs_no_instrument_for_its_path() -> None:
    """A review found TierCap.leverage_path asking the venue for the contract kind of every
    context, so a symbol the venue does not list (BitMEX ETHUSD) gave a path of 0 while decide
    gave 20: only tiers by size need it."""
    ctx = MarketContext(venue="bitmex", symbol="ETHUSD", tiers=TierTable.from_max_leverage([(0, 50), (1e6, 20)]))
    si = SeriesInputs(np.zeros(2), equity=np.array([1e5, 1e5]), price=np.array([2_000.0, 2_000.0]))
    assert TierCap(context=ctx).leverage_path(si).tolist() == [20.0, 20.0]
    assert TierCap().decide(SizingState(equity=1e5, context=ctx)).target_leverage == 20.0


def test_a_state_without_a_price_stays_so_through_copies_and_pickles() -> None:
    """A review found pickle and deepcopy making a new default price, which then read as given."""
    import copy
    import pickle

    state = SizingState(equity=1e5, context=_ctx(BY_SIZE), exposures={}, vols={}, venues={})
    for again in (pickle.loads(pickle.dumps(state)), copy.deepcopy(state), copy.copy(state)):
        assert not again.price_given
        assert TierCap().decide(again).binding_constraint == "no_tiers"


def test_a_price_for_every_equity_or_one_for_all() -> None:
    """A review found one price for many equities read past the price array (0 after the first)."""
    eq = np.array([1e4, 2e4, 3e4, 4e4])
    one, _ = tier_fixed_point(BY_SIZE, eq, 50.0, 60_000.0)
    each, _ = tier_fixed_point(BY_SIZE, eq, 50.0, np.full(4, 60_000.0))
    assert one.tolist() == each.tolist()
    assert (one > 0).all()
    with pytest.raises(InputError, match=r"price must be a number or have the shape of equity \(4,\)"):
        tier_fixed_point(BY_SIZE, eq, 50.0, np.ones(3))


@pytest.mark.skipif(NUMBA_DISABLED, reason="numba disabled: no compiled twin")
def test_the_tier_cap_kernel_by_size_agrees_compiled_and_python() -> None:
    rng = np.random.default_rng(2)
    px = rng.uniform(100.0, 200_000.0, 300)
    equity = {False: rng.lognormal(10.0, 2.0, 300), True: rng.lognormal(-12.0, 2.0, 300)}  # USDT; coins

    caps = np.ascontiguousarray(BY_SIZE.caps)
    floors = np.concatenate(([0.0], caps[:-1]))
    levs = np.array([100.0, 50.0, 2.0])  # a top tier below the others: the size's tier binds
    for inverse in (False, True):
        brackets = sv.Brackets(caps, floors, levs, 1.0 - 1e-12, 80.0, True, inverse)
        eq = equity[inverse]
        a, ab, b, bb = (np.zeros(300) for _ in range(4))
        sv.tier_cap_path_py(eq, px, brackets, a, ab)
        sv.tier_cap_path_nb(eq, px, brackets, b, bb)
        assert np.array_equal(a, b)
        assert np.array_equal(ab, bb)
        assert len(set(a.tolist())) > 3  # several tiers bind
