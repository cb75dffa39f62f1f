"""An Aave v3.6 market compiled from npm ``@aave-dao/aave-v3-origin@3.6.0``, on an in-process EVM.

Which Aave
----------
The npm package ships the Solidity sources of aave-dao/aave-v3-origin (its ``src/contracts``
equals tag v3.6.0, commit 5a230ec8); ``build.py`` target ``aave-v3-origin`` compiles the pieces
a market needs with that tag's ``foundry.toml`` settings (solc 0.8.27, optimizer 200 runs, EVM
shanghai, no metadata hash).  ``PoolInstance.POOL_REVISION`` is 10.  levguard runs it as
``version="3.6"`` (:data:`LEVGUARD_VERSION`).

The market
----------
:func:`deploy_market` builds what the repository's deploy procedures build
(``src/deployments/contracts/procedures``): PoolAddressesProvider, ACLManager, one
DefaultReserveInterestRateStrategyV2 for the pool, the logic libraries (BorrowLogic,
ConfiguratorLogic, FlashLoanLogic, LiquidationLogic, PoolLogic, SupplyLogic) linked into
PoolInstance and PoolConfiguratorInstance behind the provider's proxies, AaveOracle over
MockAggregators, ``initReserves`` with ATokenInstance / VariableDebtTokenInstance
implementations and per-reserve rate data, then collateral parameters, e-mode categories with
collateral, borrowable and (3.6) ltvzero bitmaps, caps, fees, an isolated asset, assets
borrowable in isolation, a siloed asset and an asset that is collateral only inside e-mode
(``lt = 0`` outside: 3.6's decoupled e-mode).  Whales borrow, two years pass, then every
reserve's rate data is set to zero slopes (``setReserveInterestRateData``): the indexes freeze
above one ray.

Accounts are written into storage (the compiler's storage layout from the build): scaled
balances and user indexes in the tokens' ``_userState`` (``uint120`` balance), the tokens'
scaled totals, the pool's configuration bitmap, e-mode category, ``isolationModeTotalDebt`` and
``virtualUnderlyingBalance`` (v3.4+ virtual accounting: a liquidation's collateral leaves it),
and the underlying held by the aToken.  :func:`read_account` turns them into levguard rows with
v3.5+ balances (aToken ``rayMulFloor``, debt ``rayMulCeil``: ``balance_rounding="directed"``).

:class:`OriginEvm` is :class:`_aave.Evm` (one py-evm state, transactions as kept messages) on
the Shanghai VM the build targets, deploying from the build's artifacts.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import _aave
import _aave_common as common
from _aave_common import AccountState, Market, ReserveParams, StoredAccount
from eth.vm.forks import ShanghaiVM
from eth_abi import encode as abi_encode
from eth_utils import keccak
from web3.providers.base import BaseProvider

from levguard.core.defi.wadray import ray_div_ceil, ray_div_floor, ray_mul_ceil, ray_mul_floor

TARGET = "aave-v3-origin"
PACKAGE_VERSION = "3.6.0"
POOL_REVISION = 10
LEVGUARD_VERSION = "3.6"
ZERO = "0x" + "00" * 20
BASE_UNIT = _aave.BASE_UNIT
ACCRUAL_SECONDS = _aave.ACCRUAL_SECONDS
_LOW120 = 2**120 - 1
_LOW128 = 2**128 - 1


# ---------------------------------------------------------------------------- the chain


class OriginEvm(_aave.Evm):
    """:class:`_aave.Evm` on the Shanghai VM, deploying the ``aave-v3-origin`` build's contracts."""

    def __init__(self, artifacts: Mapping[str, Mapping[str, Any]], num_accounts: int = 10) -> None:
        super().__init__(num_accounts, vm=ShanghaiVM)
        self.artifacts = artifacts
        signatures = (f"{e['name']}({','.join(i['type'] for i in e['inputs'])})" for e in artifacts["Errors"]["abi"])
        self.errors: dict[bytes, str] = {keccak(text=sig)[:4]: sig.split("(")[0] for sig in signatures}

    def artifact(self, name: str) -> Mapping[str, Any]:
        """The build's artifact of contract ``name``."""
        return self.artifacts[name]

    def reason(self, output: bytes) -> str:
        """Name revert data: a custom error of ``Errors.sol`` by name, else :func:`_aave.revert_reason`."""
        if output[:4] in self.errors:  # arguments, if any, left out
            return self.errors[output[:4]]
        return _aave.revert_reason(output)


