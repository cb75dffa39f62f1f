"""The on-chain reader against Aave v3.6: ``read_aave(version="3.6")`` over web3.py equals the Pool.

The market is :mod:`_aave_origin`'s (npm ``@aave-dao/aave-v3-origin@3.6.0``, indexes grown and
frozen); web3.py talks JSON-RPC to its state through :class:`_aave_origin.EvmProvider`, so the
reader runs exactly as against a node (eth_call, ABI decoding, reverts as ``ContractLogicError``).
Accounts are opened through the Pool in and out of each e-mode category (with the category-2
ltvzero asset WSTETH and the e-mode-only collateral RETH among them) and some written into
storage; for each, levguard's health factor of the rows read equals ``getUserAccountData`` to
the wei, and the e-mode membership read from the bitmaps equals the category's configuration.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any, cast

import pytest

pytest.importorskip("eth_tester")
pytest.importorskip("web3")

import _aave
import _aave_origin as origin
from eth_utils import to_checksum_address
from web3 import Web3

from levguard.core.defi.aave import get_user_account_data
from levguard.core.defi.aave_supply import validate_automatic_use_as_collateral
from levguard.errors import InputError
from levguard.venues.onchain_read import Rpc, read_aave

VERSION = origin.LEVGUARD_VERSION
BASE = origin.BASE_UNIT
N_STORED = 40


def _open(m: origin.Market, user: str, emode: int, supplies: Mapping[str, float], borrow: tuple[str, float]) -> None:
    """Enter ``emode``, supply ``symbol -> USD`` on behalf (funder), borrow ``(symbol, USD)``."""
    if emode:
        m.send(m.pool.functions.setUserEMode(emode), user)
    for symbol, usd in supplies.items():
        spec = m.specs[symbol]
        m.send(m.pool.functions.supply(m.address(symbol), int(usd * BASE / spec.price * 10**spec.decimals), user, 0),
               m.funder)  # fmt: skip
    symbol, usd = borrow
    spec = m.specs[symbol]
    m.send(
        m.pool.functions.borrow(m.address(symbol), int(usd * BASE / spec.price * 10**spec.decimals), 2, 0, user), user
    )


OPENED = (  # e-mode, supplies (USD), borrow (USD)
    (0, {"WETH": 20_000, "USDC": 5_000}, ("DAI", 12_000)),
    (0, {"WBTC": 50_000}, ("WETH", 20_000)),
    (1, {"USDC": 30_000, "DAI": 10_000}, ("DAI", 33_000)),
    (2, {"WETH": 40_000, "RETH": 30_000, "WSTETH": 10_000}, ("WSTETH", 55_000)),
    (3, {"WBTC": 25_000, "WETH": 25_000}, ("USDC", 30_000)),
)


@pytest.fixture(scope="module")
def market(evm_build: Callable[[str], dict[str, Any]], fresh_stack: Callable[..., Any]) -> origin.Market:
    """The v3.6 market with the :data:`OPENED` accounts and ``N_STORED`` stored ones, prices moved."""
    document = evm_build(origin.TARGET)

    def build() -> origin.Market:
        m = origin.deploy_market(document["contracts"], num_users=len(OPENED))
        for user, (emode, supplies, borrow) in zip(m.users, OPENED, strict=True):
            _open(m, user, emode, supplies, borrow)
        for symbol, price in {"WETH": 240_000_000_000, "RETH": 262_000_000_000, "WBTC": 5_500_000_000_000}.items():
            m.set_price(symbol, price)
        rng = random.Random(7)
        stored = []
        for i in range(N_STORED):
            emode = i % 4
            pool = origin.EMODES[emode].collateral if emode else ("USDC", "WETH", "WBTC", "EURS")
            coll = {s: int(rng.uniform(1e3, 1e5) * BASE / m.specs[s].price * 10 ** m.specs[s].decimals)
                    for s in rng.sample(pool, min(2, len(pool)))}  # fmt: skip
            borrowable = origin.EMODES[emode].borrowable if emode else ("DAI", "USDC")
            debt_symbol = rng.choice(borrowable)
            spec = m.specs[debt_symbol]
            debt = {debt_symbol: int(rng.uniform(5e2, 5e4) * BASE / spec.price * 10**spec.decimals)}
            user = to_checksum_address(f"0x{0xEAD0000000 + i:040x}")
            stored.append(_aave.StoredAccount(user, coll, frozenset(coll), debt, emode))
        origin.write_accounts(m, stored)
        m.users.extend(a.user for a in stored)
        return m

    return cast(origin.Market, fresh_stack(build))


def test_read_aave_3_6_equals_get_user_account_data_in_and_out_of_emode(
    market: origin.Market, fresh_stack: Callable[..., Any]
) -> None:
    """For every account: the reader's rows give levguard the Pool's six account-data outputs to
    the wei, ``in_emode`` / ``emode_borrowable`` / ``emode_ltvzero`` are the category's bitmap
    bits, and the read's own ``chain_health_factor`` is the Pool's."""
    m = market
    provider = origin.EvmProvider(m.evm)
    rpc = Rpc(Web3(provider))
    emodes = origin.read_emodes(m)
    ids = {sym: i for i, sym in enumerate(m.symbols)}

    def run() -> dict[str, int]:
        seen = {"in e-mode": 0, "out of e-mode": 0, "ltvzero rows": 0, "lt-0 e-mode rows": 0}
        for user in m.users:
            read = read_aave(rpc, m.pool.address, user, user, version=VERSION)
            ours = get_user_account_data(read.reserves, read.emode, read.version)
            chain = tuple(m.call(m.pool.functions.getUserAccountData(user)))
            assert (ours.total_collateral_base, ours.total_debt_base, ours.available_borrows_base,
                    ours.current_liquidation_threshold, ours.ltv, ours.health_factor) == chain, user  # fmt: skip
            assert read.chain_health_factor == chain[5] < 2**256 - 1
            if read.emode_id:
                e = emodes[read.emode_id]
                assert read.emode is not None
                assert (read.emode.ltv, read.emode.lt, read.emode.liquidation_bonus) == (e.ltv, e.lt, e.bonus)
                for row in read.reserves:
                    rid = ids[row.symbol]
                    assert row.in_emode == bool(e.collateral >> rid & 1)
                    assert row.emode_borrowable == bool(e.borrowable >> rid & 1)
                    assert row.emode_ltvzero == bool(e.ltvzero >> rid & 1)
                    seen["ltvzero rows"] += row.emode_ltvzero and row.collateral_enabled
                    seen["lt-0 e-mode rows"] += row.in_emode and row.lt == 0 and row.collateral_enabled
            else:
                assert read.emode is None
                assert not any(r.in_emode for r in read.reserves)
            seen["in e-mode" if read.emode_id else "out of e-mode"] += 1
        return seen

    seen = cast(dict[str, int], fresh_stack(run))
    assert seen["in e-mode"] >= 30, seen
    assert seen["out of e-mode"] >= 10, seen
    assert seen["ltvzero rows"] > 0, seen
    assert seen["lt-0 e-mode rows"] > 0, seen
    assert provider.calls["eth_call"] > 0


def test_read_aave_refuses_an_unknown_version(market: origin.Market) -> None:
    """The reader takes the engine's versions; 3.4 is read as "3.3" and is not a version of its own."""
    rpc = Rpc(Web3(origin.EvmProvider(market.evm)))
    with pytest.raises(InputError, match="version must be one of"):
        read_aave(rpc, market.pool.address, market.users[0], market.users[0], version="3.4")


