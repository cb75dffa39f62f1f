"""Portfolio-margin accounts: Deribit PME (``deribit-pm``) and OKX portfolio margin (``okx-pm``).

Both are read by :func:`levguard.evaluate_account` next to the haircut accounts of
:mod:`levguard.core.unified` and give the same :class:`~levguard.core.margin.AccountReport`.
The requirements come from the engines of :mod:`levguard.core.portfolio_margin` (Deribit) and
:mod:`levguard.core.portfolio_margin_okx` (OKX); this module parses the specs, values the
equity and states each venue's ratio and trigger.  The specs::

    {"venue": "deribit-pm", "currency": "BTC",
     "balances": {"BTC": 1.2},                  # the currency's balance (coin)
     "index_price": 65666.19,                   # USD per coin
     "model_params": {...},                     # optional: private/pme/simulate's model_params
     "as_of": "2024-06-17T10:22:20Z",           # optional: times dated instruments to expiry
     "charges": {"mmp_margin": 0.06},           # optional: charges taken as given (coin)
     "positions": [{"instrument_name": "BTC-PERPETUAL", "size_currency": 0.3,
                    "average_price": 64000, "mark_price": 65910.57}]}

    {"venue": "okx-pm",
     "balances": {"USDT": 20000, "BTC": 0.5},   # currency equity before the swaps' PnL
     "prices": {"BTC": 97000},                  # USD; stablecoins default to 1
     "collateral_ratios": {...},                # optional: discount tiers, as okx-mcm
     "positions": [...],                        # linear USDT swaps, as okx-mcm
     "risk_units": [{"risk_unit": "BTC", "mr4_rate": 0.002}],   # optional per-unit inputs
     "borrow_mmr": 0, "borrow_imr": 0, "liquidation_fees": 0}

See docs/unified.md ("Portfolio margin: Deribit and OKX") for the formulas, sources and
assumptions.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal

import numpy as np

from levguard.core.instruments import ContractKind
from levguard.core.margin import AccountReport, CollateralRow, PositionReport
from levguard.core.options.black76 import black76_price
from levguard.core.portfolio_margin import (
    DERIBIT_PME_BTC_2024_06_17,
    DERIBIT_PME_ETH_2026_02_15,
    DeribitFuture,
    DeribitOption,
    DeribitPmeParams,
    DeribitPmeResult,
    DeribitPosition,
    deribit_pme_margin,
)
from levguard.core.portfolio_margin_okx import (
    OkxAccountMargin,
    OkxPmParams,
    OkxRiskUnit,
    okx_account_margin,
    okx_pm_params,
    okx_risk_unit_margin,
)
from levguard.core.positions import Position
from levguard.core.rules.collateral import OKX_MCM, CollateralTiers, collateral_tiers_from_spec
from levguard.core.symbols import base_asset, dated_expiry, settled_otherwise
from levguard.core.unified import STABLECOINS, _asset_entries, _asset_map, liquidatable_at, mm_over_equity
from levguard.core.unified_options import refuse_option_book_keys
from levguard.core.validate import as_amount, as_float, datetime_ns, show, utc_ns
from levguard.errors import InputError
from levguard.kernels.margin import position_notional, position_upnl

__all__ = [
    "DERIBIT_PM_SOURCE",
    "OKX_PM_SOURCE",
    "PORTFOLIO_MARGIN_VENUES",
    "DeribitPmAccount",
    "DeribitPmLeg",
    "OkxPmAccount",
    "OkxPmAsset",
    "evaluate_portfolio_margin",
    "is_portfolio_margin_spec",
    "portfolio_margin_account_from_spec",
]

PORTFOLIO_MARGIN_VENUES = ("deribit-pm", "okx-pm")
"""The portfolio-margin venues :func:`levguard.evaluate_account` reads."""

DERIBIT_PM_SOURCE = (
    "Deribit API reference private/pme/simulate (OpenAPI 2.1.1, example of 2024-06-17) and "
    "private/get_account_summary (equity, margin_balance, maintenance_margin); support.deribit.com "
    "'Portfolio Margin' (article 25944756247837) and 'Liquidations' (article 25944769313309): the "
    "account is liquidated incrementally once its maintenance margin exceeds 100 % of its margin "
    "balance, until it is back below 100 %"
)
OKX_PM_SOURCE = (
    "OKX API v5 'Position builder (new)' (example of 2025-01-15); OKX help 'Multi-currency margin mode "
    "vs. Portfolio margin mode' (adjusted equity = equity x discount rate; margin ratio = adjusted "
    "equity / (MMR + liquidation cost); MMR = sum of risk-unit derivatives MMR + borrowing MMR; "
    "IMR = 1.3 MMR) and 'Tiered maintenance margin ratio rules' (2025-05-16: forced liquidation when "
    "the margin ratio falls to 100 %)"
)

DERIBIT_RATIO = "maintenance_margin_usage"
OKX_RATIO = "margin_ratio"
_YEAR_NS = 365 * 86_400 * 10**9
_DERIBIT_KEYS = frozenset(
    {"venue", "name", "currency", "balances", "index_price", "model_params", "as_of", "charges", "positions"}
)
_DERIBIT_SIZE_KEYS = ("size", "size_currency", "average_price", "mark_price")
_DERIBIT_POSITION_KEYS = frozenset(
    {"instrument_name", "kind", "t_years", "vol", "underlying_price", *_DERIBIT_SIZE_KEYS}
)
_DERIBIT_CHARGES = ("delta_shock", "correlation_contingency", "spot_margin", "mmp_margin", "open_orders_margin")
_DERIBIT_PRESETS = {"BTC": DERIBIT_PME_BTC_2024_06_17, "ETH": DERIBIT_PME_ETH_2026_02_15}
_DERIBIT_NAME = re.compile(
    r"^(?P<ccy>[A-Z0-9]+)-(?:PERPETUAL|(?P<day>\d{1,2})(?P<mon>[A-Z]{3})(?P<yy>\d{2})"
    r"(?:-(?P<strike>\d+(?:\.\d+)?)-(?P<cp>[CP]))?)$"
)
_OKX_RISK_KEYS = ("risk_units", "borrow_mmr", "borrow_imr", "liquidation_fees")
_OKX_KEYS = frozenset(
    {"venue", "name", "margin_mode", "balances", "prices", "collateral_ratios", "positions", *_OKX_RISK_KEYS}
)
_OKX_UNIT_CHARGES = ("mr2", "mr3", "mr4", "mr5", "mr7", "mr9", "mr4_rate", "mr7_rate")
_OKX_UNIT_PARAMS = ("spot_shocks", "extreme_move", "extreme_move_factor", "imr_factor")
_OKX_UNIT_KEYS = frozenset({"risk_unit", "delta_usd", "stress_delta_usd", *_OKX_UNIT_CHARGES, *_OKX_UNIT_PARAMS})
_SETTLE = "USDT"


def is_portfolio_margin_spec(spec: Mapping[str, Any]) -> bool:
    """True when ``spec`` names a portfolio-margin venue (``deribit-pm``, ``okx-pm``)."""
    venue = spec.get("venue")
    return isinstance(venue, str) and venue.strip().lower() in PORTFOLIO_MARGIN_VENUES


def _unknown(spec: Mapping[str, Any], allowed: frozenset[str], where: str) -> None:
    unknown = set(spec) - allowed
    if unknown:
        names = sorted(k if isinstance(k, str) else show(k, 30) for k in unknown)
        raise InputError(f"{where} has unknown field(s) {names}; allowed: {sorted(allowed)}")


def _amount(value: object, where: str, *, low: float | None = None, strict: bool = False) -> float:
    # A finite amount (numeric strings as the venues' APIs print them), optionally bounded below.
    x = as_amount(value, where)
    if not math.isfinite(x):
        raise InputError(f"{where} must be finite, was {x!r}")
    if low is not None and (x <= low if strict else x < low):
        raise InputError(f"{where} must be {'>' if strict else '>='} {low:g}, was {x!r}")
    return x


def _list(raw: object, where: str) -> Sequence[Any]:
    if raw is None:
        return ()
    if isinstance(raw, str | bytes) or not isinstance(raw, Sequence):
        raise InputError(f"{where} must be a list, was {show(raw)}")
    return raw


def _object(raw: object, where: str) -> Mapping[str, Any]:
    if not isinstance(raw, Mapping):
        raise InputError(f"{where} must be an object, was {show(raw)}")
    return raw


def _named(raw: object, where: str, allowed: frozenset[str], field: str, what: str) -> tuple[Mapping[str, Any], str]:
    # A list entry: an object of ``allowed`` fields whose string ``field`` names it (``what``).
    d = _object(raw, where)
    _unknown(d, allowed, where)
    name = d.get(field)
    if not isinstance(name, str) or not name.strip():
        raise InputError(f"{where}.{field} must be {what}, was {show(name)}")
    return d, name


_FIELD_FIRST = re.compile(r"^[a-z_][a-z0-9_]*(?:\[\d+\])? (?:must|is) ")


def _prefixed(exc: InputError, where: str) -> InputError:
    # The engines name their own fields ("size must be finite"); say where in the spec they are.
    msg = str(exc)
    if msg.startswith(where):
        return InputError(msg)
    return InputError(f"{where}.{msg}" if _FIELD_FIRST.match(msg) else f"{where}: {msg}")


# ============================================================================ Deribit PME


@dataclass(frozen=True, slots=True)
class DeribitPmLeg:
    """One Deribit position of a ``deribit-pm`` account: the engine's position and its valuation.

    ``entry_price`` and ``mark_price`` are USD per coin for a future, coin per option for an
    option (as Deribit quotes them); ``unrealized_pnl`` and ``equity_value`` are coin: a future
    adds its unrealised PnL to the equity, an option its market value ``qty * mark``.
    """

    position: DeribitPosition
    entry_price: float
    mark_price: float
    unrealized_pnl: float
    equity_value: float


@dataclass(frozen=True, slots=True)
class DeribitPmAccount:
    """A parsed ``deribit-pm`` spec: one settlement currency of a coin-margined PME account."""

    currency: str
    balance: float
    index_price: float
    params: DeribitPmeParams
    legs: tuple[DeribitPmLeg, ...]
    charges: Mapping[str, float]

    @property
    def equity(self) -> float:
        """Equity in coin: the balance, the futures' unrealised PnL and the options' value."""
        return self.balance + math.fsum(leg.equity_value for leg in self.legs)

    def margin(self, positions: Sequence[DeribitPosition] | None = None) -> DeribitPmeResult:
        """The engine's answer (:func:`~levguard.core.portfolio_margin.deribit_pme_margin`) for the
        account's positions (or ``positions``, with no charges)."""
        if positions is not None:
            return deribit_pme_margin(positions, self.params, currency=self.currency)
        legs = [leg.position for leg in self.legs]
        return deribit_pme_margin(legs, self.params, currency=self.currency, **self.charges)


