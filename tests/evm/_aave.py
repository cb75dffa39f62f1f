"""An Aave v3.0.2 market deployed from the npm ``@aave/core-v3`` artifacts on an in-process EVM.

Which Aave
----------
The npm package ``@aave/core-v3@1.19.3`` ships hardhat artifacts (solc 0.8.10, optimizer 100,000
runs, EVM london) of the sources under its ``contracts/``, which are byte-identical to tag
v1.19.3 of github.com/aave/aave-v3-core; ``contracts/`` did not change from there to v1.19.4 and
the repository's last commit 782f5191 ("deprecate for 3.1 origin").  The liquidation fee's 1-wei
clamp came in v1.17.0 (3.0.1), the 3.0.2 changes (zero-LTV collateral, the
``ISOLATED_COLLATERAL_SUPPLIER`` role) in v1.18.0; ``Pool.POOL_REVISION`` is 1.  So the artifacts
are **Aave v3.0.2**, the code levguard's ``version="3.0"`` mirrors (``levguard.core.defi.aave``).

The market
----------
:func:`deploy_market` builds what the protocol's deploy scripts build, through the contracts'
own entry points: PoolAddressesProvider, ACLManager (pool and risk admin roles), the logic
libraries linked into Pool and PoolConfigurator, both behind the provider's proxies, AaveOracle
with one MockAggregator per asset (a price moves by pointing the asset at a new aggregator),
PoolConfigurator.initReserves with AToken / StableDebtToken / VariableDebtToken implementations
and a DefaultReserveInterestRateStrategy per reserve, then collateral parameters, borrowing,
protocol fees, caps, e-mode categories (one with a price source), an isolated asset with a
debt ceiling, assets borrowable in isolation and a siloed asset (:data:`RESERVES`,
:data:`EMODES`).  Two whales borrow half of every reserve and the chain jumps
:data:`ACCRUAL_SECONDS` ahead, so the liquidity and variable-borrow indexes drift away from one
ray, different for every reserve.  Then every reserve is switched to the package's
ZeroReserveInterestRateStrategy and touched once: the indexes freeze where they are, so every
later call sees the same balances whatever the block time (levguard's engine takes the balances
and indexes of one block; it does not model accrual).

Accounts are made in two ways: through the Pool (``supply`` on behalf by a funder holding the
``ISOLATED_COLLATERAL_SUPPLIER`` role, ``setUserEMode`` and ``borrow`` as the user), and by writing the
storage a supply or borrow leaves (scaled balances and the user index in the tokens'
``_userState``, the tokens' scaled total supply, the pool's user configuration bitmap, e-mode
category and the isolated collateral's ``isolationModeTotalDebt``), at the slots the compiler's
own storage layout (the package's build-info) gives.  :func:`read_account` reads either kind
back from the chain state and translates it into levguard's position rows (balance =
``scaledBalance.rayMul(normalized index)``, the contracts' ``balanceOf``).

:class:`Evm` runs it all on one py-evm state in memory (eth-tester's genesis, web3.py contract
objects; transactions as kept message calls, views in reverted snapshots): about half the time
per call of mining a block per transaction through web3.py and eth-tester.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import _aave_common as common
from _aave_common import BASE_UNIT, AccountState, Market, Receipt, ReserveParams, RevertedError, StoredAccount
from eth._utils.address import generate_contract_address
from eth.constants import CREATE_CONTRACT_ADDRESS
from eth.vm.forks import LondonVM
from eth.vm.message import Message
from eth_abi import decode as abi_decode
from eth_tester import EthereumTester, PyEVMBackend
from eth_utils import keccak, to_canonical_address, to_checksum_address
from eth_utils.abi import get_abi_output_types
from web3 import EthereumTesterProvider, Web3
from web3.contract import Contract

from levguard.core.defi.wadray import RAY, ray_div, ray_mul

HERE = Path(__file__).resolve().parent
PACKAGE = HERE / "node_modules" / "@aave" / "core-v3"
ARTIFACTS = PACKAGE / "artifacts" / "contracts"
PACKAGE_VERSION = "1.19.3"
AAVE_VERSION = "3.0.2"
LEVGUARD_VERSION = "3.0"

UINT256_MAX = 2**256 - 1
ZERO = "0x" + "00" * 20
GENESIS_TIMESTAMP = 4_102_444_800  # 2100-01-01: later than the wall clock, so blocks tick by 1 s
ACCRUAL_SECONDS = 2 * 365 * 86_400
CALL_GAS = 50_000_000
# Errors.sol string codes the Pool reverts with are decimal strings.
_ERROR_SELECTOR = keccak(text="Error(string)")[:4]
_PANIC_SELECTOR = keccak(text="Panic(uint256)")[:4]


def available() -> bool:
    """Return whether the npm package's artifacts are installed (``make evm``)."""
    return (ARTIFACTS / "protocol" / "pool" / "Pool.sol" / "Pool.json").is_file()