class EvmProvider(BaseProvider):
    """A web3.py provider that answers JSON-RPC from an :class:`OriginEvm`'s state.

    Enough for a reader (``levguard.venues.onchain_read``): ``eth_call`` (run on the state and
    reverted; a revert is the JSON-RPC error ``3 execution reverted`` with its data, which web3
    raises as ``ContractLogicError``), ``eth_getBlockByNumber`` / ``eth_blockNumber`` (the pending
    block the state is at; any block tag reads the same state) and ``eth_chainId``.
    """

    def __init__(self, evm: OriginEvm) -> None:
        super().__init__()
        self.evm = evm
        self.calls: Counter[str] = Counter()

    def make_request(self, method: Any, params: Any) -> Any:
        self.calls[str(method)] += 1
        header = self.evm._header
        if method == "eth_chainId":
            return {"jsonrpc": "2.0", "id": 1, "result": hex(self.evm.backend.chain.chain_id)}
        if method == "eth_blockNumber":
            return {"jsonrpc": "2.0", "id": 1, "result": hex(header.block_number)}
        if method == "eth_getBlockByNumber":
            block = {"number": hex(header.block_number), "timestamp": hex(header.timestamp),
                     "hash": "0x" + header.hash.hex(), "gasLimit": hex(header.gas_limit)}  # fmt: skip
            return {"jsonrpc": "2.0", "id": 1, "result": block}
        if method == "eth_call":
            tx = params[0]
            data = tx.get("data") or tx.get("input") or "0x"
            ok, out = self.evm.call_raw(tx["to"], bytes.fromhex(data[2:]), tx.get("from"))
            if ok:
                return {"jsonrpc": "2.0", "id": 1, "result": "0x" + out.hex()}
            error = {"code": 3, "message": "execution reverted", "data": "0x" + out.hex()}
            return {"jsonrpc": "2.0", "id": 1, "error": error}
        raise NotImplementedError(f"EvmProvider does not answer {method}")

    def is_connected(self, show_traceback: bool = False) -> bool:
        return True


# ---------------------------------------------------------------------------- market config


@dataclass(frozen=True)
class ReserveSpec:
    """One listed asset: token, price (8 decimals), risk parameters (bps), rate data (bps)."""

    symbol: str
    decimals: int
    price: int
    ltv: int
    lt: int
    bonus: int
    fee: int
    debt_ceiling: int = 0
    borrowable_in_isolation: bool = False
    siloed: bool = False
    slope1: int = 400
    whale_usd: int = 100_000_000


RESERVES: tuple[ReserveSpec, ...] = (
    ReserveSpec("USDC", 6, 100_000_000, 7700, 8000, 10450, 1000, borrowable_in_isolation=True),
    ReserveSpec("DAI", 18, 99_980_000, 7500, 8000, 10500, 1000, borrowable_in_isolation=True, slope1=500),
    ReserveSpec("EURS", 6, 108_000_000, 6500, 7000, 10500, 0, borrowable_in_isolation=True, slope1=600),
    ReserveSpec("WBTC", 8, 6_000_000_000_000, 7000, 7500, 10650, 2000, slope1=700),
    ReserveSpec("WETH", 18, 300_000_000_000, 8000, 8250, 10500, 1000, slope1=380),
    ReserveSpec("WSTETH", 18, 340_000_000_000, 6900, 7950, 10700, 500, slope1=450),
    ReserveSpec("AAVE", 18, 10_000_000_000, 6600, 7300, 10750, 1000, debt_ceiling=100_000_000, slope1=900,
                whale_usd=10_000_000),
    ReserveSpec("SILO", 18, 250_000_000, 0, 0, 0, 0, siloed=True, slope1=1200, whale_usd=10_000_000),
    ReserveSpec("RETH", 18, 330_000_000_000, 0, 0, 0, 1000, slope1=450, whale_usd=10_000_000),
)  # fmt: skip
"""Decimals 6, 8 and 18 (v3.4+ lists no token with fewer than 6: ConfiguratorLogic ``InvalidDecimals``); AAVE isolated (ceiling 1,000,000.00 USD) with USDC, DAI, EURS
borrowable in isolation; SILO siloed and no collateral; RETH no collateral outside e-mode but
collateral in e-mode 2 (3.6); EURS's LTV is set to 0 later (LTV-0 collateral outside e-mode)."""


@dataclass(frozen=True)
class EModeSpec:
    ltv: int
    lt: int
    bonus: int
    collateral: tuple[str, ...]
    borrowable: tuple[str, ...]
    ltvzero: tuple[str, ...] = ()
    label: str = ""


