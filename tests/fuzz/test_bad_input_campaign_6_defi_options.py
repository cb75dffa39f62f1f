# mypy: disable-error-code="arg-type,list-item,misc"
# (the calls pass wrong types on purpose)
"""Bad-input campaign 6: the exact WadRayMath words, DeFi positions / risk / stress, the SVI smile.

Each case failed before the fix with a raw TypeError / ValueError / OverflowError /
AttributeError / IndexError / ZeroDivisionError, hung, or returned a number for nonsense (a bool
or NaN as a uint256 word, a zero or negative price); every one must now raise
:class:`~levguard.errors.InputError` naming the argument.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from fractions import Fraction

import numpy as np
import pytest

from levguard.core.defi import wadray
from levguard.core.defi.price_adapters import capo_stable_latest_answer
from levguard.defi import aave, positions, risk, stress
from levguard.errors import InputError
from levguard.options import (
    SVIParams,
    check_butterfly,
    check_calendar,
    durrleman_g,
    fit_surface,
    fit_svi,
    fit_svi_from_prices,
)

E18 = 10**18
RAY = 10**27
NAN = float("nan")
SPEC = {
    "protocol": "aave-v3",
    "version": "3.3",
    "reserves": [
        {"symbol": "WETH", "decimals": 18, "price_usd": 3000, "ltv": 0.805, "lt": 0.83, "bonus": 0.05,
         "protocol_fee": 0.1, "collateral": 10},
        {"symbol": "USDC", "decimals": 6, "price_usd": 1, "ltv": 0.75, "lt": 0.78, "bonus": 0.045,
         "protocol_fee": 0.1, "debt": 15000},
    ],
}  # fmt: skip
SMILE = SVIParams(0.04, 0.2, -0.3, 0.0, 0.2)
STRIKES = np.linspace(60.0, 140.0, 21)
VOLS = np.full(21, 0.5)

_BINARY = [
    ("wad_mul", aave.wad_mul, ("a", "b")),
    ("wad_div", aave.wad_div, ("a", "b")),
    ("ray_mul", aave.ray_mul, ("a", "b")),
    ("ray_div", aave.ray_div, ("a", "b")),
    ("percent_mul", aave.percent_mul, ("value", "percentage")),
    ("percent_div", aave.percent_div, ("value", "percentage")),
    ("ray_mul_floor", wadray.ray_mul_floor, ("a", "b")),
    ("ray_div_ceil", wadray.ray_div_ceil, ("a", "b")),
    ("percent_mul_floor", wadray.percent_mul_floor, ("value", "percentage")),
    ("percent_div_ceil", wadray.percent_div_ceil, ("value", "percentage")),
]
_JUNK = [None, True, NAN, 1.5, np.int64(2**62), "abc", -1]


def _binary_cases() -> list[tuple[str, Callable[[], object], str]]:
    out: list[tuple[str, Callable[[], object], str]] = []
    for name, fn, (x, y) in _BINARY:
        for junk in _JUNK:
            words = "!ok" if isinstance(junk, np.integer) else "must be"
            out.append((f"{name}({x}={junk!r})", lambda fn=fn, j=junk: fn(j, 5 * RAY), f"^{x} {words}"))
            out.append((f"{name}({y}={junk!r})", lambda fn=fn, j=junk: fn(5 * RAY, j), f"^{y} {words}"))
    return out


# (label, call, words the message must hold; "!ok": a valid value of another type, must compute)
CASES: list[tuple[str, Callable[[], object], str]] = [
    *_binary_cases(),
    ("ray_to_wad(None)", lambda: aave.ray_to_wad(None), "^a must be"),
    ("ray_to_wad(True)", lambda: aave.ray_to_wad(True), "^a must be"),
    ("ray_to_wad(2**256)", lambda: aave.ray_to_wad(2**256), "^a must be"),
    ("wad_to_ray(None)", lambda: aave.wad_to_ray(None), "^a must be"),
    ("wad_to_ray('abc') hung", lambda: aave.wad_to_ray("abc"), "^a must be"),
    ("wad_to_ray('')", lambda: aave.wad_to_ray(""), "^a must be"),
    ("wad_to_ray(True)", lambda: aave.wad_to_ray(True), "^a must be"),
    ("mul_div_ceil(c=None)", lambda: wadray.mul_div_ceil(1, 2, None), "^c must be"),
    # oracle_price_from: Fraction / pow errors, a hang on 10**400 decimals, bools and negative
    # prices accepted (a collateral price of 0, a worthless collateral, is valid).
    *[
        (f"oracle_price_from({name}={junk!r:.12})", call, f"^{name} must be")
        for name, junk, call in [
            ("collateral_price", None, lambda: positions.oracle_price_from(None, Decimal(1), 18, 6)),
            ("collateral_price", "abc", lambda: positions.oracle_price_from("abc", Decimal(1), 18, 6)),
            ("collateral_price", -1, lambda: positions.oracle_price_from(-1, Decimal(1), 18, 6)),
            ("collateral_price", True, lambda: positions.oracle_price_from(True, Decimal(1), 18, 6)),
            ("collateral_price", NAN, lambda: positions.oracle_price_from(NAN, Decimal(1), 18, 6)),
            ("loan_price", None, lambda: positions.oracle_price_from(Decimal(1), None, 18, 6)),
            ("loan_price", 0, lambda: positions.oracle_price_from(Decimal(1), 0, 18, 6)),
            ("loan_price", "abc", lambda: positions.oracle_price_from(Decimal(1), "abc", 18, 6)),
            ("collateral_decimals", None, lambda: positions.oracle_price_from(Decimal(1), Decimal(1), None, 6)),
            ("collateral_decimals", NAN, lambda: positions.oracle_price_from(Decimal(1), Decimal(1), NAN, 6)),
            ("collateral_decimals", True, lambda: positions.oracle_price_from(Decimal(1), Decimal(1), True, 6)),
            ("collateral_decimals", -np.inf, lambda: positions.oracle_price_from(Decimal(1), 1, -np.inf, 6)),
            ("collateral_decimals", "10**400", lambda: positions.oracle_price_from(Decimal(1), 1, 10**400, 6)),
            ("loan_decimals", None, lambda: positions.oracle_price_from(Decimal(1), Decimal(1), 18, None)),
            ("loan_decimals", np.inf, lambda: positions.oracle_price_from(Decimal(1), Decimal(1), 18, np.inf)),
            ("loan_decimals", 1e308, lambda: positions.oracle_price_from(Decimal(1), Decimal(1), 18, 1e308)),
            ("loan_decimals", "10**400", lambda: positions.oracle_price_from(Decimal(1), Decimal(1), 18, 10**400)),
            ("loan_decimals", "arr", lambda: positions.oracle_price_from(1, 1, 18, np.array([NAN]))),
        ]
    ],
    # capo_stable_latest_answer: a negative cap (setPriceCap refuses it) was returned as the price.
    (
        "capo_stable_latest_answer(price_cap=-1)",
        lambda: capo_stable_latest_answer(10**8, -1),
        "^price_cap must be >= 0",
    ),
    # risk: a None / str / huge grid end or horizon, bars that are no mapping.
    ("health_curves(low=None)", lambda: risk.health_curves(SPEC, low=None), "^low must be"),
    ("health_curves(high=None)", lambda: risk.health_curves(SPEC, high=None), "^high must be"),
    ("health_curves(high=True)", lambda: risk.health_curves(SPEC, high=True), "^high must be"),
    ("health_curves(high=1e308)", lambda: risk.health_curves(SPEC, high=1e308), "low and high must"),
    ("health_curves(high=10**400)", lambda: risk.health_curves(SPEC, high=10**400), "^high must be"),
    ("health_curves(low=10**400)", lambda: risk.health_curves(SPEC, low=10**400), "^low must be"),
    ("ratio_bars(bars=None)", lambda: risk.ratio_bars(SPEC, None), "^bars must be a mapping"),
    ("ratio_forecaster(bars=None)", lambda: risk.ratio_forecaster(SPEC, None), "^bars must be a mapping"),
    ("position_risk(bars='abc')", lambda: risk.position_risk(SPEC, "abc"), "^bars must be a mapping"),
    ("position_risk(horizons=None)", lambda: risk.position_risk(SPEC, {}, None), "^horizons must be"),
    ("position_risk(horizons=10**400)", lambda: risk.position_risk(SPEC, {}, 10**400), "^horizons must be"),
    ("position_risk(horizons=[nan])", lambda: risk.position_risk(SPEC, {}, [NAN]), "^horizons must be"),
    # stress: a None scenario / scenarios.
    ("shocked_position(None)", lambda: stress.shocked_position(SPEC, None), "^scenario must be a DepegScenario"),
    ("stress_position(None)", lambda: stress.stress_position(SPEC, None), "^scenarios must be"),
    ("stress_position(7)", lambda: stress.stress_position(SPEC, 7), "^scenarios must be"),
    # options: SVI records that are None, strings where pairs are meant, a hang on t_years 1e308.
    ("durrleman_g(params=None)", lambda: durrleman_g(None, 0.0), "^params must be a SVIParams"),
    ("durrleman_g(k='abc')", lambda: durrleman_g(SMILE, "abc"), "^k must be"),
    ("durrleman_g(k=object())", lambda: durrleman_g(SMILE, object()), "^k must be"),
    ("durrleman_g(k=True)", lambda: durrleman_g(SMILE, True), "^k must be"),
    ("durrleman_g(k=nan)", lambda: durrleman_g(SMILE, [0.0, NAN]), "k"),
    ("check_butterfly(None)", lambda: check_butterfly(None), "^params must be a SVIParams"),
    ("check_calendar(None)", lambda: check_calendar(None), "^slices must be"),
    ("check_calendar('abc')", lambda: check_calendar("abc"), "^slices must be"),
    ("check_calendar([None])", lambda: check_calendar([None]), r"^slices\[0\] must be"),
    ("check_calendar([(1, None)])", lambda: check_calendar([(1.0, None)]), r"^slices\[0\] params must be"),
    ("check_calendar([(nan, p)])", lambda: check_calendar([(NAN, SMILE)]), r"^slices\[0\] t_years must be"),
    ("fit_surface(None)", lambda: fit_surface(None), "^quotes must be"),
    ("fit_surface('abc')", lambda: fit_surface("abc"), "^quotes must be"),
    ("fit_surface([None])", lambda: fit_surface([None]), r"^quotes\[0\] must be a SmileQuotes"),
    ("fit_svi(t_years=1e308) hung", lambda: fit_svi(STRIKES, VOLS, 100.0, 1e308), "^t_years must be"),
    (
        "fit_svi_from_prices(price=2-D)",
        lambda: fit_svi_from_prices(np.full((3, 21), 5.0), "call", STRIKES, 100.0, 0.5),
        "price, kind and strike must be one per quote",
    ),
    (
        "fit_svi_from_prices(kind=2-D)",
        lambda: fit_svi_from_prices(np.full(21, 5.0), np.full((2, 21), "call"), STRIKES, 100.0, 0.5),
        "price, kind and strike must be one per quote",
    ),
]


@pytest.mark.parametrize(("label", "call", "words"), CASES, ids=[c[0] for c in CASES])
def test_bad_input_raises_input_error(label: str, call: Callable[[], object], words: str) -> None:
    if "!ok" in words:  # a valid value of another integer type: must compute, not raise
        call()
        return
    with pytest.raises(InputError, match=words):
        call()


def test_valid_words_unchanged() -> None:
    # Aave's half-up rules, exact; NumPy ints compute as Python ints.
    assert aave.wad_mul(3 * E18, E18 // 2) == 3 * E18 // 2
    assert aave.ray_div(RAY, 3) == (RAY * RAY + 1) // 3
    assert aave.percent_mul(10_001, 5_000) == 5_001
    assert aave.percent_div(np.int64(5_000), np.int64(5_000)) == 10_000
    assert aave.ray_to_wad(1_500_000_000) == 2
    assert aave.wad_to_ray(np.int64(7)) == 7 * 10**9
    assert type(aave.wad_mul(np.int64(2**62), np.int64(2))) is int


def test_valid_oracle_price_unchanged() -> None:
    assert positions.oracle_price_from(Decimal(3000), Decimal(1), 18, 6) == 3000 * 10**24
    assert positions.oracle_price_from(0.1, 3, 6, 6) == int(Fraction(0.1) / 3 * 10**36)  # float read exactly
