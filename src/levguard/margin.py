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
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from levguard.core.margin import AccountReport, PositionReport, evaluate
from levguard.core.rules import MMBasis, VenueModel, get_venue
from levguard.core.spec import account_from_spec, tiers_from_spec
from levguard.core.tiers import TierTable
from levguard.core.unified import evaluate_unified, is_unified_spec, unified_account_from_spec
from levguard.core.unified_pm import (
    evaluate_portfolio_margin,
    is_portfolio_margin_spec,
    portfolio_margin_account_from_spec,
)
from levguard.core.validate import no_bools_or_strings, number, show
from levguard.documents import check_structure, load_spec, load_spec_stream, parse_spec_text
from levguard.errors import InputError
from levguard.kernels import readonly
from levguard.kernels.margin import AMOUNT_MAX, AMOUNT_MIN, BLOCK, isolated_linear_multi_nb, isolated_linear_nb
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
        The account spec (see docs/margin.md; unified accounts, venue ``bybit-uta``,
        ``binance-pm`` or ``okx-mcm`` with ``balances`` in several assets, and the portfolio-margin
        accounts ``deribit-pm`` and ``okx-pm``: docs/unified.md) or a path to a JSON/YAML file
        holding it.

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
    if is_unified_spec(spec):  # bybit-uta, binance-pm: several collateral assets (docs/unified.md)
        report = evaluate_unified(unified_account_from_spec(spec))
    elif is_portfolio_margin_spec(spec):  # deribit-pm, okx-pm: scenario-based requirements
        report = evaluate_portfolio_margin(portfolio_margin_account_from_spec(spec))
    else:
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
    ``fetch_leverage_tiers`` output saved as JSON fits).  A symbol's tiers may be
    ``{"basis": "quantity", "rows": [...]}``, tiers by position size as an account spec writes
    them (OKX's, :meth:`TierTable.to_spec`), and so may the whole file."""
    raw = load_spec(path)
    if isinstance(raw, Mapping) and "rows" in raw and set(raw) <= {"basis", "rows"}:  # one table: to_spec()
        return _file_tiers(raw, str(path), str(path))
    if isinstance(raw, Mapping):
        return {str(k): _file_tiers(v, f"{path}[{show(k, 30)}]", str(path)) for k, v in raw.items()}
    if isinstance(raw, list):
        return TierTable.from_rows(raw, source=str(path), where=str(path))
    raise InputError(f"{path}: expected a list of tiers or a symbol -> tiers mapping, was {type(raw).__name__}")


def _file_tiers(value: object, where: str, source: str) -> TierTable:
    # One symbol's tiers in a tier file: rows, or {basis, rows} (tiers by size carry no deduction).
    if isinstance(value, Mapping):
        table = tiers_from_spec(value, where, deduction=value.get("basis") != "quantity")
        return replace(table, source=source)
    return TierTable.from_rows(value, source=source, where=where)  # type: ignore[arg-type]


def _as_table(tiers: object, model: VenueModel) -> TierTable:
    # As the venue applies it (amounts dropped on OKX and BitMEX, OKX's caps in the lower tier),
    # as the margin engine does (:func:`levguard.core.margin.resolve_tiers`).
    if isinstance(tiers, TierTable):
        return model.read_tiers(tiers)  # by size (OKX's contracts) too, on venues without deduction
    if isinstance(tiers, Sequence) and not isinstance(tiers, str | bytes):
        return model.read_tiers(TierTable.from_rows(tiers))
    if isinstance(tiers, Mapping):  # {basis, rows}, as an account spec writes tiers by size
        return _as_table(tiers_from_spec(tiers, "tiers", deduction=model.tier_deduction), model)
    raise InputError(f"tiers must be a TierTable or a list of tier dicts, was {type(tiers).__name__}")


def _no_bools(x: object, raw: Float64Array1D, name: str) -> None:
    # Bools in an array argument, checked after the float64 conversion so that the vectorized
    # path stays cheap: a bool array by its dtype, a list by looking only at the entries NumPy
    # read as 0.0 or 1.0 (a scan of every item doubled the time of a 10k-item list).
    if type(x) is float or type(x) is int:
        return
    kind = getattr(getattr(x, "dtype", None), "kind", None)
    if kind in ("i", "u", "f"):
        return
    if kind is not None and kind != "O":  # bool, str or bytes dtype
        raise InputError(f"{name} must be numbers (not bools or strings), was {show(x)}")
    if kind == "O" or not isinstance(x, list | tuple) or len(x) != raw.shape[0]:
        no_bools_or_strings(x, name)
        return
    for i in np.flatnonzero((raw == 0.0) | (raw == 1.0)):
        if isinstance(x[i], bool | np.bool_):
            raise InputError(f"{name} must be numbers (not bools or strings), was {show(x)}")


def _array(x: object, name: str, n: int | None) -> Float64Array1D:
    if x is None:  # NumPy would read None as NaN
        raise InputError(f"{name} must be a number or an array of numbers, was None")
    if isinstance(x, bool | np.bool_ | str | bytes):  # NumPy read True as 1.0 and "5" as 5.0
        raise InputError(f"{name} must be a number or an array of numbers (not a bool or a string), was {show(x)}")
    probe: object = x
    try:
        if isinstance(x, list | tuple):  # NumPy read ["1"] as [1.0]: its own dtype shows the string
            probe = np.asarray(x)
        if np.iscomplexobj(probe):  # type: ignore[arg-type]  # cast to float64 with a ComplexWarning, the imaginary part lost
            raise InputError(f"{name} must be real numbers (not complex numbers), was {show(x)}")
        raw = np.asarray(probe, dtype=np.float64)
    except (TypeError, ValueError, OverflowError):  # OverflowError: an int beyond float64's range
        no_bools_or_strings(x, name)
        raise InputError(f"{name} must be an array of numbers within float64 range, was {show(x)}") from None
    if isinstance(probe, np.ndarray) and probe is not x and probe.dtype.kind not in ("i", "u", "f"):
        no_bools_or_strings(x, name)  # strings, bytes or bools among the items (or all of them)
    if raw.ndim > 1:  # a (2, 2) array was flattened into 4 positions
        raise InputError(f"{name} must be a number or a 1-D array, had shape {raw.shape}")
    _no_bools(x, raw, name)
    a = np.ascontiguousarray(raw.reshape(-1))
    if n is not None and a.shape[0] != n:
        if a.shape[0] == 1:
            return readonly(np.full(n, a[0]))
        raise InputError(f"{name} must have length {n} (like qty), was {a.shape[0]}")
    return readonly(a)  # the kernels' inputs are read-only views (one compiled signature)


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
    out: tuple[Float64Array1D, Float64Array1D, Float64Array1D] | None = None,
) -> tuple[Float64Array1D, Float64Array1D, Float64Array1D]:
    """Liquidation price, maintenance margin and margin ratio of N isolated linear positions.

    Parameters
    ----------
    qty, entry_price, isolated_margin : array_like, shape (N,)
        Signed base quantity (> 0 long), entry price, isolated margin (settlement currency).
    tiers : TierTable, list of tier dicts, ``{basis, rows}``, or a sequence of them
        One shared table, or one table per symbol with ``table_ids`` choosing per position.
        Tiers by position size (``basis="quantity"``, OKX's contracts; venues without a
        deduction): each position is in the tier of ``|qty|`` at every price, as
        :func:`evaluate_account` reads them.
    venue : str
        One of ``binance-usdm, bybit-linear, okx, gate, hyperliquid, dydx-v4, bitmex, generic``.
    mark_price : array_like, optional
        Mark prices for MM and margin ratio (default: the entry price).
    taker_fee_rate : float, optional
        OKX/Gate fee term (default: the venue's).
    table_ids : array_like of int, optional
        Per-position index into ``tiers`` when several tables are given.
    out : three (N,) float64 arrays, optional
        Where to write the results (C-contiguous, writable); returned as given.  Reusing them
        across calls saves allocating and first touching 3 x 8 N bytes.

    Returns
    -------
    (liq_price, maintenance_margin, margin_ratio) : three (N,) float64 arrays
        NaN liquidation price where none exists; ratio inf where the margin balance <= 0.

    Raises
    ------
    InputError
        The first invalid row, named with its index and field (``qty[3] must be non-zero and
        finite, was 0.0``), found by the kernel's own pass; lengths that differ; a bad venue,
        fee, table or ``out`` array.

    Notes
    -----
    Runs the numba kernel :func:`levguard.kernels.margin.isolated_linear_py` (compiled), the
    same per-position solver :func:`evaluate_account` uses, so both agree to the last bit.
    The inputs are checked inside the kernel's pass (:func:`levguard.kernels.margin.first_invalid_row`),
    not in separate NumPy passes.
    """
    q, ep, mg, mk, fee, at_entry, model = _isolated_inputs(
        qty, entry_price, isolated_margin, venue, mark_price, taker_fee_rate
    )
    n = q.shape[0]
    if out is None:
        lp_out, mm_out, ratio_out = np.empty(n), np.empty(n), np.empty(n)
    else:
        if not isinstance(out, tuple) or len(out) != 3:
            raise InputError(
                "out must be a tuple of three float64 arrays (liq_price, maintenance_margin, margin_ratio)"
            )
        lp_out, mm_out, ratio_out = (_out_array(a, f"out[{k}]", n) for k, a in enumerate(out))
    _run_isolated(q, ep, mg, mk, fee, at_entry, model, tiers, table_ids, lp_out, mm_out, ratio_out)
    return lp_out, mm_out, ratio_out


