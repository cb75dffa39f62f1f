"""Reading Aave v3 and Morpho Blue positions from a chain into levguard's contract-unit records.

Blocking functions over a web3.py ``Web3`` (run off the event loop by
:class:`levguard.venues.onchain.OnchainVenue`); every call of one read is pinned to one block,
so the position, the prices and the protocol's own health factor are one consistent state.

* :func:`read_aave`: ``Pool.getUserAccountData`` (the chain's health factor, for the cross-check),
  ``Pool.getReservesList``, ``getUserConfiguration`` (which reserves the user borrows or uses as
  collateral), ``getReserveData`` per reserve (configuration bitmap, token addresses, isolation
  debt), the aToken and debt-token balances, ``AaveOracle.getAssetPrice`` and, where the asset's
  source answers it, the source's ``latestRoundData`` checked against the feed's heartbeat
  (:func:`levguard.core.defi.price_feeds.check_round`), e-mode (``getUserEMode``; 3.0 / 3.1
  ``getEModeCategoryData``; 3.2+ ``getEModeCategoryCollateralConfig`` and the category's
  collateral, borrowable and, 3.6, ltvzero bitmaps; 3.0 / 3.1 the category's price source's feed,
  checked as the assets' are), the room under a collateral's supply cap.  The rows are
  :class:`~levguard.core.defi.aave.AaveReserve` for levguard's exact engine.  When
  ``getUserAccountData`` reverts but the Pool answers, :class:`AaveOracleRevertError` names the
  assets the AaveOracle cannot price.
* :func:`read_morpho`: ``Morpho.idToMarketParams``, ``market``, ``position``, the oracle's
  ``price()`` and the IRM's ``borrowRateView``; interest is accrued to the block with
  :func:`levguard.core.defi.morpho.accrue_interest` (what ``Morpho._accrueInterest`` does before
  any liquidation), so the market is the one a liquidator would face.
* Both read the paying wallet's balances and allowances of the position's tokens (what the
  guardian can repay or supply from).

Units are the contracts' (token base units, Aave base currency with 8 decimals, bps, wad, the
Morpho oracle's 1e36 scale); addresses are checksummed strings.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from levguard.core.defi.aave import AAVE_VERSIONS, AaveReserve, EModeCategory
from levguard.core.defi.aave_caps import debt_interest_bound, supply_cap_room
from levguard.core.defi.morpho import Market, Position, accrue_interest
from levguard.core.defi.price_feeds import FeedCheck, RoundData, check_round
from levguard.core.records import JsonRecord
from levguard.errors import InputError, VenuePermanentError
from levguard.venues import onchain_abi as abi

__all__ = [
    "AaveOracleRevertError",
    "AaveRead",
    "LendingRead",
    "MorphoRead",
    "OracleAnswer",
    "Rpc",
    "decode_reserve_configuration",
    "read_aave",
    "read_morpho",
]

ZERO_ADDRESS: Final = "0x" + "00" * 20
_PRICE_SOURCE_VERSIONS: Final = ("3.0", "3.1")  # e-mode by getEModeCategoryData and a price source


@dataclass(frozen=True, slots=True)
class OracleAnswer(JsonRecord):
    """The price a protocol reads for one asset, and the feed behind it when it can be seen.

    Attributes
    ----------
    symbol, asset : str
        The token and its address.
    price : int
        What the protocol uses: Aave ``AaveOracle.getAssetPrice`` (base currency, 8 decimals);
        Morpho the market oracle's ``price()`` (1e36-scaled loan units per collateral unit).
    source : str
        The price source's address (Aave ``getSourceOfAsset``; Morpho the market's oracle).
    round : RoundData or None
        The source's ``latestRoundData()`` and ``decimals()`` when it answers them (a
        Chainlink-style aggregator); None otherwise (see ``note``).
    check : FeedCheck or None
        :func:`~levguard.core.defi.price_feeds.check_round` of ``round`` at the block's time
        against ``heartbeat``: stale, non-positive or incomplete answers show here even though
        the protocol itself reads them without a check.
    heartbeat : int
        The feed's heartbeat used for the check (seconds).
    note : str
        Why there is no round data ("" when there is).
    emode_category : int
        Aave 3.0 / 3.1: the user's e-mode category whose price source this is (``symbol`` and
        ``asset`` are the price source's; ``price`` replaces the price of every reserve of the
        category in ``GenericLogic``); 0 for an asset's own price.
    """

    symbol: str
    asset: str
    price: int
    source: str
    round: RoundData | None
    check: FeedCheck | None
    heartbeat: int
    note: str = ""
    emode_category: int = 0


@dataclass(frozen=True, slots=True)
class AaveRead(JsonRecord):
    """An Aave v3 account at one block (:func:`read_aave`).

    Attributes
    ----------
    wallet, payer, pool, oracle : str
        The watched address, the address that would pay for a repayment or supply (the signer),
        the Pool and the AaveOracle.
    block_number, block_timestamp : int
        The block every value was read at (timestamp in Unix seconds).
    read_ns : int
        When the read finished (UTC ns).
    version : str
        The Aave version the engine mirrors (one of :data:`levguard.core.defi.aave.AAVE_VERSIONS`).
    reserves : tuple of AaveReserve
        The reserves the wallet borrows or uses as collateral, as levguard's engine takes them.
    emode : EModeCategory or None
        The user's e-mode category (``emode_id`` 0: none).
    chain_health_factor, chain_total_collateral_base, chain_total_debt_base : int
        ``Pool.getUserAccountData(wallet)`` at the block: what the protocol itself computes.
    assets : mapping
        Symbol -> underlying token address of each reserve in ``reserves``.
    oracles : tuple of OracleAnswer
        One per reserve, and one for the e-mode category's price source (3.0 / 3.1) when it has one.
    balances, allowances : mapping
        The payer's balance of each reserve's underlying, and its allowance to the Pool.
    paused : tuple of str
        Reserves paused or inactive: no repay, supply or withdrawal goes through
        (``ValidationLogic.validateRepay`` / ``validateSupply`` / ``validateWithdraw``).
    frozen : tuple of str
        Reserves frozen: no supply goes through (``validateSupply`` requires ``!isFrozen``);
        repaying and withdrawing still do.
    supply_room : mapping
        Symbol -> the base units a supply of that collateral may still add under the reserve's
        supply cap (:func:`levguard.core.defi.aave_caps.supply_cap_room`, a lower bound; 0: at the
        cap, ``validateSupply`` refuses with ``SUPPLY_CAP_EXCEEDED``); a reserve not listed has
        no cap.
    """

    wallet: str
    payer: str
    pool: str
    oracle: str
    block_number: int
    block_timestamp: int
    read_ns: int
    version: str
    reserves: tuple[AaveReserve, ...]
    emode: EModeCategory | None
    emode_id: int
    chain_health_factor: int
    chain_total_collateral_base: int
    chain_total_debt_base: int
    assets: Mapping[str, str]
    oracles: tuple[OracleAnswer, ...]
    balances: Mapping[str, int]
    allowances: Mapping[str, int]
    paused: tuple[str, ...] = ()
    frozen: tuple[str, ...] = ()
    supply_room: Mapping[str, int] = field(default_factory=dict)

    @property
    def protocol(self) -> str:
        """``"aave-v3"``."""
        return "aave-v3"

    @property
    def spender(self) -> str:
        """The contract that pulls the tokens of a repayment or supply (the Pool)."""
        return self.pool


@dataclass(frozen=True, slots=True)
class MorphoRead(JsonRecord):
    """A Morpho Blue borrow position at one block (:func:`read_morpho`).

    Attributes
    ----------
    wallet, payer, morpho : str
        The watched address, the paying address (the signer) and the Morpho contract.
    market_id : str
        The market's id (``0x`` + 64 hex).
    market_params : tuple
        ``(loanToken, collateralToken, oracle, irm, lltv)`` as the contract stores them.
    block_number, block_timestamp, read_ns : int
    market : Market
        The market's totals with interest accrued to the block (as the next liquidation sees them).
    market_stored : Market
        The totals as stored at ``last_update``.
    last_update, fee : int
        The market's last update (Unix seconds) and fee (wad).
    position : Position
        The wallet's borrow shares and collateral.
    supply_shares : int
    oracle_price : int
        The oracle's ``price()``: loan units per collateral unit, times 1e36.
    lltv : int
        Wad.
    loan_symbol, collateral_symbol : str
    loan_decimals, collateral_decimals : int
    oracles : tuple of OracleAnswer
        The collateral's price (no round data: Morpho oracles expose ``price()`` only).
    balances, allowances : mapping
        The payer's balances of the loan and collateral tokens and its allowances to Morpho.
    """

    wallet: str
    payer: str
    morpho: str
    market_id: str
    market_params: tuple[str, str, str, str, int]
    block_number: int
    block_timestamp: int
    read_ns: int
    market: Market
    market_stored: Market
    last_update: int
    fee: int
    position: Position
    supply_shares: int
    oracle_price: int
    lltv: int
    loan_symbol: str
    collateral_symbol: str
    loan_decimals: int
    collateral_decimals: int
    oracles: tuple[OracleAnswer, ...]
    balances: Mapping[str, int]
    allowances: Mapping[str, int]
    assets: Mapping[str, str] = field(default_factory=dict)

    @property
    def protocol(self) -> str:
        """``"morpho-blue"``."""
        return "morpho-blue"

    @property
    def spender(self) -> str:
        """The contract that pulls the tokens of a repayment or supply (Morpho)."""
        return self.morpho


LendingRead = AaveRead | MorphoRead
"""Either read."""


# --- the reserve configuration bitmap -------------------------------------------------------------


def decode_reserve_configuration(data: int) -> dict[str, int | bool]:
    """Decode Aave v3's ``ReserveConfigurationMap.data``.

    Returns ``ltv, lt, bonus, decimals`` (ints), ``active, frozen, paused,
    borrowable_in_isolation, siloed`` (bools), ``reserve_factor``, ``borrow_cap``, ``supply_cap``,
    ``protocol_fee``, ``emode``, ``debt_ceiling`` (ints).

    Notes
    -----
    Bit positions of aave-v3-core ``contracts/protocol/libraries/configuration/
    ReserveConfiguration.sol`` (unchanged in aave-v3-origin to 3.3 for these fields): LTV 0-15,
    liquidation threshold 16-31, liquidation bonus 32-47, decimals 48-55, active 56, frozen 57,
    paused 60, borrowable in isolation 61, siloed borrowing 62, reserve factor 64-79, borrow cap
    80-115 and supply cap 116-151 (whole tokens, 0: none), liquidation protocol fee 152-167,
    e-mode category 168-175 (3.0 / 3.1), debt ceiling 212-251 (0.01 base currency units).
    """

    def bits(lo: int, n: int) -> int:
        return (data >> lo) & ((1 << n) - 1)

    return {
        "ltv": bits(0, 16),
        "lt": bits(16, 16),
        "bonus": bits(32, 16),
        "decimals": bits(48, 8),
        "active": bool(bits(56, 1)),
        "frozen": bool(bits(57, 1)),
        "paused": bool(bits(60, 1)),
        "borrowable_in_isolation": bool(bits(61, 1)),
        "siloed": bool(bits(62, 1)),
        "reserve_factor": bits(64, 16),
        "borrow_cap": bits(80, 36),
        "supply_cap": bits(116, 36),
        "protocol_fee": bits(152, 16),
        "emode": bits(168, 8),
        "debt_ceiling": bits(212, 40),
    }


# --- plumbing -------------------------------------------------------------------------------------


class Rpc:
    """Blocking contract calls over one ``Web3`` instance, pinned to a block; caches contract
    objects and the token metadata that never changes (symbol, decimals)."""

    def __init__(self, w3: Any) -> None:
        self.w3 = w3
        self._contracts: dict[tuple[str, int], Any] = {}
        self._symbols: dict[str, str] = {}
        self._decimals: dict[str, int] = {}

    def contract(self, address: str, interface: list[dict[str, Any]]) -> Any:
        """The web3 contract at ``address`` with the ABI fragments ``interface``."""
        key = (address, id(interface))
        found = self._contracts.get(key)
        if found is None:
            found = self._contracts[key] = self.w3.eth.contract(address=self.checksum(address), abi=interface)
        return found

    def checksum(self, address: str) -> str:
        """``address`` checksummed; InputError when it is no address."""
        try:
            return str(self.w3.to_checksum_address(address))
        except (ValueError, TypeError):
            raise InputError(f"address must be a 20-byte hex address, was {address!r:.60}") from None

    def call(self, address: str, interface: list[dict[str, Any]], name: str, *args: Any, block: int) -> Any:
        """``name(*args)`` on ``address`` at ``block`` (the decoded output)."""
        return self.contract(address, interface).functions[name](*args).call(block_identifier=block)

    def try_call(
        self, address: str, interface: list[dict[str, Any]], name: str, *args: Any, block: int
    ) -> tuple[Any, str]:
        """``(output, "")``, or ``(None, why)`` when the call reverts or returns nothing decodable
        (a contract without that function); network failures propagate."""
        try:
            return self.call(address, interface, name, *args, block=block), ""
        except Exception as exc:
            if is_revert(exc):
                return None, f"{name}() not answered ({type(exc).__name__})"
            raise

    def block(self) -> tuple[int, int]:
        """``(number, timestamp)`` of the latest block."""
        b = self.w3.eth.get_block("latest")
        return int(b["number"]), int(b["timestamp"])

    def symbol(self, token: str, block: int) -> str:
        """The token's ``symbol()`` (cached); the short address when it has none (or a bytes32 one)."""
        if token not in self._symbols:
            out, _ = self.try_call(token, abi.ERC20, "symbol", block=block)
            self._symbols[token] = str(out) if isinstance(out, str) and out.isprintable() and out else token[:10]
        return self._symbols[token]

    def decimals(self, token: str, block: int) -> int:
        """The token's ``decimals()`` (cached); VenuePermanentError when it has none."""
        if token not in self._decimals:
            out, why = self.try_call(token, abi.ERC20, "decimals", block=block)
            if out is None:
                raise VenuePermanentError(f"token {token} has no decimals(): {why}")
            self._decimals[token] = int(out)
        return self._decimals[token]


