"""What the two in-EVM Aave harnesses and their differential tests share.

:mod:`_aave` runs Aave v3.0.2 (npm ``@aave/core-v3`` artifacts) and :mod:`_aave_origin` Aave
v3.6 (npm ``@aave-dao/aave-v3-origin`` compiled); ``test_aave_differential`` and
``test_aave_origin_differential`` check levguard against them.  The pieces that are the same for
both live here, with what differs between the versions as arguments:

* the chain side: the market's contracts (:class:`Market`), the reserve parameters read through
  the getters, a user's storage read back into levguard rows and accounts written into storage
  (:class:`Storage`: the scaled balance's width and the balance rounding of the version);
* the test side: levguard's outcome named as the chain names a revert, the seeded stored-account
  plan, the account data of every account, and the checked liquidation loop
  (:class:`Differential`: version, error naming, deficit reading, the version's own tallies).
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from eth_utils import keccak, to_checksum_address

from levguard.core.defi.aave import AaveError, UserAccountData, get_user_account_data, liquidation_call
from levguard.core.defi.wadray import UINT256_MAX, MathRevertError

BASE_UNIT = 10**8  # AaveOracle's base currency unit (USD, 8 decimals)
BORROWABLE_IN_ISOLATION_BIT = 61  # ReserveConfiguration.sol: BORROWABLE_IN_ISOLATION_START_BIT_POSITION

# ---------------------------------------------------------------------------- the chain


class RevertedError(Exception):
    """A transaction or call reverted; ``reason`` is the revert string ("" when none)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason or "reverted without reason")
        self.reason = reason


@dataclass(frozen=True)
class Receipt:
    """A successful transaction's logs: ``(address, topics, data)`` with a checksum address."""

    logs: tuple[tuple[str, tuple[bytes, ...], bytes], ...]


@dataclass
class Market:
    """Addresses and contracts of the deployed market, and the chain it lives on."""

    evm: Any  # _aave.Evm or _aave_origin.OriginEvm
    provider: Any
    acl: Any
    pool: Any
    configurator: Any
    oracle: Any
    data_provider: Any
    tokens: dict[str, Any]
    atokens: dict[str, Any]
    vtokens: dict[str, Any]
    specs: dict[str, Any]  # the harness's ReserveSpec per symbol
    admin: str
    treasury: str
    funder: str  # holds every token, supplies on behalf of users (v3.0: ISOLATED_COLLATERAL_SUPPLIER)
    liquidator: str
    whales: tuple[str, str]
    users: list[str]  # keys for accounts that transact themselves
    symbols: tuple[str, ...] = field(default_factory=tuple)  # in reserve id order
    income: dict[str, int] = field(default_factory=dict)  # normalized income, frozen (ray)
    debt_index: dict[str, int] = field(default_factory=dict)  # normalized variable debt (ray)

    def address(self, symbol: str) -> str:
        return str(self.tokens[symbol].address)

    def send(self, fn: Any, sender: str | None = None) -> Receipt:
        return self.evm.send(fn, sender or self.admin)

    def call(self, fn: Any, sender: str | None = None) -> Any:
        return self.evm.call(fn, sender)

    def set_price(self, symbol_or_source: str, price: int) -> None:
        """Point the asset (a symbol or an address) at a new MockAggregator answering ``price``."""
        asset = self.address(symbol_or_source) if symbol_or_source in self.tokens else symbol_or_source
        aggregator = self.evm.deploy("MockAggregator", price)
        self.send(self.oracle.functions.setAssetSources([asset], [aggregator.address]))


