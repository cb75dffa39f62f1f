"""Unified accounts: several collateral assets with haircuts backing linear USDT perpetuals.

Three venues: Bybit's Unified Trading Account in cross margin (``bybit-uta``), Binance
Portfolio Margin (``binance-pm``) and OKX multi-currency margin (``okx-mcm``).  The spec::

    {"venue": "bybit-uta" | "binance-pm" | "okx-mcm",
     "balances": {"USDT": 20000, "BTC": 0.5},      # coins held (may be negative: a debt)
     "borrowed": {"USDT": 1000},                    # optional: margin loans
     "loan_mmr": 0.1,                               # MM rate of the loans (required with loans)
     "prices": {"BTC": 60000},                      # USD; stablecoins default to 1
     "collateral_ratios": {"ETH": 0.9},             # optional: ratio or tiers (API shapes)
     "positions": [...], "tiers": {...}}            # as in a single-wallet spec

Positions are linear USDT perpetuals in cross margin (the venue's linear rules: Bybit linear,
Binance USDⓈ-M, OKX swap with its taker fee in MM) and, on ``binance-pm``, inverse COIN-M
perpetuals and futures (``BTCUSD_PERP``, ``ETHUSD_250627``, ccxt ``BTC/USD:BTC``; ``qty`` in
contracts of 100 USD for BTC, 10 USD for the rest; PnL and MM in the coin, which joins that
coin's equity) and, on ``bybit-uta``, Bybit USDC options (``BTC-27DEC24-70000-C``; see
:mod:`levguard.core.unified_options`).  Other kinds (and USDC-settled linear contracts, which a
symbol such as ``BTCUSDC`` or Bybit's ``BTCPERP`` names) are refused naming the value: Bybit's
published UTA formulas leave inverse contracts out of the cross margin (its API guide says UTA 2.0
shares margin with them, without a formula: refused rather than guessed).  Every account amount is in USD; position
amounts are in each position's settlement currency (USDT, USDC for options, or the coin).
See docs/unified.md for the formulas, their sources and worked examples.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from levguard.core.margin import (
    AccountReport,
    CollateralRow,
    PositionReport,
    _Terms,
    _terms,
    position_report,
)
from levguard.core.positions import Account, Position, spec_place
from levguard.core.rules import MMBasis, VenueModel, get_venue
from levguard.core.rules.collateral import (
    BINANCE_PM,
    BYBIT_UTA,
    OKX_MCM,
    CollateralTable,
    CollateralTiers,
    collateral_tiers_from_spec,
)
from levguard.core.unified_fast import (
    LIQUIDATION_PRICE_BASIS,
    account_report,
    evaluate_unified_fast,
    fast_path_ready,
)
from levguard.core.unified_options import BybitOption, option_report, refuse_option_book_keys
from levguard.core.unified_positions import is_coin_margined_symbol, positions_from_spec
from levguard.core.validate import as_amount, as_float, short_name, show
from levguard.errors import InputError
from levguard.kernels.margin import position_notional, position_upnl
from levguard.kernels.unified import MAX_PARTS as _MAX_PARTS
from levguard.kernels.unified import bracket_probes, settle_probes

__all__ = [
    "LIQUIDATION_PRICE_BASIS",
    "STABLECOINS",
    "UNIFIED_VENUES",
    "UnifiedAccount",
    "UnifiedVenue",
    "evaluate_unified",
    "is_coin_margined_symbol",
    "is_unified_spec",
    "liquidatable_at",
    "mm_over_equity",
    "unified_account_from_spec",
    "unified_margin_totals",
]

STABLECOINS = frozenset({"USDT", "USDC", "BUSD", "FDUSD", "DAI", "TUSD", "USD"})
"""Assets priced at 1 USD unless the spec's ``prices`` says otherwise."""
_SETTLE = "USDT"
_OPTION_SETTLE = "USDC"
_EQUITY_OVER_MM = frozenset({"uniMMR", "margin_ratio"})  # ratios that read equity / MM (higher is safer)
_MAX_ASSET = 20
"""Longest asset name of a unified spec (characters); coin codes such as 1000SATS are far shorter."""
_SPEC_KEYS = {
    "venue", "balances", "borrowed", "prices", "collateral_ratios", "loan_mmr", "positions", "tiers",
    "margin_mode", "name", "options", "as_of", "vol_surfaces", "options_wallet_balance", "cross_collateral",
}  # fmt: skip


def mm_over_equity(equity: float, mm: float, exposed: bool) -> float | None:
    """``MM / equity``; None (infinite) at ``equity <= 0`` but for an empty account's 0."""
    return mm / equity if equity > 0.0 else (None if mm > 0.0 or exposed else 0.0)


def liquidatable_at(equity: float, mm: float, multiple: float, exposed: bool) -> bool:
    """``equity <= multiple * MM``; at ``MM = 0`` (a negative balance), ``equity <= 0`` if ``exposed``."""
    if mm > 0.0:
        return equity <= multiple * mm
    return exposed and equity <= 0.0


