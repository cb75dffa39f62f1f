"""Tiered maintenance margin: notional brackets with a rate, a maintenance amount and a leverage cap."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache

import numpy as np

from levguard.core.validate import as_amount, as_float, close, finite, number, positive, rate, show
from levguard.errors import InputError
from levguard.kernels.margin import leverage_tier_index, tier_index
from levguard.typing import Float64Array1D

__all__ = ["BASES", "Tier", "TierTable", "continuity_amounts"]

BASES: tuple[str, ...] = ("notional", "quantity")
"""What a table's floors and caps count (:attr:`TierTable.basis`)."""


@dataclass(frozen=True, slots=True)
class Tier:
    """One notional bracket.

    Parameters
    ----------
    notional_floor, notional_cap : float
        The bracket covers ``[floor, cap)`` in the settlement currency for maintenance margin
        (``cap`` may be inf); its leverage limit includes the cap where the table has a deduction,
        else follows the maintenance margin's tier (:meth:`TierTable.leverage_index`).
        In a table whose :attr:`TierTable.basis` is ``"quantity"`` they are position sizes instead.
    mmr : float
        Maintenance margin rate as a fraction (0.004 = 0.4 %).
    maint_amount : float
        Maintenance amount (Binance ``cum``, Bybit "MM deduction").
    max_leverage : float
        Highest initial leverage allowed in the bracket.
    """

    notional_floor: float
    notional_cap: float
    mmr: float
    maint_amount: float
    max_leverage: float

    def to_dict(self) -> dict[str, float | None]:
        """Return the spec's list-of-dicts shape (an infinite cap becomes None)."""
        return {
            "notional_floor": self.notional_floor,
            "notional_cap": self.notional_cap if math.isfinite(self.notional_cap) else None,
            "mmr": self.mmr,
            "maint_amount": self.maint_amount,
            "max_leverage": self.max_leverage,
        }


def continuity_amounts(floors: Sequence[float], mmrs: Sequence[float]) -> list[float]:
    """Return the maintenance amounts that make MM continuous in notional.

    Notes
    -----
    ``cum_0 = 0``; ``cum_n = cum_{n-1} + floor_n * (mmr_n - mmr_{n-1})``.  Stated in the same form
    by Binance (USDⓈ-M and COIN-M FAQ "Leverage and Margin"), Bybit ("margin parameters"
    announcement, MM deduction) and Hyperliquid (docs "margin tiers").
    """
    out = [0.0]
    for n in range(1, len(mmrs)):
        out.append(out[-1] + floors[n] * (mmrs[n] - mmrs[n - 1]))
    return out


# Aliases accepted when reading tier dicts: ours, Binance's leverageBracket, ccxt's unified tiers.
_KEYS: dict[str, tuple[str, ...]] = {
    "notional_floor": ("notional_floor", "notionalFloor", "minNotional", "qtyFloor", "qtylFloor"),
    "notional_cap": ("notional_cap", "notionalCap", "maxNotional", "qtyCap"),
    "mmr": ("mmr", "maintMarginRatio", "maintenanceMarginRate"),
    "maint_amount": ("maint_amount", "cum", "mmDeduction", "maintenance_deduction"),
    "max_leverage": ("max_leverage", "initialLeverage", "maxLeverage"),
}


_ROW = re.compile(r"\btiers\[(\d+)\]")
"""A row index in :class:`TierTable`'s messages, renamed by :meth:`TierTable.from_rows`."""


def _given(value: object) -> bool:
    # None and a blank string are "not given": Bybit v5 ``/v5/market/risk-limit`` sends
    # ``"mmDeduction": ""`` for the lowest tier, and ccxt passes it on in ``info``.
    return value is not None and not (isinstance(value, str) and not value.strip())


def _pick(row: Mapping[str, object], name: str) -> object | None:
    for key in _KEYS[name]:
        if key in row and _given(row[key]):
            return row[key]
    info = row.get("info")
    if isinstance(info, Mapping):
        for key in _KEYS[name]:
            if key in info and _given(info[key]):
                found: object = info[key]
                return found
    return None