def is_revert(exc: BaseException) -> bool:
    """Whether ``exc`` is a contract call that reverted or returned nothing decodable (as opposed
    to a failure of the node or the network)."""
    names = {c.__name__ for c in type(exc).__mro__}
    if names & {"ContractLogicError", "BadFunctionCallOutput", "TransactionFailed", "InsufficientDataBytes"}:
        return True
    return "execution reverted" in str(exc).lower()


def _unique(symbol: str, address: str, seen: Mapping[str, str]) -> str:
    # Symbols key the rows; two tokens with one symbol get the address appended.
    return symbol if symbol not in seen else f"{symbol}-{address[2:8]}"


def _oracle_answer(
    rpc: Rpc,
    symbol: str,
    asset: str,
    price: int,
    source: str,
    heartbeat: int,
    block: int,
    block_ts: int,
    emode: int = 0,
) -> OracleAnswer:
    # The source's latestRoundData and decimals when it is a Chainlink-style aggregator.
    def answer(rd: RoundData | None, check: FeedCheck | None, note: str) -> OracleAnswer:
        return OracleAnswer(symbol, asset, price, source, rd, check, heartbeat, note, emode)

    if source == ZERO_ADDRESS:
        return answer(None, None, "no price source (fallback oracle)")
    values, why = rpc.try_call(source, abi.AGGREGATOR, "latestRoundData", block=block)
    if values is None:
        return answer(None, None, why)
    decimals, why = rpc.try_call(source, abi.AGGREGATOR, "decimals", block=block)
    try:
        rd = RoundData.from_tuple(values, int(decimals) if decimals is not None else 8)
        check = check_round(rd, block_ts, heartbeat)
    except InputError as exc:  # a malformed answer, or updatedAt after the block
        return answer(None, None, f"latestRoundData unusable: {exc}")
    return answer(rd, check, "" if decimals is not None else why)