@dataclass(frozen=True, slots=True)
class UnifiedVenue:
    """Rules of one venue's unified account.

    ``liquidation_multiple`` ``c``: the account is liquidated when ``equity <= c * MM`` (Bybit:
    account MM rate ``MM / margin balance >= 100 %``, so ``c = 1``; Binance: ``uniMMR =
    adjusted equity / MM <= 105 %``, so ``c = 1.05``; OKX: margin ratio ``adjusted equity / (MM +
    liquidation fees) <= 100 %``, so ``c = 1``).  ``upnl_in_haircut``: Binance and OKX value each
    asset's equity including the futures PnL settled in it at its collateral (discount) rate;
    Bybit adds the perpetuals' unrealised PnL to the haircut wallet balance at face value.
    ``inverse_venue``: the rules of the coin-settled (inverse) positions the account takes
    (``binance-coinm`` on Binance PM), None where they are refused for the reason
    ``inverse_refusal``.
    """

    name: str
    position_venue: str
    ratio_name: str
    liquidation_multiple: float
    upnl_in_haircut: bool
    table: CollateralTable
    source: str
    inverse_venue: str | None = None
    inverse_refusal: str = ""

    def ratio(self, equity: float, mm: float, *, exposed: bool = True) -> float | None:
        """The venue's account ratio (None where it is infinite or undefined: ``equity <= 0`` of
        an ``exposed`` account, :meth:`liquidatable`; an empty account's MM rate reads 0)."""
        if self.ratio_name in _EQUITY_OVER_MM:
            return equity / mm if mm > 0.0 else None
        return mm_over_equity(equity, mm, exposed)

    def liquidatable(self, equity: float, mm: float, *, exposed: bool = True) -> bool:
        """True at or past the venue's trigger: :func:`liquidatable_at` with its multiple
        (``exposed``: :attr:`UnifiedAccount.exposed`)."""
        return liquidatable_at(equity, mm, self.liquidation_multiple, exposed)

    def status(self, equity: float, mm: float, *, exposed: bool = True) -> str:
        """The venue's account status (``exposed`` as in :meth:`liquidatable`).

        Notes
        -----
        Binance Portfolio Margin (uniMMR ``u``): ``u > 1.5`` normal; ``1.2 < u <= 1.5``
        margin_call (reminder to add funds or reduce); ``1.05 < u <= 1.2`` reduce_only (new orders
        refused except reduce-only); ``1.0 < u <= 1.05`` liquidation; ``u <= 1.0`` liquidation_loss
        (liquidation, Binance may claim the loss).  Source: Binance FAQ "Binance Portfolio Margin
        Pro Maintenance Margin Ratio Calculation" (binance.com/en/support/faq/
        5e33af8e6ac04d57a1d0a3398e0a0752).  Bybit (account MM rate ``r``): ``r < 100 %`` normal,
        else liquidation (Bybit help "Trading Rules: Liquidation Process (Unified Trading
        Account)", 2024-08-17: "Liquidation is triggered when MMR reaches 100%").  OKX
        multi-currency margin (margin ratio ``m``): ``m > 300 %`` normal; ``100 % < m <= 300 %``
        risk_alert (OKX warns to reduce positions); ``m <= 100 %`` liquidation (open orders are
        cancelled, then positions are liquidated).  Source: OKX Help Center "IV. Multi-currency
        margin mode: cross margin trading" (risk alert at <= 300 %, pre-liquidation at <= 100 %, read
        through a transcription of that page).
        """
        if mm <= 0.0:  # no MM: solvent (normal) or, with equity <= 0, past every band
            if not self.liquidatable(equity, mm, exposed=exposed):
                return "normal"
            return "liquidation_loss" if self.ratio_name == "uniMMR" else "liquidation"
        if self.ratio_name == "uniMMR":
            # ``equity > bound * mm`` as :meth:`liquidatable` compares (not ``equity / mm > bound``,
            # whose rounding can put an account one float step above 1.05 x MM in "liquidation"
            # while liquidatable() is False).
            for bound, name in ((1.5, "normal"), (1.2, "margin_call"), (1.05, "reduce_only"), (1.0, "liquidation")):
                if equity > bound * mm:
                    return name
            return "liquidation_loss"
        if self.ratio_name == "margin_ratio":
            if equity > 3.0 * mm:
                return "normal"
            return "liquidation" if self.liquidatable(equity, mm) else "risk_alert"
        return "liquidation" if self.liquidatable(equity, mm) else "normal"


