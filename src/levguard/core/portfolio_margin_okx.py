"""OKX portfolio margin (MR1-MR9 composition per risk unit); see :mod:`levguard.core.portfolio_margin`
for the Deribit PME and the sources (docs/unified.md)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

from levguard.core.portfolio_margin import _fraction, _text
from levguard.core.records import JsonRecord
from levguard.core.validate import finite_number, non_negative_number, show
from levguard.errors import InputError

__all__ = [
    "OKX_MR1_SHOCKS",
    "OKX_MR6_SHOCKS",
    "OkxAccountMargin",
    "OkxPmParams",
    "OkxRiskUnit",
    "OkxRiskUnitMargin",
    "okx_account_margin",
    "okx_pm_params",
    "okx_risk_unit_margin",
]


# ============================================================================ OKX portfolio margin
OKX_MR1_SHOCKS: Mapping[str, tuple[float, ...]] = MappingProxyType(
    {
        "BTC": (0.04, 0.08, 0.12),
        "ETH": (0.04, 0.08, 0.12),
        **dict.fromkeys(
            ("LTC", "BCH", "EOS", "OKB", "DOT", "BSV", "LINK", "FIL", "ADA", "TRX", "UNI", "XRP"), (0.06, 0.12, 0.18)
        ),
    }
)
"""MR1 spot-shock magnitudes per underlying from 6 Jan 2025 (others: ``(0.08, 0.16, 0.25)``).