def configure_reserves(
    evm: Any, configurator: Any, tokens: Mapping[str, Any], admin: str, reserves: Iterable[Any]
) -> None:
    """Collateral parameters, borrowing, fees, caps, the v3.0 asset e-mode category (specs with an
    ``emode`` field), debt ceiling, borrowable in isolation and siloed borrowing, per reserve."""
    cfg = configurator.functions
    for s in reserves:
        a = tokens[s.symbol].address
        if s.lt:
            evm.send(cfg.configureReserveAsCollateral(a, s.ltv, s.lt, s.bonus), admin)
        evm.send(cfg.setReserveBorrowing(a, True), admin)
        evm.send(cfg.setReserveFactor(a, 1000), admin)
        evm.send(cfg.setLiquidationProtocolFee(a, s.fee), admin)
        whole = s.whale_usd * BASE_UNIT // s.price
        evm.send(cfg.setSupplyCap(a, 20 * whole), admin)
        evm.send(cfg.setBorrowCap(a, 10 * whole), admin)
        if getattr(s, "emode", 0):
            evm.send(cfg.setAssetEModeCategory(a, s.emode), admin)
        if s.debt_ceiling:  # before any supply (PoolConfigurator._checkNoSuppliers)
            evm.send(cfg.setDebtCeiling(a, s.debt_ceiling), admin)
        if s.borrowable_in_isolation:
            evm.send(cfg.setBorrowableInIsolation(a, True), admin)
        if s.siloed:  # before any borrow (PoolConfigurator._checkNoBorrowers)
            evm.send(cfg.setSiloedBorrowing(a, True), admin)


def new_market(
    evm: Any, contracts: tuple[Any, ...], tokens: dict[str, Any], names: tuple[str, str], reserves: Sequence[Any]
) -> Market:
    """The :class:`Market` of the deployed ``contracts`` (provider, ACL manager, pool, configurator,
    oracle, data provider): the aToken and variable-debt token of every reserve (``names``: their
    artifacts), the roles (the chain's first six accounts: admin, treasury, funder, liquidator and
    two whales; the rest users), the symbols in reserve id order; then the funder, the liquidator
    and the whales get plenty of every token and approve the pool."""
    admin, treasury, funder, liquidator, whale_a, whale_b = evm.accounts[:6]
    provider, acl, pool, configurator, oracle, data_provider = contracts
    atokens: dict[str, Any] = {}
    vtokens: dict[str, Any] = {}
    for s in reserves:
        a_addr, _, v_addr = evm.call(data_provider.functions.getReserveTokensAddresses(tokens[s.symbol].address))
        atokens[s.symbol] = evm.at(names[0], a_addr)
        vtokens[s.symbol] = evm.at(names[1], v_addr)
    market = Market(
        evm, provider, acl, pool, configurator, oracle, data_provider, tokens, atokens, vtokens,
        {s.symbol: s for s in reserves}, admin, treasury, funder, liquidator, (whale_a, whale_b), list(evm.accounts[6:]),
    )  # fmt: skip
    by_address = {t.address: sym for sym, t in tokens.items()}
    reserve_list = evm.call(pool.functions.getReservesList())
    market.symbols = tuple(by_address[to_checksum_address(a)] for a in reserve_list)
    for s in reserves:
        token = tokens[s.symbol]
        for holder in (funder, liquidator, whale_a, whale_b):
            market.send(token.functions.mint(10**40), holder)
            market.send(token.functions.approve(pool.address, UINT256_MAX), holder)
    return market


def freeze_indexes(market: Market, reserves: Iterable[Any]) -> None:
    """Record every reserve's frozen normalized income and variable debt; assert its rates are 0."""
    pool = market.pool.functions
    for s in reserves:
        a = market.address(s.symbol)
        market.income[s.symbol] = market.call(pool.getReserveNormalizedIncome(a))
        market.debt_index[s.symbol] = market.call(pool.getReserveNormalizedVariableDebt(a))
        data = market.call(pool.getReserveData(a))
        assert (data[2], data[4]) == (0, 0), f"{s.symbol}: rates not frozen ({data[2]}, {data[4]})"
    market.evm.persist()


# ---------------------------------------------------------------------------- accounts


@dataclass(frozen=True)
class ReserveParams:
    """What levguard's row needs from a reserve besides the user's balances (read from the chain)."""

    price: int
    decimals: int
    ltv: int
    lt: int
    bonus: int
    fee: int
    debt_ceiling: int
    borrowable_in_isolation: bool
    siloed: bool
    emode: int = 0  # the asset's e-mode category (v3.0; v3.2+ keeps categories as bitmaps: 0)