BYBIT = UnifiedVenue(
    name="bybit-uta",
    position_venue="bybit-linear",
    ratio_name="account_mm_rate",
    liquidation_multiple=1.0,
    upnl_in_haircut=False,
    table=BYBIT_UTA,
    source=(
        "Bybit help 'Key Terms and Formulas in Unified Trading Account' (2025-09-02): Account MM Rate = "
        "Total Maintenance Margin / (Margin Balance - Haircut Loss + Order Loss), Margin Balance = Wallet "
        "Balance + Perp & Future UPL; 'Understanding Collateral Value Ratios in Unified Trading Account' "
        "(2025-09-18); 'Trading Rules: Liquidation Process (Unified Trading Account)' (2024-08-17)"
    ),
    inverse_refusal=(
        "Bybit keeps inverse contracts out of the UTA's cross margin: its 'Perp & Futures UPL' counts USDT "
        "and USDC contracts only ('Key Terms and Formulas in Unified Trading Account', 2025-09-02) and the "
        "account IM covers 'Derivatives (excluding Inverse)' ('Unified Trading Account' asset page, "
        "2025-09-18), though the V5 API's 'Different Account Modes' says UTA 2.0 shares margin with "
        "inverse contracts: with no published formula for how, levguard does not guess; evaluate them as "
        "bybit-inverse"
    ),
)
BINANCE = UnifiedVenue(
    name="binance-pm",
    position_venue="binance-usdm",
    ratio_name="uniMMR",
    liquidation_multiple=1.05,
    upnl_in_haircut=True,
    table=BINANCE_PM,
    source=(
        "Binance FAQ 'What Is the Unified Account Maintenance Margin Ratio (uniMMR) And How Is It "
        "Calculated' (binance.com/en/support/faq/4868b2f1aa6c4d08af973328462bb0bd, last updated "
        "2024-11-06): uniMMR = sum adjustedEquity / sum MM, Equity = sum min(E * P * collateralRate, E * P), "
        "sum MM = sum futuresMM * assetIndexPrice + sum MarginMM * assetIndexPrice, futuresMM_UM = |MMR * "
        "Position * MarkPrice| - cum, futuresMM_CM = |MMR * Amount * contract multiplier| - cum, MarginMM = "
        "Loan * MMR; 'Binance Portfolio Margin Pro Maintenance Margin Ratio Calculation' (binance.com/en/"
        "support/faq/5e33af8e6ac04d57a1d0a3398e0a0752): the example's BTCUSD_PERP leg settles in BTC"
    ),
    inverse_venue="binance-coinm",
)
OKX_MCM_VENUE = UnifiedVenue(
    name="okx-mcm",
    position_venue="okx",
    ratio_name="margin_ratio",
    liquidation_multiple=1.0,
    upnl_in_haircut=True,
    table=OKX_MCM,
    inverse_refusal="OKX multi-currency margin is modelled for linear USDT swaps only",
    source=(
        "OKX Help Center 'IV. Multi-currency margin mode: cross margin trading' (okx.com/help/"
        "iv-multi-currency-margin-mode-cross-margin-trading, updated 2024-10-25): Equity (cross) = Balance + "
        "Floating PnL (cross) + Options value - Accrued interest; adjusted equity = sum(currency equity x "
        "discount rate x USD price); 'If your overall adjusted equity (USD) is sufficient to cover the "
        "maintenance margin for all positions, they won't be liquidated'; margin ratio = adjusted equity / "
        "(maintenance margin + liquidation fees), liquidation at <= 100 % (the last two through a "
        "transcription of the page)"
    ),
)
UNIFIED_VENUES: Mapping[str, UnifiedVenue] = {v.name: v for v in (BYBIT, BINANCE, OKX_MCM_VENUE)}
"""The unified-account venues :func:`levguard.evaluate_account` reads."""


def is_unified_spec(spec: Mapping[str, Any]) -> bool:
    """True when ``spec`` names a unified-account venue."""
    venue = spec.get("venue")
    return isinstance(venue, str) and venue.strip().lower() in UNIFIED_VENUES


@dataclass(frozen=True, slots=True)
class _Asset:
    name: str
    net: float  # balance - borrowed, coins
    borrowed: float  # coins owed, the loans' MM base: borrowed + max(0, -balance) = max(borrowed, -net)
    price: float
    tiers: CollateralTiers


@dataclass(frozen=True, slots=True)
class UnifiedAccount:
    """A parsed unified account: its venue rules, assets and positions.

    ``positions`` holds the linear USDT positions (one settlement currency, as every
    :class:`~levguard.core.positions.Account`) under the rules ``model``; ``coin_positions`` the
    COIN-M (inverse) ones, each settled in its coin, under ``inverse_model`` (Binance COIN-M; None
    where the venue refuses them), at the places ``coin_slots`` of the spec's order (:attr:`book`).
    ``options`` are Bybit USDC options (``bybit-uta`` only), at the places ``option_slots`` of
    the spec's positions (:attr:`book` leaves them out; the report puts them back in place).
    """

    venue: UnifiedVenue
    model: VenueModel
    assets: tuple[_Asset, ...]
    loan_mmr: float
    positions: Account
    coin_positions: tuple[Position, ...] = ()
    coin_slots: tuple[int, ...] = ()
    inverse_model: VenueModel | None = None
    options: tuple[BybitOption, ...] = ()
    option_slots: tuple[int, ...] = ()

    @property
    def book(self) -> tuple[Position, ...]:
        """Every position in the spec's order: the linear ones and the COIN-M ones."""
        if not self.coin_positions:
            return self.positions.positions
        out = list(self.positions.positions)
        for slot, p in sorted(zip(self.coin_slots, self.coin_positions, strict=True), key=lambda sp: sp[0]):
            out.insert(slot, p)
        return tuple(out)

    @property
    def exposed(self) -> bool:
        """True when the account holds a position, an option or a debt (a negative net balance or
        a loan): its equity can then fall to 0 and below (see :meth:`UnifiedVenue.liquidatable`)."""
        return bool(self.book or self.options or any(a.net < 0.0 or a.borrowed > 0.0 for a in self.assets))

    def position_model(self, p: Position) -> VenueModel:
        """Return the rules of position ``p`` (the inverse rules for a coin-settled contract)."""
        if p.instrument.inverse and self.inverse_model is not None:
            return self.inverse_model
        return self.model


