"""Public margin API: account spec in, report out; and the vectorized isolated path.

``evaluate_account`` is the contract the CLI, the service and users' scripts call::

    >>> import levguard
    >>> report = levguard.evaluate_account({
    ...     "venue": "binance-usdm", "margin_mode": "isolated", "wallet_balance": 0,
    ...     "positions": [{"symbol": "BTCUSDT", "qty": 1, "entry_price": 60000,
    ...                    "mark_price": 60000, "leverage": 20}]})
    >>> round(report.positions[0].liquidation_price, 2)
    57236.18
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from levguard.core.margin import AccountReport, PositionReport, evaluate
from levguard.core.rules import MMBasis, get_venue
from levguard.core.spec import account_from_spec
from levguard.core.tiers import TierTable
from levguard.core.validate import show
from levguard.documents import check_structure, load_spec, load_spec_stream, parse_spec_text
from levguard.errors import InputError
from levguard.kernels.margin import isolated_linear_multi_nb, isolated_linear_nb
from levguard.typing import Float64Array1D

__all__ = [
    "AccountReport",
    "PositionReport",
    "evaluate_account",
    "isolated_liquidation_prices",
    "isolated_margin_arrays",
    "load_spec",
    "load_spec_stream",
    "load_tiers",
    "parse_spec_text",
]

_VECTOR_VENUES = ("binance-usdm", "bybit-linear", "okx", "gate", "hyperliquid", "dydx-v4", "bitmex", "generic")


def evaluate_account(spec: Mapping[str, Any] | str | Path) -> AccountReport:
    """Evaluate an account spec and return its margin report.

    Parameters
    ----------
    spec : dict or path
        The account spec (see docs/margin.md) or a path to a JSON/YAML file holding it.

    Returns
    -------
    AccountReport
        ``report.to_dict()`` is the stable JSON contract.

    Raises
    ------
    InputError
        Any invalid field, naming the field and the value; a file beyond the input limits
        (size, nesting, number of values: see docs/margin.md, "Input limits"); a dict nested
        deeper than :data:`levguard.documents.MAX_NESTING` levels or containing itself.
    """
    if isinstance(spec, str | Path):
        spec = load_spec(spec)
    elif isinstance(spec, Mapping):
        check_structure(spec, "account spec")  # a dict from a caller meets the limits a file meets
    if not isinstance(spec, Mapping):
        raise InputError(f"account spec must be an object, was {type(spec).__name__}")
    report = evaluate(account_from_spec(spec))
    _check_finite(report)
    return report


def _check_finite(report: AccountReport) -> None:
    """Refuse a report whose amounts overflowed float64 (each input finite, a product not).

    The JSON contract (``to_dict``) turns prices without a solution into None but keeps amounts
    as numbers; qty 1e308 x price 10 is inf, which no JSON document can hold.  Raised here, at
    the edge, naming the position and the inputs behind the amount.
    """
    for p in report.positions:
        for name, value in p.to_dict().items():
            if isinstance(value, float) and not math.isfinite(value):
                raise InputError(
                    f"position {show(p.symbol)}: {name} overflows float64 (was {value}) with qty {p.qty!r}, "
                    f"entry_price {p.entry_price!r}, mark_price {p.mark_price!r}; "
                    "amounts must stay within 1.8e308 (check qty, prices, contract_size and leverage)"
                )
    for name, value in report.to_dict().items():
        if isinstance(value, float) and not math.isfinite(value):
            raise InputError(
                f"account {name} overflows float64 (was {value}) with wallet_balance {report.wallet_balance!r}; "
                "amounts must stay within 1.8e308"
            )


def load_tiers(path: str | Path) -> dict[str, TierTable] | TierTable:
    """Load tiers from a JSON/YAML file: a list of tiers, or ``{symbol: [tiers]}`` (ccxt's
    ``fetch_leverage_tiers`` output saved as JSON fits)."""
    raw = load_spec(path)
    if isinstance(raw, Mapping):
        return {
            str(k): TierTable.from_rows(v, source=str(path), where=f"{path}[{show(k, 30)}]") for k, v in raw.items()
        }
    if isinstance(raw, list):
        return TierTable.from_rows(raw, source=str(path), where=str(path))
    raise InputError(f"{path}: expected a list of tiers or a symbol -> tiers mapping, was {type(raw).__name__}")


def _as_table(tiers: object) -> TierTable:
    if isinstance(tiers, TierTable):
        return tiers
    if isinstance(tiers, Sequence) and not isinstance(tiers, str | bytes):
        return TierTable.from_rows(tiers)
    raise InputError(f"tiers must be a TierTable or a list of tier dicts, was {type(tiers).__name__}")


def _array(x: object, name: str, n: int | None) -> Float64Array1D:
    try:
        a = np.ascontiguousarray(np.asarray(x, dtype=np.float64).reshape(-1))
    except (TypeError, ValueError):
        raise InputError(f"{name} must be an array of numbers") from None
    if n is not None and a.shape[0] != n:
        if a.shape[0] == 1:
            return np.full(n, a[0])
        raise InputError(f"{name} must have length {n} (like qty), was {a.shape[0]}")
    return a


def _check(a: Float64Array1D, name: str, *, positive: bool, nonzero: bool = False) -> None:
    bad = ~np.isfinite(a)
    if positive:
        bad |= a <= 0
    if nonzero:
        bad |= a == 0
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        need = "> 0" if positive else ("non-zero and finite" if nonzero else "finite")
        raise InputError(f"{name}[{i}] must be {need}, was {float(a[i])!r}")


def isolated_margin_arrays(
    qty: object,
    entry_price: object,
    isolated_margin: object,
    tiers: object,
    venue: str = "binance-usdm",
    *,
    mark_price: object | None = None,
    taker_fee_rate: float | None = None,
    table_ids: object | None = None,
) -> tuple[Float64Array1D, Float64Array1D, Float64Array1D]:
    """Liquidation price, maintenance margin and margin ratio of N isolated linear positions.

    Parameters
    ----------
    qty, entry_price, isolated_margin : array_like, shape (N,)
        Signed base quantity (> 0 long), entry price, isolated margin (settlement currency).
    tiers : TierTable, list of tier dicts, or a sequence of them
        One shared table, or one table per symbol with ``table_ids`` choosing per position.
    venue : str
        One of ``binance-usdm, bybit-linear, okx, gate, hyperliquid, dydx-v4, bitmex, generic``.
    mark_price : array_like, optional
        Mark prices for MM and margin ratio (default: the entry price).
    taker_fee_rate : float, optional
        OKX/Gate fee term (default: the venue's).
    table_ids : array_like of int, optional
        Per-position index into ``tiers`` when several tables are given.

    Returns
    -------
    (liq_price, maintenance_margin, margin_ratio) : three (N,) float64 arrays
        NaN liquidation price where none exists; ratio inf where the margin balance <= 0.

    Notes
    -----
    Runs the numba kernel :func:`levguard.kernels.margin.isolated_linear_py` (compiled), the
    same per-position solver :func:`evaluate_account` uses, so both agree to the last bit.
    """
    model = get_venue(venue)
    if model.name not in _VECTOR_VENUES:
        raise InputError(f"venue must be one of {', '.join(_VECTOR_VENUES)} for the vectorized path, was {venue!r}")
    q = _array(qty, "qty", None)
    n = q.shape[0]
    ep = _array(entry_price, "entry_price", n)
    mg = _array(isolated_margin, "isolated_margin", n)
    mk = ep if mark_price is None else _array(mark_price, "mark_price", n)
    _check(q, "qty", positive=False, nonzero=True)
    _check(ep, "entry_price", positive=True)
    _check(mg, "isolated_margin", positive=True)
    _check(mk, "mark_price", positive=True)
    fee = 0.0
    if model.fee_in_mm:
        fee = model.default_taker_fee if taker_fee_rate is None else float(taker_fee_rate)
        if not (math.isfinite(fee) and 0.0 <= fee < 0.1):
            raise InputError(f"taker_fee_rate must be a fraction in [0, 0.1), was {taker_fee_rate!r}")
    at_entry = model.mm_basis is MMBasis.ENTRY
    out_lp = np.empty(n)
    out_mm = np.empty(n)
    out_ratio = np.empty(n)
    if table_ids is None:
        t = _as_table(tiers)
        isolated_linear_nb(q, ep, mg, mk, fee, at_entry, t.caps, t.mmrs, t.cums, out_lp, out_mm, out_ratio)
        return out_lp, out_mm, out_ratio
    if not isinstance(tiers, Sequence) or isinstance(tiers, str | bytes) or not tiers:
        raise InputError("tiers must be a non-empty sequence of tables when table_ids is given")
    tables = [_as_table(x) for x in tiers]
    ids = np.ascontiguousarray(np.asarray(table_ids, dtype=np.int64).reshape(-1))
    if ids.shape[0] != n:
        raise InputError(f"table_ids must have length {n} (like qty), was {ids.shape[0]}")
    if n and (ids.min() < 0 or ids.max() >= len(tables)):
        raise InputError(f"table_ids must be in [0, {len(tables)}), was {int(ids.min())}..{int(ids.max())}")
    width = max(len(x) for x in tables)
    caps = np.full((len(tables), width), np.inf)
    mmrs = np.zeros((len(tables), width))
    cums = np.zeros((len(tables), width))
    for r, tab in enumerate(tables):
        k = len(tab)
        caps[r, :k] = tab.caps
        mmrs[r, :k] = tab.mmrs
        cums[r, :k] = tab.cums
        # Padding repeats the last tier so lookups past it stay in that tier.
        mmrs[r, k:] = tab.mmrs[-1]
        cums[r, k:] = tab.cums[-1]
    isolated_linear_multi_nb(q, ep, mg, mk, fee, at_entry, ids, caps, mmrs, cums, out_lp, out_mm, out_ratio)
    return out_lp, out_mm, out_ratio


def isolated_liquidation_prices(
    qty: object,
    entry_price: object,
    isolated_margin: object,
    tiers: object,
    venue: str = "binance-usdm",
    **kwargs: Any,
) -> Float64Array1D:
    """Liquidation prices of N isolated linear positions (NaN where there is none).

    Gives exactly what :func:`evaluate_account` gives for the same isolated positions.  See
    :func:`isolated_margin_arrays` for the parameters.
    """
    return isolated_margin_arrays(qty, entry_price, isolated_margin, tiers, venue, **kwargs)[0]
