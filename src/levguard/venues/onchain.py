"""A lending position on a chain as a venue: Aave v3 and Morpho Blue through JSON-RPC (web3.py).

:class:`OnchainVenue` reads one wallet's position (:meth:`OnchainVenue.read`: an
:class:`~levguard.venues.onchain_read.AaveRead` or :class:`~levguard.venues.onchain_read.MorphoRead`
in contract units, every value from one block) and builds, signs, sends and looks up the
transactions that protect it: ``ERC20.approve``, Aave ``Pool.repay`` / ``Pool.supply`` /
``Pool.withdraw``, Morpho ``repay`` / ``supplyCollateral`` / ``withdrawCollateral``, and the sale of
withdrawn collateral through a :class:`~levguard.venues.onchain_swap.Swapper` (an unwind).  The
guardian (:mod:`levguard.live.onchain`) decides, journals each signed transaction before sending
it and reconciles by hash and nonce.

web3.py is optional (``pip install 'levguard[onchain]'``): it is imported when a venue is made,
and its absence is a :class:`~levguard.errors.ConfigError` saying so.

Blocking web3 calls run on one worker thread per venue (calls of a venue are serialised: a
provider such as eth-tester is not thread-safe, and nonces want one writer) and every operation
is bounded by ``read_timeout_s``: a node that hangs costs one timeout
(:class:`~levguard.errors.VenueRetryableError`), never a cycle.  Failures are classified as the
guardian expects: network, timeouts and node errors retryable, HTTP 429 a rate limit, 401/403 an
authentication failure, a reverting call permanent (a wrong address), a transaction the chain
would revert (``eth_estimateGas`` fails) :class:`~levguard.errors.VenueOrderRejectedError`.

The key signs only: held by :class:`LocalSigner` (from an environment variable or a 0600 file),
never logged, never stored, absent from every repr and error.  A signed transaction is public once
sent and carries no secret; the guardian journals it.

The :class:`~levguard.venues.base.Venue` methods are implemented so that the venue can stand in
every place the guardian keeps venues: positions are the legs of the loan (collateral held > 0,
debt < 0, in tokens, at the protocol's oracle price, which also stands for the entry price a loan
does not have), the balance is the account's net value at the oracle, marks are oracle prices;
reduce-only orders do not exist on a lending protocol (:meth:`OnchainVenue.create_order` refuses).
"""

from __future__ import annotations

import asyncio
import logging
import os
import stat
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal, TypeVar

from levguard.core.defi.morpho import ORACLE_PRICE_SCALE, to_assets_up
from levguard.core.defi.price_feeds import AAVE_BASE_CURRENCY_UNIT
from levguard.core.records import JsonRecord
from levguard.core.tiers import TierTable
from levguard.errors import (
    ConfigError,
    InputError,
    VenueOrderRejectedError,
    VenuePermanentError,
    VenueRetryableError,
)
from levguard.venues import onchain_abi as abi
from levguard.venues.base import Capabilities, OrderRequest, OrderState, VenueBalance, VenuePosition
from levguard.venues.onchain_errors import classify, redact, url_secrets
from levguard.venues.onchain_read import (
    AaveRead,
    LendingRead,
    MorphoRead,
    Rpc,
    is_revert,
    market_id_bytes,
    read_aave,
    read_morpho,
)
from levguard.venues.onchain_swap import Swapper

__all__ = [
    "PROTOCOLS",
    "LocalSigner",
    "OnchainVenue",
    "SignedTx",
    "TxRequest",
    "TxStatus",
    "classify",
    "load_web3",
    "redact",
    "url_secrets",
]

T = TypeVar("T")
PROTOCOLS: Final = ("aave-v3", "morpho-blue")
_log = logging.getLogger(__name__)
_AAVE_VARIABLE_RATE: Final = 2  # DataTypes.InterestRateMode.VARIABLE
_ALREADY_KNOWN: Final = ("already known", "known transaction", "alreadyknown")


def load_web3() -> Any:
    """Import web3.py; ConfigError naming the extra to install when it is missing."""
    try:
        import web3
    except ImportError:
        raise ConfigError("on-chain venues need web3.py: pip install 'levguard[onchain]'") from None
    return web3


# --- the key --------------------------------------------------------------------------------------