def _asset_name(raw: object, where: str) -> str:
    # An asset key of the spec's mapping ``where``, stripped and upper-cased ("usdt " is USDT).
    return short_name(raw, f"{where} keys (asset names)", limit=_MAX_ASSET).strip().upper()


def _asset_entries(raw: object, key: str, values: str) -> Iterator[tuple[str, Any]]:
    # (asset name, value) of each entry of ``raw``, the mapping ``key`` of the spec (None: none).
    if raw is None:
        return
    if not isinstance(raw, Mapping):
        raise InputError(f"{key} must map asset -> {values}, was {show(raw)}")
    for k, v in raw.items():
        yield _asset_name(k, key), v


def _asset_map(spec: Mapping[str, Any], key: str, *, low: float | None, strict: bool) -> dict[str, float]:
    out: dict[str, float] = {}
    for name, v in _asset_entries(spec.get(key), key, "amount"):
        if name in out:
            raise InputError(f"{key} names {name!r} twice")
        x = as_amount(v, f"{key}.{name}")
        if not math.isfinite(x):
            raise InputError(f"{key}.{name} must be finite, was {x!r}")
        if low is not None and (x <= low if strict else x < low):
            raise InputError(f"{key}.{name} must be {'>' if strict else '>='} {low:g}, was {x!r}")
        out[name] = x
    return out


def unified_account_from_spec(spec: Mapping[str, Any]) -> UnifiedAccount:
    """Parse a unified-account spec (see the module docstring); errors name field and value."""
    unknown = set(spec) - _SPEC_KEYS
    if unknown:
        names = sorted(k if isinstance(k, str) else show(k, 30) for k in unknown)
        raise InputError(f"unified account spec has unknown field(s) {names}; allowed: {sorted(_SPEC_KEYS)}")
    venue = UNIFIED_VENUES[str(spec["venue"]).strip().lower()]
    refuse_option_book_keys(spec, venue.name)  # the risk report's option book: read by nothing here
    mode = spec.get("margin_mode", "cross")
    if not (isinstance(mode, str) and mode.lower() == "cross"):
        raise InputError(f"margin_mode must be cross on {venue.name} (margin is kept per account), was {show(mode)}")
    balances = _asset_map(spec, "balances", low=None, strict=False)
    borrowed = _asset_map(spec, "borrowed", low=0.0, strict=False)
    prices = _asset_map(spec, "prices", low=0.0, strict=True)
    if spec.get("balances") is None:
        raise InputError(f"balances is required on {venue.name} (asset -> amount), was missing")
    loan_mmr = 0.0
    if any(b > 0.0 for b in borrowed.values()) and spec.get("loan_mmr") is None:
        raise InputError(
            f"loan_mmr is required with borrowed amounts on {venue.name} (the venue's maintenance margin "
            "rate of margin loans, which depends on the leverage chosen), was missing"
        )
    if spec.get("loan_mmr") is not None:
        loan_mmr = as_float(spec["loan_mmr"], "loan_mmr")
        if not (math.isfinite(loan_mmr) and 0.0 <= loan_mmr <= 1.0):
            raise InputError(f"loan_mmr must be a fraction in [0, 1], was {loan_mmr!r}")
    overrides: dict[str, CollateralTiers] = {}
    for name, v in _asset_entries(spec.get("collateral_ratios") or {}, "collateral_ratios", "ratio or tiers"):
        overrides[name] = collateral_tiers_from_spec(name, v, venue.table.basis, f"collateral_ratios.{name}")

    model = get_venue(venue.position_venue)
    inverse_model = get_venue(venue.inverse_venue) if venue.inverse_venue is not None else None
    book, options, option_slots = positions_from_spec(spec, venue, model, inverse_model, prices)
    linear = Account(venue=model.name, wallet_balance=0.0, positions=tuple(p for p in book if not p.instrument.inverse))
    slots = tuple(i for i, p in enumerate(book) if p.instrument.inverse)

    names = list(dict.fromkeys([*balances, *borrowed]))
    if linear.positions and _SETTLE not in names:
        names.insert(0, _SETTLE)
    for i in slots:
        coin = book[i].instrument.settlement.upper()
        if coin not in names:
            names.append(coin)  # the coin a COIN-M position settles in holds its PnL
    if options and _OPTION_SETTLE not in names:
        names.append(_OPTION_SETTLE)  # the row carries the price of the options' USDC
    settled = {book[i].instrument.settlement.upper() for i in slots} | ({_SETTLE} if linear.positions else set())
    assets = []
    for name in names:
        price = prices.get(name, 1.0 if name in STABLECOINS else math.nan)
        if math.isnan(price):
            raise InputError(f"prices.{name} is required (USD price of {name}; only stablecoins default to 1)")
        tiers = overrides.get(name) or venue.table.get(name)
        bal, debt = balances.get(name, 0.0), borrowed.get(name, 0.0)
        if tiers is None and name == _OPTION_SETTLE and name not in balances and name not in borrowed:
            # No USDC held: the row holds 0 coins, whose value no ratio changes.
            tiers = CollateralTiers(name, (0.0,), (1.0,), venue.table.basis, "no USDC held (options settle in it)")
        elif tiers is None and bal - debt <= 0.0 and name not in settled:
            # Held only as a debt, and no PnL joins it: it counts at face value, whatever its ratio.
            tiers = CollateralTiers(name, (0.0,), (1.0,), venue.table.basis, "held only as a debt (face value)")
        if tiers is None:
            raise InputError(
                f"no collateral ratio for {name} on {venue.name} (built-in table as of {venue.table.as_of} has "
                f"{sorted(venue.table.assets)}); give collateral_ratios.{name} as a ratio or tiers"
            )
        assets.append(_Asset(name, bal - debt, debt + max(0.0, -bal), price, tiers))  # a negative balance is owed
    for m in (model, inverse_model):
        if m is not None and m.bankruptcy_close_fee:  # pragma: no cover - no close-fee MM term here
            raise InputError(f"{m.name}: close-fee maintenance is not modelled for unified accounts")
    coin_positions = tuple(book[i] for i in slots)
    return UnifiedAccount(
        venue, model, tuple(assets), loan_mmr, linear, coin_positions, slots, inverse_model, options, option_slots
    )


