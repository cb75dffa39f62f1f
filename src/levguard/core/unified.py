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
Binance USDⓈ-M, OKX swap with its taker fee in MM); other kinds are refused naming the value.
Every account amount is in USD.
See docs/unified.md for the formulas, their sources and a worked example.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

from levguard.core.instruments import ContractKind
from levguard.core.margin import (
    AccountReport,
    CollateralRow,
    PositionReport,
    _Terms,
    _terms,
    position_report,
)
from levguard.core.positions import Account
from levguard.core.rules import MMBasis, VenueModel, get_venue
from levguard.core.rules.collateral import (
    BINANCE_PM,
    BYBIT_UTA,
    OKX_MCM,
    CollateralTable,
    CollateralTiers,
    collateral_tiers_from_spec,
)
from levguard.core.unified_fast import account_report, evaluate_unified_fast, fast_path_ready
from levguard.core.validate import as_amount, as_float, show
from levguard.errors import InputError
from levguard.kernels.margin import position_upnl
from levguard.kernels.unified import bracket_probes

__all__ = [
    "STABLECOINS",
    "UNIFIED_VENUES",
    "UnifiedAccount",
    "UnifiedVenue",
    "evaluate_unified",
    "is_unified_spec",
    "unified_account_from_spec",
]

STABLECOINS = frozenset({"USDT", "USDC", "BUSD", "FDUSD", "DAI", "TUSD", "USD"})
"""Assets priced at 1 USD unless the spec's ``prices`` says otherwise."""
_SETTLE = "USDT"
_EQUITY_OVER_MM = frozenset({"uniMMR", "margin_ratio"})  # ratios that read equity / MM (higher is safer)
_MAX_ASSET = 20
_SPEC_KEYS = {
    "venue",
    "balances",
    "borrowed",
    "prices",
    "collateral_ratios",
    "loan_mmr",
    "positions",
    "tiers",
    "margin_mode",
    "name",
    "options",
    "as_of",
    "vol_surfaces",
}