# --- Aave v3 --------------------------------------------------------------------------------------


def read_aave(
    rpc: Rpc,
    pool: str,
    wallet: str,
    payer: str,
    *,
    version: str = "3.0",
    heartbeats: Mapping[str, int] | None = None,
    default_heartbeat: int = 86_400,
    keep: tuple[str, ...] = (),
) -> AaveRead:
    """Read ``wallet``'s Aave v3 account from ``pool`` at the latest block (module docstring).

    Parameters
    ----------
    rpc : Rpc
    pool : str
        The Pool's address (the proxy).
    wallet, payer : str
        The watched account and the one paying for repayments and supplies.
    version : str
        The Aave version evaluated as (:data:`levguard.core.defi.aave.AAVE_VERSIONS`; v3.4 reads as ``"3.3"``).
    heartbeats : mapping, optional
        Heartbeat (seconds) per symbol of the price feeds, for the staleness check.
    default_heartbeat : int
        For the symbols not in ``heartbeats``.
    keep : tuple of str
        Reserves (token addresses) read also when unused (an unwind's collateral withdrawn in full).

    Raises
    ------
    AaveOracleRevertError
        ``getUserAccountData`` reverts because the AaveOracle cannot price an asset of the account
        (a feed answering <= 0 without a fallback oracle): the assets, their feeds and why.
    VenuePermanentError
        The pool does not answer (wrong address), or the user's e-mode category cannot be read
        with the getters of ``version``.

    Notes
    -----
    E-mode from 3.2 (aave-dao/aave-v3-origin ``src/contracts/protocol/pool/Pool.sol``):
    ``getEModeCategoryCollateralConfig(id)`` gives the category's LTV, threshold and bonus;
    bit ``reserve.id`` of ``getEModeCategoryCollateralBitmap(id)`` marks a reserve the category
    counts as collateral (``in_emode``), of ``getEModeCategoryBorrowableBitmap(id)`` one it lends
    (``emode_borrowable``) and, 3.6, of ``getEModeCategoryLtvzeroBitmap(id)`` one whose LTV is 0
    in the category (``emode_ltvzero``; a pool without the getter has no such bitmap).  Balances
    are ``balanceOf`` (already in the pool's rounding), so the rows carry no indexes.
    """
    if version not in AAVE_VERSIONS:
        raise InputError(f"version must be one of {list(AAVE_VERSIONS)}, was {version!r}")
    beats = dict(heartbeats or {})
    pool, wallet, payer = rpc.checksum(pool), rpc.checksum(wallet), rpc.checksum(payer)
    n, ts = rpc.block()
    try:
        account = rpc.call(pool, abi.AAVE_POOL, "getUserAccountData", wallet, block=n)
    except Exception as exc:
        if is_revert(exc):
            raise _account_reverted(rpc, pool, wallet, version, beats, default_heartbeat, n, ts, exc) from None
        raise
    try:
        reserves_list, user_config, emode_id, oracle = _pool_basics(rpc, pool, wallet, n)
    except Exception as exc:
        if is_revert(exc):
            raise VenuePermanentError(f"{pool} does not answer as an Aave v3 Pool: {exc}") from None
        raise
    emode, bitmaps, price_source = _read_emode(rpc, pool, oracle, wallet, emode_id, version, n)
    rows: list[AaveReserve] = []
    assets: dict[str, str] = {}
    oracles: list[OracleAnswer] = []
    balances: dict[str, int] = {}
    allowances: dict[str, int] = {}
    paused: list[str] = []
    frozen: list[str] = []
    room: dict[str, int] = {}
    for asset in reserves_list:
        data = rpc.call(pool, abi.AAVE_POOL, "getReserveData", asset, block=n)
        rid = int(data[7])
        borrowing, collateral_on = bool(user_config >> (2 * rid) & 1), bool(user_config >> (2 * rid + 1) & 1)
        if not (borrowing or collateral_on or str(asset).lower() in {k.lower() for k in keep}):
            continue
        cfg = decode_reserve_configuration(int(data[0][0]))
        a_token, stable_token, variable_token = data[8], data[9], data[10]
        symbol = _unique(rpc.symbol(asset, n), asset, assets)
        collateral = int(rpc.call(a_token, abi.ERC20, "balanceOf", wallet, block=n))
        debt = int(rpc.call(variable_token, abi.ERC20, "balanceOf", wallet, block=n))
        if stable_token != ZERO_ADDRESS:  # 3.0 / 3.1 stable-rate debt counts in the health factor
            debt += int(rpc.call(stable_token, abi.ERC20, "balanceOf", wallet, block=n))
        price = int(rpc.call(oracle, abi.AAVE_ORACLE, "getAssetPrice", asset, block=n))
        source = rpc.call(oracle, abi.AAVE_ORACLE, "getSourceOfAsset", asset, block=n)
        beat = int(beats.get(symbol, default_heartbeat))
        in_emode, borrowable = False, None  # 3.0 / 3.1: the reserve's category; 3.2+: the bitmaps
        if emode_id and version in _PRICE_SOURCE_VERSIONS:
            in_emode = int(cfg["emode"]) == emode_id
        elif emode_id:
            in_emode, borrowable = bool(bitmaps[0] >> rid & 1), bool(bitmaps[1] >> rid & 1)
        oracles.append(_oracle_answer(rpc, symbol, asset, price, source, beat, n, ts))
        rows.append(
            AaveReserve(
                symbol=symbol,
                price=price,
                decimals=int(cfg["decimals"]),
                ltv=int(cfg["ltv"]),
                lt=int(cfg["lt"]),
                collateral=collateral,
                debt=debt,
                in_emode=in_emode,
                emode_borrowable=borrowable,
                emode_ltvzero=bool(emode_id) and bool(bitmaps[2] >> rid & 1),
                liquidation_bonus=int(cfg["bonus"]),
                liquidation_protocol_fee=int(cfg["protocol_fee"]),
                use_as_collateral=collateral_on,
                debt_ceiling=int(cfg["debt_ceiling"]),
                isolation_mode_total_debt=int(data[14]),
                borrowable_in_isolation=bool(cfg["borrowable_in_isolation"]),
                siloed_borrowing=bool(cfg["siloed"]),
            )
        )
        assets[symbol] = str(asset)
        balances[symbol] = int(rpc.call(asset, abi.ERC20, "balanceOf", payer, block=n))
        allowances[symbol] = int(rpc.call(asset, abi.ERC20, "allowance", payer, pool, block=n))
        if cfg["paused"] or not cfg["active"]:
            paused.append(symbol)
        if cfg["frozen"]:
            frozen.append(symbol)
        left = _supply_room(rpc, pool, asset, data, cfg, n) if collateral_on else None
        if left is not None:
            room[symbol] = left
    if emode is not None and price_source != ZERO_ADDRESS:  # 3.0 / 3.1: the category's price feed
        symbol = rpc.symbol(price_source, n)
        feed, _ = rpc.try_call(oracle, abi.AAVE_ORACLE, "getSourceOfAsset", price_source, block=n)
        beat = int(beats.get(symbol, default_heartbeat))
        feed = str(feed or ZERO_ADDRESS)
        oracles.append(_oracle_answer(rpc, symbol, price_source, emode.price, feed, beat, n, ts, emode_id))
    return AaveRead(
        wallet=wallet,
        payer=payer,
        pool=pool,
        oracle=str(oracle),
        block_number=n,
        block_timestamp=ts,
        read_ns=time.time_ns(),
        version=version,
        reserves=tuple(rows),
        emode=emode,
        emode_id=emode_id,
        chain_health_factor=int(account[5]),
        chain_total_collateral_base=int(account[0]),
        chain_total_debt_base=int(account[1]),
        assets=assets,
        oracles=tuple(oracles),
        balances=balances,
        allowances=allowances,
        paused=tuple(paused),
        frozen=tuple(frozen),
        supply_room=room,
    )