# --- the account as a function of one position's mark ------------------------------------------

_INVERSE_FLOOR = 1e-12
"""An inverse position's PnL and notional are tested at no less than this fraction of its mark
(they diverge at a price of 0, where the root search starts its bracket)."""
_INVERSE_CEILING = 2.0**52
"""... and at no more than this multiple of its entry price: beyond it ``1 / price`` is below the
float resolution of ``1 / entry``, so the PnL ``q (1 / entry - 1 / price)`` no longer changes with
the price and a crossing found there would be rounding (a short exactly covered by its coin read
as liquidated at 3e20); the search sees the account as it is at the ceiling."""


def _mm_at(model: VenueModel, t: _Terms, price: float) -> float:
    # The position's maintenance margin (settlement currency) at mark ``price``: tiered on the
    # venue's basis, plus the fee term where the venue counts one; equals ``t.base_mm`` at the
    # position's mark.
    notional = float(position_notional(t.q, price, t.inverse))
    basis = t.notional_entry if model.mm_basis is MMBasis.ENTRY else notional
    return float(t.table.maintenance_margin(basis)) + t.fee_mm * notional


@dataclass(frozen=True, slots=True)
class _State:
    # The account as a function of the PnL and MM of the positions settled in one asset (USDT
    # for linear positions, the coin for COIN-M ones), everything else held.
    ua: UnifiedAccount
    settle_index: int  # the asset whose positions vary; -1 when none (no positions, no USDT)
    others_value: float  # haircut USD value of every other asset, with the PnL settled in it
    fixed_mm: float  # USD: the loans' MM plus the MM of the positions settled in other assets

    def equity(self, upnl: float) -> float:
        """Equity after collateral ratios (USD) given the PnL settled in the asset (its units)."""
        assets = self.ua.assets
        if self.settle_index < 0:
            return self.others_value + upnl  # no settlement row: no positions, upnl is 0
        s = assets[self.settle_index]
        if self.ua.venue.upnl_in_haircut:
            return self.others_value + s.tiers.value(s.net + upnl, s.price)
        return self.others_value + s.tiers.value(s.net, s.price) + s.price * upnl

    def mm(self, positions_mm: float) -> float:
        """Total maintenance margin (USD) given the MM of the positions settled in the asset."""
        price = self.ua.assets[self.settle_index].price if self.settle_index >= 0 else 1.0
        return price * positions_mm + self.fixed_mm


def _state(
    ua: UnifiedAccount, k: int, upnl_by: Mapping[int, float], mm_by: Mapping[int, float], option_mm: float
) -> _State:
    # The state varying asset k, with upnl_by / mm_by the PnL and MM (settlement units) of the
    # positions settled in each asset; every asset other than k counts its own PnL.  option_mm:
    # the options' MM (USD), held (their value is not in Bybit's cross-margin balance).
    values = []
    for i, a in enumerate(ua.assets):
        if i == k:
            continue
        if i in upnl_by and ua.venue.upnl_in_haircut:
            values.append(a.tiers.value(a.net + upnl_by[i], a.price))
        elif i in upnl_by:  # pragma: no cover - venues adding PnL at face value take one settlement asset
            values.append(a.tiers.value(a.net, a.price) + a.price * upnl_by[i])
        else:
            values.append(a.tiers.value(a.net, a.price))
    loans = [a.borrowed * ua.loan_mmr * a.price for a in ua.assets]
    settled = [ua.assets[j].price * m for j, m in mm_by.items() if j != k]
    fixed = [*loans, *settled, option_mm] if ua.options else [*loans, *settled]
    return _State(ua, k, math.fsum(values), math.fsum(fixed))


def _root(g: Callable[[float], float], mark: float, side: int) -> float:
    # The price where ``g`` turns from > 0 (safe) to <= 0 (liquidated), searching from ``mark``
    # (NaN when no positive price crosses): the kernel's search, driven with g in Python.
    box = [0.0, math.nan]
    for x in bracket_probes(mark, side, box, math.nextafter):
        box[0] = g(x)
    return box[1]


