"""The shape every venue rule set fills in: a small, frozen description of its margin model.

A venue's liquidation arithmetic differs from another's in a few switches only, so one
evaluator (:mod:`levguard.core.margin`) serves them all:

* where maintenance margin is valued: at the price being tested (Binance, Hyperliquid, OKX,
  Gate, dYdX, Deribit, generic) or at the entry notional (Bybit, BitMEX);
* whether the taker fee to close is part of the maintenance requirement (OKX, Gate) or of the
  bankruptcy price (Bybit inverse);
* where tiers come from: built-in snapshots, or rates computed from the position (Deribit's
  size-scaled rates, dYdX's liquidity tiers);
* what a liquidation leaves the trader (:class:`LiquidationRule`): taken over at the bankruptcy
  price (the margin goes to the insurance fund) or closed in the book with a fee (the trader
  keeps the rest), with or without partial liquidation and a backstop.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import NamedTuple

import numpy as np

from levguard.core.instruments import ContractKind
from levguard.core.positions import Position
from levguard.core.records import Record, empty_mapping
from levguard.core.symbols import base_asset, named_kind
from levguard.core.symbols import symbol_key as symbol_key  # re-exported: its old home
from levguard.core.tiers import TierTable
from levguard.core.validate import finite_number, flag, instance_of, integer_in, number, show
from levguard.errors import InputError
from levguard.kernels import liquidation as kl
from levguard.typing import Float64Array1D


class MMBasis(StrEnum):
    """Where a venue values maintenance margin when testing a liquidation price."""

    PRICE = "price"
    ENTRY = "entry"


@dataclass(frozen=True, slots=True)
class Rates:
    """Initial and maintenance rates computed from a position (rate-based venues)."""

    imr: float
    mmr: float
    source: str


class OutcomeKinds(NamedTuple):
    """Codes of the liquidation outcome kinds (the kernels' ``RULE_KIND`` values)."""

    TAKEOVER: int
    BOOK: int


class PartialKinds(NamedTuple):
    """Codes of the partial-liquidation kinds (the kernels' ``RULE_PARTIAL`` values)."""

    NONE: int
    SLICE: int
    TIER: int
    RESTORE: int


OUTCOME = OutcomeKinds(TAKEOVER=kl.TAKEOVER, BOOK=kl.BOOK)
"""Outcome kinds: ``TAKEOVER`` (closed at the bankruptcy price, the margin goes to the insurance
fund) and ``BOOK`` (closed in the book at the fill with a fee, the trader keeps the rest)."""
PARTIAL = PartialKinds(NONE=kl.PARTIAL_NONE, SLICE=kl.PARTIAL_SLICE, TIER=kl.PARTIAL_TIER, RESTORE=kl.PARTIAL_RESTORE)
"""Partial-liquidation kinds: none, fixed slices, risk-limit (tier) step-down, incremental restore."""


FEE_CAPS: tuple[str, ...] = ("remainder", "share")
"""What caps a book close's fee (:attr:`LiquidationRule.fee_cap`), in the kernels' order
(``kernels.liquidation.FEE_CAP_REMAINDER``, ``FEE_CAP_SHARE``)."""

STEP_MODES: tuple[str, ...] = ("each_trigger", "once", "until_safe")
"""The tier step-down depths of :attr:`LiquidationRule.step_mode`, in the kernels' order
(``kernels.liquidation.STEP_EACH_TRIGGER``, ``STEP_ONCE``, ``STEP_UNTIL_SAFE``)."""


@dataclass(frozen=True)
class LiquidationRule(Record):
    """What a venue's liquidation leaves the trader, in a form the kernels consume.

    Parameters
    ----------
    kind : {"takeover", "book"}
        ``"takeover"``: the position is closed at its bankruptcy price and the insurance fund
        takes it over, so the trader keeps nothing of the margin behind it.  ``"book"``: it is
        closed in the order book at the fill price with a liquidation fee on the liquidated
        notional (capped at what is left) and the trader keeps the rest.
    fee_rate : float or None
        Liquidation fee rate of book closes and partial slices; None: the account's taker fee
        (a partial reduction is a market order).
    fee_plus_taker : bool
        The liquidation fee is charged on top of the taker fee (Deribit: "an extra fee on top of
        the default transaction fees"): :meth:`resolved_fee` is their sum.
    partial : {"none", "slice", "tier", "restore"}
        Partial liquidation before the full outcome: none; ``fraction`` of positions above
        ``min_notional``; a step-down to a lower tier's cap (from tier index ``step_from``, to
        tier ``step_to`` or one tier down when -1); or incremental closes that restore the
        maintenance margin below the equity.
    fraction, min_notional : float
        The slice rule's fraction (0, 1] and notional threshold (settlement currency).
    backstop : float
        ``"book"`` venues: the position is taken over instead when the equity at the fill is
        below ``backstop`` times the maintenance margin (Hyperliquid 2/3; 0: never).
    step_from, step_to : int
        The tier rule's lowest stepped-down tier index (0-based) and target tier (-1: one down).
    step_mode : {"each_trigger", "once", "until_safe"}
        How far one tier step-down goes: to ``step_to`` and again at the next trigger (OKX);
        one tier, strictly below its limit, and taken over if that does not restore the margin
        (BitMEX); down to the highest lower tier that restores it, in one order, else taken over
        (Bybit, Gate): :func:`levguard.kernels.liquidation.tier_close`.
    partial_cooldown_s : float
        Seconds after a partial liquidation during which liquidations take the whole position
        (Hyperliquid 30 s; the backtester uses the rest of the bar).
    fee_cap : {"remainder", "share"}
        What caps a book close's fee: the equity left (the position's margin plus its PnL
        isolated, the account's equity in cross), or the position's share of the cross
        account's equity by maintenance
        margin, ``TNC x MM_i / TMMR`` (dYdX's bankruptcy quote):
        :func:`levguard.kernels.liquidation.fee_cap`.
    source : str
        The venue documentation the rule follows.
    keeps : str
        One line: what the trader keeps (docs/margin.md's table).
    modelled : str
        What is modelled and what is not (partial liquidation, cross order, fees).

    Notes
    -----
    :meth:`vector` is the kernels' encoding (:mod:`levguard.kernels.liquidation`, ``RULE_*``);
    :func:`levguard.core.liquidation_outcome.liquidation_outcome` evaluates one liquidation.
    """

    kind: str
    fee_rate: float | None = None
    fee_plus_taker: bool = False
    partial: str = "none"
    fraction: float = 1.0
    min_notional: float = 0.0
    backstop: float = 0.0
    step_from: int = 1
    step_to: int = -1
    step_mode: str = "each_trigger"
    partial_cooldown_s: float = 0.0
    fee_cap: str = "remainder"
    source: str = ""
    keeps: str = ""
    modelled: str = ""

    def __post_init__(self) -> None:
        kinds = [f.lower() for f in OUTCOME._fields]
        if self.kind not in kinds:
            raise InputError(f"liquidation kind must be one of {', '.join(kinds)}, was {show(self.kind)}")
        partials = [f.lower() for f in PARTIAL._fields]
        if self.partial not in partials:
            raise InputError(f"liquidation partial must be one of {', '.join(partials)}, was {show(self.partial)}")
        # Numbers stored as float, counts as int: a string fraction, None for min_notional or a
        # string step_from was a TypeError of math.isfinite or of a comparison.
        for name in ("fee_rate", "fraction", "min_notional", "backstop", "partial_cooldown_s"):
            value = getattr(self, name)
            if value is not None or name != "fee_rate":
                object.__setattr__(self, name, number(value, f"liquidation {name}"))
        for name, lo in (("step_from", 0), ("step_to", -1)):
            object.__setattr__(self, name, integer_in(getattr(self, name), f"liquidation {name}", lo, 2**31))
        flag(self.fee_plus_taker, "liquidation fee_plus_taker")
        if self.fee_rate is not None and not (math.isfinite(self.fee_rate) and 0.0 <= self.fee_rate < 0.1):
            raise InputError(f"liquidation fee_rate must be a fraction in [0, 0.1) or None, was {show(self.fee_rate)}")
        if not (math.isfinite(self.fraction) and 0.0 < self.fraction <= 1.0):
            raise InputError(f"liquidation fraction must be in (0, 1], was {show(self.fraction)}")
        if not (math.isfinite(self.min_notional) and self.min_notional >= 0.0):
            raise InputError(f"liquidation min_notional must be finite and >= 0, was {show(self.min_notional)}")
        if not (math.isfinite(self.backstop) and 0.0 <= self.backstop <= 1.0):
            raise InputError(f"liquidation backstop must be in [0, 1], was {show(self.backstop)}")
        if not (math.isfinite(self.partial_cooldown_s) and self.partial_cooldown_s >= 0.0):
            raise InputError(
                f"liquidation partial_cooldown_s must be finite and >= 0, was {show(self.partial_cooldown_s)}"
            )
        if self.step_mode not in STEP_MODES:
            raise InputError(
                f"liquidation step_mode must be one of {', '.join(STEP_MODES)}, was {show(self.step_mode)}"
            )
        if self.fee_cap not in FEE_CAPS:
            raise InputError(f"liquidation fee_cap must be one of {', '.join(FEE_CAPS)}, was {show(self.fee_cap)}")

    @property
    def kind_code(self) -> int:
        """The kernels' code of :attr:`kind` (:data:`OUTCOME`)."""
        return int(OUTCOME[[f.lower() for f in OUTCOME._fields].index(self.kind)])

    @property
    def partial_code(self) -> int:
        """The kernels' code of :attr:`partial` (:data:`PARTIAL`)."""
        return int(PARTIAL[[f.lower() for f in PARTIAL._fields].index(self.partial)])

    def resolved_fee(self, taker_fee: float) -> float:
        """Return the fee rate of book closes and partial slices: :attr:`fee_rate` (plus
        ``taker_fee`` where the venue charges both), or ``taker_fee``."""
        taker_fee = finite_number(taker_fee, "taker_fee")  # a string was a ValueError of float(), NaN a NaN fee
        if self.fee_rate is None:
            return taker_fee
        return float(self.fee_rate + taker_fee) if self.fee_plus_taker else float(self.fee_rate)

    def vector(self, fee_rate: float | None = None) -> Float64Array1D:
        """Return the rule as the kernels' float vector (``kernels.liquidation.RULE_*``, length ``N_RULE``).

        ``fee_rate`` overrides the rule's fee (e.g. the taker fee when the rule has none); NaN
        is stored when neither is given.
        """
        out = np.zeros(kl.N_RULE)
        out[kl.RULE_KIND] = self.kind_code
        fee = self.fee_rate if fee_rate is None else number(fee_rate, "fee_rate")
        out[kl.RULE_FEE] = math.nan if fee is None else fee
        out[kl.RULE_PARTIAL] = self.partial_code
        out[kl.RULE_FRACTION] = self.fraction
        out[kl.RULE_MIN_NOTIONAL] = self.min_notional
        out[kl.RULE_BACKSTOP] = self.backstop
        out[kl.RULE_STEP_FROM] = self.step_from
        out[kl.RULE_STEP_TO] = self.step_to
        out[kl.RULE_STEP_MODE] = STEP_MODES.index(self.step_mode)
        out[kl.RULE_FEE_CAP] = FEE_CAPS.index(self.fee_cap)
        return out


GENERIC_LIQUIDATION = LiquidationRule(
    kind="book",
    source="levguard generic model",
    keeps="the equity left at the fill, less the liquidation fee (the account's taker fee unless given)",
    modelled="whole position closed at the fill; no partial liquidation, no backstop",
)
"""The generic venue's rule: closed at the fill with the liquidation fee, the remainder kept."""

TIER_STEP_DOWN = LiquidationRule(kind="takeover", partial="tier")
"""The shape of the rules of venues that step a position down its risk-limit tiers, then take it
over (Bybit, BitMEX, Gate, OKX): a partial liquidation from tier index 1 down, closed at the fill
with the liquidation fee (default the taker fee), the rest taken over at the bankruptcy price.  A
venue's rule is ``dataclasses.replace(TIER_STEP_DOWN, source=..., keeps=..., modelled=...)`` with
its own ``step_from``/``step_to``/``step_mode``."""


def _no_rates(position: Position) -> Rates | None:
    del position
    return None


def _no_size_coef(position: Position) -> float:
    del position
    return 0.0


def _venue_kind(symbol: str) -> ContractKind | None:
    del symbol
    return None


@dataclass(frozen=True)
class SymbolConstant:
    """A per-symbol venue property that is the same for every symbol (``f(symbol) = value``).

    For :class:`VenueModel`'s ``contract_size`` and ``min_notional`` where a venue publishes one
    number: ``min_notional=SymbolConstant(5.0)``.
    """

    value: float

    def __call__(self, symbol: str) -> float:
        """Return :attr:`value` whatever ``symbol`` is."""
        del symbol
        return self.value


@dataclass(frozen=True)
class NamedKind:
    """A venue's ``symbol_kind`` that reads the contract kind a symbol's name states
    (:func:`levguard.core.symbols.named_kind`) and refuses the kind the venue does not list.

    ``BTC-PERPETUAL`` on Deribit (its coin-margined perpetual, read as the USDC one) or
    ``BTCUSDT`` on Binance COIN-M (read as an inverse contract with a BTC wallet) gave numbers for
    another contract; they are refused by name, with ``advice``.  A name that states nothing
    (``BTC-SYNTH``) is the venue's kind; a position that gives its ``contract_kind`` is not read.
    """

    venue: str
    kind: ContractKind
    advice: str
    deribit_names: bool = False

    def __call__(self, symbol: str) -> ContractKind | None:
        """None for the venue's own kind (or an unknown name); refuse the other kind."""
        named = named_kind(symbol, deribit=self.deribit_names)
        if named is None or named == self.kind.value:
            return None
        article = "an" if named == "inverse" else "a"
        raise InputError(
            f"{symbol} names {article} {named} contract; {self.venue} lists {self.kind.value} contracts: {self.advice}"
        )


def either_kind(symbol: str) -> ContractKind | None:
    """The ``symbol_kind`` of a venue that lists both kinds under names that say which (OKX's
    ``BTC-USDT-SWAP`` and ``BTC-USD-SWAP``, Gate's ``BTC_USDT`` and ``BTC_USD``, ccxt's
    ``BTC/USD:BTC``): the kind the name states (:func:`levguard.core.symbols.named_kind`), None
    (the venue's kind) for a name that states none."""
    named = named_kind(symbol)
    return None if named is None else ContractKind(named)


@dataclass(frozen=True)
class ByKind:
    """A per-symbol venue property that differs between the linear and inverse contracts of a
    venue listing both (:func:`either_kind`): ``linear(symbol)`` unless the name states an
    inverse contract."""

    linear: Callable[[str], float]
    inverse: Callable[[str], float]

    def __call__(self, symbol: str) -> float:
        """Return ``inverse(symbol)`` for a name that states an inverse contract, else ``linear(symbol)``."""
        return float((self.inverse if named_kind(symbol) == "inverse" else self.linear)(symbol))


@dataclass(frozen=True)
class BaseAssetTable:
    """A per-symbol venue property looked up by the symbol's base asset (``default`` where none is
    known, 0 unless given).

    For :class:`VenueModel`'s ``min_qty`` where a venue publishes a number per contract:
    ``min_qty=BaseAssetTable((("BTC", 0.001), ("ETH", 0.01)))`` gives 0.001 for ``BTCUSDT``,
    ``BTC-USDT-SWAP`` or ``BTC/USDT:USDT`` (:func:`levguard.core.symbols.base_asset`).
    """

    values: tuple[tuple[str, float], ...]
    default: float = 0.0

    def key(self, symbol: str) -> str:
        """Return the key ``symbol`` is listed under: its base asset."""
        return base_asset(symbol)

    def __call__(self, symbol: str) -> float:
        """Return the value listed for ``symbol``'s key, :attr:`default` when the table has none."""
        return float(dict(self.values).get(self.key(symbol), self.default))


@dataclass(frozen=True)
class SymbolTable(BaseAssetTable):
    """A per-symbol venue property listed for some symbols (:func:`symbol_key`: ``BTCUSDT``,
    ``BTC/USDT:USDT`` and ``btcusdt`` are one), :attr:`default` for the others.

    For a venue that sets a number for named contracts only: Binance's minimum order notional is
    100 USDT on the BTCUSDT perpetual, 5 on most others.
    """

    def key(self, symbol: str) -> str:
        """Return the key ``symbol`` is listed under: :func:`symbol_key`."""
        return symbol_key(symbol)


@dataclass(frozen=True)
class VenueModel:
    """A venue's margin model.

    Parameters
    ----------
    name : str
        Rule-set name used in account specs (``"binance-usdm"``).
    title : str
        Human-readable name.
    kind : ContractKind
        Default contract kind.
    settlement : str
        Default settlement currency.
    source : str
        Documentation the model follows.
    mm_basis : MMBasis
        Where maintenance margin is valued when solving the liquidation price.
    fee_in_mm : bool
        Add the taker fee rate to the maintenance rate (OKX, Gate).
    fee_in_im : bool
        The initial (position) margin includes the fee to close, ``notional x taker`` (Gate:
        "Initial Position Margin = Position Value / Leverage + Close Position Fee"), so an
        isolated position given by its leverage posts that much.
    bankruptcy_close_fee : bool
        Include the fee to close at the bankruptcy price in the bankruptcy price and in the
        maintenance requirement of a cross position (Bybit inverse; its isolated formula has no
        fee term): :meth:`close_fee_rate`.
    default_taker_fee : float
        Taker fee rate used when a position does not give one.
    builtin_tiers : Mapping[str, TierTable]
        Packaged tier snapshots keyed by :func:`symbol_key`.
    tier_deduction : bool
        Tiers carry a maintenance amount that keeps the maintenance margin continuous (Binance
        ``cum``, Bybit and Gate deductions, Hyperliquid).  False: the tier's rate applies to the
        whole position and a tier table's amounts are dropped
        (:meth:`levguard.core.tiers.TierTable.without_deduction`; OKX, BitMEX).
    mm_cap_inclusive : bool
        With ``tier_deduction`` False: a position exactly at a tier's cap pays that tier's rate
        (OKX lists its tiers as "0-5,000" and "5,001-7,500" contracts), not the next tier's
        (BitMEX: "< 200 XBT 0.50 %"): :meth:`read_tiers`.
    rates : callable
        For rate-based venues, the position's (imr, mmr); None otherwise.
    size_coef : callable
        The part of a position's maintenance rate per unit of its size (Deribit's linear
        perpetuals: 0.005 % per BTC), 0 where the rate does not grow with the size:
        :meth:`mm_size_coef`.
    contract_size : callable
        Default contract size for a symbol.
    symbol_kind : callable
        The contract kind a symbol names on a venue that lists both kinds (BitMEX's ``XBTUSD`` is
        inverse, ``XBTUSDT`` linear), or None for the venue's ``kind``: :meth:`kind_for`.
    tier_key : callable
        Key of a symbol in ``builtin_tiers``.
    rate_based : bool
        Rates come from ``rates`` (a spec's ``mmr`` is a base rate, not a fixed tier).
    strict_trigger : bool
        Liquidate only when the margin balance is strictly below the maintenance margin (dYdX,
        Hyperliquid), not also at equality: :meth:`liquidatable`.
    positive_mm_trigger : bool
        Liquidate only with a maintenance margin above 0 (dYdX: ``MMR > 0 and MMR > TNC``).
    liquidation : LiquidationRule
        What a liquidation leaves the trader (docs/margin.md, "Liquidation outcomes").
    min_notional : callable
        Smallest order notional the venue accepts for a symbol, in the quote currency (USD-like;
        0 when our sources give none): the backtester's ruin threshold.
    min_notional_source : str
        Where :attr:`min_notional` comes from.
    min_qty : callable
        Smallest order quantity the venue accepts for a symbol, in base units (linear
        contracts: contract size x minimum number of contracts; 0 when our sources give none);
        its notional moves with the price (:meth:`min_order_notional`).
    min_qty_source : str
        Where :attr:`min_qty` comes from (URL and date).
    funding_interval_hours : float
        Hours between funding settlements of the venue's perpetuals (8: 00, 08 and 16 UTC, the
        standard of Binance, Bybit, OKX, Gate and BitMEX; 1 where the venue settles hourly:
        Hyperliquid, dYdX v4).  A venue may list some symbols at another interval (Binance's
        4-hourly ones); a caller that knows it passes its own.
    funding_continuous : bool
        Funding accrues continuously rather than at settlement times (Deribit: the rate is
        "expressed as an 8-hour interest rate, however funding is actually calculated and
        paid/received continuously"); :attr:`funding_interval_hours` is then the period the rate
        is quoted for.
    inverse_refusal : str
        Why a position on this venue cannot be inverse (coin-margined), for a venue that lists no
        inverse contracts at all (Hyperliquid, dYdX v4); empty where it may be (its kind, or a
        contract of the other kind given with its own ``tiers`` or ``mmr``):
        :func:`levguard.core.margin.venue_tiers`.
    settlements : tuple of str
        The settlement (wallet) currencies the rule set models, where it models only some
        (Deribit: USDC, its linear perpetuals; Hyperliquid and dYdX v4: USDC); empty where a
        contract's own settlement is modelled (linear in a stable coin, inverse in its coin).  A
        venue adapter reading one wallet refuses another currency
        (:class:`levguard.venues.ccxt_adapter.CcxtVenue`).
    options_share_margin : bool
        Options on the venue sit in the futures' cross wallet: their value is cross collateral
        and a short option's liability draws on the futures' margin
        (:func:`levguard.core.risk.stress.apply_scenario`).  True on Deribit ("the entire balance
        of a particular asset will be used as margin for positions in that asset, and each
        position shares that same pool of margin", support.deribit.com/hc/en-us/articles/
        25944777072669, "Isolated margin availability") and OKX (cross margin in the
        single-currency, multi-currency and portfolio margin modes: "all settled cross margin
        positions in the same currency share a common margin balance",
        okx.com/learn/differences-in-trading-account-modes).  False where options are a wallet
        of their own or not in the account the rule set models: Binance (European options in
        the Options account, apart from the USDⓈ-M and COIN-M futures wallets, outside
        portfolio margin), Bybit (the standard account this rule set models has no options;
        USDC options are in the Unified Trading Account only: bybit.com/en/help-center/article/
        Comparison-between-UTA-and-Standard-Account), Gate (its options account, Gate API v4
        ``/options/accounts``), and the venues whose rule sets list none (BitMEX, Hyperliquid,
        dYdX v4, generic).
    lists_options : bool
        The venue lists options a risk report may hold next to the account: Deribit, OKX, Binance
        (its Options account, USDⓈ-M and COIN-M alike), Bybit (its Unified Trading Account) and
        Gate (its options account). False where the rule set lists none (BitMEX, Hyperliquid,
        dYdX v4): a report refuses
        options there (:func:`levguard.risk.report.risk_report`).  True on ``generic``, the rule set
        of a venue levguard does not model, whose options are then a wallet of their own.
    option_settlements : tuple of str
        How the venue's options settle, the first the default of an option that does not say
        (``settlement`` in an account spec's ``options``): ``("coin", "usd")`` on Deribit (BTC and
        ETH options settle in the coin, its linear options in USDC), OKX (coin-margined options)
        and ``generic``; ``("usd",)`` on Binance (European options "settled in USDT", Binance
        Options' contract specifications), Bybit (USDC options, USDT-settled options from
        2025-02: bybit-exchange.github.io/docs/pilot-feature) and Gate (USDT-settled options,
        Gate API v4 ``/options/contracts``), where a coin-settled option is refused.
    """

    name: str
    title: str
    kind: ContractKind
    settlement: str
    source: str
    mm_basis: MMBasis = MMBasis.PRICE
    fee_in_mm: bool = False
    fee_in_im: bool = False
    bankruptcy_close_fee: bool = False
    default_taker_fee: float = 0.0
    builtin_tiers: Mapping[str, TierTable] = field(default_factory=empty_mapping)
    tier_deduction: bool = True
    mm_cap_inclusive: bool = False
    rates: Callable[[Position], Rates | None] = _no_rates
    size_coef: Callable[[Position], float] = _no_size_coef
    contract_size: Callable[[str], float] = SymbolConstant(1.0)
    symbol_kind: Callable[[str], ContractKind | None] = _venue_kind
    tier_key: Callable[[str], str] = symbol_key
    rate_based: bool = False
    strict_trigger: bool = False
    positive_mm_trigger: bool = False
    liquidation: LiquidationRule = GENERIC_LIQUIDATION
    min_notional: Callable[[str], float] = SymbolConstant(0.0)
    min_notional_source: str = ""
    min_qty: Callable[[str], float] = SymbolConstant(0.0)
    min_qty_source: str = ""
    funding_interval_hours: float = 8.0
    funding_continuous: bool = False
    inverse_refusal: str = ""
    settlements: tuple[str, ...] = ()
    options_share_margin: bool = False
    lists_options: bool = False
    option_settlements: tuple[str, ...] = ("coin", "usd")

    def min_order_notional(self, symbol: str, price: float) -> float:
        """Return the notional of the venue's smallest order of ``symbol`` at ``price`` (quote currency).

        ``max(min_notional(symbol), min_qty(symbol) x price)``: a venue may bound both the
        quantity and the notional; 0 when neither is known.

        Raises
        ------
        InputError
            ``price`` is not a finite number > 0.
        """
        px = math.nan if isinstance(price, bool) or not isinstance(price, int | float) else number(price, "price")
        if not (math.isfinite(px) and px > 0):
            raise InputError(f"price must be a finite number > 0, was {show(price)}")
        return max(float(self.min_notional(symbol)), float(self.min_qty(symbol)) * px)

    def read_tiers(self, table: TierTable) -> TierTable:
        """Return ``table`` as this venue applies it: as given where tiers carry a deduction,
        else each tier's rate on the whole position with no amount, a cap in the lower tier
        where :attr:`mm_cap_inclusive` (:meth:`~levguard.core.tiers.TierTable.without_deduction`).

        Raises
        ------
        InputError
            Tiers by position size (OKX's contracts) on a venue that deducts a maintenance
            amount by notional tier.
        """
        instance_of(table, TierTable, "table")  # a list of rows was an AttributeError
        if not self.tier_deduction:
            return table.without_deduction(cap_inclusive=self.mm_cap_inclusive)
        if table.basis != "notional":
            raise InputError(
                f"tiers by quantity apply the tier's rate to the whole position, as OKX does; {self.name} tiers "
                "by notional with a maintenance deduction"
            )
        return table

    def mm_size_coef(self, position: Position) -> float:
        """Return the maintenance rate ``position`` adds per unit of its size (the rate from
        :attr:`rates` is ``base + coef x |size|``; Deribit), 0 where the rate is flat or tiered.

        An incremental liquidation solves against it
        (:func:`levguard.core.liquidation_outcome.liquidation_outcome`'s ``size_coef``).
        """
        return float(self.size_coef(position)) if instance_of(position, Position, "position").tiers is None else 0.0

    def taker_fee(self, position: Position) -> float:
        """Return the position's taker fee rate, or the venue default."""
        rate = instance_of(position, Position, "position").taker_fee_rate  # a dict was an AttributeError
        return self.default_taker_fee if rate is None else rate

    def liquidatable(self, balance: float, maintenance: float) -> bool:
        """True when a margin balance meets the venue's liquidation trigger against its MM.

        Notes
        -----
        ``balance <= MM`` by default (Binance liquidates when the margin ratio "hits 100%",
        COIN-M maintenance margin announcement of 2021-03-01); strictly below where the venue says
        so: dYdX v4 ``CanLiquidateSubaccount`` (``x/clob``) is ``MMR > 0 and MMR > TNC``
        (:attr:`positive_mm_trigger`), and Hyperliquid liquidates when "account equity falls below
        the maintenance margin" (hyperliquid.gitbook.io/hyperliquid-docs/trading/liquidations).
        """
        balance, maintenance = number(balance, "balance"), number(maintenance, "maintenance")
        if self.positive_mm_trigger and not maintenance > 0.0:
            return False
        if self.strict_trigger:
            return balance < maintenance
        return balance <= maintenance

    def kind_for(self, symbol: str) -> ContractKind:
        """Return the contract kind of ``symbol`` on this venue when a position does not say it."""
        return self.symbol_kind(symbol) or self.kind

    def margin_fees(self, taker: float) -> tuple[float, float]:
        """Return the taker fee rate the venue adds to the maintenance and the initial margin
        rates (:attr:`fee_in_mm`: OKX, Gate; :attr:`fee_in_im`: Gate), 0 where it adds none."""
        taker = finite_number(taker, "taker_fee")  # a string was returned as a fee rate
        return (taker if self.fee_in_mm else 0.0), (taker if self.fee_in_im else 0.0)

    def close_fee_rate(self, position: Position) -> float:
        """Return the fee rate to close at the bankruptcy price that the venue's formulas count.

        Notes
        -----
        Bybit's inverse formulas (help.bybit.com 360039261334, "How to calculate Liquidation
        Price (Inverse Contract)") count ``Qty x 0.075 % / BP`` in the cross-margin equation only;
        the isolated one is ``LP = EP x Lev / (Lev + 1 - MMR x Lev)`` (long, 8,000 at 50x with
        0.5 %: 7,881.77) with no fee.  Every other venue: 0.
        """
        instance_of(position, Position, "position")  # a dict was an AttributeError
        if position.isolated:
            return 0.0
        return self.cross_close_fee(self.taker_fee(position))

    def cross_close_fee(self, taker: float) -> float:
        """Return the fee rate to close at the bankruptcy price that a cross position paying
        ``taker`` counts (:attr:`bankruptcy_close_fee`: Bybit inverse), 0 where the venue counts
        none: :meth:`close_fee_rate` of a cross position, for callers holding a fee rate only
        (the backtester's instruments, the cross-account kernel)."""
        return taker if self.bankruptcy_close_fee else 0.0