def _deribit_params(spec: Mapping[str, Any], currency: str) -> DeribitPmeParams:
    raw = spec.get("model_params")
    if raw is not None:
        return DeribitPmeParams.from_model_params(_object(raw, "model_params"), currency)
    preset = _DERIBIT_PRESETS.get(currency)
    if preset is None:
        raise InputError(
            f"model_params is required for {currency} on deribit-pm (built-in: {sorted(_DERIBIT_PRESETS)}); "
            "give the model_params object of private/pme/simulate"
        )
    return preset


def _deribit_as_of(spec: Mapping[str, Any]) -> int | None:
    if spec.get("as_of") is not None:
        return utc_ns(spec["as_of"], "as_of")
    params = spec.get("model_params")
    general = params.get("general") if isinstance(params, Mapping) else None
    stamp = general.get("timestamp") if isinstance(general, Mapping) else None
    if stamp is None:
        return None
    if isinstance(stamp, bool) or not isinstance(stamp, int) or stamp <= 0:
        raise InputError(f"model_params.general.timestamp must be milliseconds since the epoch, was {show(stamp)}")
    return stamp * 1_000_000


def _deribit_leg(raw: object, i: int, currency: str, index_price: float, as_of: int | None) -> tuple[DeribitPmLeg, str]:
    where = f"positions[{i}]"
    d, name = _named(raw, where, _DERIBIT_POSITION_KEYS, "instrument_name", "a Deribit instrument name")
    name = name.strip().upper()
    m = _DERIBIT_NAME.match(name)
    if m is None or m["ccy"] != currency:
        raise InputError(
            f"{where}.instrument_name must be an inverse {currency} instrument ({currency}-PERPETUAL, "
            f"{currency}-28JUN24 or {currency}-28JUN24-70000-C; linear USDC contracts are not in this model), "
            f"was {name!r}"
        )
    is_option = m["cp"] is not None
    kind = d.get("kind")
    if kind is not None and kind != ("option" if is_option else "future"):
        raise InputError(f"{where}.kind must be {'option' if is_option else 'future'} for {name}, was {show(kind)}")
    if d.get("t_years") is not None:
        t = _amount(d["t_years"], f"{where}.t_years", low=0.0)
    elif m["day"] is None:
        t = 0.0  # a perpetual
    else:
        expiry = dated_expiry(2000 + int(m["yy"]), m["mon"], int(m["day"]), field=f"{where}.instrument_name", raw=name)
        if as_of is None:
            raise InputError(f"{where}: as_of is required to time {name} to its expiry (or give t_years)")
        t = (datetime_ns(expiry) - as_of) / _YEAR_NS
        if t < 0.0:
            raise InputError(f"{where}: {name} expired before as_of ({t * 365:.2f} days)")
    try:
        leg = _deribit_option(d, where, name, m, t, index_price) if is_option else _deribit_future(d, where, name, t)
    except InputError as exc:
        raise _prefixed(exc, where) from None
    return leg, name