def _g(
    st: _State, model: VenueModel, t: _Terms, other_upnl: float, other_mm: float, k: float
) -> Callable[[float], float]:
    # E - k * MM (USD) as a function of position t's mark, everything else held.
    q, entry, inverse = t.q, t.pos.entry_price, t.inverse
    floor = t.pos.mark_price * _INVERSE_FLOOR if inverse else 0.0
    ceiling = entry * _INVERSE_CEILING if inverse else math.inf

    def g(price: float) -> float:
        price = min(max(price, floor), ceiling)
        upnl = float(position_upnl(q, entry, price, inverse))
        return st.equity(other_upnl + upnl) - k * st.mm(other_mm + _mm_at(model, t, price))

    return g


def _settle(g: Callable[[float], float], root: float, side: int) -> float:
    # The root moved to the first float the account's own test reads as liquidated (g in the
    # totals' arithmetic, _g_at): the kernel's settle_probes, driven with g in Python.
    box = [0.0, math.nan]
    for x in settle_probes(root, side, box):
        box[0] = g(x)
    return box[1]


def _g_at(
    ua: UnifiedAccount, tot: _Totals, t: _Terms, k: int, mult: float, sums: tuple[list[float], list[float]]
) -> Callable[[float], float]:
    # E - mult * MM (USD) with position t's mark at the price, in the arithmetic of _totals: the
    # PnL and MM settled in asset k are the correctly rounded sums of the positions' terms with
    # t's at the price (fsum of the expansion of the sum, less t's term, plus its term at the
    # price: the float fsum of every term gives), so g <= 0 is the account's liquidatable test.
    # sums: the expansions of asset k's PnL and MM sums.
    model = ua.position_model(t.pos)
    q, entry, inverse = t.q, t.pos.entry_price, t.inverse
    u_parts = [*sums[0], -t.upnl]
    m_parts = [*sums[1], -t.base_mm]

    def g(price: float) -> float:
        upnl = float(position_upnl(q, entry, price, inverse))
        u = _fsum([*u_parts, upnl])
        m = _fsum([*m_parts, _mm_at(model, t, price)])
        if k == tot.k0:
            st = tot.states[k]
            return st.equity(u) - mult * st.mm(m)
        st = _state(ua, tot.k0, {**tot.upnl_by, k: u}, {**tot.mm_by, k: m}, tot.option_mm)
        return st.equity(tot.upnl_by.get(tot.k0, 0.0)) - mult * st.mm(tot.mm_by.get(tot.k0, 0.0))

    return g


def _fsum(values: list[float]) -> float:
    # math.fsum, with an overflow or inf - inf read as the compiled exact_sum reads it (inf, NaN).
    try:
        return math.fsum(values)
    except OverflowError:
        return math.copysign(math.inf, sum(values))
    except ValueError:
        return math.nan


def expansion(values: Sequence[float]) -> list[float]:
    """Floats whose exact sum is the exact sum of ``values``, largest first (each the correctly
    rounded remainder of the last): ``math.fsum([*expansion(v), x])`` is ``math.fsum([*v, x])``.

    Notes
    -----
    ``r_{j+1} = fsum(values - r_1 - ... - r_j)``; each remainder is below half an ulp of the
    last, and a sum of floats has finitely many bits, so the list ends (a few terms in practice).
    A sum that is not finite is its one term.  Shewchuk, "Adaptive precision floating-point
    arithmetic and fast robust geometric predicates", Discrete Comput. Geom. 18 (1997), for
    non-overlapping expansions; :func:`levguard.kernels.unified.expansion` computes the same.
    """
    parts: list[float] = []
    for _ in range(_MAX_PARTS):
        r = _fsum([*values, *(-x for x in parts)])
        if r == 0.0:
            break
        parts.append(r)
        if not math.isfinite(r):
            break
    return parts


