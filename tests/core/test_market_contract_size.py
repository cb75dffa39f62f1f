"""A market's ``contractSize`` that is given must be a finite number > 0: 0 was read as 1 (OKX's
tier rows, the ccxt adapter's contract size), which sized tiers and orders by a wrong multiplier.
Absent (None, or no key: a spot market) it is still 1."""

from __future__ import annotations

import math

import pytest

from levguard.core.rules.okx import market_tier_rows
from levguard.errors import InputError
from levguard.venues.ccxt_quirks import amount_step, contract_size

ROWS = [{"maxNotional": 10}]


@pytest.mark.parametrize("bad", [0, 0.0, -0.01, math.inf, math.nan])
def test_okx_market_tier_rows_refuses_a_bad_contract_size(bad: float) -> None:
    with pytest.raises(InputError, match=r"market\['contractSize'\] must be"):
        market_tier_rows(ROWS, {"contractSize": bad})


@pytest.mark.parametrize("market", [{}, {"contractSize": None}])
def test_okx_market_tier_rows_reads_an_absent_contract_size_as_1(market: dict[str, object]) -> None:
    _rows, note = market_tier_rows(ROWS, market)
    assert "contracts of 1," in note


@pytest.mark.parametrize("bad", [0, -1, "abc", "inf"])
def test_ccxt_contract_size_refuses_a_bad_one(bad: object) -> None:
    with pytest.raises(InputError, match=r"market\['contractSize'\] must be a finite number > 0"):
        contract_size("okx", {"contractSize": bad})
    # A position's that is not a number > 0 is not reported: the market's applies (a read of the
    # guardian's positions goes on; it stopped the whole account's monitoring).
    assert contract_size("okx", {"contractSize": 0.01}, {"contractSize": bad}) == 0.01
    assert contract_size("bybit", {"contractSize": 0.01}, {"contractSize": ""}) == 0.01
    with pytest.raises(InputError, match=r"market\['contractSize'\]"):
        amount_step("deribit", {"contractSize": bad})


def test_ccxt_contract_size_absent_or_given() -> None:
    assert contract_size("okx", {}) == 1.0
    assert contract_size("okx", {"contractSize": None}, {"contractSize": None}) == 1.0
    assert contract_size("okx", {"contractSize": "0.01"}) == 0.01
    assert contract_size("okx", {"contractSize": 0.01}, {"contractSize": 0.1}) == 0.1
    assert contract_size("deribit", {"contractSize": 10}) == 1.0  # amounts in position units
    assert amount_step("deribit", {}) is None