def _isolated_inputs(
    qty: object,
    entry_price: object,
    isolated_margin: object,
    venue: str,
    mark_price: object | None,
    fee_rate: float | None,
) -> tuple[Float64Array1D, Float64Array1D, Float64Array1D, Float64Array1D, float, bool, VenueModel]:
    # The arrays (lengths checked, values checked later in the kernel), the fee, the MM basis and
    # the venue (how it reads tier tables: VenueModel.read_tiers).
    model = get_venue(venue)
    if model.name not in _VECTOR_VENUES:
        raise InputError(f"venue must be one of {', '.join(_VECTOR_VENUES)} for the vectorized path, was {venue!r}")
    q = _array(qty, "qty", None)
    n = q.shape[0]
    ep = _array(entry_price, "entry_price", n)
    mg = _array(isolated_margin, "isolated_margin", n)
    mk = ep if mark_price is None else _array(mark_price, "mark_price", n)
    given = None if fee_rate is None else number(fee_rate, "taker_fee_rate")
    if given is not None and not (math.isfinite(given) and 0.0 <= given < 0.1):  # checked on every venue
        raise InputError(f"taker_fee_rate must be a fraction in [0, 0.1), was {fee_rate!r}")
    fee = 0.0
    if model.fee_in_mm:
        fee = model.default_taker_fee if given is None else given
    return q, ep, mg, mk, fee, model.mm_basis is MMBasis.ENTRY, model