def _fill_bounds(parsed: list[dict[str, float | None]]) -> list[int]:
    """Fill missing floors and caps from the neighbouring rows; return the rows' order.

    The first row's floor defaults to 0, so giving it or not changes nothing.  Rows whose floors
    are then all known are sorted by them (stably); otherwise they keep the order given, a missing
    floor being the previous row's cap and a missing cap the next row's floor (open in the last).
    The returned list maps each position after sorting to the row's index as given.
    """
    order = list(range(len(parsed)))
    if parsed[0]["notional_floor"] is None:
        parsed[0]["notional_floor"] = 0.0
    floors = [v["notional_floor"] for v in parsed]
    if all(f is not None for f in floors):
        order.sort(key=lambda i: float(floors[i] or 0.0))
        parsed[:] = [parsed[i] for i in order]
    for i, vals in enumerate(parsed):
        if vals["notional_floor"] is None:
            vals["notional_floor"] = parsed[i - 1]["notional_cap"] if i > 0 else 0.0
        if vals["notional_cap"] is None:
            nxt = parsed[i + 1]["notional_floor"] if i + 1 < len(parsed) else None
            vals["notional_cap"] = nxt if nxt is not None else math.inf
    return order


def _leverage_cap(max_leverage: float, mmr: float, field: str) -> float:
    # The initial margin rate at the cap, 1 / max_leverage, below the maintenance rate: a position
    # opened at the cap would be liquidatable at once.
    if mmr > 0.0 and max_leverage > (1.0 / mmr) * (1.0 + 1e-9):  # 1 / 5e-324 is inf: any cap fits
        raise InputError(
            f"{field} must be at most 1 / mmr = {1.0 / mmr:g} (an initial margin rate below the maintenance "
            f"rate {mmr!r} opens a position liquidatable), was {max_leverage!r}"
        )
    return max_leverage