class LocalSigner:
    """A private key in memory, used to sign transactions and nothing else.

    ``repr`` and ``str`` show the address only; construction errors never contain the key.
    """

    __slots__ = ("_account", "address")

    def __init__(self, private_key: str) -> None:
        load_web3()
        from eth_account import Account

        try:
            account = Account.from_key(private_key)
        except Exception:  # the message could echo the key: say what is wrong, not what it was
            raise ConfigError("the signing key is not a valid 32-byte hex private key") from None
        self._account = account
        self.address: str = str(account.address)

    @classmethod
    def from_env(cls, var: str, environ: Mapping[str, str] | None = None) -> LocalSigner:
        """The key held by environment variable ``var``; ConfigError when it is unset."""
        env = os.environ if environ is None else environ
        value = env.get(var, "")
        if not value:
            raise ConfigError(f"environment variable {var} (the signing key) is not set")
        return cls(value.strip())

    @classmethod
    def from_file(cls, path: str | Path) -> LocalSigner:
        """The key in file ``path`` (hex, one line), readable by its owner only (mode 0600)."""
        p = Path(path)
        try:
            mode = p.stat().st_mode
            text = p.read_text().strip()
        except OSError as exc:
            raise ConfigError(f"key_file {p}: {exc.strerror}") from None
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise ConfigError(f"key_file {p}: permissions {oct(mode & 0o777)} are too open; chmod 600 it")
        return cls(text)

    def sign(self, tx: Mapping[str, Any]) -> tuple[str, str]:
        """Sign ``tx`` (a web3 transaction dict); return ``(raw, hash)`` as ``0x`` hex."""
        signed = self._account.sign_transaction(dict(tx))
        return "0x" + bytes(signed.raw_transaction).hex(), "0x" + bytes(signed.hash).hex()

    def __repr__(self) -> str:
        return f"LocalSigner(address={self.address!r})"

    __str__ = __repr__


# --- transactions ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TxRequest(JsonRecord):
    """One transaction the guardian wants: what it does, to whom, the calldata.

    Attributes
    ----------
    kind : str
        ``"approve"``, ``"repay"``, ``"supply"``, ``"withdraw"``, ``"swap"``, or ``"cancel"`` (0 to
        the sender, replacing a transaction at its nonce).
    symbol : str
        The token paid (approved, repaid, supplied).
    amount : int
        Its base units.
    to : str
        The contract called (the token for an approval, the Pool or Morpho).
    data : str
        The calldata, ``0x`` hex.
    call : str
        The call in words (``Pool.repay(USDC, 1500000000, 2, 0xab…)``).
    value : int
        Wei sent along (0).
    """

    kind: str
    symbol: str
    amount: int
    to: str
    data: str
    call: str
    value: int = 0


@dataclass(frozen=True, slots=True)
class SignedTx(JsonRecord):
    """A request signed with its nonce, gas and fees: what is journaled before it is sent.

    ``raw`` is the signed transaction (public once sent: it holds no secret); ``hash`` its hash,
    known before sending, so a transaction is found again by hash after any crash.
    """

    request: TxRequest
    chain_id: int
    sender: str
    nonce: int
    gas: int
    max_fee_per_gas: int
    max_priority_fee_per_gas: int
    hash: str
    raw: str

    def journal(self) -> dict[str, Any]:
        """The journal entry: every field, big integers as decimal strings (JSON-safe)."""
        r = self.request
        return {
            "kind": r.kind,
            "symbol": r.symbol,
            "amount": str(r.amount),
            "to": r.to,
            "data": r.data,
            "value": str(r.value),
            "call": r.call,
            "chain_id": self.chain_id,
            "from": self.sender,
            "nonce": self.nonce,
            "gas": self.gas,
            "max_fee_per_gas": str(self.max_fee_per_gas),
            "max_priority_fee_per_gas": str(self.max_priority_fee_per_gas),
            "hash": self.hash,
            "raw": self.raw,
        }


@dataclass(frozen=True, slots=True)
class TxStatus(JsonRecord):
    """Where a transaction is: ``"mined"`` (with ``success``, the block and gas used),
    ``"pending"`` (the node holds it) or ``"unknown"`` (the node has never seen it)."""

    state: Literal["mined", "pending", "unknown"]
    success: bool | None = None
    block_number: int | None = None
    gas_used: int | None = None