def evaluate_unified(ua: UnifiedAccount) -> AccountReport:
    """Evaluate a unified account: collateral after haircuts, the venue's ratio, liquidation prices.

    Returns
    -------
    AccountReport
        Account amounts in USD (``settlement="USD"``): ``wallet_balance`` the face value of the
        balances net of loans, ``equity`` the equity after collateral ratios (Bybit's margin
        balance, Binance's adjusted equity), ``maintenance_margin`` positions' MM plus the
        loans' MM, ``account_ratio`` the venue's ratio, ``collateral`` one row per asset,
        ``liquidation_price_basis`` what the positions' liquidation prices hold fixed
        (:data:`LIQUIDATION_PRICE_BASIS`).  Position amounts stay in each position's settlement
        currency: USDT, or the coin of a COIN-M contract.

    Notes
    -----
    With ``h_a(x)`` the USD value after the progressive collateral ratios of ``x`` coins of asset
    ``a`` at USD (index) price ``P_a`` (``x * P_a`` when ``x <= 0``), ``n_a`` balance minus
    borrowed and ``U_a`` the unrealised PnL of the positions settled in ``a`` (in ``a``: USDT for
    linear positions, the coin for COIN-M ones):

    - Bybit UTA: ``MB = sum_a h_a(n_a) + P_USDT * U_USDT``; account MM rate ``= MM / MB``;
      liquidated when it reaches 100 % (``MB <= MM``).
    - Binance PM: ``E = sum_a h_a(n_a + U_a)`` (``min(x P cr, x P)`` per asset, the futures PnL
      inside the equity of the asset it settles in; no open orders, so no open loss);
      ``uniMMR = E / MM``; liquidation at ``uniMMR <= 105 %``.
    - OKX multi-currency margin: the same adjusted equity (each currency's equity includes the
      floating PnL settled in it, then its discount tiers apply); margin ratio ``= E / MM`` with
      ``MM`` the positions' maintenance margin plus their liquidation (taker) fee, as in
      :data:`levguard.core.rules.okx.OKX`; liquidation at ``<= 100 %``.

    ``MM = sum_a P_a * sum_{i settled in a} MM_i + sum_a L_a * loan_mmr * P_a`` (``L_a = max(borrowed_a, -n_a)``) with
    ``MM_i`` the venue's tiered maintenance margin in the settlement currency: linear at the mark
    (Binance USDⓈ-M, OKX) or at entry (Bybit), as in :func:`levguard.core.margin.evaluate`;
    COIN-M ``MM_i = MMR * |q| / mark - cum`` in the coin (``q`` = contracts x contract size in
    USD; the COIN-M brackets, in coin notional, come from the spec), the inverse rules of
    :data:`levguard.core.rules.binance.COINM`.  Binance's ``futuresMM_CM = |MMR * Amount *
    contract multiplier| - cum`` is the same USD amount when the index equals the mark; its
    ``sum futuresMM * assetIndexPrice`` converts the coin MM at the coin's index price ``P_a``.

    The liquidation price of position ``i`` is the mark of that position at which the account
    reaches the venue's trigger (``E = c * MM``), **holding every other mark and every collateral
    price fixed** (a COIN-M position's coin keeps its index price); found by bracketing from the
    mark and bisecting to adjacent floats (:func:`levguard.kernels.unified.bracket_probes`), then
    settled on the totals' own arithmetic (the PnL and MM settled in the position's asset are the
    correctly rounded sums of every position's terms, its own at the price: :func:`expansion`,
    :func:`levguard.kernels.unified.settle_probes`), it is the first price on the liquidated side
    when the totals' sums cross within :data:`~levguard.kernels.unified.SETTLE_REACH` (4) floats
    of the search's root: the account evaluated at it is liquidatable, one float towards the mark
    it is not.  On accounts whose sums dwarf the position's terms (PnL of 1e8 USD and more beside
    positions of a few thousand) they may cross millions of floats away; the root is kept, and the
    account evaluated there may read safe (an inverse position is searched at no less than
    ``1e-12`` of its mark).  The bankruptcy price solves
    ``E = 0`` the same way.
    Sources: see :data:`BYBIT`, :data:`BINANCE` and :data:`OKX_MCM_VENUE` (``source``), docs/unified.md
    and docs/margin.md ("Unified margin").

    The account is evaluated in one kernel call (:mod:`levguard.core.unified_fast`, once numba
    is loaded in the process or from the second evaluation on) or position by position in
    Python; both give the same report bit for bit and the same errors.  Accounts holding COIN-M
    positions or options take the Python path.

    Bybit USDC options (``bybit-uta``; :mod:`levguard.core.unified_options`): the options value
    ``sum qty * mark`` is left out of the margin balance ``MB`` (cross margin: ``Margin Balance =
    Wallet Balance + Perp & Future UPL``, Bybit "Key Terms and Formulas in Unified Trading
    Account", 2025-09-02) and each short option adds ``P_USDC * MM_o`` to ``MM`` (``MM_o =
    [max(f I, f M) + M + r I] |q|``, Bybit "Initial and Maintenance Margin Calculation
    (Options)", 2023-12-04; long options add 0), so the account MM rate is ``MM / MB`` as
    before.  Option rows carry no liquidation price (None); the linear positions' liquidation
    prices hold the options' MM fixed, with every other mark.  The options' IM is as given.
    """
    if fast_path_ready() and not ua.options:
        report = evaluate_unified_fast(ua)
        if report is not None:
            return report
    return _evaluate_python(ua)


def _settle_index(ua: UnifiedAccount, p: Position) -> int:
    # The asset position p settles in: USDT, or the coin of a COIN-M contract.
    name = p.instrument.settlement.upper() if p.instrument.inverse else _SETTLE
    return next(i for i, a in enumerate(ua.assets) if a.name == name)


@dataclass(frozen=True, slots=True)
class _Totals:
    # The account-level sums of evaluate_unified, before any liquidation price is searched.
    terms: list[_Terms]
    where: list[int]
    groups: list[int]
    upnl_by: dict[int, float]
    mm_by: dict[int, float]
    states: dict[int, _State]
    k0: int  # the asset the totals vary (USDT, or the first settlement asset)
    option_mm: float
    opt_price: float
    equity: float
    maintenance_margin: float
    liquidatable: bool