def read_reserves(market: Market, asset_emode: bool) -> dict[str, ReserveParams]:
    """Read every reserve's configuration and oracle price through the protocol's getters
    (``asset_emode``: the v3.0 per-asset e-mode category too)."""
    out: dict[str, ReserveParams] = {}
    dp, pool = market.data_provider.functions, market.pool.functions
    for sym in market.symbols:
        a = market.address(sym)
        decimals, ltv, lt, bonus, *_ = market.call(dp.getReserveConfigurationData(a))
        config = market.call(pool.getConfiguration(a))[0]
        out[sym] = ReserveParams(
            price=market.call(market.oracle.functions.getAssetPrice(a)),
            decimals=decimals, ltv=ltv, lt=lt, bonus=bonus,
            fee=market.call(dp.getLiquidationProtocolFee(a)),
            emode=market.call(dp.getReserveEModeCategory(a)) if asset_emode else 0,
            debt_ceiling=market.call(dp.getDebtCeiling(a)),
            borrowable_in_isolation=bool(config >> BORROWABLE_IN_ISOLATION_BIT & 1),
            siloed=market.call(dp.getSiloedBorrowing(a)),
        )  # fmt: skip
    return out


@dataclass(frozen=True)
class AccountState:
    """A user's raw on-chain state (storage) and its translation into levguard rows."""

    user: str
    config: int  # UserConfigurationMap.data
    emode: int
    scaled_collateral: dict[str, int]
    scaled_debt: dict[str, int]
    rows: tuple[dict[str, object], ...]
    emode_category: dict[str, int] | None
    stale_borrowing: frozenset[str] = frozenset()  # borrowing flag on, no debt (v3.0 liquidations)


@dataclass(frozen=True)
class StoredAccount:
    """An account to write into storage: current balances per symbol and the user's flags."""

    user: str
    collateral: dict[str, int]
    enabled: frozenset[str]
    debt: dict[str, int]
    emode: int = 0
    isolated: str | None = None  # the isolated collateral when the account is in isolation mode


@dataclass(frozen=True)
class Storage:
    """How a version keeps a user's balances: the slots (the compiler's storage layout), the width
    of the scaled balance in ``_userState`` and the rounding between scaled and current balances
    (v3.0: ``rayMul`` / ``rayDiv`` half up; v3.5+: collateral down, debt up)."""

    slots: Any  # users_config, users_emode, a_user, a_total, v_user, v_total
    low: int  # mask of the scaled balance in _userState
    collateral: Callable[[int, int], int]  # (scaled, index) -> balance
    debt: Callable[[int, int], int]
    scaled_collateral: Callable[[int, int], int]  # (balance, index) -> scaled
    scaled_debt: Callable[[int, int], int]


def read_account(
    market: Market,
    user: str,
    reserves: Mapping[str, ReserveParams],
    storage: Storage,
    emode_rows: Callable[[int, int, ReserveParams], dict[str, object]],
    isolated_debt: Callable[[Market, str], int],
) -> tuple[int, int, dict[str, int], dict[str, int], tuple[dict[str, object], ...], frozenset[str]]:
    """Read ``user``'s storage (bitmap, e-mode, scaled balances) and build levguard's rows.

    One row per reserve (untouched ones with zero balances and the flag off); ``collateral`` and
    ``debt`` are the scaled balances at the reserve's frozen normalized income / debt, as the
    tokens' ``balanceOf`` computes them (``storage``), and the indexes go along for the exact
    scaled burns; ``emode_rows(emode, reserve id, reserve)`` adds the version's e-mode fields.
    Returns (config, emode, scaled collateral, scaled debt, rows, symbols with a stale borrowing flag).
    """
    evm, sl = market.evm, storage.slots
    config = evm.storage(market.pool.address, mapping_slot(user, sl.users_config))
    emode = evm.storage(market.pool.address, mapping_slot(user, sl.users_emode)) & 0xFF
    coll: dict[str, int] = {}
    debt: dict[str, int] = {}
    stale: set[str] = set()
    rows: list[dict[str, object]] = []
    for rid, sym in enumerate(market.symbols):
        sc = evm.storage(market.atokens[sym].address, mapping_slot(user, sl.a_user)) & storage.low
        sd = evm.storage(market.vtokens[sym].address, mapping_slot(user, sl.v_user)) & storage.low
        borrowing, enabled = bool(config >> (2 * rid) & 1), bool(config >> (2 * rid + 1) & 1)
        if sd and not borrowing:
            raise AssertionError(f"{user} {sym}: scaled debt {sd} without the borrowing flag")
        if borrowing and not sd:  # v3.0: a liquidation can burn the last scaled unit and leave the flag
            stale.add(sym)
        coll[sym], debt[sym] = sc, sd
        r = reserves[sym]
        rows.append(
            {
                "symbol": sym, "price": r.price, "decimals": r.decimals, "ltv": r.ltv, "lt": r.lt,
                "collateral": storage.collateral(sc, market.income[sym]),
                "debt": storage.debt(sd, market.debt_index[sym]),
                **emode_rows(emode, rid, r),
                "liquidation_bonus": r.bonus, "liquidation_protocol_fee": r.fee, "use_as_collateral": enabled,
                "debt_ceiling": r.debt_ceiling,
                "isolation_mode_total_debt": isolated_debt(market, sym) if r.debt_ceiling else 0,
                "borrowable_in_isolation": r.borrowable_in_isolation, "siloed_borrowing": r.siloed,
                "liquidity_index": market.income[sym], "variable_borrow_index": market.debt_index[sym],
            }
        )  # fmt: skip
    return config, emode, coll, debt, tuple(rows), frozenset(stale)