def _read_emode(
    rpc: Rpc, pool: str, oracle: str, wallet: str, emode_id: int, version: str, block: int
) -> tuple[EModeCategory | None, tuple[int, int, int], str]:
    # The user's category, 3.2+ its (collateral, borrowable, ltvzero) bitmaps (Notes of read_aave),
    # 3.0 / 3.1 its price source (the zero address: none).
    if not emode_id:
        return None, (0, 0, 0), ZERO_ADDRESS
    try:
        if version in _PRICE_SOURCE_VERSIONS:
            ltv, lt, bonus, source, _label = rpc.call(
                pool, abi.AAVE_POOL, "getEModeCategoryData", emode_id, block=block
            )
            price = 0
            if source != ZERO_ADDRESS:
                price = int(rpc.call(oracle, abi.AAVE_ORACLE, "getAssetPrice", source, block=block))
            return EModeCategory(int(ltv), int(lt), int(bonus), price), (0, 0, 0), str(source)
        ltv, lt, bonus = rpc.call(pool, abi.AAVE_POOL, "getEModeCategoryCollateralConfig", emode_id, block=block)
        collateral = int(rpc.call(pool, abi.AAVE_POOL, "getEModeCategoryCollateralBitmap", emode_id, block=block))
        borrowable = int(rpc.call(pool, abi.AAVE_POOL, "getEModeCategoryBorrowableBitmap", emode_id, block=block))
    except Exception as exc:
        if is_revert(exc):
            raise VenuePermanentError(
                f"{wallet} is in e-mode category {emode_id}, which {pool} does not answer as Aave {version}: {exc}"
            ) from None
        raise
    ltvzero, _ = rpc.try_call(pool, abi.AAVE_POOL, "getEModeCategoryLtvzeroBitmap", emode_id, block=block)
    try:
        category = EModeCategory(int(ltv), int(lt), int(bonus))
    except InputError as exc:  # a category the configurator never set (lt 0)
        raise VenuePermanentError(
            f"{wallet} is in e-mode category {emode_id}, which is not configured: {exc}"
        ) from None
    return category, (collateral, borrowable, int(ltvzero or 0)), ZERO_ADDRESS