Source: OKX announcement "OKX will further adjust portfolio margin parameters" (2025-01-02)."""

OKX_MR6_SHOCKS: Mapping[str, float] = MappingProxyType(
    {
        "BTC": 0.24,
        "ETH": 0.24,
        **dict.fromkeys(("SOL", "DOGE", "PEPE", "XRP", "BNB", "SHIB", "LTC", "ORDI", "WLD", "BCH", "ADA"), 0.36),
    }
)
"""MR6 extreme-move size per underlying from Jan 2025 (others: 0.50); same source as MR1."""

_OKX_MR1_OTHERS: tuple[float, ...] = (0.08, 0.16, 0.25)
_OKX_MR6_OTHERS: float = 0.50


@dataclass(frozen=True, slots=True)
class OkxPmParams(JsonRecord):
    """OKX portfolio-margin shock sizes of one risk unit.

    Parameters
    ----------
    spot_shocks : tuple of float
        Positive MR1 shock magnitudes (fractions); the grid is 0 and each +/- magnitude.
    extreme_move : float
        MR6 move size (fraction), applied up and down.
    extreme_move_factor : float, default 0.5
        Share of the extreme-move loss that MR6 charges: **observed** in the position-builder
        example (both units), not documented by OKX.
    imr_factor : float, default 1.3
        ``IMR = imr_factor * MMR`` (OKX help; exact in the example).
    """

    spot_shocks: tuple[float, ...]
    extreme_move: float
    extreme_move_factor: float = 0.5
    imr_factor: float = 1.3

    def __post_init__(self) -> None:
        if not isinstance(self.spot_shocks, tuple) or not self.spot_shocks:
            raise InputError(f"spot_shocks must be a non-empty tuple of numbers, was {show(self.spot_shocks)}")
        for i, s in enumerate(self.spot_shocks):
            _fraction(s, f"spot_shocks[{i}]", lo=0.0, hi=1.0, lo_open=True)
        _fraction(self.extreme_move, "extreme_move", lo=0.0, hi=1.0, lo_open=True)
        _fraction(self.extreme_move_factor, "extreme_move_factor", lo=0.0, hi=1.0)
        x = finite_number(self.imr_factor, "imr_factor")
        if x < 1.0:
            raise InputError(f"imr_factor must be >= 1, was {self.imr_factor!r}")


def okx_pm_params(underlying: str) -> OkxPmParams:
    """Return the Jan-2025 OKX MR1/MR6 shock sizes of ``underlying`` (``"BTC"``, ``"BTC-USDT"``, ...).

    Notes
    -----
    OKX announcement of 2025-01-02: MR1 +/-0/4/8/12 % for BTC and ETH, +/-0/6/12/18 % for LTC, BCH,
    EOS, OKB, DOT, BSV, LINK, FIL, ADA, TRX, UNI, XRP, +/-0/8/16/25 % otherwise; MR6 +/-24 % for BTC
    and ETH, +/-36 % for SOL, DOGE, PEPE, XRP, BNB, SHIB, LTC, ORDI, WLD, BCH, ADA, +/-50 % otherwise.
    """
    base = _text(underlying, "underlying").strip().upper().split("-")[0]
    return OkxPmParams(OKX_MR1_SHOCKS.get(base, _OKX_MR1_OTHERS), OKX_MR6_SHOCKS.get(base, _OKX_MR6_OTHERS))


@dataclass(frozen=True, slots=True)
class OkxRiskUnit(JsonRecord):
    """One OKX risk unit (underlying) of linear derivatives, amounts in USD.

    Parameters
    ----------
    risk_unit : str
        Underlying, e.g. ``"BTC"``.
    delta_usd : float
        Signed cash delta of the unit in USD (the API's ``delta`` with ``greeksType`` CASH).
    stress_delta_usd : float or None, default None
        Signed USD exposure that the MR1/MR6 shocks multiply; ``None`` uses ``delta_usd``.  In the
        position-builder example it is 0.015 % (BTC) smaller than ``delta``: the grid is priced at
        another reference price than the mark (see the golden tests).
    mr2, mr3, mr5, mr9 : float, default 0
        Given charges (>= 0): time value, volatility span, interest rate (options) and the
        USDT-USDC-USD hedge risk; 0 for a linear book.
    mr4, mr7 : float or None, default None
        Given basis and position-reduction charges (>= 0).
    mr4_rate, mr7_rate : float or None, default None
        Alternatively, a share of ``|delta_usd|``; **observed** in the example (BTC 0.002 and
        0.0045, LTC 0.008 and 0.007), not OKX's formula.  Give a charge or its rate, not both;
        neither means 0.
    """

    risk_unit: str
    delta_usd: float
    stress_delta_usd: float | None = None
    mr2: float = 0.0
    mr3: float = 0.0
    mr4: float | None = None
    mr5: float = 0.0
    mr7: float | None = None
    mr9: float = 0.0
    mr4_rate: float | None = None
    mr7_rate: float | None = None

    def __post_init__(self) -> None:
        _text(self.risk_unit, "risk_unit")
        finite_number(self.delta_usd, "delta_usd")
        if self.stress_delta_usd is not None:
            finite_number(self.stress_delta_usd, "stress_delta_usd")
        for name in ("mr2", "mr3", "mr5", "mr9"):
            non_negative_number(getattr(self, name), name)
        for name in ("mr4", "mr7", "mr4_rate", "mr7_rate"):
            if getattr(self, name) is not None:
                non_negative_number(getattr(self, name), name)
        for name in ("mr4", "mr7"):
            if getattr(self, name) is not None and getattr(self, f"{name}_rate") is not None:
                raise InputError(
                    f"give {name} or {name}_rate, not both; was {name}={getattr(self, name)!r}, "
                    f"{name}_rate={getattr(self, f'{name}_rate')!r}"
                )


@dataclass(frozen=True, slots=True)
class OkxRiskUnitMargin(JsonRecord):
    """OKX risk-unit requirement (USD), fields named after the position builder's ``riskUnitData``.

    ``mr1_scenarios`` holds ``(spot shock, P&L)`` pairs (equal in every volatility scenario for a
    linear book); ``mr1_spot_shock`` / ``mr1_vol_shock`` and ``mr6_spot_shock`` / ``mr6_pnl`` locate
    the worst results (``mr1FinalResult``, ``mr6FinalResult``).
    """

    risk_unit: str
    delta_usd: float
    mr1: float
    mr1_spot_shock: float
    mr1_vol_shock: str
    mr1_scenarios: tuple[tuple[float, float], ...]
    mr2: float
    mr3: float
    mr4: float
    mr5: float
    mr6: float
    mr6_pnl: float
    mr6_spot_shock: float
    mr7: float
    mr9: float
    mmr: float
    imr: float
    assumptions: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class OkxAccountMargin(JsonRecord):
    """OKX account requirement (USD): ``deriv_mmr`` (sum of units) + ``borrow_mmr`` (MR8) = ``total_mmr``."""

    risk_units: tuple[OkxRiskUnitMargin, ...]
    deriv_mmr: float
    deriv_imr: float
    borrow_mmr: float
    borrow_imr: float
    total_mmr: float
    total_imr: float


def okx_risk_unit_margin(unit: OkxRiskUnit, params: OkxPmParams | None = None) -> OkxRiskUnitMargin:
    """Return the MMR and IMR of one OKX risk unit of linear derivatives (USD).

    Parameters
    ----------
    unit : OkxRiskUnit
    params : OkxPmParams, optional
        Shock sizes; default :func:`okx_pm_params` of ``unit.risk_unit``.

    Notes
    -----
    With ``D`` the stress delta (USD), a linear book gains ``D s`` when the spot moves by ``s``
    (volatility scenarios change nothing):

    * ``MR1 = max over s in {0, +/-spot_shocks} of -D s`` (position builder ``mr1Scenarios``;
      ties are reported as volatility ``"up"``, as the example prints them);
    * ``MR6 = extreme_move_factor * max(0, -min(D X, -D X))`` for the extreme move ``X``; the
      factor 0.5 is **observed** in the example (BTC 1164.41 = 0.5 x 2328.82; LTC 183.51 =
      0.5 x 367.01), not documented;
    * ``MMR = max(max(MR1, MR2, MR6) + MR3 + MR4 + MR5 + MR9, MR7)``, ``IMR = 1.3 MMR`` (OKX help
      "Multi-currency margin mode vs. Portfolio margin mode"; MR9 from the Dec 2024 announcement;
      exact in the position-builder example of 2025-01-15).
    """
    if not isinstance(unit, OkxRiskUnit):
        raise InputError(f"unit must be an OkxRiskUnit, was {show(unit)}")
    p = okx_pm_params(unit.risk_unit) if params is None else params
    if not isinstance(p, OkxPmParams):
        raise InputError(f"params must be OkxPmParams, was {show(p)}")
    d = unit.delta_usd if unit.stress_delta_usd is None else unit.stress_delta_usd
    shocks = sorted({0.0, *p.spot_shocks, *(-s for s in p.spot_shocks)})
    scenarios = tuple((s, d * s + 0.0) for s in shocks)  # + 0.0: no -0.0 at s = 0
    worst_shock, worst_pnl = min(scenarios, key=lambda sp: (sp[1], abs(sp[0])))
    mr1 = max(0.0, -worst_pnl)
    x = p.extreme_move
    mr6_shock, mr6_pnl = min(((x, d * x), (-x, -d * x)), key=lambda sp: sp[1])
    mr6 = p.extreme_move_factor * max(0.0, -mr6_pnl)
    assumptions = [f"mr6 = {p.extreme_move_factor:g} x extreme-move loss (observed factor)"]
    charges: dict[str, float] = {}
    for name in ("mr4", "mr7"):
        given, rate = getattr(unit, name), getattr(unit, f"{name}_rate")
        if rate is not None:
            charges[name] = rate * abs(unit.delta_usd)
            assumptions.append(f"{name} = {rate:g} x |delta_usd| (observed proportion)")
        else:
            charges[name] = 0.0 if given is None else given
    mr4, mr7 = charges["mr4"], charges["mr7"]
    mmr = max(max(mr1, unit.mr2, mr6) + unit.mr3 + mr4 + unit.mr5 + unit.mr9, mr7)
    return OkxRiskUnitMargin(
        risk_unit=unit.risk_unit,
        delta_usd=unit.delta_usd,
        mr1=mr1,
        mr1_spot_shock=worst_shock,
        mr1_vol_shock="up",
        mr1_scenarios=scenarios,
        mr2=unit.mr2,
        mr3=unit.mr3,
        mr4=mr4,
        mr5=unit.mr5,
        mr6=mr6,
        mr6_pnl=mr6_pnl,
        mr6_spot_shock=mr6_shock,
        mr7=mr7,
        mr9=unit.mr9,
        mmr=mmr,
        imr=p.imr_factor * mmr,
        assumptions=tuple(assumptions),
    )


def okx_account_margin(
    units: Sequence[OkxRiskUnit | OkxRiskUnitMargin],
    *,
    borrow_mmr: float = 0.0,
    borrow_imr: float | None = None,
    params: Mapping[str, OkxPmParams] | None = None,
) -> OkxAccountMargin:
    """Return an OKX portfolio-margin account's MMR and IMR (USD).

    Parameters
    ----------
    units : sequence of OkxRiskUnit or OkxRiskUnitMargin
        Risk units (computed with :func:`okx_risk_unit_margin` when not already), unique names.
    borrow_mmr : float, default 0
        Borrowing MMR (MR8), given (USD, >= 0).
    borrow_imr : float, optional
        Borrowing IMR (USD, >= ``borrow_mmr``); default ``borrow_mmr``.
    params : mapping of risk unit to OkxPmParams, optional
        Shock sizes overriding :func:`okx_pm_params` per unit.

    Notes
    -----
    OKX help: account MMR = sum of the risk units' derivatives MMR + borrowing MMR (MR8); the
    position-builder example (2025-01-15) adds up exactly: ``derivMmr`` 1375.4837063088 =
    1183.8207318516 + 191.6629744572, ``totalMmr`` = ``derivMmr`` + ``borrowMmr`` 1571.064377796,
    ``totalImr`` = unit IMRs + ``borrowImr`` 7855.32188898.
    """
    if isinstance(units, str | bytes) or not isinstance(units, Sequence):
        raise InputError(f"units must be a sequence of OkxRiskUnit, was {show(units)}")
    b_mmr = non_negative_number(borrow_mmr, "borrow_mmr")
    b_imr = b_mmr if borrow_imr is None else non_negative_number(borrow_imr, "borrow_imr")
    if b_imr < b_mmr:
        raise InputError(f"borrow_imr must be >= borrow_mmr ({b_mmr!r}), was {borrow_imr!r}")
    overrides = {} if params is None else dict(params)
    done: list[OkxRiskUnitMargin] = []
    for i, u in enumerate(units):
        if isinstance(u, OkxRiskUnit):
            u = okx_risk_unit_margin(u, overrides.get(u.risk_unit))
        elif not isinstance(u, OkxRiskUnitMargin):
            raise InputError(f"units[{i}] must be an OkxRiskUnit, was {show(u)}")
        if any(r.risk_unit == u.risk_unit for r in done):
            raise InputError(f"units[{i}].risk_unit must be unique, was {u.risk_unit!r} again")
        done.append(u)
    deriv_mmr = math.fsum(u.mmr for u in done)
    deriv_imr = math.fsum(u.imr for u in done)
    return OkxAccountMargin(
        risk_units=tuple(done),
        deriv_mmr=deriv_mmr,
        deriv_imr=deriv_imr,
        borrow_mmr=b_mmr,
        borrow_imr=b_imr,
        total_mmr=deriv_mmr + b_mmr,
        total_imr=deriv_imr + b_imr,
    )
