"""An Aave v3 market and a Morpho Blue market on one in-process chain, with a wallet holding a
borrow position in each: the fixture of the on-chain guardian's tests.

Everything goes through web3.py and JSON-RPC semantics (:class:`Chain`: ``EthereumTesterProvider``,
a block per transaction), because the guardian reads and writes the chain that way
(``levguard.venues.onchain``); ``_aave.Evm`` runs on a detached py-evm state instead, so only
``_aave``'s artifact loader and linker are used here.

* **Aave v3.0.2** from the npm ``@aave/core-v3`` artifacts (``tests/evm/_aave.py`` explains
  which Aave they are), deployed the way :func:`_aave.deploy_market` does it, smaller: three
  reserves (WETH, USDC, DAI) with the ``DefaultReserveInterestRateStrategy`` (interest accrues
  every block, as on a real chain).  WETH is priced by :file:`contracts/RoundAggregatorMock.sol`
  (a Chainlink-style feed with ``latestRoundData``), USDC and DAI by the package's
  ``MockAggregator`` (``latestAnswer`` only: no round data, staleness unknown).
* **Morpho Blue 1.0.0** compiled from the npm package (``build.py``), a WETH/USDC market at
  86 % LLTV with the package's ``OracleMock`` and ``IrmMock``; the tokens are Aave's
  ``MintableERC20`` (they have ``decimals()`` and ``symbol()``, as real tokens do; Morpho's own
  ``ERC20Mock`` has neither).
* **The wallet** is a fresh key added to the chain: it supplies 10 WETH and borrows USDC to a
  health factor of about 1.6 on each protocol, and keeps the borrowed USDC.

:meth:`ChainPositions.set_weth_price` moves the collateral price on both protocols at once (the
scripted crash); :func:`open_zero_rate_market` adds a Morpho market without interest (for exact
health boundaries); :func:`deploy_swapper` adds :file:`contracts/OracleSwapMock.sol` (a swap at the
AaveOracle's prices less a fee, funded with both tokens) and :func:`loop_positions` turns both
positions into loops (the borrowed USDC sold for WETH and supplied again, the wallet left empty).
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

pytest.importorskip("eth_tester")
pytest.importorskip("web3")

import _aave
from eth_abi import encode as abi_encode
from eth_account import Account
from eth_utils import keccak, to_checksum_address

HERE = Path(__file__).resolve().parent
TARGET = "chain-positions"
SETTINGS: dict[str, Any] = {"optimizer": {"enabled": True, "runs": 200}, "evmVersion": "paris"}
CONTRACTS = {
    "RoundAggregatorMock": "contracts/RoundAggregatorMock.sol",
    "OracleSwapMock": "contracts/OracleSwapMock.sol",
}

WALLET_KEY = "0x" + keccak(text="levguard on-chain guardian test wallet").hex()
"""The wallet's private key (a test key: derived from a fixed phrase, holds nothing anywhere)."""
UINT256_MAX = 2**256 - 1
ZERO = "0x" + "00" * 20
BASE_UNIT = 10**8  # AaveOracle's base currency unit (USD, 8 decimals)
GENESIS_TIMESTAMP = 4_102_444_800  # 2100-01-01: later than the wall clock, so blocks tick by 1 s
WAD = 10**18
ORACLE_PRICE_SCALE = 10**36
WETH_PRICE = 3_000  # USD per WETH at the start
MORPHO_LLTV = 86 * 10**16
HF_START = 1.6  # the wallet's health factor at the start on both protocols


def _build_module() -> ModuleType:
    # tests/evm/build.py (the other helpers' build script, used read-only) under its private name.
    name = "_levguard_evm_build"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, HERE / "build.py")
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def mock_artifact(name: str) -> dict[str, Any]:
    """Compile the test contracts (``CONTRACTS``) with the npm solc (cached in .build/) and return
    ``name``'s artifact; skip without node and without a current cached build."""
    build = _build_module()
    out = build.BUILD_DIR / f"{TARGET}.json"
    if shutil.which("node") is None or not build.NODE_MODULES.is_dir():
        if not out.is_file():
            pytest.skip("node or tests/evm/node_modules missing: the test contracts cannot be compiled")
    else:
        sources = {unit: (HERE / unit).read_text() for unit in CONTRACTS.values()}
        build.compile_target(TARGET, sources, SETTINGS, CONTRACTS)
    contracts = json.loads(out.read_text())["contracts"]
    if name not in contracts:
        pytest.skip(f"{name} is not in the cached build and node is missing to compile it")
    return dict(contracts[name])