# --- the venue ------------------------------------------------------------------------------------


class OnchainVenue:
    """One wallet's Aave v3 account or Morpho Blue position, read and protected over JSON-RPC.

    Parameters
    ----------
    protocol : {"aave-v3", "morpho-blue"}
    wallet : str
        The address whose position is watched.
    rpc_url : str, optional
        A JSON-RPC endpoint (``https://…``; may embed a provider key: never logged).
    w3 : web3.Web3, optional
        A ready ``Web3`` instead of ``rpc_url`` (e.g. over eth-tester in tests).
    pool : str
        Aave: the Pool's address.
    morpho, market_id : str
        Morpho: the Morpho contract and the market id (``0x`` + 64 hex).
    signer : LocalSigner, optional
        The key that signs repayments and supplies (it pays for them; the position is repaid or
        topped up on behalf of ``wallet``).  Without one the venue only reads.
    aave_version : str
        The Aave version levguard's engine evaluates the account as (``"3.0"`` ... ``"3.3"``, ``"3.5"``,
        ``"3.6"``; a v3.4 pool computes as ``"3.3"``).
    heartbeats : mapping, optional
        Price-feed heartbeat (seconds) per symbol, for the staleness check; ``default_heartbeat``
        for the others.
    timeout_s : float
        Per JSON-RPC request (the HTTP provider's timeout).
    read_timeout_s : float
        Bound of one operation (a whole read, a send, a lookup).
    gas_multiplier : float
        Gas limit = ``eth_estimateGas`` times this.
    swapper : Swapper, optional
        Where an unwind sells withdrawn collateral for the debt token
        (:class:`~levguard.venues.onchain_swap.ContractSwapper`); None: no unwind.
    replace_after_cycles : int
        A transaction pending this many reconciliations with fees below the market's is replaced
        at its nonce with higher fees (:mod:`levguard.live.onchain_fees`).
    fee_bump : float
        The least raise of both fees of a replacement, a fraction (geth's txpool refuses a
        replacement raising either by less than 10 %: at least 0.10).
    max_fee_per_gas : int, optional
        The most ``maxFeePerGas`` (wei) of any transaction signed, the first included; None: no cap.
    """

    replace_after_cycles: int = 2
    fee_bump: float = 0.125
    max_fee_per_gas: int | None = None

    def __init__(
        self,
        protocol: str,
        *,
        wallet: str,
        rpc_url: str | None = None,
        w3: Any = None,
        pool: str | None = None,
        morpho: str | None = None,
        market_id: str | None = None,
        signer: LocalSigner | None = None,
        aave_version: str = "3.0",
        heartbeats: Mapping[str, int] | None = None,
        default_heartbeat: int = 86_400,
        timeout_s: float = 10.0,
        read_timeout_s: float = 30.0,
        gas_multiplier: float = 1.25,
        swapper: Swapper | None = None,
        replace_after_cycles: int = 2,
        fee_bump: float = 0.125,
        max_fee_per_gas: int | None = None,
    ) -> None:
        if protocol not in PROTOCOLS:
            raise InputError(f"protocol must be one of {list(PROTOCOLS)}, was {protocol!r}")
        for key, v in (("timeout_s", timeout_s), ("read_timeout_s", read_timeout_s)):
            if not (isinstance(v, int | float) and 0 < v < 3_600):
                raise InputError(f"{key} must be a number of seconds in (0, 3600), was {v!r}")
        if not (isinstance(gas_multiplier, int | float) and 1.0 <= gas_multiplier <= 5.0):
            raise InputError(f"gas_multiplier must be in [1, 5], was {gas_multiplier!r}")
        if isinstance(replace_after_cycles, bool) or not (
            isinstance(replace_after_cycles, int) and 1 <= replace_after_cycles <= 1_000
        ):
            raise InputError(f"replace_after_cycles must be an integer in [1, 1000], was {replace_after_cycles!r}")
        if isinstance(fee_bump, bool) or not (isinstance(fee_bump, int | float) and 0.10 <= fee_bump <= 10.0):
            raise InputError(f"fee_bump must be a fraction in [0.10, 10] (geth's least: 0.10), was {fee_bump!r}")
        if max_fee_per_gas is not None and (
            isinstance(max_fee_per_gas, bool) or not isinstance(max_fee_per_gas, int) or max_fee_per_gas <= 0
        ):
            raise InputError(f"max_fee_per_gas must be a positive integer of wei or None, was {max_fee_per_gas!r}")
        if swapper is not None and not isinstance(swapper, Swapper):
            raise InputError(f"swapper must have name, spender, quote and swap, was {type(swapper).__name__}")
        if protocol == "aave-v3" and not pool:
            raise InputError("pool (the Aave v3 Pool's address) is required for protocol aave-v3")
        if protocol == "morpho-blue":
            if not morpho:
                raise InputError("morpho (the Morpho contract's address) is required for protocol morpho-blue")
            market_id_bytes(market_id or "")
        web3 = load_web3()
        if w3 is None:
            if not rpc_url:
                raise InputError("rpc_url (or a Web3 instance) is required")
            if not rpc_url.startswith(("http://", "https://")):
                raise InputError("rpc_url must start with http:// or https://")
            # web3's own retries off: the guardian retries reads with its backoff, never a send.
            provider = web3.HTTPProvider(
                rpc_url, request_kwargs={"timeout": float(timeout_s)}, exception_retry_configuration=None
            )
            w3 = web3.Web3(provider)
        self.name = protocol
        self.protocol = protocol
        self.capabilities = Capabilities(
            mark_price=True,
            leverage_tiers=False,
            funding=False,
            reduce_only=False,
            fetch_order_by_client_id=False,
            notes=("on-chain lending position: transactions by hash and nonce, no orders",),
        )
        self._rpc = Rpc(w3)
        self._secrets = url_secrets(rpc_url)
        self.w3 = w3
        self.wallet = self._rpc.checksum(wallet)
        self.pool = self._rpc.checksum(pool) if pool else None
        self.morpho = self._rpc.checksum(morpho) if morpho else None
        self.market_id = market_id
        self.signer = signer
        self.aave_version = aave_version
        self.heartbeats = dict(heartbeats or {})
        self.default_heartbeat = int(default_heartbeat)
        self.timeout_s = float(timeout_s)
        self.read_timeout_s = float(read_timeout_s)
        self.gas_multiplier = float(gas_multiplier)
        self.swapper = swapper
        self.replace_after_cycles = int(replace_after_cycles)
        self.fee_bump = float(fee_bump)
        self.max_fee_per_gas = max_fee_per_gas
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"levguard-rpc-{protocol}")
        self._chain_id: int | None = None

    def __repr__(self) -> str:  # the RPC URL may hold a provider key: never shown
        return f"OnchainVenue({self.protocol!r}, wallet={self.wallet!r}, signer={self.signer!r})"

    @property
    def payer(self) -> str:
        """The address that pays for repayments and supplies: the signer's, else the wallet."""
        return self.signer.address if self.signer is not None else self.wallet

    async def _run(self, what: str, fn: Callable[[], T]) -> T:
        # On the venue's worker thread, bounded by read_timeout_s; failures classified.
        loop = asyncio.get_running_loop()
        try:
            return await asyncio.wait_for(loop.run_in_executor(self._pool, fn), self.read_timeout_s)
        except TimeoutError:
            raise VenueRetryableError(f"{what}: no answer from the node within {self.read_timeout_s:g} s") from None
        except Exception as exc:
            raise classify(exc, what, self._secrets) from None

    # -- reading

    async def read(self, keep: tuple[str, ...] = ()) -> LendingRead:
        """The wallet's position at the latest block (one consistent read; see the module docstring);
        Aave: ``keep``, reserves read also when unused (:func:`~levguard.venues.onchain_read.read_aave`)."""
        if self.protocol == "aave-v3":
            assert self.pool is not None
            pool = self.pool
            return await self._run(
                "read Aave account",
                lambda: read_aave(
                    self._rpc,
                    pool,
                    self.wallet,
                    self.payer,
                    version=self.aave_version,
                    heartbeats=self.heartbeats,
                    default_heartbeat=self.default_heartbeat,
                    keep=keep,
                ),
            )
        assert self.morpho is not None
        assert self.market_id is not None
        morpho, market_id = self.morpho, self.market_id
        return await self._run(
            "read Morpho position", lambda: read_morpho(self._rpc, morpho, market_id, self.wallet, self.payer)
        )

    # -- the Venue protocol

    async def fetch_positions(self) -> list[VenuePosition]:
        """The legs of the loan: collateral (qty > 0) and debt (qty < 0) in tokens, at the oracle price."""
        return legs(await self.read())

    async def fetch_balance(self) -> VenueBalance:
        """The account's net value at the oracle (collateral minus debt): USD for Aave, loan tokens
        for Morpho; ``available`` is the same (a lending account has no separate margin)."""
        net, unit = net_value(r := await self.read())
        return VenueBalance(unit, net, net, r.read_ns)

    async def fetch_marks(self, symbols: list[str]) -> dict[str, float]:
        """Oracle prices of ``symbols`` among the position's tokens."""
        return {p.symbol: p.mark_price for p in legs(await self.read()) if p.symbol in symbols}

    async def fetch_tiers(self, symbol: str) -> TierTable | None:
        """None: lending protocols have no maintenance tiers."""
        return None

    async def fetch_funding_rate(self, symbol: str) -> float | None:
        """None: loans pay interest, not funding."""
        return None

    async def create_order(self, request: OrderRequest) -> OrderState:
        """Refused: a lending position is protected by transactions (:mod:`levguard.live.onchain`)."""
        raise VenueOrderRejectedError(
            f"{self.protocol} takes transactions, not orders (client id {request.client_order_id})"
        )

    async def fetch_order(self, symbol: str, client_order_id: str) -> OrderState | None:
        """Refused: transactions are looked up by hash and nonce (:meth:`status`)."""
        raise VenuePermanentError(f"{self.protocol}: transactions are looked up by hash, not by client id")

    async def close(self) -> None:
        """Stop the worker thread (a call still running finishes in the background)."""
        self._pool.shutdown(wait=False, cancel_futures=True)

    # -- transactions

    def _encode(self, address: str, interface: list[dict[str, Any]], name: str, *args: Any) -> str:
        return str(self._rpc.contract(address, interface).encode_abi(name, args=list(args)))

    def approve(self, read: LendingRead, symbol: str, amount: int, spender: str | None = None) -> TxRequest:
        """``ERC20.approve(spender, amount)`` of ``symbol`` (exactly ``amount``) for ``spender``: the
        protocol by default, the swapper's spender for a sale."""
        token = _asset(read, symbol)
        to = read.spender if spender is None else self._rpc.checksum(spender)
        data = self._encode(token, abi.ERC20, "approve", to, amount)
        return TxRequest("approve", symbol, amount, token, data, f"{symbol}.approve({to}, {amount})")

    def withdraw(self, read: LendingRead, symbol: str, amount: int) -> TxRequest:
        """Withdraw ``amount`` of collateral ``symbol`` to the paying address: Aave ``Pool.withdraw(asset,
        amount, payer)`` (the caller's own aTokens: the payer must be the wallet), Morpho
        ``withdrawCollateral(params, amount, wallet, payer)`` (the caller must be the wallet or
        authorised by it)."""
        if isinstance(read, AaveRead):
            data = self._encode(read.pool, abi.AAVE_POOL, "withdraw", _asset(read, symbol), amount, read.payer)
            return TxRequest(
                "withdraw", symbol, amount, read.pool, data, f"Pool.withdraw({symbol}, {amount}, {read.payer})"
            )
        if symbol != read.collateral_symbol:
            raise InputError(f"symbol must be the market's collateral {read.collateral_symbol!r}, was {symbol!r}")
        data = self._encode(
            read.morpho, abi.MORPHO, "withdrawCollateral", read.market_params, amount, read.wallet, read.payer
        )
        call = f"Morpho.withdrawCollateral({symbol}, {amount}, {read.wallet}, {read.payer})"
        return TxRequest("withdraw", symbol, amount, read.morpho, data, call)

    def _swapper(self) -> Swapper:
        if self.swapper is None:
            raise InputError(f"{self.protocol}: no swapper configured: an unwind cannot sell collateral")
        return self.swapper

    def swap(self, read: LendingRead, sell: str, buy: str, amount: int, min_out: int) -> TxRequest:
        """Sell ``amount`` of ``sell`` for at least ``min_out`` of ``buy``, paid to the paying address,
        through the venue's :class:`~levguard.venues.onchain_swap.Swapper`."""
        swapper = self._swapper()
        to, data = swapper.swap(self.w3, _asset(read, sell), _asset(read, buy), amount, min_out, read.payer)
        call = f"{swapper.name}.swap({sell}, {buy}, {amount}, min {min_out}, {read.payer})"
        return TxRequest("swap", sell, amount, self._rpc.checksum(to), data, call)

    async def quote(self, read: LendingRead, sell: str, buy: str, amount: int) -> int:
        """What the swapper gives of ``buy`` for ``amount`` of ``sell`` now (base units)."""
        swapper = self._swapper()
        a, b = _asset(read, sell), _asset(read, buy)
        return await self._run(f"quote {sell} -> {buy}", lambda: int(swapper.quote(self.w3, a, b, amount)))

    async def holdings(self, read: LendingRead, symbol: str, spender: str) -> tuple[int, int]:
        """The paying address's balance of ``symbol`` and its allowance to ``spender``, now."""
        token, payer, to = _asset(read, symbol), read.payer, self._rpc.checksum(spender)

        def look() -> tuple[int, int]:
            erc20 = self._rpc.contract(token, abi.ERC20).functions
            return int(erc20.balanceOf(payer).call()), int(erc20.allowance(payer, to).call())

        return await self._run(f"holdings of {symbol}", look)

    def repay(self, read: LendingRead, symbol: str, amount: int) -> TxRequest:
        """Repay ``amount`` of ``symbol`` on behalf of the wallet: Aave ``Pool.repay(asset, amount,
        2, wallet)`` (variable rate), Morpho ``repay(params, amount, 0, wallet, "")`` (by assets)."""
        if isinstance(read, AaveRead):
            data = self._encode(read.pool, abi.AAVE_POOL, "repay", _asset(read, symbol), amount, 2, read.wallet)
            return TxRequest(
                "repay", symbol, amount, read.pool, data, f"Pool.repay({symbol}, {amount}, 2, {read.wallet})"
            )
        if symbol != read.loan_symbol:
            raise InputError(f"symbol must be the market's loan token {read.loan_symbol!r}, was {symbol!r}")
        data = self._encode(read.morpho, abi.MORPHO, "repay", read.market_params, amount, 0, read.wallet, b"")
        return TxRequest(
            "repay", symbol, amount, read.morpho, data, f"Morpho.repay({symbol}, {amount}, 0, {read.wallet})"
        )

    def supply(self, read: LendingRead, symbol: str, amount: int) -> TxRequest:
        """Supply ``amount`` of collateral ``symbol`` on behalf of the wallet: Aave ``Pool.supply(asset,
        amount, wallet, 0)``, Morpho ``supplyCollateral(params, amount, wallet, "")``."""
        if isinstance(read, AaveRead):
            data = self._encode(read.pool, abi.AAVE_POOL, "supply", _asset(read, symbol), amount, read.wallet, 0)
            return TxRequest(
                "supply", symbol, amount, read.pool, data, f"Pool.supply({symbol}, {amount}, {read.wallet}, 0)"
            )
        if symbol != read.collateral_symbol:
            raise InputError(f"symbol must be the market's collateral {read.collateral_symbol!r}, was {symbol!r}")
        data = self._encode(read.morpho, abi.MORPHO, "supplyCollateral", read.market_params, amount, read.wallet, b"")
        return TxRequest(
            "supply", symbol, amount, read.morpho, data, f"Morpho.supplyCollateral({symbol}, {amount}, {read.wallet})"
        )

    def estimate_gas(self, request: TxRequest, sender: str) -> int:
        """``eth_estimateGas`` of ``request`` from ``sender`` (blocking; run through :meth:`prepare`).

        Raises the node's error when the call would revert."""
        tx = {"from": sender, "to": request.to, "data": request.data, "value": request.value}
        return int(self.w3.eth.estimate_gas(tx))

    async def estimate(self, request: TxRequest, sender: str) -> int:
        """The gas limit of ``request`` from ``sender``: :meth:`estimate_gas` x ``gas_multiplier``
        (rounded down, as :meth:`prepare` signs it).  A node's failure is classified as every call
        of the venue's (:class:`~levguard.errors.VenueAuthError` for refused credentials)."""
        gas = await self._run(f"estimate gas of {request.call}", lambda: self.estimate_gas(request, sender))
        return int(gas * self.gas_multiplier)

    def _signer(self) -> LocalSigner:
        # The key that signs (VenuePermanentError without one: the venue reads only).
        if self.signer is None:
            raise VenuePermanentError(f"{self.protocol}: no signing key: the venue reads only")
        return self.signer

    def _chain(self) -> None:
        # The chain id, asked of the node once (on the venue's worker thread).
        if self._chain_id is None:
            self._chain_id = int(self.w3.eth.chain_id)

    async def prepare(self, request: TxRequest) -> SignedTx:
        """Nonce (the signer's pending count), gas (:meth:`estimate_gas` x ``gas_multiplier``),
        EIP-1559 fees (twice the base fee plus the priority fee, at most ``max_fee_per_gas``), the signature.

        Raises
        ------
        VenueOrderRejectedError
            The transaction would revert (estimation fails): nothing is signed.
        VenuePermanentError
            No signer.
        """
        signer = self._signer()

        def build() -> SignedTx:
            self._chain()
            try:
                gas = int(self.estimate_gas(request, signer.address) * self.gas_multiplier)
            except Exception as exc:
                if is_revert(exc):
                    raise VenueOrderRejectedError(f"{request.call} would revert: {exc}") from None
                raise
            nonce = int(self.w3.eth.get_transaction_count(signer.address, "pending"))
            base, tip = self._market_fees()
            max_fee = 2 * base + tip if base is not None else tip
            if (cap := self.max_fee_per_gas) is not None and max_fee > cap:  # at the cap: it waits, replaced up to it
                _log.warning("%s: signed at the cap %d wei, the market needs %d wei", request.call, cap, max_fee)
                max_fee, tip = cap, min(tip, cap)
            return self._sign(signer, request, nonce, gas, max_fee, tip, legacy=base is None)

        return await self._run(f"prepare {request.call}", build)

    def _market_fees(self) -> tuple[int | None, int]:
        # The latest block's base fee (None without EIP-1559) and the priority fee (the gas price
        # without EIP-1559); blocking.
        base = self.w3.eth.get_block("latest").get("baseFeePerGas")
        if base is None:
            return None, int(self.w3.eth.gas_price)
        try:
            tip = int(self.w3.eth.max_priority_fee)
        except Exception as exc:  # nodes without eth_maxPriorityFeePerGas: 1 gwei
            if isinstance(exc, TimeoutError | OSError):
                raise
            tip = 10**9
        return int(base), tip

    def _sign(
        self, signer: LocalSigner, request: TxRequest, nonce: int, gas: int, max_fee: int, tip: int, *, legacy: bool
    ) -> SignedTx:
        # The signed transaction (EIP-1559, or a gas price of ``max_fee`` when ``legacy``).
        assert self._chain_id is not None
        tx: dict[str, Any] = {
            "chainId": self._chain_id,
            "nonce": nonce,
            "to": request.to,
            "data": request.data,
            "value": request.value,
            "gas": gas,
        }
        if legacy:
            tx["gasPrice"] = max_fee
            tip = max_fee
        else:
            tx.update({"type": 2, "maxFeePerGas": max_fee, "maxPriorityFeePerGas": tip})
        raw, tx_hash = signer.sign(tx)
        return SignedTx(request, self._chain_id, signer.address, nonce, gas, max_fee, tip, tx_hash, raw)

    async def fees(self) -> tuple[int | None, int]:
        """The market's fees now: the latest block's base fee (None on a chain without EIP-1559)
        and the node's priority fee (``eth_maxPriorityFeePerGas``, 1 gwei where the node lacks it;
        the gas price without EIP-1559)."""
        return await self._run("fees", self._market_fees)

    async def sign(
        self, request: TxRequest, nonce: int, gas: int, max_fee: int, tip: int, *, legacy: bool = False
    ) -> SignedTx:
        """Sign ``request`` at ``nonce`` with this gas limit and these fees, estimating nothing: a
        replacement of a transaction journaled at that nonce (``legacy``: a gas price of
        ``max_fee``).

        Raises
        ------
        VenuePermanentError
            No signer.
        """
        signer = self._signer()

        def build() -> SignedTx:
            self._chain()
            return self._sign(signer, request, nonce, gas, max_fee, tip, legacy=legacy)

        return await self._run(f"sign {request.call} at nonce {nonce}", build)

    async def broadcast(self, raw: str, tx_hash: str) -> str:
        """``eth_sendRawTransaction``; the hash.  A node that already holds it is success."""

        def send() -> str:
            try:
                return "0x" + bytes(self.w3.eth.send_raw_transaction(raw)).hex()
            except Exception as exc:
                if any(k in str(exc).lower() for k in _ALREADY_KNOWN):
                    return tx_hash
                raise

        return await self._run(f"send {tx_hash}", send)

    async def status(self, tx_hash: str) -> TxStatus:
        """Mined (receipt), pending (the node holds it) or unknown."""

        def look() -> TxStatus:
            try:
                r = self.w3.eth.get_transaction_receipt(tx_hash)
                return TxStatus("mined", int(r["status"]) == 1, int(r["blockNumber"]), int(r["gasUsed"]))
            except Exception as exc:
                if type(exc).__name__ != "TransactionNotFound":
                    raise
            try:
                self.w3.eth.get_transaction(tx_hash)
                return TxStatus("pending")
            except Exception as exc:
                if type(exc).__name__ != "TransactionNotFound":
                    raise
            return TxStatus("unknown")

        return await self._run(f"look up {tx_hash}", look)

    async def wait(self, tx_hash: str, seconds: float, poll_s: float = 0.25) -> TxStatus:
        """:meth:`status` until mined or ``seconds`` passed (the last status)."""
        deadline = time.monotonic() + seconds
        while True:
            st = await self.status(tx_hash)
            if st.state == "mined" or time.monotonic() >= deadline:
                return st
            await asyncio.sleep(poll_s)

    async def confirmed_nonce(self, address: str) -> int:
        """The number of ``address``'s transactions mined (its next nonce at the latest block)."""
        return await self._run(f"nonce of {address}", lambda: int(self.w3.eth.get_transaction_count(address, "latest")))