def _deribit_future(d: Mapping[str, Any], where: str, name: str, t: float) -> DeribitPmLeg:
    if "vol" in d or "underlying_price" in d:
        raise InputError(f"{where}: vol and underlying_price are option fields; {name} is a future")
    mark = _amount(d.get("mark_price"), f"{where}.mark_price", low=0.0, strict=True)
    if ("size" in d) == ("size_currency" in d):
        raise InputError(f"{where} needs size (USD, as private/get_positions) or size_currency (coin), exactly one")
    if "size" in d:
        size_usd = _amount(d["size"], f"{where}.size")
        size = size_usd / mark  # an inverse contract's coin exposure at the mark
    else:
        size = _amount(d["size_currency"], f"{where}.size_currency")
        size_usd = size * mark
    # A closed position (size 0) may carry average_price 0, as private/get_positions prints it.
    avg = _amount(d.get("average_price"), f"{where}.average_price", low=0.0, strict=size != 0.0)
    upnl = float(position_upnl(size_usd, avg, mark, True)) + 0.0 if size != 0.0 else 0.0  # + 0.0: no -0.0
    return DeribitPmLeg(DeribitFuture(name, size, t), avg, mark, upnl, upnl)


def _deribit_option(
    d: Mapping[str, Any], where: str, name: str, m: re.Match[str], t: float, index_price: float
) -> DeribitPmLeg:
    raw_size = [d[k] for k in ("size", "size_currency") if k in d]
    if not raw_size:
        raise InputError(f"{where}.size is required (coin of underlying, > 0 long), was missing")
    sizes = [_amount(v, f"{where}.size") for v in raw_size]
    if len(sizes) == 2 and sizes[0] != sizes[1]:
        raise InputError(f"{where}: size and size_currency are both coin for an option and differ: {sizes}")
    if d.get("vol") is None:
        raise InputError(f"{where}.vol is required for an option (implied vol, a fraction: mark_iv / 100)")
    vol = _amount(d["vol"], f"{where}.vol", low=0.0)
    fwd = index_price
    if d.get("underlying_price") is not None:
        fwd = _amount(d["underlying_price"], f"{where}.underlying_price", low=0.0, strict=True)
    kind: Literal["call", "put"] = "call" if m["cp"] == "C" else "put"
    option = DeribitOption(name, sizes[0], kind, float(m["strike"]), t, vol, fwd)
    if d.get("mark_price") is not None:
        mark = _amount(d["mark_price"], f"{where}.mark_price", low=0.0)
    else:
        mark = float(np.asarray(black76_price(kind, fwd, option.strike, t, vol, settlement="coin")))
    avg = mark if d.get("average_price") is None else _amount(d["average_price"], f"{where}.average_price", low=0.0)
    return DeribitPmLeg(option, avg, mark, option.qty * (mark - avg) + 0.0, option.qty * mark + 0.0)  # + 0.0: no -0.0