# ---------------------------------------------------------------------------- artifacts


@functools.cache
def _artifact_index() -> dict[str, Path]:
    index: dict[str, Path] = {}
    for path in ARTIFACTS.rglob("*.json"):
        if not path.name.endswith(".dbg.json"):
            index.setdefault(path.stem, path)
    return index


@functools.cache
def artifact(name: str) -> dict[str, Any]:
    """Return the hardhat artifact (abi, bytecode, linkReferences) of contract ``name``."""
    return dict(json.loads(_artifact_index()[name].read_text()))


@functools.cache
def storage_layouts() -> dict[str, dict[str, Any]]:
    """Return the compiler's storage layouts of Pool, AToken and VariableDebtToken (build-info)."""
    dbg = json.loads((_artifact_index()["Pool"].with_suffix(".dbg.json")).read_text())
    build_info = json.loads((_artifact_index()["Pool"].parent / dbg["buildInfo"]).resolve().read_text())
    wanted = {
        "Pool": "contracts/protocol/pool/Pool.sol",
        "AToken": "contracts/protocol/tokenization/AToken.sol",
        "VariableDebtToken": "contracts/protocol/tokenization/VariableDebtToken.sol",
    }
    return {name: build_info["output"]["contracts"][src][name]["storageLayout"] for name, src in wanted.items()}


def state_slot(contract: str, label: str) -> int:
    """Return the slot of state variable ``label`` of ``contract`` (compiler's storage layout)."""
    for var in storage_layouts()[contract]["storage"]:
        if var["label"] == label:
            return int(var["slot"])
    raise KeyError(f"{contract}.{label}")


def struct_member_slot(contract: str, struct: str, member: str) -> tuple[int, int]:
    """Return (slot within the struct, byte offset) of ``struct.member`` in ``contract``'s layout."""
    for type_name, type_def in storage_layouts()[contract]["types"].items():
        if type_name.startswith(f"t_struct({struct})"):
            for m in type_def["members"]:
                if m["label"] == member:
                    return int(m["slot"]), int(m["offset"])
    raise KeyError(f"{contract}.{struct}.{member}")


def link(
    bytecode: str, link_references: Mapping[str, Mapping[str, Sequence[Mapping[str, int]]]], libs: Mapping[str, str]
) -> str:
    """Write the library addresses into ``bytecode`` at the artifact's link references."""
    code = bytecode
    for names in link_references.values():
        for name, refs in names.items():
            address = libs[name][2:].lower()
            for ref in refs:
                start = 2 + 2 * ref["start"]
                code = code[:start] + address + code[start + 2 * ref["length"] :]
    return code


# ---------------------------------------------------------------------------- the chain


def revert_reason(output: bytes) -> str:
    """Name revert data: the ``Error(string)`` message (Aave's error codes), ``"panic 0x11"`` for
    ``Panic(uint256)``, ``"revert()"`` for none (WadRayMath / PercentageMath), else the hex."""
    if output[:4] == _ERROR_SELECTOR:
        return str(abi_decode(["string"], output[4:])[0])
    if output[:4] == _PANIC_SELECTOR:
        return f"panic 0x{int.from_bytes(output[4:36], 'big'):02x}"
    return output.hex() if output else "revert()"