def _out_array(a: object, name: str, n: int) -> Float64Array1D:
    if not (
        isinstance(a, np.ndarray)
        and a.dtype == np.float64
        and a.ndim == 1
        and a.shape[0] == n
        and a.flags.c_contiguous
        and a.flags.writeable
    ):
        shape = getattr(a, "shape", None)
        raise InputError(f"{name} must be a writable C-contiguous float64 array of length {n}, was {shape!r}")
    return a


def _raise_row(i: int, q: Float64Array1D, ep: Float64Array1D, mg: Float64Array1D, mk: Float64Array1D) -> None:
    # Name the first invalid field of row ``i`` (the kernel reported the row).
    if not (q[i] != 0.0 and math.isfinite(q[i])):
        raise InputError(f"qty[{i}] must be non-zero and finite, was {float(q[i])!r}")
    if not AMOUNT_MIN <= abs(q[i]) <= AMOUNT_MAX:
        raise InputError(f"qty[{i}] must be between 1e-30 and 1e30 in magnitude, was {float(q[i])!r}")
    for name, a in (("entry_price", ep), ("isolated_margin", mg), ("mark_price", mk)):
        if not (math.isfinite(a[i]) and a[i] > 0.0):
            raise InputError(f"{name}[{i}] must be > 0, was {float(a[i])!r}")
        if not AMOUNT_MIN <= a[i] <= AMOUNT_MAX:
            raise InputError(f"{name}[{i}] must be between 1e-30 and 1e30, was {float(a[i])!r}")


