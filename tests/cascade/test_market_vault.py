"""Hyperliquid's backstop liquidator vault in the market simulator (v2).

Hand-built markets on a flat book (fills at the exogenous price): an account whose equity at the
mark is below 2/3 of its maintenance is taken over by the vault at the mark, its equity becomes
the vault's cash and the fund is untouched; an account below 0 is left to the fund and ADL; the
ledger balances with the vault; the Python twin equals the compiled kernel.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as hs

from levguard.cascade import MarginRegime, Market, VenueSettings
from levguard.cascade.market import MarketPopulation, MarketSpec, MarketVenue, simulate_market
from levguard.cascade.market_population import random_market_population
from levguard.cascade.market_settings import kernel_inputs
from levguard.core.rules.adl import hyperliquid_resolution
from levguard.core.rules.hyperliquid import LIQUIDATION
from levguard.errors import InputError
from levguard.kernels import cascade_v2_records as r2
from levguard.kernels._jit import NUMBA_DISABLED
from levguard.kernels.cascade_v2 import market_cascade_nb, market_cascade_py
from levguard.kernels.cascade_v2_vault import vault_add, vault_equity

TWO_THIRDS = float(LIQUIDATION.backstop)
FLAT = Market(depth=1e9, impact="sqrt", impact_coef=0.0)
# steps: 60,000 twice, a gap to 59,300 (the liquidations), then the vault's inventory marked
EXO = np.array([60_000.0, 60_000.0, 59_300.0, 59_300.0, 59_800.0, 59_800.0])[:, None]


def _market(fund: float, *, vault: float, backstop: float = 0.0, adl: bool = True) -> tuple[Any, MarketSpec]:
    # A: equity 300 at 59,300 (< 2/3 x 593): the vault's.  B: equity -50: negative, not the vault's.
    # D: equity 550 (between 2/3 MM and MM): the book's.  C: a profitable short (ADL counterparty).
    qty = np.array([[1.0], [1.0], [1.0], [-2.0]])
    entry = np.array([[60_000.0], [60_000.0], [60_000.0], [61_000.0]])
    wallet = np.array([1_000.0, 650.0, 1_250.0, 20_000.0])
    pop = MarketPopulation(np.zeros(4, dtype=np.int64), wallet, qty, entry)
    regime = MarginRegime(mmr=0.01, liquidation_fee=0.0, outcome="book", backstop=backstop)
    settings_ = VenueSettings(insurance_fund=fund, adl=adl, vault_backstop=vault)
    return pop, MarketSpec(["BTC"], [MarketVenue("hl", FLAT, regime, None, settings_, "hyperliquid")])


def _balanced(res: Any) -> dict[str, float]:
    led: dict[str, float] = res.ledger()
    assert abs(led["residual"]) <= 1e-9 * led["scale"]
    return led


def test_the_rule_is_core_hyperliquid_resolution() -> None:
    # The three accounts at 59,300 are in the states core's rule names.
    for wallet, want in ((1_000.0, "backstop"), (650.0, "adl"), (1_250.0, "book")):
        assert hyperliquid_resolution(wallet - 700.0, 593.0) == want


def test_vault_takes_over_at_the_mark_and_keeps_its_pnl_while_the_fund_is_untouched() -> None:
    pop, spec = _market(10_000.0, vault=TWO_THIRDS)
    res = simulate_market(pop, EXO, spec)
    ev = res.events
    taken = ev[ev["kind"] == "vault_takeover"]
    assert taken["account"].tolist() == [0]
    assert taken["step"].tolist() == [2]
    assert taken["price"].tolist() == [59_300.0]  # at the mark
    assert taken["qty"].tolist() == [1.0]
    assert taken["fund_delta"].tolist() == [0.0]
    acc = res.accounts
    assert acc.loc[0, ["wallet", "kept", "status"]].tolist() == [0.0, 0.0, "liquidated"]
    assert acc.loc[0, "pnl"] == -1_000.0  # the maintenance buffer is not returned
    # B's -50 is the fund's (no vault for a negative account); D closes in the book and keeps 550
    assert res.venues.loc[0, "fund_end"] == pytest.approx(10_000.0 - 50.0, abs=1e-9)
    assert acc.loc[2, "kept"] == pytest.approx(550.0, abs=1e-9)
    book = ev[ev["kind"] == "liquidation"]
    assert sorted(book["account"].tolist()) == [1, 2]
    # the vault: 300 of cash and 1 BTC at 59,300, marked at 59,800 at the end: 800
    v = res.out.vault
    assert v.received[0] == pytest.approx(300.0, abs=1e-9)
    assert (v.qty[0, 0], v.entry[0, 0]) == (1.0, 59_300.0)
    np.testing.assert_allclose(v.equity[0], [0.0, 0.0, 300.0, 300.0, 800.0, 800.0], atol=1e-9)
    assert v.taken[0].tolist() == [0.0, 0.0, 59_300.0, 0.0, 0.0, 0.0]
    row = res.venues.iloc[0]
    assert (row["vault_received"], row["vault_end"], row["vault_taken_notional"]) == pytest.approx(
        (300.0, 800.0, 59_300.0)
    )
    led = _balanced(res)
    assert led["vault_pnl"] == pytest.approx(500.0, abs=1e-9)
    assert led["vault_received"] == pytest.approx(300.0, abs=1e-9)
    assert led["vault_taken"] == pytest.approx(-700.0, abs=1e-9)  # q (mark - entry)


def test_the_fund_backstop_instead_credits_the_takeover_to_the_fund() -> None:
    # The old single-fund form (regime.backstop): A's 300 goes to the fund, no vault.
    pop, spec = _market(10_000.0, vault=0.0, backstop=TWO_THIRDS)
    res = simulate_market(pop, EXO, spec)
    assert (res.events["kind"] == "vault_takeover").sum() == 0
    assert res.venues.loc[0, "fund_end"] == pytest.approx(10_000.0 + 300.0 - 50.0, abs=1e-9)
    assert res.out.vault.equity.max() == 0.0
    _balanced(res)


def test_adl_still_covers_a_negative_account_the_vault_does_not_take() -> None:
    pop, spec = _market(0.0, vault=TWO_THIRDS)
    res = simulate_market(pop, EXO, spec)
    ev = res.events
    assert ev.loc[ev["kind"] == "vault_takeover", "account"].tolist() == [0]
    assert ev.loc[ev["kind"] == "adl_liquidated", "account"].unique().tolist() == [1]
    victims = ev[ev["kind"] == "adl_victim"]
    assert victims["account"].unique().tolist() == [3]
    assert (victims["counterparty"] == 1).all()
    assert res.summary["bad_debt"] == 0.0
    assert res.out.vault.received[0] == pytest.approx(300.0, abs=1e-9)  # the vault never pays B
    _balanced(res)


def test_without_adl_the_negative_account_is_bad_debt_not_the_vaults() -> None:
    pop, spec = _market(0.0, vault=TWO_THIRDS, adl=False)
    res = simulate_market(pop, EXO, spec)
    assert res.summary["bad_debt"] == pytest.approx(50.0, abs=1e-9)
    assert res.out.vault.received[0] == pytest.approx(300.0, abs=1e-9)
    _balanced(res)


def test_vault_inventory_nets_and_realises() -> None:
    z = np.zeros((1, 1))
    vault = r2.VaultOutputs(
        z.copy(), z.copy(), z.copy(), z.astype(np.int64), np.zeros(1), np.zeros(1), z.copy(), z.copy()
    )
    vault_add(0, 0, 2.0, 100.0, vault)
    vault_add(0, 0, 2.0, 110.0, vault)
    assert (vault.qty[0, 0], vault.entry[0, 0]) == (4.0, 105.0)
    vault_add(0, 0, -1.0, 120.0, vault)  # closes 1 at 120 against 105
    assert (vault.qty[0, 0], vault.entry[0, 0], vault.cash[0]) == (3.0, 105.0, 15.0)
    vault_add(0, 0, -5.0, 90.0, vault)  # closes 3 at 90 (-45), opens a 2 short at 90
    assert (vault.qty[0, 0], vault.entry[0, 0], vault.cash[0]) == (-2.0, 90.0, -30.0)
    assert vault_equity(0, np.array([80.0]), vault) == -30.0 + 20.0


@pytest.mark.parametrize(
    ("field", "value"),
    [("vault_backstop", -0.1), ("vault_backstop", 1.5), ("vault_capital", -1.0), ("vault_backstop", float("nan"))],
)
def test_bad_vault_settings_are_named(field: str, value: float) -> None:
    with pytest.raises(InputError, match=field):
        VenueSettings(**{field: value})


# --------------------------------------------------------------------------- twins and ledger


def drawn_market(seed: int, vault: float, drawdown: float) -> tuple[Any, np.ndarray, MarketSpec]:
    """A drawn market of two assets on two venues with a crash, both new rules configurable."""
    venues = []
    for v, rule in enumerate(("hyperliquid", "bybit-linear")):
        regime = MarginRegime(mmr=0.01, liquidation_fee=0.0 if v else 0.001, outcome="book", partial=1.0 if v else 0.5)
        vs = VenueSettings(
            insurance_fund=3e3 * (1 + v),
            vault_backstop=vault if v == 0 else 0.0,
            vault_capital=1e4,
            adl_drawdown=drawdown if v == 1 else 0.0,
            adl_drawdown_stop=0.8 * drawdown if v == 1 else None,
            adl_drawdown_window_steps=20,
            adl_drawdown_min_fund=100.0,
        )
        books = [Market(depth=5e3 * (1 + a), half_life_steps=10.0) for a in range(2)]
        venues.append(MarketVenue(f"v{v}", books, regime, None, vs, rule))
    spec = MarketSpec(["A", "B"], venues)
    pop = random_market_population(300, (60_000.0, 3_000.0), n_venues=2, seed=seed, mmr=0.01)
    rng = np.random.default_rng(seed)
    n = 120
    f = rng.normal(0.0, 0.004, n)
    f[40:55] -= 0.005
    f[[44, 48, 52]] -= 0.03  # gaps: accounts go below 0 between two checks
    path = np.exp(np.cumsum(np.column_stack([f, 1.3 * f + rng.normal(0.0, 0.003, n)]), axis=0))
    exo = np.vstack([[1.0, 1.0], path]) * np.array([60_000.0, 3_000.0])
    return pop, exo, spec


def run_both(pop: Any, exo: np.ndarray, spec: MarketSpec) -> list[tuple[r2.MarketOutputs, r2.MarketCounts]]:
    """The Python twin's and the compiled kernel's outputs on the same inputs."""
    acc, tiers, dm, oracle, venues, books, cfg = kernel_inputs(pop, spec, exo.shape[0] - 1, 525_600.0, False)
    runs = []
    for fn in (market_cascade_py, market_cascade_nb):
        out = r2.new_market_outputs(pop.n, spec.n_assets, spec.n_venues, exo.shape[0], 20_000)
        runs.append((out, fn(acc, tiers, exo, dm, oracle, venues, books, cfg, out)))
    return runs


def assert_same(runs: list[tuple[r2.MarketOutputs, r2.MarketCounts]]) -> None:
    """Every output array of two runs equal, bit for bit."""
    (a, ca), (b, cb) = runs
    assert ca == cb
    for part in ("steps", "accounts", "books", "vault"):
        for name, x, y in zip(getattr(a, part)._fields, getattr(a, part), getattr(b, part), strict=True):
            np.testing.assert_array_equal(x, y, err_msg=f"{part}.{name}")
    np.testing.assert_array_equal(a.events[: ca.events], b.events[: cb.events])


@pytest.mark.skipif(NUMBA_DISABLED, reason="numba disabled: market_cascade_nb is market_cascade_py")
def test_python_twin_equals_compiled_with_the_vault_and_the_drawdown_trigger() -> None:
    pop, exo, spec = drawn_market(5, TWO_THIRDS, 0.05)
    runs = run_both(pop, exo, spec)
    assert_same(runs)
    out, counts = runs[1]
    assert out.vault.received[0] > 0.0  # the vault took accounts over
    assert counts.accounts_liquidated > 20


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=hs.integers(0, 10_000),
    vault=hs.sampled_from([0.0, 0.5, TWO_THIRDS, 0.9]),
    drawdown=hs.sampled_from([0.0, 0.02, 0.1, 0.3]),
)
def test_ledger_balances_with_the_vault_and_the_drawdown_trigger(seed: int, vault: float, drawdown: float) -> None:
    pop, exo, spec = drawn_market(seed, vault, drawdown)
    res = simulate_market(pop, exo, spec)
    led = _balanced(res)
    # the vault never pays: what it received is the taken accounts' equity, never below 0
    assert res.out.vault.received.min() >= 0.0
    if vault == 0.0:
        assert (led["vault_received"], led["vault_taken"]) == (0.0, 0.0)
    # the fund of the vault venue never moves on a takeover: every takeover event has no fund change
    ev = res.events
    assert (ev.loc[ev["kind"] == "vault_takeover", "fund_delta"] == 0.0).all()


def test_the_one_venue_simulator_refuses_the_market_settings() -> None:
    from levguard.cascade import MarginRegime, Market, VenueSettings
    from levguard.cascade.settings import kernel_config
    from levguard.errors import InputError

    for kw in ({"vault_backstop": 2 / 3}, {"adl_drawdown": 0.3}):
        with pytest.raises(InputError, match="market simulator"):
            kernel_config(Market(depth=1e6), MarginRegime(), VenueSettings(**kw), 525_600.0, False)