class Evm:
    """An in-process chain: eth-tester's py-evm genesis, run as one py-evm state in memory.

    eth-tester (``PyEVMBackend``) makes the genesis block with funded accounts; web3.py gives the
    contract objects (ABI encoding).  Everything then runs on the pending block's py-evm state:
    a transaction is the contract call applied as a message whose changes are kept (py-evm
    reverts a failing message's changes itself), a view call runs in a state snapshot that is
    reverted after it, storage is read and written directly.  No block is mined and no trie is
    written per transaction, so the state's caches stay warm: about half the time per call of
    sending transactions through web3.py and eth-tester, which mine a block each.  The block
    context is fixed except by :meth:`time_travel`, which rebuilds the state on a header with a
    later timestamp.  Transaction-level gas and nonces are not charged (msg.sender is the user,
    as in a transaction; Aave reads nothing else of the transaction).
    """

    def __init__(self, num_accounts: int = 10, vm: Any = LondonVM) -> None:
        params = PyEVMBackend.generate_genesis_params(overrides={"timestamp": GENESIS_TIMESTAMP})
        genesis = PyEVMBackend.generate_genesis_state(num_accounts=num_accounts)
        # London: the EVM the artifacts were compiled for (hardhat's evmVersion), and py-evm runs
        # it faster than its default Prague (fewer per-call checks).
        self.backend = PyEVMBackend(genesis_parameters=params, genesis_state=genesis, vm_configuration=((0, vm),))
        self.w3 = Web3(EthereumTesterProvider(EthereumTester(self.backend)))
        self.accounts: list[str] = list(self.w3.eth.accounts)
        self._header = self.backend.chain.header
        self.state: Any = self.backend.chain.get_vm(self._header).state

    @property
    def timestamp(self) -> int:
        return int(self._header.timestamp)

    def time_travel(self, seconds: int) -> None:
        """Move the block timestamp ``seconds`` ahead (the state carries over)."""
        self.persist()
        self._header = self._header.copy(state_root=self.state.state_root, timestamp=self.timestamp + seconds)
        self.state = self.backend.chain.get_vm(self._header).state

    def persist(self) -> None:
        """Flush the state's journals into its trie (later calls then take ~25 % less time)."""
        self.state.persist()

    # -- contracts
    def deploy(
        self, name: str, *args: object, libs: Mapping[str, str] | None = None, sender: str | None = None
    ) -> Contract:
        """Deploy contract ``name`` (its artifact, ``libs`` linked) with constructor ``args``."""
        art = self.artifact(name)
        code = link(art["bytecode"], art["linkReferences"], libs or {})
        init = self.w3.eth.contract(abi=art["abi"], bytecode=code).constructor(*args).data_in_transaction
        origin = to_canonical_address(sender or self.accounts[0])
        address = generate_contract_address(origin, self.state.get_nonce(origin))
        self.state.increment_nonce(origin)
        msg = Message(
            gas=CALL_GAS, to=CREATE_CONTRACT_ADDRESS, sender=origin, value=0, data=b"",
            code=bytes.fromhex(init[2:]), create_address=address,
        )  # fmt: skip
        computation = self.state.computation_class.apply_create_message(self.state, msg, self._context(origin))
        if not computation.is_success:
            raise RevertedError(f"deploying {name}: {self.reason(bytes(computation.output))}")
        return self.at(name, to_checksum_address(address))

    def at(self, name: str, address: str) -> Contract:
        return self.w3.eth.contract(address=to_checksum_address(address), abi=self.artifact(name)["abi"])

    def artifact(self, name: str) -> Mapping[str, Any]:
        """The artifact contract ``name`` is deployed from (the npm package's)."""
        return artifact(name)

    def reason(self, output: bytes) -> str:
        """Name revert data (:func:`revert_reason`)."""
        return revert_reason(output)

    # -- transactions and calls
    def send(self, fn: Any, sender: str) -> Receipt:
        """Execute ``fn`` (a bound contract function) as ``sender``, keeping its changes; return its
        logs or raise :class:`RevertedError` with the revert reason."""
        computation = self._message(fn.address, self._data(fn), sender, keep=True)
        if not computation.is_success:
            raise RevertedError(self.reason(bytes(computation.output)))
        logs = tuple(
            (to_checksum_address(address), tuple(t.to_bytes(32, "big") for t in topics), bytes(data))
            for address, topics, data in computation.get_log_entries()
        )
        return Receipt(logs)

    def call_raw(self, to: str, data: bytes, sender: str | None = None) -> tuple[bool, bytes]:
        """Run ``data`` against ``to`` and revert its changes; return (success, output or revert data)."""
        computation = self._message(to, data, sender, keep=False)
        return computation.is_success, bytes(computation.output)

    def call(self, fn: Any, sender: str | None = None) -> Any:
        """Return the decoded outputs of view call ``fn`` (one value, or a tuple); raise RevertedError."""
        ok, out = self.call_raw(fn.address, self._data(fn), sender)
        if not ok:
            raise RevertedError(self.reason(out))
        values = abi_decode(get_abi_output_types(fn.abi), out)
        return values[0] if len(values) == 1 else values

    @staticmethod
    def _data(fn: Any) -> bytes:
        return bytes.fromhex(fn._encode_transaction_data()[2:])

    def _context(self, origin: bytes) -> Any:
        return self.state.get_transaction_context_class()(gas_price=0, origin=origin)

    def _message(self, to: str, data: bytes, sender: str | None, keep: bool) -> Any:
        state = self.state
        target, origin = to_canonical_address(to), to_canonical_address(sender or self.accounts[0])
        msg = Message(gas=CALL_GAS, to=target, sender=origin, value=0, data=data, code=state.get_code(target))
        if keep:  # apply_message reverts a failing message's changes itself
            return state.computation_class.apply_message(state, msg, self._context(origin))
        snapshot = state.snapshot()
        try:
            return state.computation_class.apply_message(state, msg, self._context(origin))
        finally:
            state.revert(snapshot)

    @contextmanager
    def trial(self) -> Iterator[None]:
        """Run the block's transactions on a snapshot of the state and revert them all after it
        (a liquidation tried from the same account state several ways)."""
        snapshot = self.state.snapshot()
        try:
            yield
        finally:
            self.state.revert(snapshot)

    # -- raw storage
    def storage(self, address: str, slot: int) -> int:
        return int(self.state.get_storage(to_canonical_address(address), slot))

    def write_storage(self, writes: Mapping[tuple[str, int], int]) -> None:
        """Write ``{(address, slot): value}`` into the state."""
        for (address, slot), value in writes.items():
            self.state.set_storage(to_canonical_address(address), slot, value)
        self.persist()