def _supply_room(rpc: Rpc, pool: str, asset: str, data: Any, cfg: Mapping[str, Any], block: int) -> int | None:
    # The room under the reserve's supply cap (None: no cap): the aToken's scaled supply, the stored
    # accruedToTreasury, the liquidity index at the block and the debt interest since the
    # reserve's last update (levguard.core.defi.aave_caps).
    if not cfg["supply_cap"]:
        return None
    a_token, stable, variable = data[8], data[9], data[10]
    scaled = int(rpc.call(a_token, abi.AAVE_TOKEN, "scaledTotalSupply", block=block))
    index = int(rpc.call(pool, abi.AAVE_POOL, "getReserveNormalizedIncome", asset, block=block))
    v_scaled = int(rpc.call(variable, abi.AAVE_TOKEN, "scaledTotalSupply", block=block))
    v_total = int(rpc.call(variable, abi.AAVE_TOKEN, "totalSupply", block=block))
    principal = total = 0
    if stable != ZERO_ADDRESS:
        stable_data, _ = rpc.try_call(stable, abi.AAVE_TOKEN, "getSupplyData", block=block)
        if stable_data is not None:
            principal, total = int(stable_data[0]), int(stable_data[1])
    interest = debt_interest_bound(v_scaled, int(data[3]), v_total, principal, total)
    cap, decimals, factor = int(cfg["supply_cap"]), int(cfg["decimals"]), int(cfg["reserve_factor"])
    return supply_cap_room(cap, decimals, scaled, int(data[12]), index, interest, factor)


