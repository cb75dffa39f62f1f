"""Differential tests: levguard's exact Aave engine (``version="3.6"``) against Aave v3.6, to the wei.

The contracts are compiled from npm ``@aave-dao/aave-v3-origin@3.6.0`` (build.py target
``aave-v3-origin``) and deployed by :mod:`_aave_origin` as the repository's deploy procedures
do; interest accrues for two years on whale positions (every index between 1.009 and 1.17 ray)
and is then frozen.  ``N_TX`` accounts are made through the Pool (supply, ``setUserEMode``,
borrow), EURS's LTV drops to 0, prices move and ``N_STORED`` seeded random accounts are written
into storage (several collaterals and debts, three overlapping e-mode categories with an
ltvzero asset and an e-mode-only collateral, isolation, siloed borrowing, LTV-0 collateral,
small positions and dust).  Then:

* every account's ``Pool.getUserAccountData`` (all six outputs) equals levguard's
  ``get_user_account_data(..., version="3.6")`` of the rows read back from the chain
  (v3.5 balances: aToken ``rayMulFloor``, debt ``rayMulCeil``);
* every account with HF < 1, a sample of healthy ones and random wrong asset choices are
  liquidated by ``liquidationCall`` as the liquidator: ``TRIALS`` random calls per liquidatable
  account from the same state (reverted with ``Evm.trial()``), then one kept; the event's amounts,
  the fee to the treasury, the transfers, the balances, flags, isolated debt and each reserve's
  ``deficit`` after, and each revert's custom error equal levguard's ``liquidation_call``.

Run with ``-s`` to see the counts and the CPU time of each phase.
"""

from __future__ import annotations

import math
import random
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, cast

import pytest

pytest.importorskip("eth_tester")
pytest.importorskip("web3")

import _aave
import _aave_common as common
import _aave_origin as origin
from _aave_common import BORROWABLE, COLLATERALS, AccountCheck, LiquidationStats
from eth_utils import to_checksum_address

from levguard.core.defi.aave import get_user_account_data
from levguard.core.defi.wadray import RAY

SEED = 360_360
N_TX = 8
N_STORED = 1_000
TRIALS = 3  # liquidations tried (and reverted) on each liquidatable account before the one kept
VERSION = origin.LEVGUARD_VERSION
BASE = origin.BASE_UNIT

FINAL_PRICES = {
    "WETH": 228_000_000_000, "WSTETH": 265_000_000_000, "RETH": 251_000_000_000, "WBTC": 5_200_000_000_000,
    "AAVE": 6_100_000_000, "DAI": 99_810_000, "USDC": 100_030_000, "EURS": 107_120_000, "SILO": 390_000_000,
}  # fmt: skip


@dataclass
class World(common.World):
    """The deployed market, the accounts on it and the time each phase took (CPU seconds)."""

    harness = origin
    borrows: Counter[str] = field(default_factory=Counter)

    def refresh(self) -> None:
        self.reserves = origin.read_reserves(self.market)
        self.emodes = origin.read_emodes(self.market)

    def units(self, symbol: str, usd: float) -> int:
        r = self.reserves[symbol]
        return max(1, int(usd * BASE / r.price * 10**r.decimals))

    def in_category(self, symbol: str, emode: int) -> bool:
        return emode != 0 and symbol in origin.EMODES[emode].collateral


# ---------------------------------------------------------------------------- accounts


def _make_tx_account(world: World, user: str, emode: int, rng: random.Random) -> None:
    """Enter e-mode, supply (on behalf, by the funder), borrow a fraction of what levguard allows."""
    m = world.market
    if emode:  # first: v3.6 lets no enabled collateral of LTV 0 in the category in (validateSetUserEMode)
        m.send(m.pool.functions.setUserEMode(emode), user)
    choices = origin.EMODES[emode].collateral if emode else COLLATERALS
    for symbol in rng.sample(choices, min(2, len(choices))):
        amount = world.units(symbol, math.exp(rng.uniform(math.log(3e3), math.log(3e5))))
        m.send(m.pool.functions.supply(m.address(symbol), amount, user, 0), m.funder)
    state = world.account(user)
    available = get_user_account_data(state.rows, state.emode_category, version=VERSION).available_borrows_base
    symbol = rng.choice(origin.EMODES[emode].borrowable if emode else BORROWABLE[:6])
    amount = world.units(symbol, available * rng.uniform(0.5, 0.98) / BASE)
    try:
        m.send(m.pool.functions.borrow(m.address(symbol), amount, 2, 0, user), user)
        world.borrows["ok"] += 1
    except _aave.RevertedError as exc:
        world.borrows[exc.reason] += 1


STORED_KINDS = ("plain", "emode1", "emode2", "emode3", "isolated", "siloed", "small", "dust", "no_debt", "no_coll")
STORED_WEIGHTS = (36, 12, 16, 10, 8, 4, 8, 3, 2, 1)