# ---------------------------------------------------------------------------- market config


@dataclass(frozen=True)
class ReserveSpec:
    """One listed asset: token, price and risk parameters (bps), rate model (ray per year)."""

    symbol: str
    decimals: int
    price: int  # base currency, 8 decimals
    ltv: int
    lt: int
    bonus: int
    fee: int  # liquidation protocol fee, bps of the bonus
    emode: int = 0
    debt_ceiling: int = 0  # 0.01 USD units
    borrowable_in_isolation: bool = False
    siloed: bool = False
    base_rate: int = 0
    slope1: int = 4 * 10**25
    whale_usd: int = 100_000_000  # whale A supplies this value; half of it is borrowed


RESERVES: tuple[ReserveSpec, ...] = (
    ReserveSpec("USDC", 6, 100_000_000, 7700, 8000, 10450, 1000, emode=1, borrowable_in_isolation=True),
    ReserveSpec("DAI", 18, 99_980_000, 7500, 8000, 10500, 1000, emode=1, borrowable_in_isolation=True,
                slope1=5 * 10**25),
    ReserveSpec("EURS", 2, 108_000_000, 6500, 7000, 10500, 0, borrowable_in_isolation=True, base_rate=10**25,
                slope1=6 * 10**25),
    ReserveSpec("WBTC", 8, 6_000_000_000_000, 7000, 7500, 10650, 2000, slope1=7 * 10**25),
    ReserveSpec("WETH", 18, 300_000_000_000, 8000, 8250, 10500, 1000, emode=2, slope1=38 * 10**24),
    ReserveSpec("WSTETH", 18, 340_000_000_000, 6900, 7950, 10700, 500, emode=2, slope1=45 * 10**24),
    ReserveSpec("AAVE", 18, 10_000_000_000, 6600, 7300, 10750, 1000, debt_ceiling=100_000_000,
                slope1=9 * 10**25, whale_usd=10_000_000),
    ReserveSpec("SILO", 18, 250_000_000, 0, 0, 0, 0, siloed=True, base_rate=2 * 10**25, slope1=12 * 10**25,
                whale_usd=10_000_000),
)  # fmt: skip
"""Decimals 2, 6, 8 and 18; e-mode 1 (USDC, DAI: category priced by its own source) and 2 (WETH,
WSTETH); AAVE isolated (ceiling 1,000,000.00 USD) with USDC, DAI, EURS borrowable in isolation;
SILO siloed and not a collateral; EURS's LTV is set to 0 after the first accounts (LTV-0
collateral)."""