class AaveOracleRevertError(VenuePermanentError):
    """``Pool.getUserAccountData`` reverts because ``AaveOracle.getAssetPrice`` reverts for an
    asset of the account (its feed answers <= 0, or it has no feed, and the fallback oracle is
    missing or reverts): the Pool answers, but no price of that asset exists on-chain.

    Attributes
    ----------
    answers : tuple of OracleAnswer
        One per asset (or 3.0 / 3.1 e-mode price source) the AaveOracle cannot price (``price``
        0), with its feed's round and check where it has them.
    reasons : tuple of str
        Per answer, why ``getAssetPrice`` reverts.
    block_number : int
    """

    def __init__(self, message: str, answers: tuple[OracleAnswer, ...], reasons: tuple[str, ...], block: int):
        super().__init__(message)
        self.answers, self.reasons, self.block_number = answers, reasons, block


def _pool_basics(rpc: Rpc, pool: str, wallet: str, block: int) -> tuple[list[str], int, int, str]:
    # The Pool's reserves, the wallet's configuration bitmap and e-mode, and the AaveOracle: the
    # reads both the account read and the revert probe start from (a revert propagates).
    reserves_list = rpc.call(pool, abi.AAVE_POOL, "getReservesList", block=block)
    (user_config,) = rpc.call(pool, abi.AAVE_POOL, "getUserConfiguration", wallet, block=block)
    emode_id = int(rpc.call(pool, abi.AAVE_POOL, "getUserEMode", wallet, block=block))
    provider = rpc.call(pool, abi.AAVE_POOL, "ADDRESSES_PROVIDER", block=block)
    oracle = rpc.call(provider, abi.AAVE_PROVIDER, "getPriceOracle", block=block)
    return list(reserves_list), int(user_config), emode_id, str(oracle)