def aggregator_artifact() -> dict[str, Any]:
    """contracts/RoundAggregatorMock.sol (:func:`mock_artifact`)."""
    return mock_artifact("RoundAggregatorMock")


@dataclass
class ChainPositions:
    """The deployed contracts, the wallet and the helpers the tests drive them with."""

    evm: Chain
    w3: Any
    wallet: str
    liquidator: str
    lender: str
    admin: str
    # Aave
    pool: Any
    oracle: Any
    tokens: dict[str, Any]
    weth_feed: Any
    # Morpho
    morpho: Any
    morpho_oracle: Any
    irm: Any
    market_params: tuple[str, str, str, str, int]
    market_id: bytes

    def send(self, fn: Any, sender: str | None = None) -> Any:
        """Send a contract call as a transaction (a revert raises AssertionError with its reason)."""
        return self.evm.send(fn, sender or self.admin)

    def weth_morpho_price(self, usd: float) -> int:
        """Morpho's oracle price of WETH at ``usd`` USDC: ``1e36 * usd * 10**6 / 10**18``."""
        return round(usd * 10**6) * ORACLE_PRICE_SCALE // 10**18

    def set_weth_price(self, usd: float) -> None:
        """Move WETH to ``usd`` on both protocols (the Aave feed's new round, Morpho's oracle)."""
        self.send(self.weth_feed.functions.setAnswer(round(usd * 10**8)))
        self.send(self.morpho_oracle.functions.setPrice(self.weth_morpho_price(usd)))

    def configurator(self) -> Any:
        """Aave's ``PoolConfigurator`` (the admin is pool and risk admin: it sends as the default)."""
        provider = self.evm.at("PoolAddressesProvider", self.pool.functions.ADDRESSES_PROVIDER().call())
        return self.evm.at("PoolConfigurator", provider.functions.getPoolConfigurator().call())

    def aave_health_factor(self) -> int:
        """``Pool.getUserAccountData(wallet).healthFactor`` at the latest block (wad)."""
        return int(self.pool.functions.getUserAccountData(self.wallet).call()[5])

    def morpho_position(self) -> tuple[int, int, int]:
        """``Morpho.position(id, wallet)``: (supplyShares, borrowShares, collateral)."""
        return tuple(self.morpho.functions.position(self.market_id, self.wallet).call())  # type: ignore[return-value]

    def nonce(self) -> int:
        return int(self.w3.eth.get_transaction_count(self.wallet))

    def aave_liquidation_reverts(self) -> str | None:
        """Try ``liquidationCall`` (half the debt) as the liquidator in a call: the revert reason,
        or None when it would succeed (the position is liquidatable)."""
        debt = int(self.tokens["vUSDC"].functions.balanceOf(self.wallet).call())
        fn = self.pool.functions.liquidationCall(
            self.tokens["WETH"].address, self.tokens["USDC"].address, self.wallet, debt // 2, False
        )
        return _call_revert(self.evm, fn, self.liquidator)

    def morpho_liquidation_reverts(self) -> str | None:
        """Try ``Morpho.liquidate`` (a tenth of the borrow shares) as the liquidator in a call."""
        _, shares, _ = self.morpho_position()
        fn = self.morpho.functions.liquidate(self.market_params, self.wallet, 0, max(shares // 10, 1), b"")
        return _call_revert(self.evm, fn, self.liquidator)


def _call_revert(evm: Chain, fn: Any, sender: str) -> str | None:
    ok, reason = evm.call_raw(fn, sender)
    return None if ok else reason


class Chain:
    """eth-tester (py-evm) behind web3.py's ``EthereumTesterProvider``: every transaction is
    mined in its own block, every call is an ``eth_call``, as a JSON-RPC node answers them."""

    def __init__(self, num_accounts: int = 6) -> None:
        from eth_tester import EthereumTester, PyEVMBackend
        from web3 import EthereumTesterProvider, Web3

        params = PyEVMBackend.generate_genesis_params(overrides={"timestamp": GENESIS_TIMESTAMP})
        genesis = PyEVMBackend.generate_genesis_state(num_accounts=num_accounts)
        self.backend = PyEVMBackend(genesis_parameters=params, genesis_state=genesis)
        self.tester = EthereumTester(self.backend)
        self.w3 = Web3(EthereumTesterProvider(self.tester))
        self.accounts: list[str] = list(self.w3.eth.accounts)

    def deploy(self, name: str, *args: Any, libs: dict[str, str] | None = None, sender: str | None = None) -> Any:
        """Deploy the Aave artifact ``name`` (``libs`` linked) with constructor ``args``."""
        art = _aave.artifact(name)
        code = _aave.link(art["bytecode"], art["linkReferences"], libs or {})
        return self.deploy_artifact({"abi": art["abi"], "bytecode": code}, *args, sender=sender)

    def deploy_artifact(self, artifact: dict[str, Any], *args: Any, sender: str | None = None) -> Any:
        factory = self.w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
        tx = factory.constructor(*args).transact({"from": sender or self.accounts[0], "gas": 25_000_000})
        receipt = self.w3.eth.get_transaction_receipt(tx)
        assert receipt["status"] == 1, f"deploying failed: {receipt}"
        return self.w3.eth.contract(address=receipt["contractAddress"], abi=artifact["abi"])

    def at(self, name: str, address: str) -> Any:
        return self.w3.eth.contract(address=to_checksum_address(address), abi=_aave.artifact(name)["abi"])

    def send(self, fn: Any, sender: str, gas: int = 12_000_000) -> Any:
        """Send ``fn`` as ``sender``; AssertionError with the revert reason when it reverts."""
        from eth_tester.exceptions import TransactionFailed

        try:
            tx = fn.transact({"from": sender, "gas": gas})
        except TransactionFailed as exc:
            raise AssertionError(f"transaction reverted: {exc}") from exc
        receipt = self.w3.eth.get_transaction_receipt(tx)
        if receipt["status"] != 1:
            raise AssertionError(f"transaction reverted: {self.call_raw(fn, sender)[1]}")
        return receipt

    def call_raw(self, fn: Any, sender: str) -> tuple[bool, str]:
        """``eth_call`` of ``fn`` as ``sender`` at the latest block: (success, revert reason)."""
        from eth_tester.exceptions import TransactionFailed

        tx = {"from": sender, "to": fn.address, "data": fn._encode_transaction_data(), "gas": 30_000_000}
        try:
            self.w3.eth.call(tx)
        except TransactionFailed as exc:  # eth-tester: "execution reverted: <reason>"
            return False, str(exc).removeprefix("execution reverted").lstrip(": ") or "revert()"
        return True, ""


def _deploy_aave(evm: Chain, admin: str, treasury: str, feed_artifact: dict[str, Any]) -> dict[str, Any]:
    # The market as _aave.deploy_market builds it (provider, ACL, linked Pool and configurator behind
    # proxies, AaveOracle, token implementations, a rate strategy per reserve), three reserves.
    provider = evm.deploy("PoolAddressesProvider", "levguard-guardian", admin)
    evm.send(provider.functions.setACLAdmin(admin), admin)
    acl = evm.deploy("ACLManager", provider.address)
    evm.send(provider.functions.setACLManager(acl.address), admin)
    evm.send(acl.functions.addPoolAdmin(admin), admin)
    evm.send(acl.functions.addRiskAdmin(admin), admin)
    libs: dict[str, str] = {}
    for name in ("SupplyLogic", "BorrowLogic", "LiquidationLogic", "EModeLogic", "BridgeLogic", "PoolLogic"):
        libs[name] = evm.deploy(name).address
    libs["FlashLoanLogic"] = evm.deploy("FlashLoanLogic", libs=libs).address
    libs["ConfiguratorLogic"] = evm.deploy("ConfiguratorLogic").address
    evm.send(provider.functions.setPoolImpl(evm.deploy("Pool", provider.address, libs=libs).address), admin)
    pool = evm.at("Pool", provider.functions.getPool().call())
    evm.send(provider.functions.setPoolConfiguratorImpl(evm.deploy("PoolConfigurator", libs=libs).address), admin)
    configurator = evm.at("PoolConfigurator", provider.functions.getPoolConfigurator().call())

    specs = {  # symbol: (decimals, price 8 dec, ltv, lt, bonus, protocol fee) as _aave.RESERVES
        "WETH": (18, WETH_PRICE * 10**8, 8000, 8250, 10500, 1000),
        "USDC": (6, 10**8, 7700, 8000, 10450, 1000),
        "DAI": (18, 99_980_000, 7500, 8000, 10500, 1000),
    }
    tokens = {s: evm.deploy("MintableERC20", s, s, d) for s, (d, *_) in specs.items()}
    weth_feed = evm.deploy_artifact(feed_artifact, specs["WETH"][1], sender=admin)
    sources = [weth_feed.address] + [evm.deploy("MockAggregator", specs[s][1]).address for s in ("USDC", "DAI")]
    assets = [tokens[s].address for s in ("WETH", "USDC", "DAI")]
    oracle = evm.deploy("AaveOracle", provider.address, assets, sources, ZERO, ZERO, BASE_UNIT)
    evm.send(provider.functions.setPriceOracle(oracle.address), admin)
    atoken = evm.deploy("AToken", pool.address)
    stable = evm.deploy("StableDebtToken", pool.address)
    variable = evm.deploy("VariableDebtToken", pool.address)
    ray = 10**27
    for s, (d, _, ltv, lt, bonus, fee) in specs.items():
        # optimal usage 80 %, base 0, slope1 4 %, slope2 75 %, stable slopes, offsets, 20 % stable.
        strategy = evm.deploy(
            "DefaultReserveInterestRateStrategy", provider.address, 8 * ray // 10, 0, 4 * ray // 100,
            75 * ray // 100, 2 * ray // 100, 75 * ray // 100, 2 * ray // 100, 5 * ray // 100, 2 * ray // 10,
        )  # fmt: skip
        init = (
            atoken.address, stable.address, variable.address, d, strategy.address, tokens[s].address, treasury,
            ZERO, f"Aave {s}", f"a{s}", f"Variable debt {s}", f"variableDebt{s}", f"Stable debt {s}",
            f"stableDebt{s}", b"",
        )  # fmt: skip
        evm.send(configurator.functions.initReserves([init]), admin, gas=25_000_000)
        cfg = configurator.functions
        evm.send(cfg.configureReserveAsCollateral(tokens[s].address, ltv, lt, bonus), admin)
        evm.send(cfg.setReserveBorrowing(tokens[s].address, True), admin)
        evm.send(cfg.setReserveFactor(tokens[s].address, 1000), admin)
        evm.send(cfg.setLiquidationProtocolFee(tokens[s].address, fee), admin)
    for s in specs:
        data = pool.functions.getReserveData(tokens[s].address).call()
        tokens[f"a{s}"] = evm.at("AToken", data[8])
        tokens[f"v{s}"] = evm.at("VariableDebtToken", data[10])
    return {"pool": pool, "oracle": oracle, "tokens": tokens, "weth_feed": weth_feed}


def deploy(morpho_artifacts: dict[str, Any]) -> ChainPositions:
    """Deploy both markets, fund the lenders and open the wallet's two positions (see the module
    docstring).  ``morpho_artifacts``: the ``contracts`` of build target ``morpho-blue``."""
    feed_artifact = aggregator_artifact()
    evm = Chain()
    admin, treasury, lender, liquidator = evm.accounts[:4]
    w3 = evm.w3
    wallet = to_checksum_address(Account.from_key(WALLET_KEY).address)
    evm.tester.add_account(WALLET_KEY)
    w3.eth.send_transaction({"from": admin, "to": wallet, "value": 1_000 * WAD, "gas": 21_000})

    aave = _deploy_aave(evm, admin, treasury, feed_artifact)
    pool, tokens = aave["pool"], aave["tokens"]

    morpho = evm.deploy_artifact(morpho_artifacts["Morpho"], admin, sender=admin)
    irm = evm.deploy_artifact(morpho_artifacts["IrmMock"], sender=admin)
    morpho_oracle = evm.deploy_artifact(morpho_artifacts["OracleMock"], sender=admin)
    params = (tokens["USDC"].address, tokens["WETH"].address, morpho_oracle.address, irm.address, MORPHO_LLTV)
    market_id = keccak(abi_encode(["address", "address", "address", "address", "uint256"], params))
    positions = ChainPositions(
        evm, w3, wallet, liquidator, lender, admin, pool, aave["oracle"], tokens, aave["weth_feed"],
        morpho, morpho_oracle, irm, params, market_id,
    )  # fmt: skip
    send = positions.send
    send(morpho.functions.enableIrm(irm.address))
    send(morpho.functions.enableLltv(MORPHO_LLTV))
    send(morpho.functions.createMarket(params))
    send(morpho_oracle.functions.setPrice(positions.weth_morpho_price(WETH_PRICE)))

    # Lenders and the liquidator hold plenty of every token; the lender supplies USDC on both.
    for holder in (lender, liquidator):
        for s in ("WETH", "USDC", "DAI"):
            send(tokens[s].functions.mint(10**30), holder)
            send(tokens[s].functions.approve(pool.address, UINT256_MAX), holder)
            send(tokens[s].functions.approve(morpho.address, UINT256_MAX), holder)
    send(pool.functions.supply(tokens["USDC"].address, 10_000_000 * 10**6, lender, 0), lender)
    send(morpho.functions.supply(params, 10_000_000 * 10**6, 0, lender, b""), lender)

    # The wallet: 10 WETH on each protocol, USDC borrowed to HF ~1.6, the USDC kept.
    send(tokens["WETH"].functions.mint(20 * WAD), wallet)
    send(tokens["WETH"].functions.approve(pool.address, UINT256_MAX), wallet)
    send(tokens["WETH"].functions.approve(morpho.address, UINT256_MAX), wallet)
    send(pool.functions.supply(tokens["WETH"].address, 10 * WAD, wallet, 0), wallet)
    aave_borrow = int(10 * WETH_PRICE * 0.825 / HF_START * 10**6)
    send(pool.functions.borrow(tokens["USDC"].address, aave_borrow, 2, 0, wallet), wallet)
    send(morpho.functions.supplyCollateral(params, 10 * WAD, wallet, b""), wallet)
    morpho_borrow = int(10 * WETH_PRICE * 0.86 / HF_START * 10**6)
    send(morpho.functions.borrow(params, morpho_borrow, 0, wallet, wallet), wallet)
    # The wallet never approved USDC: the guardian's repayments must approve first.
    return positions


def open_zero_rate_market(p: ChainPositions, collateral: int = 2 * WAD, borrow: int = 3_000 * 10**6) -> str:
    """A second WETH/USDC Morpho market at 86 % LLTV without an IRM (no interest: a health
    boundary found at one block holds at the next), same oracle; the lender supplies USDC and the
    wallet opens ``collateral`` / ``borrow`` there.  Returns its id (``0x`` hex)."""
    params = (p.tokens["USDC"].address, p.tokens["WETH"].address, p.morpho_oracle.address, ZERO, MORPHO_LLTV)
    market_id = keccak(abi_encode(["address", "address", "address", "address", "uint256"], params))
    p.send(p.morpho.functions.enableIrm(ZERO))
    p.send(p.morpho.functions.createMarket(params))
    p.send(p.morpho.functions.supply(params, 1_000_000 * 10**6, 0, p.lender, b""), p.lender)
    p.send(p.tokens["WETH"].functions.mint(collateral), p.wallet)
    p.send(p.morpho.functions.supplyCollateral(params, collateral, p.wallet, b""), p.wallet)
    p.send(p.morpho.functions.borrow(params, borrow, 0, p.wallet, p.wallet), p.wallet)
    return "0x" + market_id.hex()


SWAP_FEE_BPS = 30  # the swap mock's fee: 0.3 % below the oracle price


def deploy_swapper(p: ChainPositions, fee_bps: int = SWAP_FEE_BPS) -> Any:
    """:file:`contracts/OracleSwapMock.sol` at the Aave oracle's prices less ``fee_bps``, holding
    1e30 base units of WETH, USDC and DAI to pay out."""
    swapper = p.evm.deploy_artifact(mock_artifact("OracleSwapMock"), p.oracle.address, fee_bps, sender=p.admin)
    for s in ("WETH", "USDC", "DAI"):
        p.send(p.tokens[s].functions.mint(swapper.address, 10**30))
    return swapper


def _swap_all_usdc(p: ChainPositions, swapper: Any) -> int:
    # The wallet sells all its USDC for WETH through the swapper; returns the WETH bought.
    usdc, weth = p.tokens["USDC"], p.tokens["WETH"]
    amount = int(usdc.functions.balanceOf(p.wallet).call())
    if amount == 0:
        return 0
    before = int(weth.functions.balanceOf(p.wallet).call())
    p.send(usdc.functions.approve(swapper.address, amount), p.wallet)
    p.send(swapper.functions.swap(usdc.address, weth.address, amount, 0, p.wallet), p.wallet)
    return int(weth.functions.balanceOf(p.wallet).call()) - before


def loop_positions(p: ChainPositions, swapper: Any, rounds: int = 3, hf: float = HF_START) -> None:
    """Loop both positions: ``rounds`` times sell the USDC borrowed for WETH, supply it, borrow
    USDC back to ``hf``; then sell and supply the last borrow.  Aave first (with the USDC the
    fixture borrowed there), then Morpho; the wallet ends holding no USDC and no WETH."""
    usdc, weth = p.tokens["USDC"], p.tokens["WETH"]
    morpho_usdc = int(usdc.functions.balanceOf(p.wallet).call()) - int(
        p.tokens["vUSDC"].functions.balanceOf(p.wallet).call()
    )
    # Park Morpho's USDC with the lender while Aave loops (given back before Morpho loops).
    p.send(usdc.functions.transfer(p.lender, morpho_usdc), p.wallet)
    for k in range(rounds + 1):
        p.send(p.pool.functions.supply(weth.address, _swap_all_usdc(p, swapper), p.wallet, 0), p.wallet)
        if k == rounds:
            break
        coll, debt, _, lt, _, _ = p.pool.functions.getUserAccountData(p.wallet).call()
        borrow = int((coll * lt / 10_000 / hf - debt) * 10**6 / BASE_UNIT)
        p.send(p.pool.functions.borrow(usdc.address, borrow, 2, 0, p.wallet), p.wallet)
    p.send(usdc.functions.transfer(p.wallet, morpho_usdc), p.lender)
    price = int(p.morpho_oracle.functions.price().call())
    for k in range(rounds + 1):
        p.send(
            p.morpho.functions.supplyCollateral(p.market_params, _swap_all_usdc(p, swapper), p.wallet, b""), p.wallet
        )
        if k == rounds:
            break
        _, shares, coll = p.morpho_position()
        m = p.morpho.functions.market(p.market_id).call()
        owed = -(-shares * (m[2] + 1) // (m[3] + 10**6))  # toAssetsUp
        borrow = int(coll * price // ORACLE_PRICE_SCALE * MORPHO_LLTV // WAD / hf) - owed
        p.send(p.morpho.functions.borrow(p.market_params, borrow, 0, p.wallet, p.wallet), p.wallet)
    assert usdc.functions.balanceOf(p.wallet).call() == 0
    assert weth.functions.balanceOf(p.wallet).call() == 0