def test_a_first_supply_enables_the_collateral_flag_where_levguard_predicts_it(
    market: origin.Market, fresh_stack: Callable[..., Any]
) -> None:
    """``SupplyLogic.executeSupply`` sets a first supply's collateral flag where
    ``validateAutomaticUseAsCollateral`` allows it: no debt ceiling, then ``validateUseAsCollateral``,
    which 3.6 asks for the user's LTV (``getUserReserveLtv``, ValidationLogic.sol:600 and 653-674).
    For every account opened through the Pool, levguard's ``validate_automatic_use_as_collateral``
    on the rows before each supply (the later ones not yet made) equals the flag the Pool set.  RETH (own LTV 0,
    category 2's LTV 90 %) is enabled, WSTETH (own LTV 69 %, on category 2's ltvzero bitmap) is not:
    levguard, reading the reserve's own LTV, had both the other way round."""
    m = market
    rpc = Rpc(Web3(origin.EvmProvider(m.evm)))

    def run() -> set[tuple[str, bool]]:
        seen = set()
        for user, (_, supplies, _) in zip(m.users, OPENED, strict=False):
            read = read_aave(rpc, m.pool.address, user, user, version=VERSION)
            rows = {r.symbol: r for r in read.reserves}
            order = list(supplies)
            for k, symbol in enumerate(order):
                before = tuple(
                    replace(r, collateral=0, use_as_collateral=False) if r.symbol in order[k:] else r
                    for r in read.reserves
                )
                ours = validate_automatic_use_as_collateral(before, symbol, read.emode, read.version)
                assert ours == rows[symbol].collateral_enabled, (user, symbol)
                seen.add((symbol, ours))
        return seen

    seen = cast(set[tuple[str, bool]], fresh_stack(run))
    assert {("RETH", True), ("WSTETH", False), ("WETH", True)} <= seen, seen