def _run_isolated(
    q: Float64Array1D,
    ep: Float64Array1D,
    mg: Float64Array1D,
    mk: Float64Array1D,
    fee: float,
    at_entry: bool,
    model: VenueModel,
    tiers: object,
    table_ids: object | None,
    out_lp: Float64Array1D,
    out_mm: Float64Array1D,
    out_ratio: Float64Array1D,
) -> None:
    n = q.shape[0]
    if table_ids is None:
        t = _as_table(tiers, model)
        caps, mmrs, cums = (readonly(x) for x in (t.caps, t.mmrs, t.cums))
        by_size = t.basis == "quantity"
        bad = isolated_linear_nb(q, ep, mg, mk, fee, at_entry, by_size, caps, mmrs, cums, out_lp, out_mm, out_ratio)
    else:
        if not isinstance(tiers, Sequence) or isinstance(tiers, str | bytes) or not tiers:
            raise InputError("tiers must be a non-empty sequence of tables when table_ids is given")
        tables = [_as_table(x, model) for x in tiers]
        try:
            raw_ids = np.asarray(table_ids, dtype=np.float64)
        except (TypeError, ValueError):
            raise InputError("table_ids must be an array of whole numbers") from None
        if raw_ids.ndim != 1 or not (np.isfinite(raw_ids) & (raw_ids == np.floor(raw_ids))).all():  # 1.5 read as 1
            raise InputError(f"table_ids must be a 1-D array of whole numbers, was {show(table_ids)}")
        ids = np.ascontiguousarray(raw_ids.astype(np.int64))
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
        if out_mm.shape[0] != n:  # the multi-table kernel has no block scratch
            out_mm, out_ratio = np.empty(n), np.empty(n)
        sized = readonly(np.array([tab.basis == "quantity" for tab in tables], dtype=np.bool_))
        ids, caps, mmrs, cums = (readonly(x) for x in (ids, caps, mmrs, cums))
        bad = isolated_linear_multi_nb(
            q, ep, mg, mk, fee, at_entry, ids, sized, caps, mmrs, cums, out_lp, out_mm, out_ratio
        )
    if bad >= 0:
        _raise_row(int(bad), q, ep, mg, mk)


def isolated_liquidation_prices(
    qty: object,
    entry_price: object,
    isolated_margin: object,
    tiers: object,
    venue: str = "binance-usdm",
    *,
    mark_price: object | None = None,
    taker_fee_rate: float | None = None,
    table_ids: object | None = None,
    out: Float64Array1D | None = None,
) -> Float64Array1D:
    """Liquidation prices of N isolated linear positions (NaN where there is none).

    Gives exactly what :func:`evaluate_account` gives for the same isolated positions.  See
    :func:`isolated_margin_arrays` for the parameters; ``out`` is one (N,) float64 array for the
    prices (the maintenance margins and ratios the kernel computes on the way stay in a
    block-sized scratch and are not returned).
    """
    q, ep, mg, mk, fee, at_entry, model = _isolated_inputs(
        qty, entry_price, isolated_margin, venue, mark_price, taker_fee_rate
    )
    n = q.shape[0]
    lp_out = np.empty(n) if out is None else _out_array(out, "out", n)
    scratch = min(n, BLOCK)
    _run_isolated(q, ep, mg, mk, fee, at_entry, model, tiers, table_ids, lp_out, np.empty(scratch), np.empty(scratch))
    return lp_out