@dataclass(frozen=True)
class TierTable:
    """A validated, contiguous table of maintenance-margin tiers.

    Parameters
    ----------
    tiers : tuple of Tier
        Sorted brackets; the first floor is 0, each floor equals the previous cap.
    source : str
        Where the numbers come from (URL or file) and when they were taken.
    fixed : bool
        A single user-given (mmr, maint_amount) pair that applies at every notional; the
        continuity rule is not checked against a floor of 0.
    deduction : bool
        True (Binance, Bybit, Gate, Hyperliquid): each tier has a maintenance amount that makes
        the maintenance margin continuous in notional (the continuity rule).  False (OKX,
        BitMEX): the tier's rate applies to the whole position and there is no amount, so the
        maintenance margin jumps at each cap (:meth:`without_deduction`).
    cap_inclusive : bool
        A notional exactly at a tier's cap is in that tier for the maintenance margin (OKX:
        "Tier 1: 0-5,000, Tier 2: 5,001-7,500" contracts), not in the next (BitMEX: "< 200 XBT
        0.50 %"; False, the default). Only a table without deduction is affected in value: with a
        deduction the maintenance margin is continuous across a cap.  :attr:`caps` encodes it for
        the kernels' lookup ``notional < caps[k]`` (each finite cap moved up to the next float, so
        the lookup is ``notional <= cap`` exactly); :attr:`tiers` keeps the venue's numbers.
    basis : {"notional", "quantity"}
        What the floors and caps count. ``"notional"`` (the default): the position's notional in
        the settlement currency, so a position changes tier as the price moves.  ``"quantity"``:
        the position's size, ``contract_size x |qty|`` (base coins for a linear contract, face
        value for an inverse one), as OKX counts its position tiers (in contracts: ``minSz`` and
        ``maxSz`` of ``GET /api/v5/public/position-tiers``); a position keeps its tier at every
        price.  Such a table has no deduction.  The margin engine applies the tier of the
        position's size (:meth:`at_quantity`); the sizer and the liquidation outcome, which
        change the size, value the caps at the price (:meth:`in_notional`).

    Raises
    ------
    InputError
        Empty, unsorted, overlapping or gapped tiers; rates outside [0, 1); decreasing rates;
        non-positive leverage, or a leverage cap above ``1 / mmr`` (its initial margin rate below
        the maintenance rate: a position opened at it would be liquidatable at once); maintenance
        amounts that break the continuity rule, or any non-zero amount in a table without
        deduction; a basis other than the two, or a quantity basis with a deduction.
    """

    tiers: tuple[Tier, ...]
    source: str = ""
    fixed: bool = False
    deduction: bool = True
    cap_inclusive: bool = False
    basis: str = "notional"
    caps: Float64Array1D = field(init=False, repr=False, compare=False)
    mmrs: Float64Array1D = field(init=False, repr=False, compare=False)
    cums: Float64Array1D = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        tiers = self.tiers
        # None or a str was a raw TypeError/AttributeError; a non-bool flag was read by its truth.
        if isinstance(tiers, str) or not isinstance(tiers, Sequence):
            raise InputError(f"tiers must be a sequence of Tier, was {type(tiers).__name__} {show(tiers)}")
        for i, t in enumerate(tiers):
            if not isinstance(t, Tier):
                raise InputError(f"tiers[{i}] must be a Tier, was {type(t).__name__} {show(t)}")
        for name in ("fixed", "deduction", "cap_inclusive"):
            if not isinstance(getattr(self, name), bool | np.bool_):
                raise InputError(f"{name} must be True or False, was {show(getattr(self, name))}")
        if len(tiers) == 0:
            raise InputError("tiers must hold at least one tier, was empty")
        if self.basis not in BASES:
            raise InputError(f"basis must be one of {', '.join(BASES)}, was {show(self.basis)}")
        if self.basis == "quantity" and self.deduction:
            raise InputError(
                "tiers by quantity have no maintenance deduction (the tier's rate applies to the whole position, "
                "as on OKX): give deduction=False"
            )
        prev: Tier | None = None
        for i, t in enumerate(tiers):
            where = f"tiers[{i}]"
            finite(t.notional_floor, f"{where}.notional_floor")
            if math.isnan(number(t.notional_cap, f"{where}.notional_cap")):  # inf is allowed
                raise InputError(f"{where}.notional_cap must be a number, was nan")
            if not t.notional_cap > t.notional_floor:
                raise InputError(
                    f"{where}.notional_cap must be > notional_floor {t.notional_floor!r}, was {t.notional_cap!r}"
                )
            rate(t.mmr, f"{where}.mmr")
            finite(t.maint_amount, f"{where}.maint_amount")
            if not number(t.max_leverage, f"{where}.max_leverage") > 0.0:
                raise InputError(f"{where}.max_leverage must be > 0, was {t.max_leverage!r}")
            _leverage_cap(t.max_leverage, t.mmr, f"{where}.max_leverage")
            if not self.deduction and t.maint_amount != 0.0:
                raise InputError(
                    f"{where}.maint_amount must be 0: these tiers have no maintenance deduction (the tier's rate "
                    f"applies to the whole position), was {t.maint_amount!r}"
                )
            if prev is None:
                if not close(t.notional_floor, 0.0, abs_=1e-9):
                    raise InputError(
                        f"{where}.notional_floor must be 0 (tiers start at zero notional), was {t.notional_floor!r}"
                    )
                if self.fixed and t.maint_amount < 0.0:
                    raise InputError(
                        f"{where}.maint_amount must be >= 0 (a deduction from notional x mmr), was {t.maint_amount!r}"
                    )
                if not self.fixed and not close(t.maint_amount, 0.0, abs_=1e-6):
                    raise InputError(
                        f"{where}.maint_amount must be 0 in the first tier (continuity rule), was {t.maint_amount!r}"
                    )
            else:
                if not math.isfinite(prev.notional_cap):
                    raise InputError(f"tiers[{i - 1}].notional_cap is infinite but more tiers follow")
                if not close(t.notional_floor, prev.notional_cap, rel=1e-12, abs_=1e-9):
                    kind = "overlaps" if t.notional_floor < prev.notional_cap else "leaves a gap after"
                    raise InputError(
                        f"{where}.notional_floor {t.notional_floor!r} {kind} "
                        f"tiers[{i - 1}].notional_cap {prev.notional_cap!r}"
                    )
                if t.mmr < prev.mmr:
                    raise InputError(f"{where}.mmr must not decrease (was {t.mmr!r} after {prev.mmr!r})")
                if not self.deduction:
                    prev = t
                    continue
                expected = prev.maint_amount + t.notional_floor * (t.mmr - prev.mmr)
                if not close(t.maint_amount, expected, rel=1e-9, abs_=1e-6):
                    raise InputError(
                        f"{where}.maint_amount must be {expected!r} by the continuity rule "
                        f"(previous amount + floor x rate step), was {t.maint_amount!r}"
                    )
            prev = t
        caps = np.array([t.notional_cap for t in tiers], dtype=np.float64)
        caps[-1] = np.inf  # the last tier extends: venues keep applying it beyond its cap
        if self.cap_inclusive:
            caps[:-1] = np.nextafter(caps[:-1], np.inf)
        object.__setattr__(self, "caps", caps)
        object.__setattr__(self, "mmrs", np.array([t.mmr for t in tiers], dtype=np.float64))
        object.__setattr__(self, "cums", np.array([t.maint_amount for t in tiers], dtype=np.float64))

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_rows(
        cls,
        rows: Iterable[Mapping[str, object]],
        *,
        source: str = "",
        where: str = "tiers",
        deduction: bool = True,
        basis: str = "notional",
    ) -> TierTable:
        """Build a table from dicts in our shape, Binance's ``leverageBracket`` shape, or ccxt's
        ``fetch_leverage_tiers`` shape.  Missing maintenance amounts are derived by continuity;
        with ``deduction=False`` (OKX, BitMEX) they are 0 and a non-zero one is refused.  With
        ``basis="quantity"`` the floors and caps are position sizes (:attr:`basis`; OKX's
        contracts times the contract size, :func:`levguard.core.rules.okx.okx_tier_rows`).
        """
        if isinstance(rows, Mapping | str | bytes) or not isinstance(rows, Iterable):  # 5: a TypeError
            raise InputError(f"{where} must be a list of tier objects, was {type(rows).__name__}")
        parsed: list[dict[str, float | None]] = []
        for i, row in enumerate(rows):
            w = f"{where}[{i}]"
            if not isinstance(row, Mapping):
                raise InputError(f"{w} must be an object, was {show(row)}")
            vals: dict[str, float | None] = {}
            for name in _KEYS:
                raw = _pick(row, name)
                if raw is None:
                    vals[name] = None
                elif name == "notional_cap" and isinstance(raw, str) and raw.lower() in ("inf", "infinity"):
                    vals[name] = math.inf
                else:
                    convert = as_float if name == "mmr" else as_amount
                    vals[name] = convert(raw, f"{w}.{name}")
            for required in ("mmr", "max_leverage"):
                if vals[required] is None:
                    raise InputError(f"{w}.{required} is required, was missing")
            parsed.append(vals)
        if not parsed:
            raise InputError(f"{where} must hold at least one tier, was empty")
        order = _fill_bounds(parsed)
        floors = [float(v["notional_floor"] or 0.0) for v in parsed]
        mmrs = [float(v["mmr"] or 0.0) for v in parsed]
        derived = continuity_amounts(floors, mmrs) if deduction else [0.0] * len(floors)
        tiers = tuple(
            Tier(
                notional_floor=floors[i],
                notional_cap=float(v["notional_cap"] if v["notional_cap"] is not None else math.inf),
                mmr=mmrs[i],
                maint_amount=derived[i] if v["maint_amount"] is None else float(v["maint_amount"]),
                max_leverage=float(v["max_leverage"] or 0.0),
            )
            for i, v in enumerate(parsed)
        )
        try:
            return cls(tiers, source=source, deduction=deduction, basis=basis)
        except InputError as exc:
            # Name the rows as given and where they came from: positions[0].tiers[1].notional_floor ...
            msg = _ROW.sub(lambda m: f"{where}[{order[int(m.group(1))]}]", str(exc))
            raise InputError(msg) from None

    @classmethod
    def fixed_rate(
        cls,
        mmr: float,
        maint_amount: float = 0.0,
        max_leverage: float | None = None,
        *,
        source: str = "",
    ) -> TierTable:
        """One (mmr, maint_amount) pair for every notional, e.g. a user-given bracket.

        Raises
        ------
        InputError
            ``mmr`` outside [0, 1), ``maint_amount`` negative or not finite, ``max_leverage`` not > 0
            or above ``1 / mmr``.

        Notes
        -----
        Without a leverage cap the cap defaults to ``1 / (2 * mmr)``: the initial margin rate is
        twice the maintenance rate, as in every Binance bracket (e.g. 125x at 0.4 %) and by
        definition on Hyperliquid.

        The amount is a deduction, ``MM = notional x mmr - maint_amount``, and never negative:
        Binance's ``cum`` is built by the continuity rule from 0 in the first bracket with rates
        that never fall (USDⓈ-M FAQ "Leverage and Margin"), so ``cum_n <= floor_n x mmr_n`` and a
        bracket's MM is at least 0 at every notional it holds.  A negative amount is refused; an
        amount above ``notional x mmr`` at the position's notional (a bracket that cannot hold the
        position) is refused by the account spec (:func:`levguard.core.spec.account_from_spec`).
        Away from the position the pair still applies, and gives ``MM < 0`` below
        ``maint_amount / mmr`` (where the venue would use a lower bracket) in every path alike
        (the account evaluator, the array functions, the backtester: one formula,
        :func:`levguard.kernels.margin.mm_in_tier`); give the venue's whole table (``tiers``) to
        follow its lower brackets.
        """
        rate(mmr, "mmr")
        if not finite(maint_amount, "maint_amount") >= 0.0:
            raise InputError(f"maint_amount must be >= 0 (a deduction from notional x mmr), was {maint_amount!r}")
        if max_leverage is None:
            max_leverage = 1.0 / (2.0 * mmr) if mmr > 0 else math.inf
        else:
            _leverage_cap(positive(max_leverage, "max_leverage"), mmr, "max_leverage")
        tier = Tier(0.0, math.inf, mmr, finite(maint_amount, "maint_amount"), max_leverage)
        return cls((tier,), source=source or "user-given fixed tier", fixed=True)

    @classmethod
    def from_max_leverage(cls, brackets: Sequence[tuple[float, float]], *, source: str = "") -> TierTable:
        """Hyperliquid-style tiers from ``(notional_floor, max_leverage)`` pairs.

        Notes
        -----
        Hyperliquid docs, "Margin tiers" and "Liquidations": the maintenance margin rate is half
        the initial margin rate at the tier's maximum leverage, ``mmr = 1 / (2 * max_leverage)``;
        the maintenance deduction follows the continuity rule.
        """
        floors = [b[0] for b in brackets]
        mmrs = [1.0 / (2.0 * b[1]) for b in brackets]
        amounts = continuity_amounts(floors, mmrs)
        caps = [*floors[1:], math.inf]
        tiers = tuple(Tier(floors[i], caps[i], mmrs[i], amounts[i], brackets[i][1]) for i in range(len(floors)))
        return cls(tiers, source=source)

    # ------------------------------------------------------------------ queries
    def index(self, notional: float) -> int:
        """Return the 0-based index of the tier holding ``notional`` (floor inclusive; with
        :attr:`cap_inclusive`, cap inclusive instead)."""
        return int(tier_index(float(notional), self.caps))

    def tier(self, notional: float) -> Tier:
        """Return the tier holding ``notional``."""
        return self.tiers[self.index(notional)]

    def maintenance_margin(self, notional: float) -> float:
        """Return ``notional * mmr_k - maint_amount_k`` for the tier holding ``notional``."""
        t = self.tier(notional)
        return notional * t.mmr - t.maint_amount

    @property
    def max_position(self) -> float:
        """The largest position the table allows: the last tier's published cap (a notional in the
        settlement currency; a position size where :attr:`basis` is ``"quantity"``), ``inf``
        where the table has none.

        :attr:`caps` ends in ``inf`` instead, for the maintenance margin: a position the price
        carries beyond the last cap keeps the last tier's rate.  Sizing and the backtester's
        initial-margin check open no position beyond this.

        Notes
        -----
        Binance USDⓈ-M ``GET /fapi/v1/leverageBracket``: ``notionalCap`` of a bracket is the
        largest position at its leverage, so the last bracket's (BTCUSDT: 1,800,000,000 at 1x)
        is the largest position the symbol allows; Bybit's risk limit (``riskLimitValue``) and
        OKX's position tiers (``maxSz``) bound the position the same way.
        """
        return self.tiers[-1].notional_cap

    def leverage_index(self, notional: float) -> int:
        """Return the 0-based index of the tier whose leverage limit applies to ``notional``.

        With a deduction (a maintenance margin continuous in notional) a notional exactly at a
        cap keeps that bracket's leverage (the cap is a position limit, included); without one
        the tier that holds ``notional`` for the maintenance margin (:meth:`index`, so
        :attr:`cap_inclusive` decides for both).

        Notes
        -----
        Binance USDⓈ-M "Leverage and Margin" lists BTCUSDT's first bracket as "0 - 50,000" at
        125x (``notionalCap``, the maximum position at that leverage; ``GET
        /fapi/v1/leverageBracket``), and Bybit's risk limit is "position value <= riskLimitValue";
        their maintenance margin is continuous across the cap, so its side of the cap changes
        nothing there.  BitMEX's risk limits exclude their cap ("< 200 XBT: 0.50 %", max 100x;
        bitmex.com/app/riskLimitsExamples): a position of exactly 200 XBT is in the next limit for
        its maintenance margin (1 %) and its leverage (50x) alike.  Opening it at the lower
        limit's 100x would post an initial margin (2 XBT) equal to its 1 % maintenance margin,
        liquidatable at entry.  OKX's tiers include their cap for both ("Tier 1: 0-5,000").
        """
        x = float(notional)
        if self.deduction:
            return int(leverage_tier_index(x, self.caps))
        return int(tier_index(x, self.caps))

    def max_leverage(self, notional: float) -> float:
        """Return the highest initial leverage allowed at ``notional``: the cap of the tier
        :meth:`leverage_index` gives (a bracket's notional cap included where the maintenance
        margin has a deduction; the maintenance margin's tier where it has none)."""
        return self.tiers[self.leverage_index(notional)].max_leverage

    def without_deduction(self, *, cap_inclusive: bool = False) -> TierTable:
        """Return this table with each tier's rate on the whole position and no maintenance amount.

        The same brackets, rates and leverage caps; every maintenance amount 0, so the
        maintenance margin is ``notional * mmr_k`` and jumps at each cap, where a notional
        exactly at a cap is in the lower tier when ``cap_inclusive`` (OKX), else in the next
        (BitMEX).  A table that already is so is returned as it is.

        Notes
        -----
        OKX's margin ratio divides by ``face value x |contracts| x mark x (tier MMR + fee)``: the
        tier's rate times the whole position, and its position tiers (``GET
        /api/v5/public/position-tiers``) carry no deduction (venue-margin-rules.md, OKX).  BitMEX
        raises the maintenance margin of the whole position with each risk-limit step
        (bitmex.com/app/riskLimitsExamples: 180 XBT at 0.50 % is 0.90 XBT; at 230 XBT the rate
        is 1.00 % of the whole, 2.30 XBT).  Tables read from ccxt or a file get amounts by
        continuity; the margin engine applies this to them on those venues
        (:func:`levguard.core.margin.resolve_tiers`).
        """
        if not self.deduction and self.cap_inclusive == cap_inclusive:
            return self
        return _without_deduction(self, cap_inclusive)

    def notional_only(self, field: str) -> TierTable:
        """Return this table, or refuse it, naming ``field``, where its basis is quantity: for code
        that reads caps as notional and has no one price to value them at (the contagion
        simulator)."""
        if self.basis != "notional":
            raise InputError(
                f"{field} must be tiers by notional, was tiers by quantity: value them at a price with "
                "TierTable.in_notional(price)"
            )
        return self

    def at_quantity(self, size: float) -> TierTable:
        """Return the table that applies to a position of ``size`` (``contract_size x |qty|``).

        This table where its basis is notional; by quantity, the tier that holds ``|size|`` as
        one tier over every notional (its rate, leverage cap and the table's flags), so the
        maintenance margin and the liquidation price use that tier at every price.

        Notes
        -----
        OKX: "position tiers" are set by the number of contracts held (``minSz``/``maxSz`` of
        ``GET /api/v5/public/position-tiers``, okx.com/docs-v5/en/#public-data-rest-api-get-position-tiers),
        and the isolated margin ratio divides by ``face value x |contracts| x mark x (MMR + fee)``
        with that tier's MMR (OKX "Introduction to the isolated mode"); the price moves the
        notional, not the tier.
        """
        if self.basis == "notional":
            return self
        return _at_quantity(self, abs(finite(float(as_float(size, "size")), "size")))

    def in_notional(self, price: float, *, inverse: bool = False) -> TierTable:
        """Return this table with its caps valued at ``price``: ``size x price`` (inverse:
        ``size / price``, coins); a notional table as it is.

        Exact at that price: a position of size ``s`` has notional ``s x price`` there, so it
        falls in the same tier in both tables.  For whoever changes the size at one price (the
        sizer, a liquidation that steps a position down its tiers).
        """
        if self.basis == "notional":
            return self
        px = positive(finite(as_float(price, "price"), "price"), "price")
        return _in_notional(self, px, bool(inverse))

    def to_rows(self) -> list[dict[str, float | None]]:
        """Return the list-of-dicts shape used in account specs."""
        return [t.to_dict() for t in self.tiers]

    def to_spec(self) -> list[dict[str, float | None]] | dict[str, object]:
        """Return the account spec's ``tiers`` value: the rows, or by quantity
        ``{"basis": "quantity", "rows": [...]}``."""
        return self.to_rows() if self.basis == "notional" else {"basis": self.basis, "rows": self.to_rows()}

    def __len__(self) -> int:
        return len(self.tiers)