def _deribit_account(spec: Mapping[str, Any]) -> DeribitPmAccount:
    refuse_option_book_keys(spec, "deribit-pm")  # options are positions here
    _unknown(spec, _DERIBIT_KEYS, "deribit-pm account spec")
    raw_ccy = spec.get("currency")
    if not isinstance(raw_ccy, str) or not raw_ccy.strip().isalnum():
        raise InputError(f"currency is required on deribit-pm (the settlement coin, e.g. BTC), was {show(raw_ccy)}")
    currency = raw_ccy.strip().upper()
    if spec.get("balances") is None:
        raise InputError(f"balances is required on deribit-pm ({currency} -> amount), was missing")
    balances = _asset_map(spec, "balances", low=None, strict=False)
    others = sorted(set(balances) - {currency})
    if others:
        raise InputError(
            f"balances may hold only {currency} on deribit-pm (one settlement currency; cross collateral is "
            f"not modelled), was {others}"
        )
    index_price = _amount(spec.get("index_price"), "index_price", low=0.0, strict=True)
    params = _deribit_params(spec, currency)
    as_of = _deribit_as_of(spec)
    charges_raw = _object(spec.get("charges") or {}, "charges")
    _unknown(charges_raw, frozenset(_DERIBIT_CHARGES), "charges")
    charges = {k: _amount(v, f"charges.{k}", low=0.0) for k, v in charges_raw.items()}
    legs: list[DeribitPmLeg] = []
    seen: dict[str, int] = {}
    for i, raw in enumerate(_list(spec.get("positions"), "positions")):
        leg, name = _deribit_leg(raw, i, currency, index_price, as_of)
        if name in seen:
            raise InputError(
                f"positions[{i}].instrument_name must be unique, was {name!r} (also positions[{seen[name]}])"
            )
        seen[name] = i
        legs.append(leg)
    return DeribitPmAccount(
        currency, balances.get(currency, 0.0), index_price, params, tuple(legs), MappingProxyType(charges)
    )