def _account_reverted(
    rpc: Rpc,
    pool: str,
    wallet: str,
    version: str,
    beats: Mapping[str, int],
    default_heartbeat: int,
    block: int,
    block_ts: int,
    exc: Exception,
) -> VenuePermanentError:
    # getUserAccountData reverted: a Pool whose other getters answer, probed for the assets of the
    # account (and the 3.0 / 3.1 e-mode price source) the AaveOracle cannot price.
    try:
        reserves_list, user_config, emode_id, oracle = _pool_basics(rpc, pool, wallet, block)
        touched: list[tuple[str, int]] = []
        for asset in reserves_list:
            rid = int(rpc.call(pool, abi.AAVE_POOL, "getReserveData", asset, block=block)[7])
            if user_config >> (2 * rid) & 3:
                touched.append((str(asset), 0))
    except Exception as again:
        if is_revert(again):
            return VenuePermanentError(f"{pool} does not answer as an Aave v3 Pool: {exc}")
        raise
    if emode_id and version in _PRICE_SOURCE_VERSIONS:
        category, _ = rpc.try_call(pool, abi.AAVE_POOL, "getEModeCategoryData", emode_id, block=block)
        if category is not None and category[3] != ZERO_ADDRESS:
            touched.append((str(category[3]), emode_id))
    fallback, _ = rpc.try_call(oracle, abi.AAVE_ORACLE, "getFallbackOracle", block=block)
    no_fallback = (
        "there is no fallback oracle" if fallback in (None, ZERO_ADDRESS) else f"its fallback oracle {fallback} reverts"
    )
    answers: list[OracleAnswer] = []
    reasons: list[str] = []
    for asset, emode in touched:
        price, _ = rpc.try_call(oracle, abi.AAVE_ORACLE, "getAssetPrice", asset, block=block)
        if price is not None:
            continue
        symbol = rpc.symbol(asset, block)
        source, _ = rpc.try_call(oracle, abi.AAVE_ORACLE, "getSourceOfAsset", asset, block=block)
        source = str(source or ZERO_ADDRESS)
        beat = int(beats.get(symbol, default_heartbeat))
        answers.append(_oracle_answer(rpc, symbol, asset, 0, source, beat, block, block_ts, emode))
        latest, why = (
            (None, "") if source == ZERO_ADDRESS else rpc.try_call(source, abi.AGGREGATOR, "latestAnswer", block=block)
        )
        feed = (
            "it has no price source" if source == ZERO_ADDRESS
            else f"its feed {source} answers {latest} (<= 0)" if latest is not None and int(latest) <= 0
            else f"its feed {source} answers {latest}" if latest is not None
            else f"its feed {source}: {why}"
        )  # fmt: skip
        what = f"e-mode category {emode} price source {symbol}" if emode else symbol
        reasons.append(f"{what}: AaveOracle.getAssetPrice reverts: {feed} and {no_fallback}")
    if not answers:
        return VenuePermanentError(f"{pool} answers as an Aave v3 Pool but getUserAccountData({wallet}) reverts: {exc}")
    message = (
        f"{'; '.join(reasons)}: getUserAccountData, liquidations, borrows and withdrawals revert on-chain "
        "while it lasts (repayments and supplies still go through)"
    )
    return AaveOracleRevertError(message, tuple(answers), tuple(reasons), block)