def _totals(ua: UnifiedAccount) -> _Totals:
    venue = ua.venue
    terms = []
    taken = set(ua.option_slots)  # the options' places: the positions' indices skip them
    slots = [j for j in range(len(ua.book) + len(ua.options)) if j not in taken]
    for i, p in zip(slots, ua.book, strict=True):
        i = spec_place(p, i)
        try:
            terms.append(_terms(ua.position_model(p), p, i))
        except InputError as exc:
            msg = str(exc)
            raise InputError(msg if msg.startswith("positions[") else f"positions[{i}] {msg}") from None
    where = [_settle_index(ua, t.pos) for t in terms]
    groups = list(dict.fromkeys(where))  # settlement assets, in the order of the positions
    upnl_by = {k: math.fsum(t.upnl for t, w in zip(terms, where, strict=True) if w == k) for k in groups}
    mm_by = {k: math.fsum(t.base_mm for t, w in zip(terms, where, strict=True) if w == k) for k in groups}
    # The account's totals are read varying USDT (or the first settlement asset): every other
    # asset counts its own PnL and MM, so any choice gives the same sums.
    usdt = next((i for i, a in enumerate(ua.assets) if a.name == _SETTLE), -1)
    k0 = usdt if usdt >= 0 or not groups else groups[0]
    opt_settle = next((i for i, a in enumerate(ua.assets) if a.name == _OPTION_SETTLE), -1)
    opt_price = ua.assets[opt_settle].price if opt_settle >= 0 else 1.0
    option_mm = opt_price * math.fsum(o.maintenance_margin for o in ua.options) if ua.options else 0.0
    states = {k: _state(ua, k, upnl_by, mm_by, option_mm) for k in dict.fromkeys([k0, *groups])}
    st0 = states[k0]
    equity = st0.equity(upnl_by.get(k0, 0.0))
    total_mm = st0.mm(mm_by.get(k0, 0.0))
    liquidatable = venue.liquidatable(equity, total_mm, exposed=ua.exposed)
    return _Totals(
        terms, where, groups, upnl_by, mm_by, states, k0, option_mm, opt_price, equity, total_mm, liquidatable
    )


def unified_margin_totals(ua: UnifiedAccount) -> tuple[float, float, bool]:
    """Return ``(equity, maintenance_margin, liquidatable)`` of :func:`evaluate_unified` without
    searching the liquidation prices (the numbers a scenario sweep needs; the same floats).

    Notes
    -----
    The account-level terms of :func:`evaluate_unified` (formulas and sources there), computed
    by the same code; the positions' liquidation and bankruptcy price searches, most of an
    evaluation's time, are left out.
    """
    t = _totals(ua)
    return t.equity, t.maintenance_margin, t.liquidatable


def _evaluate_python(ua: UnifiedAccount) -> AccountReport:
    # evaluate_unified position by position (the reference of levguard.core.unified_fast, and the
    # path for the cases the kernel leaves: errors, sums that are not finite, no positions,
    # COIN-M positions).
    venue = ua.venue
    tot = _totals(ua)
    terms, where, groups, upnl_by, mm_by, states = tot.terms, tot.where, tot.groups, tot.upnl_by, tot.mm_by, tot.states
    equity, total_mm, liquidatable, opt_price = tot.equity, tot.maintenance_margin, tot.liquidatable, tot.opt_price
    c = venue.liquidation_multiple

    sums = {
        k: (
            expansion([t.upnl for t, w in zip(terms, where, strict=True) if w == k]),
            expansion([t.base_mm for t, w in zip(terms, where, strict=True) if w == k]),
        )
        for k in groups
    }
    reports: list[PositionReport] = []
    for t, k in zip(terms, where, strict=True):
        p, model, st = t.pos, ua.position_model(t.pos), states[k]
        other_upnl = upnl_by[k] - t.upnl
        other_mm = mm_by[k] - t.base_mm
        side = 1 if p.side > 0 else -1
        lp = _root(_g(st, model, t, other_upnl, other_mm, c), p.mark_price, side)
        lp = _settle(_g_at(ua, tot, t, k, c, sums[k]), lp, side)
        bp = _root(_g(st, model, t, other_upnl, other_mm, 0.0), p.mark_price, side)
        bp = _settle(_g_at(ua, tot, t, k, 0.0, sums[k]), bp, side)
        reports.append(position_report(model, t, t.base_mm, None, lp, bp, liquidatable))

    rows = []
    for i, a in enumerate(ua.assets):
        amount = a.net + (upnl_by[i] if venue.upnl_in_haircut and i in upnl_by else 0.0)
        value = a.tiers.value(amount, a.price)
        face = amount * a.price
        rows.append(CollateralRow(a.name, amount, a.price, value / face if face > 0.0 else 1.0, value))
    wallet = math.fsum(a.net * a.price for a in ua.assets)
    initial = math.fsum(
        ua.assets[k].price * math.fsum(r.initial_margin for r, w in zip(reports, where, strict=True) if w == k)
        for k in groups
    )
    if ua.options:
        initial = math.fsum([initial, opt_price * math.fsum(o.initial_margin for o in ua.options)])
        for slot, o in zip(ua.option_slots, ua.options, strict=True):
            reports.insert(slot, option_report(o, liquidatable))
    return account_report(venue, wallet, equity, total_mm, initial, liquidatable, reports, rows, ua.exposed)