def _position_report(
    symbol: str,
    qty: float,
    kind: str,
    entry: float,
    mark: float,
    notional: float,
    upnl: float,
    im: float,
    mm: float,
    liquidatable: bool,
) -> PositionReport:
    # A portfolio-margin position row: its standalone requirement, no per-position liquidation price.
    return PositionReport(
        symbol=symbol,
        qty=qty,
        side=1 if qty >= 0.0 else -1,
        margin_mode="portfolio",
        contract_kind=kind,
        entry_price=entry,
        mark_price=mark,
        notional=notional,
        leverage=math.nan,
        initial_margin=im,
        maintenance_margin=mm,
        unrealized_pnl=upnl,
        margin_balance=None,
        liquidation_price=None,
        bankruptcy_price=None,
        mmr=mm / notional if notional > 0.0 else 0.0,
        maint_amount=0.0,
        max_leverage=math.nan,
        tier=0,
        health=None,
        liquidatable=liquidatable,
    )


def _evaluate_deribit(acct: DeribitPmAccount) -> AccountReport:
    result = acct.margin()
    equity, mm = acct.equity, result.maintenance_margin
    sizes = (leg.position.size if isinstance(leg.position, DeribitFuture) else leg.position.qty for leg in acct.legs)
    exposed = acct.balance < 0.0 or any(q != 0.0 for q in sizes)  # a leg of size 0 holds nothing
    liquidatable = liquidatable_at(equity, mm, 1.0, exposed)
    rows = []
    for leg in acct.legs:
        alone = acct.margin([leg.position])
        pos = leg.position
        qty = pos.size if isinstance(pos, DeribitFuture) else pos.qty
        kind = ContractKind.INVERSE.value if isinstance(pos, DeribitFuture) else "option"
        rows.append(
            _position_report(
                pos.instrument,
                qty,
                kind,
                leg.entry_price,
                leg.mark_price,
                abs(qty),
                leg.unrealized_pnl,
                alone.initial_margin,
                alone.maintenance_margin,
                liquidatable,
            )
        )
    collateral = CollateralRow(acct.currency, acct.balance, acct.index_price, 1.0, acct.balance * acct.index_price)
    return AccountReport.of(
        "deribit-pm",
        acct.currency,
        acct.balance,
        equity,
        mm,
        result.initial_margin,
        liquidatable,
        rows,
        account_ratio=mm_over_equity(equity, mm, exposed),
        account_ratio_name=DERIBIT_RATIO,
        account_status="liquidation" if liquidatable else "normal",
        collateral=(collateral,),
    )


# ============================================================================ OKX portfolio margin


@dataclass(frozen=True, slots=True)
class OkxPmAsset:
    """One currency of an ``okx-pm`` account: its balance (coin), USD price and discount tiers."""

    name: str
    balance: float
    price: float
    tiers: CollateralTiers