@dataclass(frozen=True, slots=True)
class UnifiedVenue:
    """Rules of one venue's unified account.

    ``liquidation_multiple`` ``c``: the account is liquidated when ``equity <= c * MM`` (Bybit:
    account MM rate ``MM / margin balance >= 100 %``, so ``c = 1``; Binance: ``uniMMR =
    adjusted equity / MM <= 105 %``, so ``c = 1.05``; OKX: margin ratio ``adjusted equity / (MM +
    liquidation fees) <= 100 %``, so ``c = 1``).  ``upnl_in_haircut``: Binance and OKX value each
    asset's equity including the futures PnL settled in it at its collateral (discount) rate;
    Bybit adds the perpetuals' unrealised PnL to the haircut wallet balance at face value.
    """

    name: str
    position_venue: str
    ratio_name: str
    liquidation_multiple: float
    upnl_in_haircut: bool
    table: CollateralTable
    source: str

    def ratio(self, equity: float, mm: float) -> float | None:
        """The venue's account ratio (None where it is infinite or undefined)."""
        if self.ratio_name in _EQUITY_OVER_MM:
            return equity / mm if mm > 0.0 else None
        if equity > 0.0:
            return mm / equity
        return None if mm > 0.0 else 0.0

    def liquidatable(self, equity: float, mm: float) -> bool:
        """True when the account is at or past the venue's liquidation trigger."""
        return mm > 0.0 and equity <= self.liquidation_multiple * mm

    def status(self, equity: float, mm: float) -> str:
        """The venue's account status.

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
        if self.ratio_name == "uniMMR":
            if mm <= 0.0:
                return "normal"
            u = equity / mm
            for bound, name in ((1.5, "normal"), (1.2, "margin_call"), (1.05, "reduce_only"), (1.0, "liquidation")):
                if u > bound:
                    return name
            return "liquidation_loss"
        if self.ratio_name == "margin_ratio":
            if mm <= 0.0 or equity > 3.0 * mm:
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
        "futuresMM_UM = |MMR * Position * MarkPrice| - cum, MarginMM = Loan * MMR"
    ),
)
OKX_MCM_VENUE = UnifiedVenue(
    name="okx-mcm",
    position_venue="okx",
    ratio_name="margin_ratio",
    liquidation_multiple=1.0,
    upnl_in_haircut=True,
    table=OKX_MCM,
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
    borrowed: float
    price: float
    tiers: CollateralTiers


@dataclass(frozen=True, slots=True)
class UnifiedAccount:
    """A parsed unified account: its venue rules, assets and (linear USDT) positions."""

    venue: UnifiedVenue
    model: VenueModel
    assets: tuple[_Asset, ...]
    loan_mmr: float
    positions: Account


def _asset_name(raw: object, where: str) -> str:
    if not isinstance(raw, str) or not raw.strip() or len(raw) > _MAX_ASSET or not raw.isprintable():
        raise InputError(f"{where} keys must be asset names (at most {_MAX_ASSET} characters), was {show(raw)}")
    return raw.strip().upper()


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
    from levguard.core.spec import account_from_spec

    unknown = set(spec) - _SPEC_KEYS
    if unknown:
        names = sorted(k if isinstance(k, str) else show(k, 30) for k in unknown)
        raise InputError(f"unified account spec has unknown field(s) {names}; allowed: {sorted(_SPEC_KEYS)}")
    venue = UNIFIED_VENUES[str(spec["venue"]).strip().lower()]
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

    raw_positions = spec.get("positions", [])
    account = account_from_spec(
        {
            "venue": venue.position_venue,
            "margin_mode": "cross",
            "wallet_balance": 0,
            "positions": raw_positions,
            **({"tiers": spec["tiers"]} if spec.get("tiers") is not None else {}),
        }
    )
    for i, p in enumerate(account.positions):
        where = f"positions[{i}] ({p.symbol})"
        if p.isolated:
            raise InputError(f"{where}.margin_mode must be cross on {venue.name}, was 'isolated'")
        if p.instrument.kind is not ContractKind.LINEAR:
            raise InputError(
                f"{where}.contract_kind must be linear on {venue.name} (unified accounts take linear USDT "
                f"perpetuals so far), was {p.instrument.kind.value!r}"
            )
        if p.instrument.settlement.upper() != _SETTLE:
            raise InputError(
                f"{where}.settlement must be USDT on {venue.name} (linear USDT perpetuals), "
                f"was {p.instrument.settlement!r}"
            )

    names = list(dict.fromkeys([*balances, *borrowed]))
    if account.positions and _SETTLE not in names:
        names.insert(0, _SETTLE)
    assets = []
    for name in names:
        price = prices.get(name, 1.0 if name in STABLECOINS else math.nan)
        if math.isnan(price):
            raise InputError(f"prices.{name} is required (USD price of {name}; only stablecoins default to 1)")
        tiers = overrides.get(name) or venue.table.get(name)
        if tiers is None:
            raise InputError(
                f"no collateral ratio for {name} on {venue.name} (built-in table as of {venue.table.as_of} has "
                f"{sorted(venue.table.assets)}); give collateral_ratios.{name} as a ratio or tiers"
            )
        bal, debt = balances.get(name, 0.0), borrowed.get(name, 0.0)
        assets.append(_Asset(name, bal - debt, debt, price, tiers))
    model = get_venue(venue.position_venue)
    if model.bankruptcy_close_fee:  # pragma: no cover - linear venues carry no close-fee MM term
        raise InputError(f"{model.name}: close-fee maintenance is not modelled for unified accounts")
    return UnifiedAccount(venue, model, tuple(assets), loan_mmr, account)


# --- the account as a function of one position's mark ------------------------------------------


def _mm_at(model: VenueModel, t: _Terms, price: float) -> float:
    # The position's maintenance margin (USDT) at mark ``price``: tiered on the venue's basis,
    # plus the fee term where the venue counts one; equals ``t.base_mm`` at the position's mark.
    notional = abs(t.q) * price
    basis = t.notional_entry if model.mm_basis is MMBasis.ENTRY else notional
    return float(t.table.maintenance_margin(basis)) + t.fee_mm * notional


@dataclass(frozen=True, slots=True)
class _State:
    ua: UnifiedAccount
    settle_index: int  # index of USDT in assets, -1 when absent
    others_value: float  # haircut USD value of every asset the position PnL does not touch
    loan_mm: float  # USD

    def equity(self, upnl: float) -> float:
        """Equity after collateral ratios (USD) given the total unrealised PnL (USDT)."""
        assets = self.ua.assets
        if self.settle_index < 0:
            return self.others_value + upnl  # no USDT row: no positions, upnl is 0
        s = assets[self.settle_index]
        if self.ua.venue.upnl_in_haircut:
            return self.others_value + s.tiers.value(s.net + upnl, s.price)
        return self.others_value + s.tiers.value(s.net, s.price) + s.price * upnl

    def mm(self, positions_mm: float) -> float:
        """Total maintenance margin (USD) given the positions' MM (USDT)."""
        price = self.ua.assets[self.settle_index].price if self.settle_index >= 0 else 1.0
        return price * positions_mm + self.loan_mm


def _state(ua: UnifiedAccount) -> _State:
    idx = next((i for i, a in enumerate(ua.assets) if a.name == _SETTLE), -1)
    others = math.fsum(a.tiers.value(a.net, a.price) for i, a in enumerate(ua.assets) if i != idx)
    loan_mm = math.fsum(a.borrowed * ua.loan_mmr * a.price for a in ua.assets)
    return _State(ua, idx, others, loan_mm)


def _root(g: Callable[[float], float], mark: float, side: int) -> float:
    # The price where ``g`` turns from > 0 (safe) to <= 0 (liquidated), searching from ``mark``
    # (NaN when no positive price crosses): the kernel's search, driven with g in Python.
    box = [0.0, math.nan]
    for x in bracket_probes(mark, side, box, math.nextafter):
        box[0] = g(x)
    return box[1]