def _plan_stored(world: World, user: str, rng: random.Random) -> _aave.StoredAccount:
    kind = rng.choices(STORED_KINDS, STORED_WEIGHTS)[0]
    emode = {"emode1": 1, "emode2": 2, "emode3": 3}.get(kind, 0)

    def terms(symbol: str) -> tuple[int, int, int]:
        r = world.reserves[symbol]
        return r.price, r.decimals, origin.EMODES[emode].lt if world.in_category(symbol, emode) else r.lt

    plan = common.Plan(
        units=world.units,
        terms=terms,
        choices=origin.EMODES[emode].collateral + COLLATERALS[:2] if emode else COLLATERALS,
        flag_off=("AAVE", "SILO", "RETH"),
        debt_assets=origin.EMODES[emode].borrowable if emode else ("SILO",) if kind == "siloed" else BORROWABLE,
        odds=(0.12, 0.24, 0.4),
        high=4e3 if kind == "small" else 3e6,  # small: below 2,000 USD a side, the whole position goes
    )
    return common.plan_stored(user, kind, emode, rng, plan)


@pytest.fixture(scope="module")
def world(evm_build: Callable[[str], dict[str, Any]], fresh_stack: Callable[..., Any]) -> World:
    """The market and its accounts (built on a fresh thread stack: conftest.on_fresh_stack)."""
    document = evm_build(origin.TARGET)
    return cast(World, fresh_stack(_build_world, document["contracts"]))


def _build_world(artifacts: Mapping[str, Mapping[str, Any]]) -> World:
    rng = random.Random(SEED)
    t0 = time.process_time()
    market = origin.deploy_market(artifacts, num_users=N_TX)
    w = World(market, {}, {})
    w.refresh()
    w.timings["deploy, accrue, freeze"] = time.process_time() - t0
    t = time.process_time()
    for i, user in enumerate(market.users):
        _make_tx_account(w, user, (0, 1, 2, 3)[i % 4], rng)
        w.tx_users.append(user)
    eurs = market.specs["EURS"]
    cfg = market.configurator.functions
    market.send(cfg.configureReserveAsCollateral(market.address("EURS"), 0, eurs.lt, eurs.bonus))
    for symbol, price in FINAL_PRICES.items():
        market.set_price(symbol, price)
    w.refresh()
    stored = [to_checksum_address(f"0x{0xB0B0000000 + i:040x}") for i in range(N_STORED)]
    origin.write_accounts(market, [_plan_stored(w, user, rng) for user in stored])
    w.stored_users = stored
    w.timings[f"{N_TX} accounts through the Pool, prices moved, {N_STORED} written"] = time.process_time() - t
    return w


@pytest.fixture(scope="module")
def accounts(world: World, fresh_stack: Callable[..., Any]) -> list[AccountCheck]:
    """Every account read from the chain, with the contract's and levguard's account data."""
    return cast(list[AccountCheck], fresh_stack(_read_accounts, world))


def _read_accounts(world: World) -> list[AccountCheck]:
    t = time.process_time()
    out = common.read_accounts(world, VERSION)
    world.timings[f"getUserAccountData x {len(out)}"] = time.process_time() - t
    return out