@dataclass(frozen=True, slots=True)
class OkxPmAccount:
    """A parsed ``okx-pm`` spec: currencies, linear USDT swaps grouped into risk units (USD)."""

    assets: tuple[OkxPmAsset, ...]
    positions: tuple[Position, ...]
    units: tuple[OkxRiskUnit, ...]
    params: Mapping[str, OkxPmParams]
    borrow_mmr: float
    borrow_imr: float | None
    liquidation_fees: float
    usdt_price: float
    unit_prices: Mapping[str, float] = dataclasses.field(default_factory=dict)  # the risk units' USD prices

    def position_delta_usd(self, p: Position) -> float:
        """A linear swap's cash delta in USD: ``q * mark * P_USDT`` (``q`` in coin)."""
        return p.q * p.mark_price * self.usdt_price

    def margin(self) -> OkxAccountMargin:
        """The engine's answer (:func:`~levguard.core.portfolio_margin_okx.okx_account_margin`)."""
        return okx_account_margin(
            self.units, borrow_mmr=self.borrow_mmr, borrow_imr=self.borrow_imr, params=self.params
        )


def _okx_unit_entry(raw: object, i: int) -> tuple[str, dict[str, Any], OkxPmParams | None]:
    # One risk_units entry: its name, the OkxRiskUnit fields it gives and its shock overrides.
    where = f"risk_units[{i}]"
    d, name = _named(raw, where, _OKX_UNIT_KEYS, "risk_unit", "an underlying such as 'BTC'")
    unit = base_asset(name, quotes=())
    fields: dict[str, Any] = {}
    for key in ("delta_usd", "stress_delta_usd", *_OKX_UNIT_CHARGES):
        if d.get(key) is not None:
            fields[key] = as_float(d[key], f"{where}.{key}")
    params = None
    if any(d.get(k) is not None for k in _OKX_UNIT_PARAMS):
        over: dict[str, Any] = {}
        for key in _OKX_UNIT_PARAMS:
            if d.get(key) is None:
                continue
            if key == "spot_shocks":
                over[key] = tuple(
                    as_float(s, f"{where}.spot_shocks[{j}]") for j, s in enumerate(_list(d[key], f"{where}.{key}"))
                )
            else:
                over[key] = as_float(d[key], f"{where}.{key}")
        try:
            params = dataclasses.replace(okx_pm_params(unit), **over)
        except InputError as exc:
            raise _prefixed(exc, where) from None
    return unit, fields, params


def _okx_positions(raw: object) -> tuple[Position, ...]:
    from levguard.core.spec import account_from_spec
    from levguard.core.unified_positions import looks_inverse

    for i, d in enumerate(_list(raw, "positions")):
        if isinstance(d, Mapping) and d.get("contract_kind") is None and looks_inverse(d.get("symbol")):
            raise InputError(
                f"positions[{i}] ({d.get('symbol')}) must be a linear USDT swap on okx-pm (the risk units of this "
                f"model), was an inverse (coin-settled) contract's symbol {show(d.get('symbol'))}"
            )
    account = account_from_spec(
        {"venue": "okx", "margin_mode": "cross", "wallet_balance": 0, "positions": _list(raw, "positions")}
    )
    for i, p in enumerate(account.positions):
        where = f"positions[{i}] ({p.symbol})"
        if p.isolated:
            raise InputError(
                f"{where}.margin_mode must be cross on okx-pm (margin is kept per account), was 'isolated'"
            )
        settle = settled_otherwise(p.symbol, p.instrument.settlement, _SETTLE)  # BTC-USDC-SWAP: USDC
        if p.instrument.kind is not ContractKind.LINEAR or settle is not None:
            raise InputError(
                f"{where} must be a linear USDT swap on okx-pm (the risk units of this model), was "
                f"{p.instrument.kind.value} settled in {settle or p.instrument.settlement!r}"
            )
    return account.positions