@dataclass(frozen=True)
class EModeSpec:
    ltv: int
    lt: int
    bonus: int
    source_price: int = 0  # > 0: the category's price source (an AaveOracle asset) at this price
    label: str = ""


EMODES: dict[int, EModeSpec] = {
    1: EModeSpec(9300, 9500, 10100, source_price=100_000_000, label="USD stables"),
    2: EModeSpec(9000, 9300, 10100, label="ETH correlated"),
}
EMODE_SOURCE = to_checksum_address("0x00000000000000000000000000000000000e0de1")
"""The address e-mode 1 prices with (AaveOracle returns its MockAggregator's answer)."""


def _strategy(evm: Evm, provider: str, spec: ReserveSpec) -> Contract:
    # DefaultReserveInterestRateStrategy(provider, optimalUsage, baseVariable, slope1, slope2,
    # stableSlope1, stableSlope2, baseStableOffset, stableExcessOffset, optimalStableToTotal).
    return evm.deploy(
        "DefaultReserveInterestRateStrategy",
        provider,
        8 * RAY // 10,
        spec.base_rate,
        spec.slope1,
        75 * RAY // 100,
        2 * RAY // 100,
        75 * RAY // 100,
        2 * RAY // 100,
        5 * RAY // 100,
        2 * RAY // 10,
    )