@lru_cache(maxsize=256)
def _without_deduction(table: TierTable, cap_inclusive: bool) -> TierTable:
    # One converted table per table (the engine asks for it at every evaluation).
    tiers = tuple(replace(t, maint_amount=0.0) for t in table.tiers)
    return replace(table, tiers=tiers, deduction=False, cap_inclusive=cap_inclusive)


@lru_cache(maxsize=1024)
def _at_quantity(table: TierTable, size: float) -> TierTable:
    k = table.index(size)
    t = table.tiers[k]
    return TierTable(
        (Tier(0.0, math.inf, t.mmr, 0.0, t.max_leverage),),
        source=f"{table.source}; tier {k + 1} of {len(table)} by size {size:g}".lstrip("; "),
        fixed=True,
        deduction=False,
        cap_inclusive=table.cap_inclusive,
    )


@lru_cache(maxsize=256)
def _in_notional(table: TierTable, price: float, inverse: bool) -> TierTable:
    def value(x: float) -> float:
        return x / price if inverse else x * price

    tiers = tuple(
        replace(t, notional_floor=value(t.notional_floor), notional_cap=value(t.notional_cap)) for t in table.tiers
    )
    note = f"; sizes valued at {price:g}"
    return replace(table, tiers=tiers, basis="notional", source=f"{table.source}{note}".lstrip("; "))