def _asset(read: LendingRead, symbol: str) -> str:
    found = read.assets.get(symbol)
    if found is None:
        raise InputError(f"symbol must be one of the position's tokens {sorted(read.assets)}, was {symbol!r}")
    return found


def legs(read: LendingRead) -> list[VenuePosition]:
    """The loan's legs as positions (see the module docstring): collateral > 0, debt < 0, tokens."""
    ts = read.read_ns
    out: list[VenuePosition] = []
    if isinstance(read, AaveRead):
        for r in read.reserves:
            price = r.price / AAVE_BASE_CURRENCY_UNIT
            unit = float(10**r.decimals)
            if r.collateral and r.use_as_collateral is not False:
                out.append(VenuePosition(r.symbol, r.collateral / unit, price, price, timestamp_ns=ts))
            if r.debt:
                out.append(VenuePosition(r.symbol, -r.debt / unit, price, price, timestamp_ns=ts))
        return out
    price = _morpho_price(read)
    if read.position.collateral:
        c = read.position.collateral / float(10**read.collateral_decimals)
        out.append(VenuePosition(read.collateral_symbol, c, price, price, timestamp_ns=ts))
    borrowed = _morpho_borrowed(read)
    if borrowed:
        out.append(
            VenuePosition(read.loan_symbol, -borrowed / float(10**read.loan_decimals), 1.0, 1.0, timestamp_ns=ts)
        )
    return out


def _morpho_price(read: MorphoRead) -> float:
    # Loan tokens per collateral token: price / 1e36 * 10**(coll_dec - loan_dec).
    return read.oracle_price * 10.0 ** (read.collateral_decimals - read.loan_decimals) / ORACLE_PRICE_SCALE


def _morpho_borrowed(read: MorphoRead) -> int:
    # What the wallet owes: toAssetsUp(borrowShares) on the accrued totals (Morpho's own rounding).
    m = read.market
    return to_assets_up(read.position.borrow_shares, m.total_borrow_assets, m.total_borrow_shares)


def net_value(read: LendingRead) -> tuple[float, str]:
    """Collateral minus debt at the oracle: ``(value, unit)`` (USD for Aave, the loan token for Morpho)."""
    if isinstance(read, AaveRead):
        return (read.chain_total_collateral_base - read.chain_total_debt_base) / AAVE_BASE_CURRENCY_UNIT, "USD"
    c = read.position.collateral / float(10**read.collateral_decimals) * _morpho_price(read)
    return c - _morpho_borrowed(read) / float(10**read.loan_decimals), read.loan_symbol