def _report(world: World, title: str, counts: Mapping[str, object]) -> None:
    print(f"\n{title}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    for phase, cpu in world.timings.items():
        print(f"  {cpu:6.1f} s CPU  {phase}")


# ---------------------------------------------------------------------------- tests


def test_market_is_aave_v3_6_with_grown_indexes(world: World) -> None:
    """Pool revision 10 (v3.6.0); every deployed code fits EIP-170; indexes above one ray, rates 0."""
    m = world.market
    assert m.call(m.pool.functions.POOL_REVISION()) == origin.POOL_REVISION
    for name, art in m.evm.artifacts.items():
        assert (len(art["deployedBytecode"]) - 2) // 2 <= 24_576, name
    for symbol in m.symbols:
        assert RAY * 1005 // 1000 < m.income[symbol] < m.debt_index[symbol] < RAY * 13 // 10
        data = m.call(m.pool.functions.getReserveData(m.address(symbol)))
        assert (data[2], data[4]) == (0, 0)
    assert world.borrows["ok"] >= N_TX // 2, world.borrows


def test_storage_reading_matches_the_contracts_getters(world: World) -> None:
    """What :func:`_aave_origin.read_account` decodes from storage and turns into balances equals
    the contracts' getters (``scaledBalanceOf``, ``balanceOf``, configuration, e-mode, isolated debt)."""
    m = world.market
    for user in world.tx_users + random.Random(SEED + 1).sample(world.stored_users, 25):
        state = world.account(user)
        assert m.call(m.pool.functions.getUserConfiguration(user))[0] == state.config
        assert m.call(m.pool.functions.getUserEMode(user)) == state.emode
        for row in state.rows:
            symbol = str(row["symbol"])
            assert m.call(m.atokens[symbol].functions.scaledBalanceOf(user)) == state.scaled_collateral[symbol]
            assert m.call(m.atokens[symbol].functions.balanceOf(user)) == row["collateral"]
            assert m.call(m.vtokens[symbol].functions.scaledBalanceOf(user)) == state.scaled_debt[symbol]
            assert m.call(m.vtokens[symbol].functions.balanceOf(user)) == row["debt"]
    assert m.call(m.pool.functions.getReserveData(m.address("AAVE")))[-1] == origin.isolation_mode_total_debt(m, "AAVE")
    assert origin.isolation_mode_total_debt(m, "AAVE") > 0
    for symbol in m.symbols:
        assert m.call(m.pool.functions.getReserveDeficit(m.address(symbol))) == origin.reserve_deficit(m, symbol)


def test_account_data_matches_the_contract(world: World, accounts: list[AccountCheck]) -> None:
    """``get_user_account_data(version="3.6")`` equals ``Pool.getUserAccountData`` to the wei."""
    bad, detail = common.disagreeing(accounts)
    assert not bad, f"{len(bad)} of {len(accounts)} accounts disagree, e.g. {detail}"

    def enabled(c: AccountCheck, pred: Callable[[Mapping[str, object]], bool]) -> bool:
        return any(bool(r["use_as_collateral"]) and bool(r["collateral"]) and pred(r) for r in c.state.rows)

    counts = {
        **common.account_counts(accounts),
        "ltvzero in e-mode": sum(enabled(c, lambda r: bool(r["emode_ltvzero"])) for c in accounts),
        "lt-0 collateral in e-mode": sum(enabled(c, lambda r: r["lt"] == 0 and bool(r["in_emode"])) for c in accounts),
        "isolated": sum(enabled(c, lambda r: bool(r["debt_ceiling"])) for c in accounts),
        "LTV-0 collateral": sum(c.engine.has_zero_ltv_collateral for c in accounts),
    }
    _report(world, "account data", counts)
    assert counts["accounts"] >= 1_000
    assert counts["HF < 1"] >= 150
    assert counts["HF <= 0.95"] >= 100
    assert counts["e-mode"] >= 300
    for key in ("ltvzero in e-mode", "lt-0 collateral in e-mode", "isolated", "LTV-0 collateral"):
        assert counts[key] >= 30, (key, counts)


# ---------------------------------------------------------------------------- liquidations


def _tally(stats: LiquidationStats, liq: common.Liquidation) -> None:
    """v3.6's kinds of liquidation (bad debt, the 50 % close factor and its cap, whole small positions)."""
    before, result, coll, debt = liq.before, liq.result, liq.coll, liq.debt
    stats.kinds["receive aToken"] += liq.receive
    stats.kinds["all collateral seized"] += result.collateral_after[coll] == 0
    stats.kinds["whole debt repaid"] += result.debt_after[debt] == 0
    stats.kinds["deficit (bad debt)"] += bool(result.deficit)
    stats.kinds["close factor 50 %"] += result.close_factor == 5_000
    owed = next(int(str(r["debt"])) for r in before.rows if r["symbol"] == debt)
    stats.kinds["capped at 50 % of total debt"] += result.max_liquidatable_debt < owed
    stats.kinds["whole small position"] += result.close_factor == 10_000 and result.health_factor_before > 95 * 10**16
    stats.kinds["e-mode"] += before.emode != 0
    stats.kinds["ltvzero or lt-0 e-mode collateral"] += any(
        bool(r["in_emode"]) and (bool(r["emode_ltvzero"]) or r["lt"] == 0) and r["symbol"] == coll for r in before.rows
    )


DIFFERENTIAL = common.Differential(
    VERSION, common.custom_error, SEED, TRIALS, sample_after=0.1, tally=_tally, deficit=origin.reserve_deficit
)


def _liquidate_all(world: World, accounts: list[AccountCheck]) -> LiquidationStats:
    t = time.process_time()
    stats = DIFFERENTIAL.liquidate_all(world, accounts)
    world.timings[f"liquidationCall x {sum(stats.outcomes.values())}"] = time.process_time() - t
    return stats


def test_liquidations_match_the_contract(
    world: World, accounts: list[AccountCheck], fresh_stack: Callable[..., Any]
) -> None:
    """``liquidationCall`` on every liquidatable account (some twice), on healthy accounts and with
    wrong asset choices: outcomes, transfers, balances, deficits and custom errors equal levguard's."""
    stats = cast(LiquidationStats, fresh_stack(_liquidate_all, world, accounts))
    common.assert_indexes_frozen(world.market)  # the indexes stayed frozen throughout
    _report(world, "liquidations", {**stats.outcomes, **stats.kinds})
    assert not stats.mismatches, f"{len(stats.mismatches)} mismatches, e.g. {stats.mismatches[:5]}"
    assert sum(stats.outcomes.values()) >= 1_000
    assert stats.outcomes["ok"] >= 600
    for reason in ("HealthFactorNotBelowThreshold", "CollateralCannotBeLiquidated",
                   "SpecifiedCurrencyNotBorrowedByUser", "MustNotLeaveDust"):  # fmt: skip
        assert stats.outcomes[reason] > 0, stats.outcomes
    for kind in ("deficit (bad debt)", "close factor 50 %", "capped at 50 % of total debt", "whole small position"):
        assert stats.kinds[kind] > 0, stats.kinds