def mapping_slot(key: str | int, base: int) -> int:
    """Solidity's slot of ``mapping[key]`` at ``base``: keccak256(pad32(key) . pad32(base))."""
    k = int(key, 16) if isinstance(key, str) else key
    return int.from_bytes(keccak(k.to_bytes(32, "big") + base.to_bytes(32, "big")), "big")


def write_accounts(
    market: Market,
    accounts: Iterable[StoredAccount],
    storage: Storage,
    reserve_writes: Callable[[str, int, int], dict[tuple[str, int], int]],
) -> None:
    """Write accounts into storage as supplies and borrows at the frozen indexes would leave them.

    Per user: aToken and variable-debt ``_userState`` (scaled balance | index << 128, scaled as
    ``storage`` mints), the pool's configuration bitmap and e-mode category; per reserve: the
    tokens' scaled totals, what ``reserve_writes(symbol, isolated debt added, underlying added)``
    writes into the reserve's data (the isolated collateral's ``isolationModeTotalDebt`` grows by
    debt / 10**(decimals - 2) per borrow), and the underlying the aToken holds (minted to it, so
    liquidations can pay out).
    """
    evm, sl = market.evm, storage.slots
    writes: dict[tuple[str, int], int] = {}
    a_total = dict.fromkeys(market.symbols, 0)
    v_total = dict.fromkeys(market.symbols, 0)
    underlying = dict.fromkeys(market.symbols, 0)
    iso_debt = dict.fromkeys(market.symbols, 0)
    rid = {s: i for i, s in enumerate(market.symbols)}
    for acc in accounts:
        config = 0
        for sym, amount in acc.collateral.items():
            index = market.income[sym]
            scaled = storage.scaled_collateral(amount, index)
            writes[(market.atokens[sym].address, mapping_slot(acc.user, sl.a_user))] = scaled | index << 128
            a_total[sym] += scaled
            underlying[sym] += amount
            if sym in acc.enabled:
                config |= 1 << (2 * rid[sym] + 1)
        for sym, amount in acc.debt.items():
            index = market.debt_index[sym]
            scaled = storage.scaled_debt(amount, index)
            writes[(market.vtokens[sym].address, mapping_slot(acc.user, sl.v_user))] = scaled | index << 128
            v_total[sym] += scaled
            config |= 1 << (2 * rid[sym])
            if acc.isolated is not None:
                iso_debt[acc.isolated] += amount // 10 ** (market.specs[sym].decimals - 2)
        writes[(market.pool.address, mapping_slot(acc.user, sl.users_config))] = config
        if acc.emode:
            writes[(market.pool.address, mapping_slot(acc.user, sl.users_emode))] = acc.emode
    for sym in market.symbols:
        for token, total, slot in (
            (market.atokens[sym], a_total, sl.a_total),
            (market.vtokens[sym], v_total, sl.v_total),
        ):
            if total[sym]:
                writes[(token.address, slot)] = evm.storage(token.address, slot) + total[sym]
        writes.update(reserve_writes(sym, iso_debt[sym], underlying[sym]))
    evm.write_storage(writes)
    for sym in market.symbols:  # real transactions after the write block
        if underlying[sym]:
            market.send(market.tokens[sym].functions.mint(market.atokens[sym].address, underlying[sym]), market.funder)


