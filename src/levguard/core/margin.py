"""The margin engine: evaluate an account under a venue's rules.

One evaluator serves every venue; the venue's :class:`~levguard.core.rules.VenueModel` supplies
the switches (where maintenance margin is valued, fee terms, tier source).  All price-level
arithmetic goes through :mod:`levguard.kernels.margin`, the same code the vectorized path runs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from levguard.core.instruments import ContractKind, Instrument
from levguard.core.positions import Account, Position, spec_place
from levguard.core.records import Record, field_dict
from levguard.core.rules import MMBasis, VenueModel, get_venue
from levguard.core.symbols import contract_key, inverse_settlement, symbol_key
from levguard.core.tiers import TierTable
from levguard.core.validate import finite_number, show
from levguard.errors import InputError, NoTiersError
from levguard.kernels.margin import close_fee_at_bankruptcy, position_notional, position_upnl, solve_liquidation_price

__all__ = [
    "SPEC_TIERS_REMEDY",
    "AccountReport",
    "CollateralRow",
    "PositionReport",
    "evaluate",
    "resolve_tiers",
    "venue_tiers",
]

SPEC_TIERS_REMEDY = "pass tiers, or mmr (and maint_amount)"
"""The remedy of a :class:`~levguard.errors.NoTiersError` in an account spec's terms (a position's
``tiers``, or a fixed ``mmr`` and ``maint_amount``; the spec's ``tiers`` mapping); an entry point
that takes tiers otherwise gives its own (:meth:`~levguard.errors.NoTiersError.with_remedy`)."""

_NO_TIER_CAPS = np.array([np.inf])
_NO_TIER = np.zeros(1)


def _json_num(x: float | None) -> float | None:
    if x is None or not math.isfinite(x):
        return None
    return float(x)


# PositionReport fields whose non-finite values become None in its JSON.
#: Position fields that are JSON null where the number is not finite (``PositionReport.to_dict``).
NULLABLE_NUMBERS = ("leverage", "margin_balance", "liquidation_price", "bankruptcy_price", "max_leverage", "health")


@dataclass(frozen=True, slots=True)
class PositionReport:
    """Margin report of one position (amounts in the settlement currency).

    ``liquidation_price``/``bankruptcy_price`` are None when no positive price exists;
    ``health`` is the adverse move to the liquidation price as a fraction of the mark price
    (negative when already past it; None without a liquidation price).  ``side`` is ``+1``
    (long) or ``-1`` (short) as in :class:`~levguard.core.positions.Position`; ``side_name``
    and the JSON of :meth:`to_dict` say ``"long"``/``"short"``.
    """

    symbol: str
    qty: float
    side: int
    margin_mode: str
    contract_kind: str
    entry_price: float
    mark_price: float
    notional: float
    leverage: float
    initial_margin: float
    maintenance_margin: float
    unrealized_pnl: float
    margin_balance: float | None
    liquidation_price: float | None
    bankruptcy_price: float | None
    mmr: float
    maint_amount: float
    max_leverage: float
    tier: int
    health: float | None
    liquidatable: bool

    @property
    def side_name(self) -> str:
        """``"long"`` or ``"short"``."""
        return "long" if self.side > 0 else "short"

    def to_dict(self) -> dict[str, object]:
        """Return the JSON-ready dict (non-finite numbers become None; side as long/short)."""
        out = field_dict(self, side=self.side_name)
        for name in NULLABLE_NUMBERS:
            out[name] = _json_num(getattr(self, name))
        return out


@dataclass(frozen=True, slots=True)
class CollateralRow(Record):
    """One collateral asset of a unified account (see :mod:`levguard.core.unified`).

    ``amount`` is what the haircut applies to, in the asset (balance - borrowed; on Binance
    Portfolio Margin plus the unrealised PnL settled in the asset); ``price`` is its USD price;
    ``haircut`` the collateral value ratio in effect (value / face value, a blend across tiers;
    1.0 for a debt); ``value`` the USD value after the haircut.
    """

    asset: str
    amount: float
    price: float
    haircut: float
    value: float


@dataclass(frozen=True, slots=True)
class AccountReport:
    """Margin report of an account.

    ``equity`` is the margin balance: cross wallet + isolated margins + all unrealised PnL.
    ``margin_ratio`` is total maintenance margin / equity (None when equity <= 0);
    ``liquidatable`` is True when the cross part or any isolated position is at or below its
    maintenance margin; ``health`` is the smallest position health.

    Unified accounts (``bybit-uta``, ``binance-pm``; :mod:`levguard.core.unified`) also carry
    ``account_ratio`` (the venue's own ratio: Bybit's account maintenance margin rate, Binance's
    uniMMR), ``account_ratio_name``, ``account_status`` and the ``collateral`` rows, with every
    account amount in USD (``settlement`` is ``"USD"``); :meth:`to_dict` adds these keys only for
    them, so the JSON of a single-wallet account is unchanged.  ``liquidation_price_basis`` says
    what the positions' liquidation prices hold fixed (unified accounts: every other mark and
    every collateral price; None where the rows carry no liquidation price).
    """

    venue: str
    settlement: str
    wallet_balance: float
    equity: float
    maintenance_margin: float
    initial_margin: float
    margin_ratio: float | None
    liquidatable: bool
    health: float | None
    positions: tuple[PositionReport, ...]
    account_ratio: float | None = None
    account_ratio_name: str | None = None
    account_status: str | None = None
    collateral: tuple[CollateralRow, ...] | None = None
    liquidation_price_basis: str | None = None

    @classmethod
    def of(
        cls,
        venue: str,
        settlement: str,
        wallet_balance: float,
        equity: float,
        maintenance_margin: float,
        initial_margin: float,
        liquidatable: bool,
        positions: Sequence[PositionReport],
        **unified: Any,
    ) -> AccountReport:
        """Return the report with its derived figures filled in.

        ``margin_ratio`` is ``maintenance_margin / equity`` (None when ``equity <= 0``) and
        ``health`` the smallest position health (None when no position has one); ``unified``
        takes the unified accounts' fields (``account_ratio``, ..., ``collateral``).
        """
        healths = [p.health for p in positions if p.health is not None]
        return cls(
            venue,
            settlement,
            wallet_balance,
            equity,
            maintenance_margin,
            initial_margin,
            maintenance_margin / equity if equity > 0 else None,
            liquidatable,
            min(healths) if healths else None,
            tuple(positions),
            **unified,
        )

    @property
    def unified(self) -> bool:
        """True for a unified (multi-asset collateral) account."""
        return self.account_ratio_name is not None

    def to_dict(self) -> dict[str, object]:
        """Return the stable JSON contract of :func:`levguard.evaluate_account`."""
        out: dict[str, object] = {
            "venue": self.venue,
            "settlement": self.settlement,
            "wallet_balance": self.wallet_balance,
            "equity": self.equity,
            "maintenance_margin": self.maintenance_margin,
            "initial_margin": self.initial_margin,
            "margin_ratio": _json_num(self.margin_ratio),
            "liquidatable": self.liquidatable,
            "health": _json_num(self.health),
            "positions": [p.to_dict() for p in self.positions],
        }
        if self.unified:
            out["account_ratio"] = _json_num(self.account_ratio)
            out["account_ratio_name"] = self.account_ratio_name
            out["account_status"] = self.account_status
            out["collateral"] = [c.to_dict() for c in self.collateral or ()]
            out["liquidation_price_basis"] = self.liquidation_price_basis
        return out


def venue_tiers(model: VenueModel, position: Position) -> TierTable:
    """Return the whole tier table that applies to ``position`` on ``model``.

    Order: the position's own tiers (or fixed ``mmr``), the venue's rate rule (Deribit, dYdX),
    the venue's built-in snapshot for the symbol.  On a venue whose tier rate applies to the
    whole position (``tier_deduction`` False: OKX, BitMEX) the table's maintenance amounts are
    dropped, whoever built it, and OKX's caps belong to the lower tier
    (:meth:`~levguard.core.rules.base.VenueModel.read_tiers`).  Tiers counted by size
    (``basis="quantity"``, OKX's contracts) stay so: :func:`resolve_tiers` gives the position's
    own tier, and :func:`levguard.core.liquidation_outcome.liquidation_outcome` values them at
    the price it reads a tier at.

    The built-in tiers (and a rate rule) are of the venue's contracts: they apply to a position
    of the kind the venue reads its symbol as (:meth:`~levguard.core.rules.base.VenueModel.kind_for`).
    A position of the other kind (``contract_kind: inverse`` on Binance USDⓈ-M) brings its own
    ``tiers`` or ``mmr``: the USDT brackets applied to a notional in coins put 1,000,000 USD of
    contracts (20 BTC at 50,000) in the first bracket at 125x, where the 1,000,000 USDT bracket
    caps it at 75x.  A venue without inverse contracts (``inverse_refusal``: Hyperliquid, dYdX)
    refuses an inverse position.

    Raises
    ------
    InputError
        No tiers for the symbol; built-in tiers (or rates) of the other contract kind; an inverse
        position on a venue without inverse contracts; tiers by size on a venue that deducts a
        maintenance amount by notional tier.
    """
    kind = position.instrument.kind
    if kind is ContractKind.INVERSE and model.inverse_refusal:
        raise InputError(
            f"{position.symbol}: contract_kind must be linear on {model.name} ({model.inverse_refusal}), "
            f"was {kind.value!r}"
        )
    if position.tiers is not None:
        try:
            return model.read_tiers(position.tiers)
        except InputError as exc:
            raise InputError(f"{position.symbol}: {exc}") from None
    builtin = builtin_tiers(model, position.symbol, kind)
    if builtin is None and _listed_table(model, position.symbol) is not None:
        raise NoTiersError(
            f"{position.symbol}: the built-in tiers of {model.name} are for its {_venue_kind(model, position.symbol)} "
            f"contract (notional in {model.settlement}), not {'an' if kind is ContractKind.INVERSE else 'a'} "
            f"{kind.value} one",
            SPEC_TIERS_REMEDY,
        )
    rates = model.rates(position)
    if rates is not None:
        return TierTable.fixed_rate(rates.mmr, 0.0, 1.0 / rates.imr, source=rates.source)
    if builtin is None:
        raise NoTiersError(f"{position.symbol}: no built-in tiers for this symbol on {model.name}", SPEC_TIERS_REMEDY)
    return builtin


def builtin_tiers(model: VenueModel, symbol: str, kind: ContractKind) -> TierTable | None:
    """Return the venue's built-in tiers of ``symbol`` for a contract of ``kind``, or None.

    The packaged tables are of the contract the venue lists under the symbol (its notionals in
    the venue's settlement currency; a dated future, ``BTCUSDT_250328`` or ccxt's
    ``BTC/USDT:USDT-250328``, is not its perpetual): None when there is none, or when ``kind`` is not the kind
    the venue reads the symbol as (:meth:`~levguard.core.rules.base.VenueModel.kind_for`; a name
    stating a kind the venue does not list has no table of either kind).
    """
    table = _listed_table(model, symbol)
    if table is None or _venue_kind(model, symbol) != kind.value:
        return None
    return table


def _listed_table(model: VenueModel, symbol: str) -> TierTable | None:
    # The packaged table listed under ``symbol``, of either kind.  A ccxt dated future
    # (``BTC/USDT:USDT-250328``) keeps its expiry, as the venue's own name (``BTCUSDT_250328``)
    # does: a delivery contract has its own brackets, not its perpetual's.
    expiry = contract_key(symbol)[len(symbol_key(symbol)) :]
    return model.builtin_tiers.get(model.tier_key(symbol) + expiry)


def _venue_kind(model: VenueModel, symbol: str) -> str:
    # The kind the venue reads ``symbol`` as ("" when the name states a kind it does not list).
    try:
        return model.kind_for(symbol).value
    except InputError:
        return ""


def resolve_tiers(model: VenueModel, position: Position) -> TierTable:
    """Return the tier table the margin engine applies to ``position`` on ``model``
    (:func:`venue_tiers`): by size (OKX's contracts) the one tier of the position's size
    (:meth:`~levguard.core.tiers.TierTable.at_quantity`).

    Raises
    ------
    InputError
        As :func:`venue_tiers`.
    """
    table = venue_tiers(model, position)
    if table.basis == "notional":
        return table
    return table.at_quantity(position.instrument.contract_size * position.qty)


@dataclass(frozen=True, slots=True)
class _Terms:
    pos: Position
    table: TierTable
    inverse: bool
    q: float
    fee_mm: float
    fee_im: float
    close_fee: float
    notional: float
    notional_entry: float
    upnl: float
    base_mm: float
    leverage: float
    imr: float


def _check_imr(imr: float, table: TierTable, notional_entry: float, cap: float, field: str, what: str) -> None:
    # A given initial margin rate below the entry tier's maintenance rate opens the position
    # liquidatable; one above the tier's leverage cap is the leverage the cap refuses.
    mmr = table.tier(notional_entry).mmr
    if imr < mmr * (1 - 1e-12):
        raise InputError(
            f"{field} must be at least the maintenance rate {mmr:g} of the tier holding notional "
            f"{notional_entry:,.2f} of {what} (else the position opens liquidatable), was {imr!r}"
        )
    if imr * cap < 1.0 - 1e-12:
        raise InputError(
            f"{field} must be at least 1 / {cap:g} (the maximum leverage for notional {notional_entry:,.2f} of "
            f"{what}), was {imr!r}"
        )


def _terms(model: VenueModel, p: Position, index: int) -> _Terms:
    inst = p.instrument
    inverse = inst.inverse
    table = resolve_tiers(model, p)
    q = p.q
    notional = position_notional(q, p.mark_price, inverse)
    notional_entry = position_notional(q, p.entry_price, inverse)
    upnl = position_upnl(q, p.entry_price, p.mark_price, inverse)
    taker = model.taker_fee(p)
    fee_mm, fee_im = model.margin_fees(taker)
    close_fee = model.close_fee_rate(p)
    basis = notional_entry if model.mm_basis is MMBasis.ENTRY else notional
    base_mm = table.maintenance_margin(basis) + fee_mm * notional
    cap = table.max_leverage(notional_entry)
    rates = model.rates(p) if p.tiers is None else None
    if p.imr is not None and rates is None:
        _check_imr(p.imr, table, notional_entry, cap, f"positions[{index}].imr", f"{p.symbol} on {model.name}")
    if p.leverage is not None:
        if p.leverage > cap * (1 + 1e-12):
            raise InputError(
                f"positions[{index}].leverage {p.leverage!r} exceeds the maximum {cap:g} for "
                f"notional {notional_entry:,.2f} of {p.symbol} on {model.name}"
            )
        leverage = p.leverage
    elif rates is not None:
        leverage = 1.0 / rates.imr
    elif p.imr is not None:
        leverage = 1.0 / p.imr
    elif p.isolated and p.isolated_margin is not None:
        # The margin less the close fee the venue puts in it (Gate) backs the leverage; with
        # nothing left the leverage is unbounded and the IM the fee alone (no jump at zero).
        backing = p.isolated_margin - fee_im * notional_entry
        leverage = notional_entry / backing if backing > 0.0 else math.inf
    else:
        leverage = cap
    # Rate-based venues scale their own initial rate (Deribit by size, dYdX by open interest).
    imr = rates.imr if rates is not None else (p.imr if p.imr is not None else 1.0 / leverage)
    return _Terms(
        p, table, inverse, q, fee_mm, fee_im, close_fee, notional, notional_entry, upnl, base_mm, leverage, imr
    )


def _bankruptcy(t: _Terms, collateral: float) -> float:
    # Margin balance (less the close fee, where the venue counts it) reaches zero.
    return solve_liquidation_price(
        t.q, t.pos.entry_price, collateral, 0.0, t.close_fee, t.inverse, _NO_TIER_CAPS, _NO_TIER, _NO_TIER
    )


def _isolated_margin(t: _Terms) -> float:
    # Given, or the initial margin at entry: notional / leverage, plus the close fee on Gate.
    if t.pos.isolated_margin is not None:
        return t.pos.isolated_margin
    return t.notional_entry / t.leverage + t.fee_im * t.notional_entry


def position_report(
    model: VenueModel, t: _Terms, mm: float, balance: float | None, lp: float, bp: float, liquidatable: bool
) -> PositionReport:
    """Return the report of one evaluated position (``lp``/``bp`` NaN when there is none).

    ``health`` is the adverse move from the mark to ``lp`` as a fraction of the mark; the tier
    is the one of the notional on the venue's basis (entry or mark), or of the size for tiers by
    quantity.  Shared by
    :func:`evaluate` and :func:`levguard.core.unified.evaluate_unified`.
    """
    p = t.pos
    side = 1 if p.side > 0 else -1
    health = side * (p.mark_price - lp) / p.mark_price if math.isfinite(lp) else None
    k = t.table.index(t.notional_entry if model.mm_basis is MMBasis.ENTRY else t.notional)
    tier = t.table.tiers[k]
    if p.tiers is not None and p.tiers.basis == "quantity":  # t.table is the one tier of the size
        k = venue_tiers(model, p).index(p.instrument.contract_size * abs(p.qty))
    return PositionReport(
        symbol=p.symbol,
        qty=p.qty,
        side=side,
        margin_mode=p.margin_mode.value,
        contract_kind=p.instrument.kind.value,
        entry_price=p.entry_price,
        mark_price=p.mark_price,
        notional=t.notional,
        leverage=t.leverage,
        initial_margin=t.notional * (t.imr + t.fee_im),
        maintenance_margin=mm,
        unrealized_pnl=t.upnl,
        margin_balance=balance,
        liquidation_price=lp if math.isfinite(lp) else None,
        bankruptcy_price=bp if math.isfinite(bp) else None,
        mmr=tier.mmr,
        maint_amount=tier.maint_amount,
        max_leverage=t.table.max_leverage(t.notional),
        tier=k + 1,
        health=health,
        liquidatable=liquidatable,
    )


def evaluate(account: Account, model: VenueModel | None = None, *, wallet: float | None = None) -> AccountReport:
    """Evaluate every position of ``account`` and the account as a whole.

    Parameters
    ----------
    account : Account
        Wallet and positions.
    model : VenueModel, optional
        Rule set; defaults to ``get_venue(account.venue)``.
    wallet : float, optional
        The cross wallet to evaluate with instead of ``account.wallet_balance``, finite and may be
        below 0 (an :class:`Account` refuses that): a stress scenario's funding paid beyond the
        wallet (:func:`levguard.core.risk.stress.apply_scenario`), which the venue's formulas
        take as it is (Binance's liquidation price reads ``WB``, whatever its sign).

    Returns
    -------
    AccountReport

    Notes
    -----
    For a position ``i`` the collateral it can draw on is its isolated margin, or in cross
    mode ``WB + sum_{j != i}(uPnL_j - MM_j)`` over the other cross positions at their own mark
    prices (Binance's ``WB - TMM1 + UPNL1``).  The liquidation price solves
    ``collateral + uPnL_i(P) = MM_i(P)`` with the venue's MM (tiered and re-selected at
    ``P``, or fixed at entry for Bybit/BitMEX, plus fee terms for OKX/Gate/Bybit inverse);
    the bankruptcy price solves ``collateral' + uPnL_i(P) = close fee`` with
    ``collateral'`` excluding maintenance margins.  See docs/margin.md for every venue.
    """
    if not isinstance(account, Account):  # None.venue was a raw AttributeError
        raise InputError(f"account must be an Account, was {type(account).__name__} {show(account)}")
    if model is not None and not isinstance(model, VenueModel):
        raise InputError(f"model must be a VenueModel or None, was {type(model).__name__} {show(model)}")
    model = model or get_venue(account.venue)
    if wallet is not None:
        wallet = finite_number(wallet, "wallet")
    terms = []
    for i, p in enumerate(account.positions):
        i = spec_place(p, i)
        try:
            terms.append(_terms(model, p, i))
        except InputError as exc:
            msg = str(exc)
            if msg.startswith("positions["):
                raise
            if isinstance(exc, NoTiersError):  # the fact keeps its class: a caller replaces the remedy
                raise exc.with_remedy(exc.remedy, f"positions[{i}] ") from None
            raise InputError(f"positions[{i}] {msg}") from None
    wb = account.wallet_balance if wallet is None else wallet
    cross = [t for t in terms if not t.pos.isolated]
    cross_upnl = math.fsum(t.upnl for t in cross)
    # Sums over the *other* cross positions: the account's sum less the position's own term, so
    # that evaluation is O(n) (n positions; summing the others for each was O(n^2): 294 us a
    # position at 1,000 positions).  A one-position cross account still gets exactly the
    # collateral of the isolated equivalent (x - x is exactly 0).
    others_upnl = [cross_upnl - t.upnl if not t.pos.isolated else cross_upnl for t in terms]

    # Bankruptcy prices first: Bybit's inverse maintenance includes the close fee at BP.
    bps: list[float] = []
    mms = []
    for t, other in zip(terms, others_upnl, strict=True):
        own = _isolated_margin(t) if t.pos.isolated else wb
        bps.append(_bankruptcy(t, own if t.pos.isolated else wb + other))
        # The close-fee term uses the bankruptcy price on the position's own collateral (wallet,
        # or isolated margin) so that it does not move with other positions' marks; with one
        # position it is Bybit's published BP.
        mms.append(t.base_mm + close_fee_at_bankruptcy(t.q, t.pos.entry_price, own, t.close_fee, t.inverse))
    cross_mm = math.fsum(mm for t, mm in zip(terms, mms, strict=True) if not t.pos.isolated)
    cross_equity = wb + cross_upnl

    reports: list[PositionReport] = []
    equity = cross_equity
    for t, bp, mm, other in zip(terms, bps, mms, others_upnl, strict=True):
        p = t.pos
        if p.isolated:
            collateral = _isolated_margin(t)
            balance: float | None = collateral + t.upnl
            equity += collateral + t.upnl
            liquidatable = model.liquidatable(collateral + t.upnl, mm)
        else:
            collateral = wb + other - (cross_mm - mm)
            balance = None
            liquidatable = model.liquidatable(cross_equity, cross_mm)
        fee_close = mm - t.base_mm
        if model.mm_basis is MMBasis.ENTRY:
            k_const = mm - t.fee_mm * t.notional
            lp = solve_liquidation_price(
                t.q, p.entry_price, collateral, k_const, t.fee_mm, t.inverse, _NO_TIER_CAPS, _NO_TIER, _NO_TIER
            )
        else:
            lp = solve_liquidation_price(
                t.q,
                p.entry_price,
                collateral,
                fee_close,
                t.fee_mm,
                t.inverse,
                t.table.caps,
                t.table.mmrs,
                t.table.cums,
            )
        reports.append(position_report(model, t, mm, balance, float(lp), float(bp), bool(liquidatable)))
    total_mm = math.fsum(mms)
    settlement = account.positions[0].instrument.settlement if account.positions else model.settlement
    initial = math.fsum(r.initial_margin for r in reports)
    liquidatable = any(r.liquidatable for r in reports)
    return AccountReport.of(model.name, settlement, float(wb), equity, total_mm, initial, liquidatable, reports)


def instrument_for(
    model: VenueModel,
    symbol: str,
    *,
    kind: str | None = None,
    contract_size: float | None = None,
    settlement: str | None = None,
) -> Instrument:
    """Return the instrument for ``symbol`` with the venue's defaults filled in.

    The contract kind is ``kind``, else the symbol's on the venue (:meth:`VenueModel.kind_for`).
    An inverse contract settles in its base coin, read from the symbol (``BTCUSD_PERP`` -> BTC,
    ``BTC/USD:BTC`` -> BTC, ``XBTZ24`` -> XBT; :func:`levguard.core.symbols.inverse_settlement`)
    unless ``settlement`` is given.
    """
    k = model.kind_for(symbol) if kind is None else ContractKind(kind)
    cs = model.contract_size(symbol) if contract_size is None else contract_size
    if settlement is None:
        settlement = model.settlement
        if k is ContractKind.INVERSE:
            settlement = inverse_settlement(symbol) or settlement
    return Instrument(symbol=symbol, kind=k, contract_size=cs, settlement=settlement)
