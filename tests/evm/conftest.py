"""Shared fixtures of the EVM differential tests: an in-process chain and the built artifacts.

The chain is py-evm behind eth-tester, driven by web3.py (``EthereumTesterProvider``), with a
block gas limit of 1e9 so a test can batch many protocol calls into one transaction.  The
artifacts come from the npm packages installed in ``tests/evm/node_modules`` (``make evm``);
without them, or without node to compile, the tests that ask for them skip with the reason
(tests/evm/README.md).  Nothing else skips: a compiler error or a broken chain fails.
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

import _pyevm_fast
import pytest

_pyevm_fast.install()  # py-evm's bookkeeping shortcuts (same execution; _pyevm_fast.py)

HERE = Path(__file__).resolve().parent
NODE_MODULES = HERE / "node_modules"

GAS_LIMIT = 1_000_000_000
"""Block gas limit of the test chain (mainnet's is 3e7); batches of calls fit one transaction."""
TX_GAS = 900_000_000
"""Gas given to every transaction (given, so web3 never runs a transaction twice to estimate)."""
GENESIS_TIMESTAMP = 4_102_444_800
"""2100-01-01 UTC: ahead of the wall clock, so every block is its parent + 1 s (or where
:meth:`Chain.time_travel` puts it) and a seeded test replays the same chain on every machine."""


def _load_build() -> ModuleType:
    # tests/evm/build.py under a private name (a top-level `build` may be another package).
    name = "_levguard_evm_build"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, HERE / "build.py")
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def require_node_modules() -> Path:
    """Return tests/evm/node_modules, or skip the calling test when npm never installed it."""
    if not NODE_MODULES.is_dir():
        pytest.skip(f"{NODE_MODULES} is missing (node/npm not available?): run `make evm`")
    return NODE_MODULES


def require_build(target: str) -> dict[str, Any]:
    """Return the built document of ``target`` (build.py), building it if it is stale.

    Skips when the npm packages are not installed or node is missing; a compiler error fails.
    """
    require_node_modules()
    build = _load_build()
    if target not in build.TARGETS:
        raise KeyError(f"unknown EVM build target {target!r}; known: {sorted(build.TARGETS)}")
    if shutil.which("node") is None:
        if not (build.BUILD_DIR / f"{target}.json").is_file():
            pytest.skip(f"node is not installed and {target} was never built")
        return dict(build.load(target))  # built on a machine with node; may be stale
    build.TARGETS[target]()  # cached: returns at once when current
    return dict(build.load(target))


class Chain:
    """An in-process Ethereum chain (py-evm) with web3.py on top, and the helpers the tests use.

    Every transaction is mined in its own block at once; a block's timestamp is one second
    after its parent's unless :meth:`time_travel` moved the clock (the genesis is at
    ``genesis_timestamp``, not the wall clock's time).
    """

    def __init__(self, gas_limit: int = GAS_LIMIT, genesis_timestamp: int = GENESIS_TIMESTAMP) -> None:
        from eth_tester import EthereumTester, PyEVMBackend
        from web3 import EthereumTesterProvider, Web3

        overrides = {"gas_limit": gas_limit, "timestamp": genesis_timestamp}
        params = PyEVMBackend.generate_genesis_params(overrides=overrides)
        self.backend = PyEVMBackend(genesis_parameters=params)
        self.tester = EthereumTester(self.backend)
        self.w3 = Web3(EthereumTesterProvider(self.tester))
        self.accounts: list[str] = list(self.w3.eth.accounts)
        self.owner: str = self.accounts[0]

    # -- contracts and transactions --

    def deploy(self, artifact: dict[str, Any], *args: Any, sender: str | None = None) -> Any:
        """Deploy ``artifact`` (``{"abi": ..., "bytecode": ...}``); return the web3 contract."""
        factory = self.w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
        receipt = self.send(factory.constructor(*args), sender=sender)
        return self.w3.eth.contract(address=receipt["contractAddress"], abi=artifact["abi"])

    def at(self, artifact: dict[str, Any], address: str) -> Any:
        """Return the web3 contract of ``artifact`` at ``address``."""
        return self.w3.eth.contract(address=address, abi=artifact["abi"])

    def send(self, call: Any, sender: str | None = None, gas: int = TX_GAS) -> Any:
        """Send the contract call (or constructor) as a transaction; return its receipt.

        Raises AssertionError with the revert reason when the transaction reverts.
        """
        from eth_tester.exceptions import TransactionFailed

        try:
            tx_hash = call.transact({"from": sender or self.owner, "gas": gas})
        except TransactionFailed as exc:
            raise AssertionError(f"transaction reverted: {exc}") from exc
        receipt = self.w3.eth.get_transaction_receipt(tx_hash)
        assert receipt["status"] == 1, f"transaction failed: {receipt}"
        return receipt

    def encode(self, contract: Any, name: str, *args: Any) -> bytes:
        """ABI-encode a call of ``contract.name(*args)`` (e.g. for a multicall)."""
        return bytes.fromhex(contract.encode_abi(name, args=list(args))[2:])

    # -- clock and snapshots --

    def pending_timestamp(self) -> int:
        """Return the timestamp the next transaction's block will have."""
        return int(self.backend.chain.header.timestamp)

    def time_travel(self, seconds: int) -> int:
        """Move the clock: the next transaction's block comes ``seconds`` (at least 2) after the
        latest block (eth-tester mines an empty block a second before it); return its timestamp."""
        latest = int(self.w3.eth.get_block("latest")["timestamp"])
        self.tester.time_travel(latest + max(int(seconds), 2))
        return self.pending_timestamp()

    def snapshot(self) -> Any:
        """Return a snapshot id of the current chain state."""
        return self.tester.take_snapshot()

    def revert(self, snapshot_id: Any) -> None:
        """Return the chain to ``snapshot_id`` (it stays usable for further reverts)."""
        self.tester.revert_to_snapshot(snapshot_id)

    @contextmanager
    def isolated(self) -> Iterator[Chain]:
        """Run the block's transactions, then put the chain back as it was."""
        snapshot_id = self.snapshot()
        try:
            yield self
        finally:
            self.revert(snapshot_id)


def on_fresh_stack(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run ``fn(*args, **kwargs)`` in a new thread; return its result or raise its exception.

    CPython 3.11 keeps frames in 16 KiB chunks and unmaps a chunk as soon as the frame at its
    base returns, so a hot loop whose frames straddle a chunk boundary maps and unmaps memory on
    every call.  Under pytest the stack is deep, and py-evm's opcode loop landed on such a
    boundary (2.8 million mmap/munmap pairs, 20 s of system time in the Morpho tests); a new
    thread starts from a shallow stack, as a script does.  Run long EVM work through this.
    """
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(fn, *args, **kwargs).result()


@pytest.fixture(scope="module")
def chain() -> Chain:
    """A fresh in-process chain for one test module (deploy in a module-scoped fixture, then
    use :meth:`Chain.isolated` or snapshots to keep tests independent)."""
    return Chain()


@pytest.fixture(scope="session")
def fresh_stack() -> Callable[..., Any]:
    """``fresh_stack(fn, *args)``: :func:`on_fresh_stack`, for long EVM work in a test."""
    return on_fresh_stack


@pytest.fixture(scope="session")
def evm_build() -> Callable[[str], dict[str, Any]]:
    """``evm_build(target)``: the built artifacts of a build.py target (skips without node)."""
    return require_build