def _okx_units(
    spec: Mapping[str, Any], positions: Sequence[Position], delta: Mapping[int, float]
) -> tuple[tuple[OkxRiskUnit, ...], dict[str, OkxPmParams]]:
    entries: dict[str, tuple[int, dict[str, Any]]] = {}
    params: dict[str, OkxPmParams] = {}
    for i, raw in enumerate(_list(spec.get("risk_units"), "risk_units")):
        unit, fields, shocks = _okx_unit_entry(raw, i)
        if unit in entries:
            raise InputError(f"risk_units[{i}].risk_unit must be unique, was {unit!r} again")
        entries[unit] = (i, fields)
        if shocks is not None:
            params[unit] = shocks
    by_unit: dict[str, list[float]] = {}
    for k, p in enumerate(positions):
        by_unit.setdefault(base_asset(p.symbol), []).append(delta[k])
    units = []
    for unit in dict.fromkeys([*entries, *by_unit]):
        i, fields = entries.get(unit, (-1, {}))
        where = f"risk_units[{i}]" if i >= 0 else f"risk unit {unit}"
        if unit in by_unit:
            if "delta_usd" in fields:
                raise InputError(
                    f"{where}.delta_usd must be left out: {unit}'s delta comes from its positions "
                    f"({math.fsum(by_unit[unit])!r} USD)"
                )
            fields = {**fields, "delta_usd": math.fsum(by_unit[unit])}
        elif "delta_usd" not in fields:
            raise InputError(f"{where}.delta_usd is required: no position is on {unit} (USD cash delta, signed)")
        try:
            units.append(OkxRiskUnit(unit, **fields))
        except InputError as exc:
            raise _prefixed(exc, where) from None
    return tuple(units), params


def _okx_account(spec: Mapping[str, Any]) -> OkxPmAccount:
    _unknown(spec, _OKX_KEYS, "okx-pm account spec")
    mode = spec.get("margin_mode", "cross")
    if not (isinstance(mode, str) and mode.lower() == "cross"):
        raise InputError(f"margin_mode must be cross on okx-pm (margin is kept per account), was {show(mode)}")
    if spec.get("balances") is None:
        raise InputError("balances is required on okx-pm (currency -> amount), was missing")
    balances = _asset_map(spec, "balances", low=None, strict=False)
    prices = _asset_map(spec, "prices", low=0.0, strict=True)
    overrides: dict[str, CollateralTiers] = {}
    for name, v in _asset_entries(spec.get("collateral_ratios") or {}, "collateral_ratios", "ratio or tiers"):
        overrides[name] = collateral_tiers_from_spec(name, v, OKX_MCM.basis, f"collateral_ratios.{name}")
    usdt_price = prices.get(_SETTLE, 1.0)
    positions = _okx_positions(spec.get("positions"))
    names = list(balances)
    if positions and _SETTLE not in names:
        names.insert(0, _SETTLE)
    assets = []
    for name in names:
        price = prices.get(name, 1.0 if name in STABLECOINS else math.nan)
        if math.isnan(price):
            raise InputError(f"prices.{name} is required (USD price of {name}; only stablecoins default to 1)")
        tiers = overrides.get(name) or OKX_MCM.get(name)
        if tiers is None:
            raise InputError(
                f"no discount rate for {name} on okx-pm (built-in table as of {OKX_MCM.as_of} has "
                f"{sorted(OKX_MCM.assets)}); give collateral_ratios.{name} as a ratio or tiers"
            )
        assets.append(OkxPmAsset(name, balances.get(name, 0.0), price, tiers))
    borrow_mmr = _amount(spec.get("borrow_mmr", 0.0), "borrow_mmr", low=0.0)
    borrow_imr = None if spec.get("borrow_imr") is None else _amount(spec["borrow_imr"], "borrow_imr", low=0.0)
    fees = _amount(spec.get("liquidation_fees", 0.0), "liquidation_fees", low=0.0)
    acct = OkxPmAccount(tuple(assets), positions, (), MappingProxyType({}), borrow_mmr, borrow_imr, fees, usdt_price)
    delta = {k: acct.position_delta_usd(p) for k, p in enumerate(positions)}
    units, params = _okx_units(spec, positions, delta)
    unit_prices = MappingProxyType({u.risk_unit: prices[u.risk_unit] for u in units if u.risk_unit in prices})
    return dataclasses.replace(acct, units=units, params=MappingProxyType(params), unit_prices=unit_prices)