EMODES: dict[int, EModeSpec] = {
    1: EModeSpec(9300, 9500, 10100, ("USDC", "DAI"), ("USDC", "DAI"), label="USD stables"),
    2: EModeSpec(9000, 9300, 10100, ("WETH", "WSTETH", "RETH"), ("WETH", "WSTETH"), ("WSTETH",), "ETH correlated"),
    3: EModeSpec(8000, 8500, 10400, ("WBTC", "WETH"), ("USDC",), label="majors for USDC"),
}
"""Overlapping categories (WETH in 2 and 3); WSTETH is in category 2's ltvzero bitmap (3.6)."""


def rate_data(optimal: int, base: int, slope1: int, slope2: int) -> bytes:
    """``abi.encode(IDefaultInterestRateStrategyV2.InterestRateData)`` (bps; uint16, uint32 x 3)."""
    return abi_encode(["(uint16,uint32,uint32,uint32)"], [(optimal, base, slope1, slope2)])


LIBRARIES = ("BorrowLogic", "ConfiguratorLogic", "LiquidationLogic", "PoolLogic", "SupplyLogic")


def deploy_market(artifacts: Mapping[str, Mapping[str, Any]], num_users: int = 10) -> Market:
    """Deploy and configure the market, accrue interest on whale positions, freeze the indexes."""
    evm = OriginEvm(artifacts, num_accounts=6 + num_users)
    admin, treasury = evm.accounts[:2]  # then the funder, the liquidator, two whales, users (common.new_market)

    provider = evm.deploy("PoolAddressesProvider", "levguard-test", admin)  # AaveV3SetupProcedure
    strategy = evm.deploy("DefaultReserveInterestRateStrategyV2", provider.address)
    evm.send(provider.functions.setACLAdmin(admin), admin)
    acl = evm.deploy("ACLManager", provider.address)
    evm.send(provider.functions.setACLManager(acl.address), admin)
    evm.send(acl.functions.addPoolAdmin(admin), admin)
    evm.send(acl.functions.addRiskAdmin(admin), admin)

    libs = {name: evm.deploy(name).address for name in LIBRARIES}  # AaveV3LibrariesBatch1 / 2
    libs["FlashLoanLogic"] = evm.deploy("FlashLoanLogic", libs=libs).address
    oracle_assets: list[str] = []
    tokens = {s.symbol: evm.deploy("MintableERC20", s.symbol, s.symbol, s.decimals) for s in RESERVES}
    oracle_assets = [tokens[s.symbol].address for s in RESERVES]
    sources = [evm.deploy("MockAggregator", s.price).address for s in RESERVES]
    oracle = evm.deploy("AaveOracle", provider.address, oracle_assets, sources, ZERO, ZERO, BASE_UNIT)
    evm.send(provider.functions.setPriceOracle(oracle.address), admin)
    pool_impl = evm.deploy("PoolInstance", provider.address, strategy.address, libs=libs)
    evm.send(provider.functions.setPoolImpl(pool_impl.address), admin)
    configurator_impl = evm.deploy("PoolConfiguratorInstance", libs=libs)
    evm.send(provider.functions.setPoolConfiguratorImpl(configurator_impl.address), admin)
    pool = evm.at("PoolInstance", evm.call(provider.functions.getPool()))
    configurator = evm.at("PoolConfiguratorInstance", evm.call(provider.functions.getPoolConfigurator()))
    data_provider = evm.deploy("AaveProtocolDataProvider", provider.address)
    evm.send(provider.functions.setPoolDataProvider(data_provider.address), admin)

    atoken_impl = evm.deploy("ATokenInstance", pool.address, ZERO, treasury)  # AaveV3TokensProcedure
    variable_impl = evm.deploy("VariableDebtTokenInstance", pool.address, ZERO)
    cfg = configurator.functions
    for s in RESERVES:
        init = (
            atoken_impl.address, variable_impl.address, tokens[s.symbol].address,
            f"Aave {s.symbol}", f"a{s.symbol}", f"Variable debt {s.symbol}", f"variableDebt{s.symbol}", b"",
            rate_data(8000, 0, s.slope1, 7500),
        )  # fmt: skip
        evm.send(cfg.initReserves([init]), admin)
    common.configure_reserves(evm, configurator, tokens, admin, RESERVES)
    for category, e in EMODES.items():
        evm.send(cfg.setEModeCategory(category, e.ltv, e.lt, e.bonus, e.label), admin)
        for sym in e.collateral:
            evm.send(cfg.setAssetCollateralInEMode(tokens[sym].address, category, True), admin)
        for sym in e.borrowable:
            evm.send(cfg.setAssetBorrowableInEMode(tokens[sym].address, category, True), admin)
        for sym in e.ltvzero:
            evm.send(cfg.setAssetLtvzeroInEMode(tokens[sym].address, category, True), admin)

    contracts = (provider, acl, pool, configurator, oracle, data_provider)
    market = common.new_market(evm, contracts, tokens, ("ATokenInstance", "VariableDebtTokenInstance"), RESERVES)
    _accrue_and_freeze(market)
    return market