# ---------------------------------------------------------------------------- the differential tests

COLLATERALS = ("USDC", "DAI", "EURS", "WBTC", "WETH", "WSTETH")
BORROWABLE = ("USDC", "DAI", "EURS", "WBTC", "WETH", "WSTETH", "AAVE")
IN_ISOLATION = ("USDC", "DAI", "EURS")
LIQUIDATION_TOPIC = keccak(text="LiquidationCall(address,address,address,uint256,uint256,address,bool)")
TRANSFER_TOPIC = keccak(text="Transfer(address,address,uint256)")


def outcome(name: Callable[[AaveError], str], fn: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[str, Any]:
    """Run a levguard function: ("ok", result) or the revert it predicts, named as the chain names it
    (``name`` of an AaveError, ``panic 0x..`` or ``revert()`` for a math revert)."""
    try:
        return "ok", fn(*args, **kwargs)
    except AaveError as exc:
        return name(exc), None
    except MathRevertError as exc:
        return (f"panic {exc.code}" if exc.code else "revert()"), None


def error_code(exc: AaveError) -> str:
    """v3.0: the ``Errors.sol`` string code the Pool reverts with."""
    return exc.code


def custom_error(exc: AaveError) -> str:
    """v3.4+: the custom error's name."""
    return exc.custom_error.removesuffix("()")


@dataclass
class World:
    """The deployed market, the accounts on it and the time each phase took (``harness``: the
    module that reads accounts, :mod:`_aave` or :mod:`_aave_origin`)."""

    harness: ClassVar[Any]
    market: Any
    reserves: dict[str, Any]
    emodes: dict[int, Any]
    tx_users: list[str] = field(default_factory=list)
    stored_users: list[str] = field(default_factory=list)
    timings: dict[str, Any] = field(default_factory=dict)

    def account(self, user: str) -> AccountState:
        return self.harness.read_account(self.market, user, self.reserves, self.emodes)


def target_health_factor(rng: random.Random, odds: tuple[float, float, float]) -> float:
    """A health factor to size a stored account's debt at: ``odds`` = (P(sick), P(sick or near 1),
    the sick range's low end)."""
    u = rng.random()
    if u < odds[0]:
        return rng.uniform(odds[2], 0.99)
    if u < odds[1]:
        return rng.uniform(0.93, 1.02)  # around 1 and the 0.95 close-factor threshold
    return rng.uniform(1.0, 2.5)


@dataclass(frozen=True)
class Plan:
    """How a stored account of one kind is drawn (the version's assets and e-mode rules)."""

    units: Callable[[str, float], int]  # token units worth some USD, as the account is valued
    terms: Callable[[str], tuple[int, int, int]]  # price, decimals, liquidation threshold of a collateral
    choices: Sequence[str]  # collaterals outside isolation
    flag_off: Sequence[str]  # supplied with the collateral flag off
    debt_assets: Sequence[str]  # debts outside isolation
    odds: tuple[float, float, float]  # target_health_factor's
    high: float = 3e6  # largest USD a side


def plan_stored(user: str, kind: str, emode: int, rng: random.Random, plan: Plan) -> StoredAccount:
    """A seeded random account of ``kind`` (isolated, dust, no_debt, no_collateral / no_coll, ...)."""

    def usd() -> float:
        return math.exp(rng.uniform(math.log(20), math.log(plan.high)))

    collateral: dict[str, int] = {}
    enabled: set[str] = set()
    isolated = None
    if kind == "isolated":
        collateral["AAVE"], isolated = plan.units("AAVE", usd()), "AAVE"
        enabled.add("AAVE")
        if rng.random() < 0.4:
            collateral[rng.choice(COLLATERALS)] = plan.units("USDC", usd())
        debt_assets: Sequence[str] = IN_ISOLATION
    else:
        for symbol in rng.sample(plan.choices, rng.randint(1, 3)):
            collateral[symbol] = plan.units(symbol, usd())
            if rng.random() < 0.92 and kind not in ("no_collateral", "no_coll"):
                enabled.add(symbol)
        if rng.random() < 0.12:
            collateral[rng.choice(plan.flag_off)] = plan.units("SILO", usd())  # supplied, flag off
        debt_assets = plan.debt_assets
    if kind == "dust":
        collateral = {s: rng.randint(1, 5_000) for s in collateral}
    capacity = 0.0
    for symbol in enabled:
        price, decimals, lt = plan.terms(symbol)
        capacity += collateral[symbol] * price / BASE_UNIT / 10**decimals * lt / 10_000
    debt: dict[str, int] = {}
    if kind != "no_debt":
        total = capacity / target_health_factor(rng, plan.odds) if capacity > 0 else rng.uniform(10, 5e4)
        chosen = rng.sample(debt_assets, rng.randint(1, min(2, len(debt_assets))))
        weights = [rng.random() + 0.05 for _ in chosen]
        for symbol, w in zip(chosen, weights, strict=True):
            amount = plan.units(symbol, total * w / sum(weights))
            debt[symbol] = rng.randint(1, 5_000) if kind == "dust" else amount
    return StoredAccount(user, collateral, frozenset(enabled), debt, emode, isolated)


def six(e: UserAccountData) -> tuple[int, ...]:
    """The six outputs of ``Pool.getUserAccountData``, in its order."""
    return (
        e.total_collateral_base, e.total_debt_base, e.available_borrows_base,
        e.current_liquidation_threshold, e.ltv, e.health_factor,
    )  # fmt: skip


@dataclass(frozen=True)
class AccountCheck:
    user: str
    state: AccountState
    contract: tuple[int, ...]
    engine: UserAccountData


def read_accounts(world: World, version: str) -> list[AccountCheck]:
    """Every account read from the chain, with the contract's and levguard's account data."""
    m, out = world.market, []
    for user in world.tx_users + world.stored_users:
        state = world.account(user)
        contract = tuple(m.call(m.pool.functions.getUserAccountData(user)))
        engine = get_user_account_data(state.rows, state.emode_category, version=version)
        out.append(AccountCheck(user, state, contract, engine))
    return out


def disagreeing(accounts: list[AccountCheck]) -> tuple[list[AccountCheck], list[tuple[object, ...]]]:
    """The accounts whose levguard account data is not the contract's, and the first two in detail."""
    bad = [c for c in accounts if six(c.engine) != c.contract]
    return bad, [(c.user, c.contract, six(c.engine), c.state.rows, c.state.emode_category) for c in bad[:2]]


def account_counts(accounts: list[AccountCheck]) -> dict[str, int]:
    """How many accounts there are, below HF 1 and 0.95 (the contract's), without debt, in e-mode."""
    hf = [c.contract[5] for c in accounts]
    return {
        "accounts": len(accounts),
        "HF < 1": sum(h < 10**18 for h in hf),
        "HF <= 0.95": sum(h <= 95 * 10**16 for h in hf),
        "no debt": sum(h == UINT256_MAX for h in hf),
        "e-mode": sum(c.state.emode != 0 for c in accounts),
    }


def transfers(receipt: Receipt, token: str) -> list[tuple[str, str, int]]:
    """The ERC-20 ``Transfer`` events ``token`` emitted: (from, to, value)."""
    return [
        (to_checksum_address(topics[1][12:]), to_checksum_address(topics[2][12:]), int.from_bytes(data, "big"))
        for address, topics, data in receipt.logs
        if address == token and topics[0] == TRANSFER_TOPIC
    ]


def liquidation_event(receipt: Receipt, pool: str) -> tuple[int, int]:
    """``LiquidationCall``'s debtToCover and liquidatedCollateralAmount."""
    for address, topics, data in receipt.logs:
        if address == pool and topics[0] == LIQUIDATION_TOPIC:
            return int.from_bytes(data[:32], "big"), int.from_bytes(data[32:64], "big")
    raise AssertionError("no LiquidationCall event")


@dataclass
class LiquidationStats:
    outcomes: Counter[str] = field(default_factory=Counter)
    kinds: Counter[str] = field(default_factory=Counter)
    mismatches: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Liquidation:
    """One successful liquidation, for the version's own tallies."""

    before: AccountState
    coll: str
    debt: str
    amount: int
    receive: bool
    result: Any  # levguard's LiquidationResult


@dataclass(frozen=True)
class Differential:
    """What the liquidation loop of a version's differential test fixes."""

    version: str  # levguard's
    name: Callable[[AaveError], str]  # a revert as the Pool names it (error_code or custom_error)
    seed: int  # the loop draws from random.Random(seed + 2)
    trials: int  # liquidations tried and reverted on a liquidatable account before the one kept
    sample_after: float  # share of liquidations whose account data after is compared
    tally: Callable[[LiquidationStats, Liquidation], None]  # the version's kinds of liquidation
    lt_collateral: bool = False  # choose among collaterals with a threshold only (v3.0)
    deficit: Callable[[Any, str], int] | None = None  # ReserveData.deficit reader (v3.3+)
    stale_borrowing: bool = False  # the borrowing flag may stay at zero debt (v3.0): count, not a mismatch

    def choose(self, state: AccountState, rng: random.Random) -> tuple[str, str, int, bool]:
        """A liquidation's (collateral, debt, amount, receive aToken), mostly sensible."""
        rows = {str(r["symbol"]): r for r in state.rows}
        debts = [s for s, r in rows.items() if r["debt"]]
        collaterals = [
            s
            for s, r in rows.items()
            if r["use_as_collateral"] and (r["lt"] or not self.lt_collateral) and r["collateral"]
        ]
        debt = rng.choice(debts) if debts and rng.random() < 0.97 else rng.choice(list(rows))
        coll = rng.choice(collaterals) if collaterals and rng.random() < 0.97 else rng.choice(list(rows))
        owed = int(str(rows[debt]["debt"]))
        u = rng.random()
        if u < 0.35:
            amount = UINT256_MAX
        elif u < 0.6:
            amount = rng.randint(1, max(1, owed))
        elif u < 0.75:
            amount = rng.randint(owed // 2, 3 * owed + 1)
        elif u < 0.91:
            amount = owed
        elif u < 0.94:
            amount = 0
        else:
            amount = rng.randint(1, 1_000)
        return coll, debt, amount, rng.random() < 0.25

    def liquidate(
        self, world: World, user: str, rng: random.Random, stats: LiquidationStats, before: AccountState
    ) -> bool:
        """One liquidation from the account state ``before``, checked; return whether the account
        can still be liquidated."""
        m = world.market
        coll, debt, amount, receive = self.choose(before, rng)
        expected, result = outcome(
            self.name, liquidation_call, before.rows, coll, debt, amount, receive, before.emode_category,
            version=self.version,
        )  # fmt: skip
        deficits = {s: self.deficit(m, s) for s in m.symbols} if self.deficit else {}
        fn = m.pool.functions.liquidationCall(m.address(coll), m.address(debt), user, amount, receive)
        try:
            receipt = m.send(fn, m.liquidator)
            actual = "ok"
        except RevertedError as exc:
            actual = exc.reason
        stats.outcomes[actual] += 1
        where = f"{user} {coll}/{debt} {amount} receive={receive} emode={before.emode}"
        if expected != actual:
            stats.mismatches.append(f"{where}: levguard {expected}, contract {actual}")
            return False
        if actual != "ok":
            return False

        def check(what: str, engine: object, contract: object) -> None:
            if engine != contract:
                stats.mismatches.append(f"{where}: {what} levguard {engine} contract {contract}")

        a_coll, a_debt = m.atokens[coll].address, m.atokens[debt].address
        repaid, seized = liquidation_event(receipt, m.pool.address)
        check("debt repaid (event)", result.actual_debt_to_liquidate, repaid)
        check("collateral to liquidator (event)", result.collateral_to_liquidator, seized)
        fee = sum(v for s, d, v in transfers(receipt, a_coll) if (s, d) == (user, m.treasury))
        check("protocol fee", result.liquidation_protocol_fee, fee)
        paid_in = [v for s, d, v in transfers(receipt, m.address(debt)) if (s, d) == (m.liquidator, a_debt)]
        check("debt asset paid by the liquidator", [result.actual_debt_to_liquidate], paid_in)
        got = transfers(receipt, a_coll) if receive else transfers(receipt, m.address(coll))
        received = [v for s, d, v in got if d == m.liquidator and s == (user if receive else a_coll)]
        check("collateral received by the liquidator", [result.collateral_to_liquidator], received)
        check("aToken balance after", result.collateral_after[coll], m.call(m.atokens[coll].functions.balanceOf(user)))
        check("debt balance after", result.debt_after[debt], m.call(m.vtokens[debt].functions.balanceOf(user)))
        if self.deficit:
            grown = {s: self.deficit(m, s) - deficits[s] for s in m.symbols}
            check("deficit", dict(result.deficit), {s: v for s, v in grown.items() if v})

        after = world.account(user)
        if self.stale_borrowing:
            stats.kinds["borrowing flag left at zero debt"] += debt in after.stale_borrowing
        for engine_row, chain_row in zip(result.positions_after, after.rows, strict=True):
            engine_view = (engine_row.collateral, engine_row.debt, engine_row.collateral_enabled)
            chain_view = (chain_row["collateral"], chain_row["debt"], chain_row["use_as_collateral"])
            check(f"{engine_row.symbol} after", engine_view, chain_view)
            if engine_row.debt_ceiling:
                check(f"{engine_row.symbol} isolated debt", engine_row.isolation_mode_total_debt,
                      chain_row["isolation_mode_total_debt"])  # fmt: skip
        if not self.stale_borrowing:
            check("borrowing flags after", set(), set(after.stale_borrowing))
        engine_after = get_user_account_data(result.positions_after, before.emode_category, version=self.version)
        if rng.random() < self.sample_after:  # the chained account data, on a sample (a call is costly)
            stats.kinds["account data after checked"] += 1
            check("account data after", six(engine_after), tuple(m.call(m.pool.functions.getUserAccountData(user))))
        self.tally(stats, Liquidation(before, coll, debt, amount, receive, result))
        return engine_after.health_factor < 10**18

    def liquidate_all(self, world: World, accounts: list[AccountCheck]) -> LiquidationStats:
        """Liquidate every liquidatable account (``trials`` tries from its state, reverted, then one
        kept) and 15 healthy ones in a seeded order, some a second time."""
        rng = random.Random(self.seed + 2)
        stats = LiquidationStats()
        sick = [c.user for c in accounts if c.contract[5] < 10**18 and c.contract[1] > 0]
        healthy = rng.sample([c.user for c in accounts if 10**18 <= c.contract[5] < UINT256_MAX], 15)
        sick_set = set(sick)
        queue = sick + healthy
        rng.shuffle(queue)
        again: list[str] = []
        for user in queue:
            before = world.account(user)
            for _ in range(self.trials if user in sick_set else 1):  # other choices from the same state, reverted
                with world.market.evm.trial():
                    stats.kinds["tried and reverted"] += 1
                    self.liquidate(world, user, rng, stats, before)
            if self.liquidate(world, user, rng, stats, before) and rng.random() < 0.15:
                again.append(user)
        for user in again:
            stats.kinds["second liquidation"] += 1
            self.liquidate(world, user, rng, stats, world.account(user))
        return stats


def assert_indexes_frozen(market: Any) -> None:
    """The reserves' normalized income and variable debt are still the frozen ones."""
    m = market
    for symbol in m.symbols:
        assert m.call(m.pool.functions.getReserveNormalizedIncome(m.address(symbol))) == m.income[symbol]
        assert m.call(m.pool.functions.getReserveNormalizedVariableDebt(m.address(symbol))) == m.debt_index[symbol]