def deploy_market(num_users: int = 60) -> Market:
    """Deploy and configure the market, accrue interest on whale positions, freeze the indexes."""
    evm = Evm(num_accounts=6 + num_users)
    admin, treasury, funder = evm.accounts[:3]  # then the liquidator, two whales, users (common.new_market)

    provider = evm.deploy("PoolAddressesProvider", "levguard-test", admin)
    evm.send(provider.functions.setACLAdmin(admin), admin)
    acl = evm.deploy("ACLManager", provider.address)
    evm.send(provider.functions.setACLManager(acl.address), admin)
    evm.send(acl.functions.addPoolAdmin(admin), admin)
    evm.send(acl.functions.addRiskAdmin(admin), admin)
    # ValidationLogic.ISOLATED_COLLATERAL_SUPPLIER_ROLE: supplies on behalf enable isolated collateral.
    evm.send(acl.functions.grantRole(keccak(text="ISOLATED_COLLATERAL_SUPPLIER"), funder), admin)

    libs: dict[str, str] = {}
    for name in ("SupplyLogic", "BorrowLogic", "LiquidationLogic", "EModeLogic", "BridgeLogic", "PoolLogic"):
        libs[name] = evm.deploy(name).address
    libs["FlashLoanLogic"] = evm.deploy("FlashLoanLogic", libs=libs).address
    libs["ConfiguratorLogic"] = evm.deploy("ConfiguratorLogic").address
    pool_impl = evm.deploy("Pool", provider.address, libs=libs)
    evm.send(provider.functions.setPoolImpl(pool_impl.address), admin)
    pool = evm.at("Pool", evm.call(provider.functions.getPool()))
    configurator_impl = evm.deploy("PoolConfigurator", libs=libs)
    evm.send(provider.functions.setPoolConfiguratorImpl(configurator_impl.address), admin)
    configurator = evm.at("PoolConfigurator", evm.call(provider.functions.getPoolConfigurator()))

    tokens = {s.symbol: evm.deploy("MintableERC20", s.symbol, s.symbol, s.decimals) for s in RESERVES}
    assets = [tokens[s.symbol].address for s in RESERVES] + [EMODE_SOURCE]
    prices = [s.price for s in RESERVES] + [EMODES[1].source_price]
    sources = [evm.deploy("MockAggregator", p).address for p in prices]
    oracle = evm.deploy("AaveOracle", provider.address, assets, sources, ZERO, ZERO, BASE_UNIT)
    evm.send(provider.functions.setPriceOracle(oracle.address), admin)
    data_provider = evm.deploy("AaveProtocolDataProvider", provider.address)
    evm.send(provider.functions.setPoolDataProvider(data_provider.address), admin)

    atoken_impl = evm.deploy("AToken", pool.address)
    stable_impl = evm.deploy("StableDebtToken", pool.address)
    variable_impl = evm.deploy("VariableDebtToken", pool.address)
    for s in RESERVES:
        init = (
            atoken_impl.address, stable_impl.address, variable_impl.address, s.decimals,
            _strategy(evm, provider.address, s).address, tokens[s.symbol].address, treasury, ZERO,
            f"Aave {s.symbol}", f"a{s.symbol}", f"Variable debt {s.symbol}", f"variableDebt{s.symbol}",
            f"Stable debt {s.symbol}", f"stableDebt{s.symbol}", b"",
        )  # fmt: skip
        evm.send(configurator.functions.initReserves([init]), admin)
    for category, e in EMODES.items():
        source = EMODE_SOURCE if e.source_price else ZERO
        evm.send(configurator.functions.setEModeCategory(category, e.ltv, e.lt, e.bonus, source, e.label), admin)
    common.configure_reserves(evm, configurator, tokens, admin, RESERVES)
    contracts = (provider, acl, pool, configurator, oracle, data_provider)
    market = common.new_market(evm, contracts, tokens, ("AToken", "VariableDebtToken"), RESERVES)
    _accrue_and_freeze(market)
    return market


