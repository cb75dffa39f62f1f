"""Bad input, fourth campaign: options (Black-76, implied vol, SVI, surface), portfolio margin,
Bybit option MM and the DeFi APR/APY helpers refuse bad arguments with an InputError naming them."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from levguard.core.defi import irm_apy
from levguard.core.options.black76 import black76, premium_adjusted_delta, theta_per_day, vega_per_point
from levguard.core.options.iv import implied_vol, implied_vol_array
from levguard.core.options.surface import SVISlice, VolShock, VolSurface
from levguard.core.options.svi import SVIParams, fit_svi
from levguard.core.portfolio_margin import (
    DERIBIT_PME_BTC_2024_06_17,
    DeribitFuture,
    DeribitOption,
    deribit_pme_margin,
    deribit_price_moves,
    deribit_risk_vector,
    deribit_shocked_vols,
)
from levguard.core.unified_options import short_option_mm
from levguard.errors import InputError

T2 = 30 / 365
PARAMS = SVIParams(0.004, 0.03, -0.3, 0.0, 0.1)
SURFACE = VolSurface(
    [SVISlice(T2, 60_200.0, PARAMS), SVISlice(90 / 365, 60_600.0, SVIParams(0.013, 0.06, -0.3, 0.0, 0.15))]
)
K = np.linspace(50_000.0, 70_000.0, 9)
V = 0.5 + 0.1 * (K / 60_000.0 - 1.0) ** 2
OPT = DeribitOption("C", 1.0, "call", 7e4, 0.1, 0.5, 6e4)
P = DERIBIT_PME_BTC_2024_06_17
BIG = 10**400


def _b76(**kw: object) -> Callable[[], object]:
    args: dict[str, object] = {
        "kind": "call",
        "forward": 100.0,
        "strike": 110.0,
        "t_years": 0.5,
        "vol": 0.6,
        "rate": 0.01,
    }
    args.update(kw)
    return lambda: black76(**args)  # type: ignore[arg-type]


CASES: list[tuple[Callable[[], object], str]] = [
    # Black-76: bools, numeric strings and None were read as numbers; 10**400 an OverflowError.
    (_b76(forward=True), "forward must be a number or an array of numbers, not bools or strings, was True"),
    (_b76(strike="0.5"), "strike must be a number or an array of numbers, not bools or strings, was '0.5'"),
    (_b76(vol=True), "vol must be a number or an array of numbers, not bools"),
    (_b76(rate="0.5"), "rate must be a number or an array of numbers, not bools"),
    (_b76(kind=True), "kind must be a number or an array of numbers, not bools"),
    (_b76(t_years=BIG), "t_years must be a number or an array of numbers, was <integer of about 401 digits>"),
    (_b76(forward=BIG), "forward must be a number or an array of numbers, was <integer"),
    (_b76(settlement=np.array([])), "settlement must be 'usd' or 'coin', was array"),
    (lambda: premium_adjusted_delta("call", True, 110.0, 0.5, 0.6), "forward must be a number"),
    # Finite inputs that overflow float64 gave NaN / inf prices and Greeks.
    (_b76(strike=1e-300, forward=1e308, t_years=1e300, vol=1e300, rate=1e300), "overflow float64 in Black-76"),
    (_b76(forward=100.0, strike=100.0, t_years=1e300, vol=20.0, rate=-1e300), "overflow float64 in Black-76"),
    (_b76(forward=1e-300, strike=1e-300, t_years=1.0, vol=1.0, settlement="coin"), "overflow float64 in Black-76"),
    (lambda: vega_per_point(None), "vega must be a number or an array of numbers, was None"),
    (lambda: vega_per_point("x"), "vega must be a number or an array of numbers, not bools"),
    (lambda: vega_per_point(float("nan")), "vega must be finite, was nan"),
    (lambda: theta_per_day(True), "theta must be a number or an array of numbers, not bools"),
    (lambda: theta_per_day(1.0, None), "days_per_year must be a number, was None"),  # type: ignore[arg-type]
    (lambda: theta_per_day(1.0, "365"), "days_per_year must be a number, was '365'"),  # type: ignore[arg-type]
    (lambda: theta_per_day(1.0, BIG), "days_per_year must be a number within float64 range"),
    # Implied vol.
    (lambda: implied_vol(True, "call", 100.0, 110.0, 0.5), "price must be a number or an array of numbers, not bools"),
    (
        lambda: implied_vol_array(None, "call", 100.0, 110.0, 0.5),
        "price must be a number or an array of numbers, was None",
    ),
    (lambda: implied_vol(5.0, "call", 100.0, 110.0, "0.5"), "t_years must be a number or an array of numbers, not"),
    (lambda: implied_vol(5.0, "call", 100.0, 110.0, 0.5, tol=None), "tol must be a number, was None"),  # type: ignore[arg-type]
    (lambda: implied_vol(5.0, "call", 100.0, 110.0, 0.5, tol=[1e-10]), "tol must be a number, was"),  # type: ignore[arg-type]
    (
        lambda: implied_vol(BIG, "call", 100.0, 110.0, 0.5),
        "price must be a number or an array of numbers, was <integer",
    ),
    # SVI parameters and fits.
    (lambda: SVIParams(True, 0.03, -0.3, 0.0, 0.1), "SVI a must be a number, was True"),
    (lambda: SVIParams(0.004, BIG, -0.3, 0.0, 0.1), "SVI b must be a number within float64 range"),
    (lambda: PARAMS.implied_vol(None, T2), "k must be a number or an array of numbers, was None"),
    (lambda: PARAMS.implied_vol("0.5", T2), "k must be a number or an array of numbers, not bools"),
    (lambda: PARAMS.implied_vol(0.1, [1.0, 2.0]), r"t_years must be a number, was an array of shape \(2,\)"),
    (lambda: PARAMS.implied_vol(1e308, T2), "k and t_years overflow float64 on the smile"),
    (lambda: fit_svi(K, V, [60_000.0], T2), r"forward must be a number, was an array of shape \(1,\)"),
    (lambda: fit_svi(K, V, 60_000.0, T2, "x"), "weights must be a number or an array of numbers, not"),  # type: ignore[arg-type]
    (lambda: fit_svi(K, V, 60_000.0, T2, space=np.array([])), "space must be 'vol' or 'variance', was array"),  # type: ignore[arg-type]
    (lambda: fit_svi(K, V, 60_000.0, 1e-300), "overflow float64 in the SVI fit"),
    # Surface.
    (lambda: SVISlice(True, 60_000.0, PARAMS), "t_years must be a number or an array of numbers, not bools"),
    (lambda: SVISlice(T2, [60_000.0, 1.0], PARAMS), r"forward must be a number, was an array of shape \(2,\)"),
    (lambda: VolShock("parallel", None), "shock size must be a number, was None"),  # type: ignore[arg-type]
    (lambda: VolShock("parallel", True), "shock size must be a number, was True"),
    (lambda: VolShock("parallel", 0.05, relative="yes"), "shock relative must be True or False, was 'yes'"),  # type: ignore[arg-type]
    (lambda: VolShock("parallel", 0.05, ref_days="30"), "shock ref_days must be a number, was '30'"),  # type: ignore[arg-type]
    (lambda: VolShock("parallel", 0.05, z_cap=BIG), "shock z_cap must be a number within float64 range"),
    (lambda: VolShock(np.array([]), 0.05), "shock kind must be 'parallel', 'skew' or 'term', was array"),  # type: ignore[arg-type]
    (lambda: VolSurface(None), "slices must be a sequence, was None"),  # type: ignore[arg-type]
    (lambda: VolSurface([SVISlice(T2, 60_000.0, PARAMS)], None), "shocks must be a sequence, was None"),  # type: ignore[arg-type]
    (lambda: SURFACE.shocked("parallel", None), "shock size must be a number, was None"),  # type: ignore[arg-type]
    (lambda: SURFACE.shocked("parallel", "0.5"), "shock size must be a number, was '0.5'"),  # type: ignore[arg-type]
    (lambda: SURFACE.vol_k(True, T2), "k must be a number or an array of numbers, not bools"),
    (lambda: SURFACE.vol_k("x", T2), "k must be a number or an array of numbers, not bools"),
    (lambda: SURFACE.vol_k(1e308, T2), "k and t_years overflow float64"),
    # Past the last expiry total variance now grows at the last ATM variance rate (SURFACE's 0.089 a
    # year: vol_k(0.1, 1e308) is its ATM vol 0.2987, finite); a rate past 1.8 still overflows.
    (
        lambda: VolSurface([SVISlice(1.0, 60_000.0, SVIParams(2.0, 0.1, 0.0, 0.0, 0.1))]).vol_k(0.1, 1e308),
        "k and t_years overflow float64",
    ),
    (lambda: SURFACE.vol(61_000.0, T2, True), "forward must be a number or an array of numbers, not bools"),
    (lambda: SURFACE.base_total_variance(None, T2), "k must be a number or an array of numbers, was None"),
    (lambda: SURFACE.base_total_variance(1e308, T2), "k and t_years overflow float64"),
    (lambda: SURFACE.check_arbitrage("x"), "k_grid must be a number or an array of numbers, not"),
    (lambda: SURFACE.shocked("parallel", 0.05).check_arbitrage([0.0]), "k_grid must be a strictly increasing"),
    (lambda: SURFACE.price("call", 60_000.0, 61_000.0, T2, settlement=np.array([])), "settlement must be"),  # type: ignore[arg-type]
    # Deribit PME: params were read by attribute (AttributeError); kind compared with ==.
    (lambda: deribit_price_moves(None), "params must be a DeribitPmeParams, was NoneType None"),  # type: ignore[arg-type]
    (lambda: deribit_shocked_vols(0.5, 0.1, "x"), "params must be a DeribitPmeParams, was str 'x'"),  # type: ignore[arg-type]
    (lambda: deribit_risk_vector(OPT, 1.0), "params must be a DeribitPmeParams, was float 1.0"),  # type: ignore[arg-type]
    (lambda: deribit_pme_margin([OPT], None), "params must be a DeribitPmeParams, was NoneType"),  # type: ignore[arg-type]
    (lambda: DeribitOption("C", 1.0, np.array([]), 7e4, 0.1, 0.5, 6e4), "kind must be 'call' or 'put', was array"),  # type: ignore[arg-type]
    # Bybit short option MM: math.isfinite on anything (TypeError), bools read as 1, overflow to inf.
    (lambda: short_option_mm(None, 30_000.0, 300.0, 0.03, 0.002), "qty must be a number, was None"),  # type: ignore[arg-type]
    (lambda: short_option_mm(True, 30_000.0, 300.0, 0.03, 0.002), "qty must be a number, was True"),
    (lambda: short_option_mm(-1.0, "3e4", 300.0, 0.03, 0.002), "index_price must be a number, was '3e4'"),  # type: ignore[arg-type]
    (lambda: short_option_mm(-1.0, 30_000.0, True, 0.03, 0.002), "mark_price must be a number, was True"),
    (lambda: short_option_mm(-1.0, 30_000.0, 300.0, BIG, 0.002), "mm_factor must be a number within float64 range"),
    (lambda: short_option_mm(-1.0, 30_000.0, 300.0, 0.03, [0.002]), "liquidation_fee_rate must be a number, was"),  # type: ignore[arg-type]
    (lambda: short_option_mm(-1.0, 30_000.0, 300.0, 1e308, 0.002), "overflow float64"),
    # APR / APY: 10**400 overflowed the float division; arrays as units made == ambiguous.
    (lambda: irm_apy.rate_to_apr(BIG, "ray_per_year"), "rate must be an integer in the uint256 range"),
    (lambda: irm_apy.borrow_apy(2**256, "wad_per_second"), "rate must be an integer in the uint256 range"),
    (lambda: irm_apy.rate_to_apr(10**25, np.array([])), "unit must be 'ray_per_year' or 'wad_per_second', was"),  # type: ignore[arg-type]
    (lambda: irm_apy.apr_to_apy(0.05, np.array([])), "compounding must be 'per_second', 'continuous' or 'none'"),  # type: ignore[arg-type]
]


@pytest.mark.parametrize(("call", "message"), CASES)
def test_bad_input_raises_input_error_naming_it(call: Callable[[], object], message: str) -> None:
    with pytest.raises(InputError, match=message):
        call()


VALID: list[tuple[Callable[[], object], float]] = [
    (lambda: black76("call", 100.0, 110.0, 0.5, 0.6, 0.01).price, 13.01058403079726),
    (lambda: black76("put", 100, 90, 0.0, 0.0).price, 0.0),  # the s = 0 limit stays finite
    (lambda: black76(np.array([1, -1]), 100.0, 100.0, 1.0, 0.5, settlement="coin").price[1], 0.19741265136584),
    (lambda: implied_vol(5.0, "call", 100.0, 110.0, 0.5, 0.01), 0.31047097264996326),
    (lambda: vega_per_point(1.0), 0.01),
    (lambda: theta_per_day(np.float64(3.65), 365), 0.01),
    (lambda: short_option_mm(-1.0, 30_000.0, 300.0, 0.03, 0.002), 1260.0),
    (lambda: short_option_mm(np.float64(-1.0), 30_000, 300, 0.03, 0.002), 1260.0),
    (lambda: irm_apy.rate_to_apr(10**25, "ray_per_year"), 0.01),
    (lambda: irm_apy.rate_to_apr(2**256 - 1, "ray_per_year"), (2**256 - 1) / 10**27),
    (lambda: float(deribit_price_moves(P)[0]), -0.16),
    (lambda: SVIParams(0, 1, 0, 0, 1).a, 0.0),
    (lambda: float(SURFACE.shocked("parallel", 0.05).vol_k(0.0, 0.0)), float(SURFACE.vol_k(0.0, 0.0)) + 0.05),
]


@pytest.mark.parametrize(("call", "expected"), VALID)
def test_valid_input_keeps_its_result(call: Callable[[], object], expected: float) -> None:
    assert call() == pytest.approx(expected, rel=1e-12)


def test_nan_prices_still_report_no_solution() -> None:
    """NaN and out-of-bounds prices keep their documented statuses (not an error) in the array API."""
    res = implied_vol_array(np.array([np.nan, -1.0, 5.0]), "call", 100.0, 110.0, 0.5)
    assert res.status.tolist() == [3, 1, 0]


def test_deribit_pme_margin_still_works() -> None:
    res = deribit_pme_margin([DeribitFuture("BTC-PERPETUAL", 0.3), OPT], P, currency="BTC")
    assert np.isfinite(res.maintenance_margin)
    assert res.maintenance_margin > 0.0
