"""Position specs carry Aave v3.6's ``emode_ltvzero`` (a reserve on its e-mode category's ltvzero bitmap).

The human-unit loader refused the field (``reserves[0] has unknown fields ['emode_ltvzero']``), so a
3.6 account whose collateral is on the bitmap could only be described without it, at the category's
LTV: 10 WETH (2,000 USD) against 10,000 USDC in a 90 % / 93 % category showed 8,000 USD available to
borrow, where the Pool's ``getUserReserveLtv`` gives WETH an LTV of 0, ``getUserAccountData`` 0
available, and any borrow reverts (``LTV_VALIDATION_FAILED``).  The flag exists only from 3.6 and
``PoolConfigurator.setAssetLtvzeroInEMode`` sets it only for the category's collateral
(``MustBeEmodeCollateral``): elsewhere it is refused, naming the field.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from levguard.defi import analytics
from levguard.defi.positions import AavePosition, load_position
from levguard.errors import InputError

_SPEC = """
protocol: aave-v3
version: "{version}"
emode_category: {{ltv: 0.9, lt: 0.93, bonus: 0.01}}
reserves:
  - {{symbol: WETH, price_usd: 2000, decimals: 18, ltv: 0.8, lt: 0.825, bonus: 0.05, collateral: 10, in_emode: true}}
  - {{symbol: USDC, price_usd: 1, decimals: 6, ltv: 0.75, lt: 0.78, debt: 10000, in_emode: true, emode_borrowable: true}}
"""


def spec(ltvzero: object = True, version: str = "3.6", **weth: Any) -> dict[str, Any]:
    """The account above as a spec; ``weth`` overrides WETH's fields."""
    out = yaml.safe_load(_SPEC.format(version=version))
    out["reserves"][0].update(emode_ltvzero=ltvzero, **weth)
    return dict(out)


def test_the_flag_loads_and_takes_the_borrowing_power_away() -> None:
    pos = load_position(spec())
    assert isinstance(pos, AavePosition)
    assert pos.reserve("WETH").emode_ltvzero is True
    report = analytics.position_report(spec())
    assert report.available_borrows == 0.0  # the category's 90 % would give 8,000
    assert report.max_ltv == 0.0
    assert report.health_factor == pytest.approx(1.86)  # the category's LT still counts: 20,000 x 0.93 / 10,000
    assert analytics.max_safe_borrow(spec(), "USDC").amount == 0
    # Without the flag: the category's LTV, 8,000 USD.
    assert analytics.position_report(spec(ltvzero=False)).available_borrows == pytest.approx(8_000.0)


@pytest.mark.parametrize(
    ("given", "match"),
    [
        (spec(version="3.5"), r"reserves\[0\]\.emode_ltvzero needs version 3\.6 .*was 3\.5"),
        (spec(version="3.3"), r"reserves\[0\]\.emode_ltvzero needs version 3\.6"),
        (spec(in_emode=False), r"reserves\[0\]\.emode_ltvzero needs an emode_category and in_emode: true.*in_emode false"),
        ({**spec(), "emode_category": None}, r"reserves\[0\]\.emode_ltvzero needs an emode_category.*null"),
        (spec(ltvzero="yes"), r"reserves\[0\]\.emode_ltvzero"),
    ],
)  # fmt: skip
def test_the_flag_is_refused_where_the_pool_cannot_hold_it(given: dict[str, Any], match: str) -> None:
    with pytest.raises(InputError, match=match):
        load_position(given)


def test_false_is_accepted_anywhere() -> None:
    pos = load_position(spec(ltvzero=False, version="3.3", in_emode=False))
    assert isinstance(pos, AavePosition)
    assert pos.reserve("WETH").emode_ltvzero is False