def evaluate_unified(ua: UnifiedAccount) -> AccountReport:
    """Evaluate a unified account: collateral after haircuts, the venue's ratio, liquidation prices.

    Returns
    -------
    AccountReport
        Account amounts in USD (``settlement="USD"``): ``wallet_balance`` the face value of the
        balances net of loans, ``equity`` the equity after collateral ratios (Bybit's margin
        balance, Binance's adjusted equity), ``maintenance_margin`` positions' MM plus the
        loans' MM, ``account_ratio`` the venue's ratio, ``collateral`` one row per asset.
        Position amounts stay in USDT.

    Notes
    -----
    With ``h_a(x)`` the USD value after the progressive collateral ratios of ``x`` coins of asset
    ``a`` at USD price ``P_a`` (``x * P_a`` when ``x <= 0``), ``n_a`` balance minus borrowed and
    ``U`` the positions' unrealised PnL (USDT):

    - Bybit UTA: ``MB = sum_a h_a(n_a) + P_USDT * U``; account MM rate ``= MM / MB``; liquidated
      when it reaches 100 % (``MB <= MM``).
    - Binance PM: ``E = sum_{a != USDT} h_a(n_a) + h_USDT(n_USDT + U)`` (``min(x P cr, x P)``
      per asset; no open orders, so no open loss); ``uniMMR = E / MM``; liquidation at
      ``uniMMR <= 105 %``.
    - OKX multi-currency margin: the same adjusted equity (each currency's equity includes the
      floating PnL settled in it, then its discount tiers apply); margin ratio ``= E / MM`` with
      ``MM`` the positions' maintenance margin plus their liquidation (taker) fee, as in
      :data:`levguard.core.rules.okx.OKX`; liquidation at ``<= 100 %``.

    ``MM = P_USDT * sum_i MM_i + sum_a borrowed_a * loan_mmr * P_a`` with ``MM_i`` the venue's
    linear tiered maintenance margin (Binance at the mark, Bybit at entry, as in
    :func:`levguard.core.margin.evaluate`).

    The liquidation price of position ``i`` is the mark of that position at which the account
    reaches the venue's trigger (``E = c * MM``), **holding every other mark and every collateral
    price fixed**; found by bracketing from the mark and bisecting to adjacent floats
    (:func:`levguard.kernels.unified.bracket_probes`), it is the first price on the liquidated
    side.  The bankruptcy price solves ``E = 0`` the same way.
    Sources: see :data:`BYBIT`, :data:`BINANCE` and :data:`OKX_MCM_VENUE` (``source``), docs/unified.md
    and docs/margin.md ("Unified margin").

    The account is evaluated in one kernel call (:mod:`levguard.core.unified_fast`, once numba
    is loaded in the process or from the second evaluation on) or position by position in
    Python; both give the same report bit for bit and the same errors.
    """
    if fast_path_ready():
        report = evaluate_unified_fast(ua)
        if report is not None:
            return report
    return _evaluate_python(ua)


def _evaluate_python(ua: UnifiedAccount) -> AccountReport:
    # evaluate_unified position by position (the reference of levguard.core.unified_fast, and the
    # path for the cases the kernel leaves: errors, sums that are not finite, no positions).
    venue, model = ua.venue, ua.model
    terms = []
    for i, p in enumerate(ua.positions.positions):
        try:
            terms.append(_terms(model, p, i))
        except InputError as exc:
            msg = str(exc)
            raise InputError(msg if msg.startswith("positions[") else f"positions[{i}] {msg}") from None
    st = _state(ua)
    upnl_total = math.fsum(t.upnl for t in terms)
    mm_list = [t.base_mm for t in terms]
    mm_total = math.fsum(mm_list)
    equity = st.equity(upnl_total)
    total_mm = st.mm(mm_total)
    liquidatable = venue.liquidatable(equity, total_mm)
    c = venue.liquidation_multiple

    reports: list[PositionReport] = []
    for t, mm_i in zip(terms, mm_list, strict=True):
        p = t.pos
        other_upnl = upnl_total - t.upnl
        other_mm = mm_total - mm_i

        def g(price: float, k: float, t: _Terms = t, ou: float = other_upnl, om: float = other_mm) -> float:
            upnl = float(position_upnl(t.q, t.pos.entry_price, price, False))
            return st.equity(ou + upnl) - k * st.mm(om + _mm_at(model, t, price))

        side = 1 if p.side > 0 else -1
        lp = _root(partial(g, k=c), p.mark_price, side)
        bp = _root(partial(g, k=0.0), p.mark_price, side)
        reports.append(position_report(model, t, mm_i, None, lp, bp, liquidatable))

    rows = []
    for a in ua.assets:
        amount = a.net + (upnl_total if venue.upnl_in_haircut and a.name == _SETTLE else 0.0)
        value = a.tiers.value(amount, a.price)
        face = amount * a.price
        rows.append(CollateralRow(a.name, amount, a.price, value / face if face > 0.0 else 1.0, value))
    usdt_price = ua.assets[st.settle_index].price if st.settle_index >= 0 else 1.0
    wallet = math.fsum(a.net * a.price for a in ua.assets)
    initial = usdt_price * math.fsum(r.initial_margin for r in reports)
    return account_report(venue, wallet, equity, total_mm, initial, liquidatable, reports, rows)