def _evaluate_okx(acct: OkxPmAccount) -> AccountReport:
    margin = acct.margin()
    upnl = {
        k: float(position_upnl(p.q, p.entry_price, p.mark_price, False)) + 0.0 for k, p in enumerate(acct.positions)
    }
    upnl_total = math.fsum(upnl.values())
    rows_c = []
    for a in acct.assets:
        amount = a.balance + (upnl_total if a.name == _SETTLE else 0.0)
        value = a.tiers.value(amount, a.price)
        face = amount * a.price
        rows_c.append(CollateralRow(a.name, amount, a.price, value / face if face > 0.0 else 1.0, value))
    equity = math.fsum(r.value for r in rows_c)
    mm = margin.total_mmr + acct.liquidation_fees
    held = bool(acct.positions) or any(u.delta_usd != 0.0 for u in acct.units)
    exposed = held or any(a.balance < 0.0 for a in acct.assets)
    liquidatable = liquidatable_at(equity, mm, 1.0, exposed)
    units = {u.risk_unit: u for u in acct.units}
    rows = []
    for k, p in enumerate(acct.positions):
        unit = units[base_asset(p.symbol)]
        d = acct.position_delta_usd(p)
        stress = None
        if unit.stress_delta_usd is not None and unit.delta_usd != 0.0:
            stress = d * unit.stress_delta_usd / unit.delta_usd
        alone = okx_risk_unit_margin(
            OkxRiskUnit(unit.risk_unit, d, stress, mr4_rate=unit.mr4_rate, mr7_rate=unit.mr7_rate),
            acct.params.get(unit.risk_unit),
        )
        notional = float(position_notional(p.q, p.mark_price, False))
        im, mm_i = alone.imr / acct.usdt_price, alone.mmr / acct.usdt_price
        rows.append(
            _position_report(
                p.symbol, p.qty, "linear", p.entry_price, p.mark_price, notional, upnl[k], im, mm_i, liquidatable
            )
        )
    return AccountReport.of(
        "okx-pm",
        "USD",
        math.fsum(a.balance * a.price for a in acct.assets),
        equity,
        mm,
        margin.total_imr,
        liquidatable,
        rows,
        account_ratio=equity / mm if mm > 0.0 else None,
        account_ratio_name=OKX_RATIO,
        account_status="liquidation" if liquidatable else "normal",
        collateral=tuple(rows_c),
    )


# ============================================================================ entry points


def portfolio_margin_account_from_spec(spec: Mapping[str, Any]) -> DeribitPmAccount | OkxPmAccount:
    """Parse a ``deribit-pm`` or ``okx-pm`` spec (see the module docstring); errors name field and value."""
    if not is_portfolio_margin_spec(spec):
        raise InputError(f"venue must be one of {', '.join(PORTFOLIO_MARGIN_VENUES)}, was {show(spec.get('venue'))}")
    if str(spec["venue"]).strip().lower() == "deribit-pm":
        return _deribit_account(spec)
    return _okx_account(spec)


def evaluate_portfolio_margin(account: DeribitPmAccount | OkxPmAccount) -> AccountReport:
    """Evaluate a portfolio-margin account: equity, the engine's IM and MM, the venue's ratio.

    Returns
    -------
    AccountReport
        ``deribit-pm``: amounts in the settlement coin (``settlement`` is the currency);
        ``account_ratio`` is ``maintenance_margin_usage = MM / equity``.  ``okx-pm``: account
        amounts in USD, position amounts in USDT; ``account_ratio`` is ``margin_ratio =
        adjusted equity / (MMR + liquidation fees)``.  Each position row carries the requirement
        of the position held alone (the account's is not their sum); no per-position
        liquidation price (None).

    Notes
    -----
    Deribit (:data:`DERIBIT_PM_SOURCE`): equity ``E = balance + sum_futures s_usd (1/avg - 1/mark)
    + sum_options qty * mark`` (coin); IM and MM from
    :func:`~levguard.core.portfolio_margin.deribit_pme_margin` (``MM = mm_factor *
    risk_matrix_margin``); Deribit liquidates once the maintenance margin exceeds 100 % of the
    margin balance, until it is back below; levguard reads the margin balance as ``E`` (cross
    collateral is not modelled) and counts the boundary as liquidated: ``MM >= E``.

    OKX (:data:`OKX_PM_SOURCE`): adjusted equity ``E = sum_a h_a(n_a)`` with ``n_USDT`` including
    the swaps' PnL and ``h_a`` the discount tiers (as ``okx-mcm``); ``MMR = sum_units MMR_u +
    MR8`` from :func:`~levguard.core.portfolio_margin_okx.okx_account_margin`, ``IMR`` likewise;
    margin ratio ``E / (MMR + liquidation fees)``, liquidation at ``<= 100 %``.  A unit's cash
    delta is ``sum q * mark * P_USDT`` over its swaps.
    """
    if isinstance(account, DeribitPmAccount):
        return _evaluate_deribit(account)
    if isinstance(account, OkxPmAccount):
        return _evaluate_okx(account)
    raise InputError(f"account must be a DeribitPmAccount or OkxPmAccount, was {show(account)}")
