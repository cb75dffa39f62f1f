"""Where an account's options sit in a risk report: in the cross part, or in wallets of their own.

An account spec's options are valued here (Greeks, scenario revaluation) and split into the
bankruptcy parts :func:`levguard.core.risk.stress.apply_scenario` floors one by one:

* **pooled** in the cross part with the futures: on a venue that pools options
  (:attr:`~levguard.core.rules.base.VenueModel.options_share_margin`: Deribit, OKX) the options
  settled in the account's settlement currency, and all of them with ``cross_collateral: true``;
* **a wallet of their own per currency** otherwise: every option on a venue that keeps options
  apart (Binance's Options account, Bybit's Unified Trading Account, a ``generic`` venue), and on
  Deribit/OKX the options settled in another currency than the account's.  Deribit's default
  (segregated standard margin) sums margin per settlement currency, cross collateral being a mode
  the account turns on ("Cross collateral arrives on Deribit", insights.deribit.com; "Margin types
  and usage", support.deribit.com); OKX shares margin "in the same currency" unless in
  multi-currency or portfolio margin (okx.com/learn/differences-in-trading-account-modes).

Such a wallet is worth ``B + V``: its cash ``B`` (premiums included), the account spec's
``options_wallet_balance`` in the options' currency (``USD`` for USD-settled options, USDT and
USDC counted as USD; the underlying's coin for coin-settled ones; a number when there is one such
wallet, else a mapping currency -> amount), plus its options' value ``V``.  A short option in a
wallet without a balance is refused (its whole liability would read as the venue's loss); a
long-only wallet defaults to 0.  Options on a venue that lists none (Gate, BitMEX, Hyperliquid,
dYdX v4: :attr:`~levguard.core.rules.base.VenueModel.lists_options`) are refused.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from levguard.core.margin import AccountReport
from levguard.core.options.black76 import black76
from levguard.core.positions import Account
from levguard.core.risk.portfolio import OptionPosition, revalue
from levguard.core.risk.stress import AccountStress, Scenario, apply_scenario
from levguard.core.rules.base import VenueModel
from levguard.core.symbols import coin_name, is_usd
from levguard.core.validate import show
from levguard.errors import InputError

__all__ = [
    "OptionBooks",
    "check_venue_options",
    "option_books",
    "option_greeks",
    "option_pnl",
    "option_pnls",
    "same_currency",
    "stress_account",
    "wallet_cash",
]


def _to_settlement(value: float, option: OptionPosition, settlement: str, forward: float) -> float:
    # Option values are in USD or in coin (Deribit); an account reports in its own currency.
    usd_account = is_usd(settlement)
    if option.settlement == "coin" and usd_account:
        return value * forward
    if option.settlement == "usd" and not usd_account:
        return value / forward
    return value


def option_greeks(
    options: Sequence[OptionPosition], prices: Mapping[str, float], settlement: str
) -> list[dict[str, Any]]:
    """Each option's value (its own currency and the account's) and position Greeks."""
    rows = []
    for o in options:
        f = prices[o.underlying or ""]
        g = black76(o.kind, f, o.strike, o.t_years, float(o.vol_at(f, o.t_years)), o.rate, o.settlement)
        n = o.qty * o.contract_size
        rows.append(
            {
                "symbol": o.symbol,
                "qty": o.qty,
                "settlement": o.settlement,
                "forward": f,
                "price": float(g.price),
                "value": n * float(g.price),
                "value_in_account": _to_settlement(n * float(g.price), o, settlement, f),
                "vol": float(o.vol_at(f, o.t_years)),
                "delta": n * float(g.delta),
                "gamma": n * float(g.gamma),
                "vega": n * float(g.vega),
                "theta": n * float(g.theta),
                "rho": n * float(g.rho),
            }
        )
    return rows


def option_pnl(
    account: Account,
    report: AccountReport | None,
    options: Sequence[OptionPosition],
    prices: Mapping[str, float],
    s: Scenario,
) -> float:
    """The options' change in value under ``s``, in the account's currency (0 for none).

    The scenario's instantaneous move of every underlying through :func:`option_pnls` (one row).
    """
    moves = {base: np.array([1.0 + s.shock_for(base)]) for base in prices}
    return float(option_pnls(account, report, options, prices, moves, s.vol_shock)[0])


def option_pnls(
    account: Account,
    report: AccountReport | None,
    options: Sequence[OptionPosition],
    prices: Mapping[str, float],
    moves: Mapping[str, np.ndarray],
    vol_shift: float = 0.0,
) -> np.ndarray:
    """The options' change in value in each of ``S`` instantaneous scenarios, in the account's currency.

    ``moves`` maps every underlying of ``prices`` to its ``(S,)`` price relatives (``1 +`` the
    move); ``vol_shift`` shifts every option's vol.  One revaluation (core revalue), vectorised
    over the scenarios: term-shaped vol shocks on a surface (Deribit PM), values marked in the
    account's currency before and after (a coin-settled option in a USD account: ``n V1 P1 - n V0
    P0``).  Zeros for no option.
    """
    n = next(iter(moves.values())).shape[0] if moves else 1
    if not options:
        return np.zeros(n)
    res = revalue(
        account,
        moves,
        horizon_days=0.0,
        options=options,
        prices=prices,
        vol_shifts={base: vol_shift for base in prices},
        report=report,
        vol_shift_shape="term",
        option_pnl="value",
    )
    out = np.zeros(n)
    for sym in dict.fromkeys(o.symbol for o in options):
        out = out + res.by_position[sym]
    return out


def _currency(o: OptionPosition) -> str:
    # The currency an option settles in: USD (USDT, USDC) or its underlying's coin.
    return "USD" if o.settlement == "usd" else coin_name(o.underlying or "")


def same_currency(currency: str, settlement: str) -> bool:
    """Whether an options wallet's ``currency`` (USD or a coin) is the account's ``settlement``."""
    return is_usd(settlement) if currency == "USD" else coin_name(settlement) == currency


@dataclass(frozen=True)
class OptionBooks:
    """An account's options split into bankruptcy parts (indices into its option list).

    ``pooled`` are in the cross part; ``wallets`` maps a currency to ``(cash, indices)``, a
    wallet of its own with its cash in that currency.
    """

    pooled: tuple[int, ...]
    wallets: Mapping[str, tuple[float, tuple[int, ...]]]


def _flag(spec: Mapping[str, Any], model: VenueModel) -> bool:
    raw = spec.get("cross_collateral", False)
    if not isinstance(raw, bool):
        raise InputError(f"cross_collateral must be true or false, was {show(raw)}")
    if raw and not model.options_share_margin:
        raise InputError(
            f"cross_collateral: {model.name} keeps options in an account of their own; "
            "the flag applies where options share the futures' margin (deribit, okx)"
        )
    return raw


def _cash(value: object, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InputError(f"{where} must be a number, was {show(value)}")
    x = float(value)
    if not (math.isfinite(x) and x >= 0.0):
        raise InputError(f"{where} must be a finite amount >= 0, was {show(value)}")
    return x


def check_venue_options(model: VenueModel, has_options: bool) -> None:
    """Refuse options on a venue that lists none (:attr:`VenueModel.lists_options`), naming it."""
    if has_options and not model.lists_options:
        raise InputError(
            f"options: {model.name} lists no options (the venues that do: deribit, okx, binance-usdm, "
            "binance-coinm, bybit-linear, bybit-inverse, generic); hold them in an account on one of those"
        )


def option_books(
    spec: Mapping[str, Any], model: VenueModel, settlement: str, options: list[OptionPosition]
) -> OptionBooks:
    """Split ``options`` into the cross part and wallets of their own (module docstring).

    Raises
    ------
    InputError
        Options on a venue that lists none; ``cross_collateral`` not a bool or on a venue that
        keeps options apart; ``options_wallet_balance`` not a finite amount >= 0 (or a mapping of
        them by currency), a number for several wallets, a currency no wallet has, or missing for
        a wallet that holds a short option.
    """
    check_venue_options(model, bool(options))
    cross_collateral = _flag(spec, model)
    pooled: list[int] = []
    groups: dict[str, list[int]] = {}
    for i, o in enumerate(options):
        c = _currency(o)
        if model.options_share_margin and (cross_collateral or same_currency(c, settlement)):
            pooled.append(i)
        else:
            groups.setdefault(c, []).append(i)
    raw = spec.get("options_wallet_balance")
    given: dict[str, float] = {}
    if isinstance(raw, Mapping):
        for k, v in raw.items():
            key = "USD" if isinstance(k, str) and is_usd(k) else coin_name(str(k))
            if key not in groups:
                raise InputError(
                    f"options_wallet_balance.{k}: no options wallet in {k} "
                    f"(the account's are: {', '.join(sorted(groups)) or 'none'})"
                )
            given[key] = _cash(v, f"options_wallet_balance.{k}")
    elif raw is not None:
        if len(groups) != 1:
            raise InputError(
                f"options_wallet_balance: the account has {len(groups)} options wallets "
                f"({', '.join(sorted(groups)) or 'none: its options are pooled with its margin'})"
                + ("; give a mapping of currency to amount" if groups else "")
            )
        given[next(iter(groups))] = _cash(raw, "options_wallet_balance")
    wallets: dict[str, tuple[float, tuple[int, ...]]] = {}
    for c, idx in groups.items():
        if c not in given and any(options[i].qty < 0 for i in idx):
            where = "" if model.options_share_margin else f"{model.name} keeps options in an account of their own; "
            pool = (
                f", or set cross_collateral: true if the account pools them with its {settlement} margin"
                if model.options_share_margin
                else ""
            )
            raise InputError(
                f"options_wallet_balance is required: {where}short options settled in {c} "
                f"({', '.join(options[i].symbol for i in idx if options[i].qty < 0)}) draw on that wallet's cash, "
                "premiums included (amount in " + c + ")" + pool
            )
        wallets[c] = (given.get(c, 0.0), tuple(idx))
    return OptionBooks(tuple(pooled), wallets)


def wallet_cash(
    currency: str, amount: float, settlement: str, prices: Mapping[str, float], scenario: Scenario | None = None
) -> float:
    """``amount`` of ``currency`` in the account's ``settlement`` currency, at the scenario's prices.

    Raises
    ------
    InputError
        A coin without a price (no position or option on it).
    """
    if amount == 0.0:
        return 0.0

    def usd(c: str) -> float:
        if is_usd(c):
            return 1.0
        name = coin_name(c)
        if name not in prices:
            raise InputError(f"options_wallet_balance: no price for {name}; add a position or option on it")
        return prices[name] * (1.0 + (scenario.shock_for(name) if scenario is not None else 0.0))

    return amount * usd(currency) / usd(settlement)


def stress_account(
    s: Scenario,
    name: str,
    acc: Account,
    report: AccountReport,
    options: list[OptionPosition],
    prices: Mapping[str, float],
    book: OptionBooks,
    values: list[float],
) -> tuple[AccountStress, float]:
    """apply_scenario with the pooled options in the cross part and each options wallet (its cash
    plus its options' value) a part of its own (option_books); returns it and the options' P&L."""

    def value(idx: Sequence[int]) -> tuple[float, float]:
        v0 = math.fsum(values[i] for i in idx)
        return v0, option_pnl(acc, report, [options[i] for i in idx], prices, s)

    v0, move = value(book.pooled)
    pooled, moves, wallets = (v0, v0 + move), [move], []
    for c, (cash, idx) in book.wallets.items():
        v0, move = value(idx)
        moves.append(move)
        b0, b1 = (wallet_cash(c, cash, report.settlement, prices, x) for x in (None, s))
        wallets.append((b0 + v0, b1 + v0 + move))
    st = apply_scenario(
        acc, s, name=name, before=report, option_values=pooled, options_share_margin=True, option_wallets=wallets
    )
    return st, math.fsum(moves)