def _accrue_and_freeze(market: Market) -> None:
    # Whale A supplies every reserve and borrows half of each (not SILO); whale B supplies WETH
    # and borrows half of SILO (siloed).  Two years pass; zero-slope rate data freezes the indexes.
    pool = market.pool.functions
    whale_a, whale_b = market.whales
    for s in RESERVES:
        amount = s.whale_usd * BASE_UNIT // s.price * 10**s.decimals
        market.send(pool.supply(market.address(s.symbol), amount, whale_a, 0), whale_a)
    weth = market.specs["WETH"]
    market.send(pool.supply(market.address("WETH"), 50_000_000 * BASE_UNIT // weth.price * 10**18, whale_b, 0), whale_b)
    for s in RESERVES:
        amount = s.whale_usd * BASE_UNIT // s.price * 10**s.decimals // 2
        borrower = whale_b if s.siloed else whale_a
        market.send(pool.borrow(market.address(s.symbol), amount, 2, 0, borrower), borrower)
    market.evm.time_travel(ACCRUAL_SECONDS)
    for s in RESERVES:
        a = market.address(s.symbol)
        market.send(market.configurator.functions.setReserveInterestRateData(a, rate_data(8000, 0, 0, 0)))
    common.freeze_indexes(market, RESERVES)


# ---------------------------------------------------------------------------- storage layout


class Slots:
    """Storage slots of the pool's and the tokens' per-user state (the build's storage layouts)."""

    def __init__(self, artifacts: Mapping[str, Mapping[str, Any]]) -> None:
        pool, atoken = artifacts["PoolInstance"]["storageLayout"], artifacts["ATokenInstance"]["storageLayout"]
        vtoken = artifacts["VariableDebtTokenInstance"]["storageLayout"]
        self.users_config = _slot(pool, "_usersConfig")
        self.users_emode = _slot(pool, "_usersEModeCategory")
        self.reserves = _slot(pool, "_reserves")
        self.isolation_debt = _member(pool, "ReserveData", "isolationModeTotalDebt")
        self.virtual_balance = _member(pool, "ReserveData", "virtualUnderlyingBalance")
        self.deficit = _member(pool, "ReserveData", "deficit")
        self.a_user, self.a_total = _slot(atoken, "_userState"), _slot(atoken, "_totalSupply")
        self.v_user, self.v_total = _slot(vtoken, "_userState"), _slot(vtoken, "_totalSupply")
        assert _member(atoken, "UserState", "balance") == (0, 0)
        assert _member(atoken, "UserState", "additionalData") == (0, 16)


def _slot(layout: Mapping[str, Any], label: str) -> int:
    return next(int(v["slot"]) for v in layout["storage"] if v["label"] == label)


def _member(layout: Mapping[str, Any], struct: str, member: str) -> tuple[int, int]:
    for name, t in layout["types"].items():
        if name.startswith(f"t_struct({struct})"):
            m = next(m for m in t["members"] if m["label"] == member)
            return int(m["slot"]), int(m["offset"])
    raise KeyError(f"{struct}.{member}")


def slots(market: Market) -> Slots:
    """The :class:`Slots` of ``market``'s build (cached on the chain object)."""
    cached = getattr(market.evm, "_slots", None)
    if cached is None:
        cached = Slots(market.evm.artifacts)
        market.evm._slots = cached  # type: ignore[attr-defined]
    return cached


def _reserve_word(market: Market, symbol: str, member: tuple[int, int]) -> tuple[int, int, int]:
    # (slot, current word, bit shift) of a uint128 member of the reserve's ReserveData.
    slot = common.mapping_slot(market.address(symbol), slots(market).reserves) + member[0]
    return slot, market.evm.storage(market.pool.address, slot), 8 * member[1]


def reserve_deficit(market: Market, symbol: str) -> int:
    """``ReserveData.deficit`` of ``symbol`` from the pool's storage (``Pool.getReserveDeficit``)."""
    _, word, shift = _reserve_word(market, symbol, slots(market).deficit)
    return word >> shift & _LOW128


def isolation_mode_total_debt(market: Market, symbol: str) -> int:
    """``ReserveData.isolationModeTotalDebt`` of ``symbol`` from the pool's storage."""
    _, word, shift = _reserve_word(market, symbol, slots(market).isolation_debt)
    return word >> shift & _LOW128


# ---------------------------------------------------------------------------- reading accounts


def read_reserves(market: Market) -> dict[str, ReserveParams]:
    """Read every reserve's configuration and oracle price through the protocol's getters."""
    return common.read_reserves(market, asset_emode=False)


@dataclass(frozen=True)
class EModeParams:
    """A category as the 3.2+ getters give it: LTV, threshold, bonus and the three bitmaps."""

    ltv: int
    lt: int
    bonus: int
    collateral: int
    borrowable: int
    ltvzero: int

    @property
    def category(self) -> dict[str, int]:
        return {"ltv": self.ltv, "lt": self.lt, "liquidation_bonus": self.bonus}


def read_emodes(market: Market) -> dict[int, EModeParams]:
    """Read every category of :data:`EMODES` (getEModeCategoryCollateralConfig and the bitmaps)."""
    pool = market.pool.functions
    out = {}
    for c in EMODES:
        ltv, lt, bonus = market.call(pool.getEModeCategoryCollateralConfig(c))
        out[c] = EModeParams(
            ltv, lt, bonus,
            market.call(pool.getEModeCategoryCollateralBitmap(c)),
            market.call(pool.getEModeCategoryBorrowableBitmap(c)),
            market.call(pool.getEModeCategoryLtvzeroBitmap(c)),
        )  # fmt: skip
    return out


def read_account(
    market: Market, user: str, reserves: Mapping[str, ReserveParams], emodes: Mapping[int, EModeParams]
) -> AccountState:
    """Read ``user``'s storage and build levguard's rows (one per reserve), v3.5+ balances.

    ``collateral = rayMulFloor(scaled, income)`` and ``debt = rayMulCeil(scaled, debt index)``
    (TokenMath.getATokenBalance / getVTokenBalance, what ``balanceOf`` returns); ``in_emode``,
    ``emode_borrowable`` and ``emode_ltvzero`` are the user's category's bitmap bits.
    """

    def emode_rows(emode: int, rid: int, r: ReserveParams) -> dict[str, object]:
        category = emodes.get(emode)
        return {
            "in_emode": bool(category and category.collateral >> rid & 1),
            "emode_borrowable": bool(category and category.borrowable >> rid & 1),
            "emode_ltvzero": bool(category and category.ltvzero >> rid & 1),
            "balance_rounding": "directed",
        }

    config, emode, coll, debt, rows, stale = common.read_account(
        market, user, reserves, _storage(market), emode_rows, isolation_mode_total_debt
    )
    category = emodes.get(emode)
    return AccountState(user, config, emode, coll, debt, rows, category.category if category else None, stale)


def _storage(market: Market) -> common.Storage:
    # v3.5+: uint120 scaled balances; aToken balances round down, debt up (TokenMath).
    return common.Storage(slots(market), _LOW120, ray_mul_floor, ray_mul_ceil, ray_div_floor, ray_div_ceil)


def write_accounts(market: Market, accounts: Iterable[StoredAccount]) -> None:
    """Write accounts into storage as supplies and borrows at the frozen indexes would leave them.

    Per user: aToken and variable-debt ``_userState`` (``uint120`` scaled balance | index << 128;
    scaled = ``rayDivFloor`` of the supply, ``rayDivCeil`` of the borrow, as TokenMath mints),
    the pool's configuration bitmap and e-mode category; per reserve: the tokens' scaled totals,
    ``isolationModeTotalDebt`` of the isolated collateral, ``virtualUnderlyingBalance`` (+ the
    supplies: a liquidation takes the seized collateral out of it) and the underlying the aToken
    holds (minted to it, so liquidations can pay out).
    """
    sl = slots(market)

    def reserve_writes(sym: str, iso_debt: int, underlying: int) -> dict[tuple[str, int], int]:
        writes: dict[tuple[str, int], int] = {}
        for member, add in ((sl.isolation_debt, iso_debt), (sl.virtual_balance, underlying)):
            if add:
                slot, word, shift = _reserve_word(market, sym, member)
                value = (word >> shift & _LOW128) + add
                assert value <= _LOW128
                writes[(market.pool.address, slot)] = word & ~(_LOW128 << shift) | value << shift
        return writes

    common.write_accounts(market, accounts, _storage(market), reserve_writes)