def _accrue_and_freeze(market: Market) -> None:
    # Whale A supplies every reserve and borrows half of each (all but SILO); whale B supplies
    # WETH and borrows half of SILO (siloed: alone).  Two years pass; then every reserve moves
    # to the zero-rate strategy and a 1-unit supply makes the pool store the zero rates.
    evm, pool = market.evm, market.pool
    whale_a, whale_b = market.whales
    for s in RESERVES:
        amount = s.whale_usd * BASE_UNIT // s.price * 10**s.decimals
        market.send(pool.functions.supply(market.address(s.symbol), amount, whale_a, 0), whale_a)
    weth = market.specs["WETH"]
    silo_amount = market.specs["SILO"].whale_usd * BASE_UNIT // market.specs["SILO"].price * 10**18
    market.send(
        pool.functions.supply(market.address("WETH"), 50_000_000 * BASE_UNIT // weth.price * 10**18, whale_b, 0),
        whale_b,
    )
    for s in RESERVES:
        amount = s.whale_usd * BASE_UNIT // s.price * 10**s.decimals // 2
        if s.siloed:
            market.send(pool.functions.borrow(market.address(s.symbol), silo_amount // 2, 2, 0, whale_b), whale_b)
        else:
            market.send(pool.functions.borrow(market.address(s.symbol), amount, 2, 0, whale_a), whale_a)
    evm.time_travel(ACCRUAL_SECONDS)
    zero = market.evm.deploy("ZeroReserveInterestRateStrategy", market.provider.address)
    for s in RESERVES:
        a = market.address(s.symbol)
        market.send(market.configurator.functions.setReserveInterestRateStrategyAddress(a, zero.address))
        market.send(pool.functions.supply(a, 1, whale_a, 0), whale_a)
    common.freeze_indexes(market, RESERVES)


# ---------------------------------------------------------------------------- accounts


def read_reserves(market: Market) -> dict[str, ReserveParams]:
    """Read every reserve's configuration, e-mode category and oracle price through the getters."""
    return common.read_reserves(market, asset_emode=True)


def read_emode(market: Market, category: int) -> dict[str, int] | None:
    """Return levguard's e-mode category mapping for ``category`` (None for 0), price source priced."""
    if category == 0:
        return None
    ltv, lt, bonus, source, _label = market.call(market.pool.functions.getEModeCategoryData(category))
    price = market.call(market.oracle.functions.getAssetPrice(to_checksum_address(source))) if int(source, 16) else 0
    return {"ltv": ltv, "lt": lt, "liquidation_bonus": bonus, "price": price}


class Slots:
    """Storage slots of the Pool's and the tokens' per-user state (compiler layout)."""

    def __init__(self) -> None:
        self.users_config = state_slot("Pool", "_usersConfig")
        self.users_emode = state_slot("Pool", "_usersEModeCategory")
        self.reserves = state_slot("Pool", "_reserves")
        self.isolation_debt, offset = struct_member_slot("Pool", "ReserveData", "isolationModeTotalDebt")
        assert offset == 0
        self.a_user = state_slot("AToken", "_userState")
        self.a_total = state_slot("AToken", "_totalSupply")
        self.v_user = state_slot("VariableDebtToken", "_userState")
        self.v_total = state_slot("VariableDebtToken", "_totalSupply")


@functools.cache
def slots() -> Slots:
    return Slots()


_LOW128 = 2**128 - 1


def isolation_mode_total_debt(market: Market, symbol: str) -> int:
    """Read ``ReserveData.isolationModeTotalDebt`` of ``symbol`` from the pool's storage."""
    sl = slots()
    slot = common.mapping_slot(market.address(symbol), sl.reserves) + sl.isolation_debt
    return market.evm.storage(market.pool.address, slot) & _LOW128


def read_account(
    market: Market, user: str, reserves: Mapping[str, ReserveParams], emodes: Mapping[int, dict[str, int] | None]
) -> AccountState:
    """Read ``user``'s storage (bitmap, e-mode, scaled balances) and build levguard's rows.

    One row per reserve (untouched ones with zero balances and the flag off);
    ``collateral`` and ``debt`` are ``scaled.rayMul(index)`` with the reserve's frozen
    normalized income / debt, as the tokens' ``balanceOf`` computes them, and the indexes go
    along for the exact scaled burns.  ``emodes`` maps category ids to :func:`read_emode`.
    """

    def emode_rows(emode: int, rid: int, r: ReserveParams) -> dict[str, object]:
        return {"in_emode": emode != 0 and r.emode == emode}

    config, emode, coll, debt, rows, stale = common.read_account(
        market, user, reserves, _storage(), emode_rows, isolation_mode_total_debt
    )
    return AccountState(user, config, emode, coll, debt, rows, emodes[emode], stale)


@functools.cache
def _storage() -> common.Storage:
    # v3.0: uint128 scaled balances, rayMul / rayDiv half up both ways.
    return common.Storage(slots(), _LOW128, ray_mul, ray_mul, ray_div, ray_div)


def write_accounts(market: Market, accounts: Iterable[StoredAccount]) -> None:
    """Write accounts into storage as supplies and borrows at the frozen indexes would leave them.

    Per user: aToken and variable-debt ``_userState`` (scaled balance | index << 128), the
    pool's configuration bitmap and e-mode category; per reserve: the tokens' scaled totals,
    the isolated collateral's ``isolationModeTotalDebt`` (+ debt / 10**(decimals - 2) per
    borrow) and the underlying the aToken holds (minted to it, so liquidations can pay out).
    """
    evm, sl = market.evm, slots()

    def reserve_writes(sym: str, iso_debt: int, underlying: int) -> dict[tuple[str, int], int]:
        if not iso_debt:
            return {}
        base = common.mapping_slot(market.address(sym), sl.reserves) + sl.isolation_debt
        return {(market.pool.address, base): evm.storage(market.pool.address, base) + iso_debt}

    common.write_accounts(market, accounts, _storage(), reserve_writes)