# --- Morpho Blue ----------------------------------------------------------------------------------


def market_id_bytes(market_id: str) -> bytes:
    """The 32 bytes of a Morpho market id given as ``0x`` + 64 hex; InputError otherwise."""
    text = market_id[2:] if isinstance(market_id, str) and market_id.startswith("0x") else None
    try:
        raw = bytes.fromhex(text) if text is not None else b""
    except ValueError:
        raw = b""
    if len(raw) != 32:
        raise InputError(f"market_id must be 0x followed by 64 hex digits, was {market_id!r:.80}")
    return raw


def read_morpho(rpc: Rpc, morpho: str, market_id: str, wallet: str, payer: str) -> MorphoRead:
    """Read ``wallet``'s position in Morpho market ``market_id`` at the latest block.

    Raises
    ------
    VenuePermanentError
        Morpho does not answer, or the market does not exist (``idToMarketParams`` is empty).

    Notes
    -----
    Interest to the block: ``Morpho._accrueInterest`` (morpho-blue ``src/Morpho.sol``) with the
    IRM's ``borrowRateView`` on the stored totals over ``block.timestamp - lastUpdate`` seconds,
    through :func:`levguard.core.defi.morpho.accrue_interest`; no accrual when the market has no
    IRM (``address(0)``).
    """
    mid = market_id_bytes(market_id)
    morpho, wallet, payer = rpc.checksum(morpho), rpc.checksum(wallet), rpc.checksum(payer)
    n, ts = rpc.block()
    try:
        params = tuple(rpc.call(morpho, abi.MORPHO, "idToMarketParams", mid, block=n))
        stored = rpc.call(morpho, abi.MORPHO, "market", mid, block=n)
        supply_shares, borrow_shares, collateral = rpc.call(morpho, abi.MORPHO, "position", mid, wallet, block=n)
    except Exception as exc:
        if is_revert(exc):
            raise VenuePermanentError(f"{morpho} does not answer as Morpho Blue: {exc}") from None
        raise
    loan, coll, oracle, irm, lltv = str(params[0]), str(params[1]), str(params[2]), str(params[3]), int(params[4])
    if loan == ZERO_ADDRESS:
        raise VenuePermanentError(f"market {market_id} does not exist on {morpho}")
    totals = Market(*(int(x) for x in stored[:4]))
    last_update, fee = int(stored[4]), int(stored[5])
    market = totals
    elapsed = ts - last_update
    if irm != ZERO_ADDRESS and elapsed > 0:
        rate = int(rpc.call(irm, abi.MORPHO_IRM, "borrowRateView", params, tuple(stored), block=n))
        market = accrue_interest(totals, rate, elapsed, fee).market
    price = int(rpc.call(oracle, abi.MORPHO_ORACLE, "price", block=n))
    loan_symbol, coll_symbol = rpc.symbol(loan, n), rpc.symbol(coll, n)
    if coll_symbol == loan_symbol:
        coll_symbol = f"{coll_symbol}-{coll[2:8]}"
    answer = OracleAnswer(coll_symbol, coll, price, oracle, None, None, 0, "Morpho oracles expose price() only")
    balances = {
        loan_symbol: int(rpc.call(loan, abi.ERC20, "balanceOf", payer, block=n)),
        coll_symbol: int(rpc.call(coll, abi.ERC20, "balanceOf", payer, block=n)),
    }
    allowances = {
        loan_symbol: int(rpc.call(loan, abi.ERC20, "allowance", payer, morpho, block=n)),
        coll_symbol: int(rpc.call(coll, abi.ERC20, "allowance", payer, morpho, block=n)),
    }
    return MorphoRead(
        wallet=wallet,
        payer=payer,
        morpho=morpho,
        market_id="0x" + mid.hex(),
        market_params=(loan, coll, oracle, irm, lltv),
        block_number=n,
        block_timestamp=ts,
        read_ns=time.time_ns(),
        market=market,
        market_stored=totals,
        last_update=last_update,
        fee=fee,
        position=Position(int(borrow_shares), int(collateral)),
        supply_shares=int(supply_shares),
        oracle_price=price,
        lltv=lltv,
        loan_symbol=loan_symbol,
        collateral_symbol=coll_symbol,
        loan_decimals=rpc.decimals(loan, n),
        collateral_decimals=rpc.decimals(coll, n),
        oracles=(answer,),
        balances=balances,
        allowances=allowances,
        assets={loan_symbol: loan, coll_symbol: coll},
    )
