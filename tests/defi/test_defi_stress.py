"""Depeg and crash stress through the exact engines (levguard.defi.stress).

* The named scenarios carry their dates and sources; the CAPO scenario's shock is the one the
  golden incident test reproduces (-2.85 %, tests/golden/test_oracle_examples.py).
* The USDC depeg of 2023-03-11 on a USDC-collateral Aave position: HF after is
  ``getUserAccountData`` on the shocked rows, the position is liquidatable, and the liquidation
  reported is ``liquidationCall(..., 2**256 - 1)`` of the best pair, to the unit.
* Morpho: the crash liquidates through ``Morpho.liquidate``, with bad debt when the collateral
  cannot cover the debt; a correlated pair is untouched by a common crash.
* Property: the health factor after a shock never rises as the collateral's shock deepens, nor
  as the debt's price rises.
"""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from levguard.core.defi.price_adapters import CapoAdapter, capo_latest_answer
from levguard.defi import aave, morpho, stress
from levguard.defi.positions import load_position
from levguard.errors import InputError

E18 = 10**18


def usdc_collateral(debt_weth: float = 23.0) -> dict[str, object]:
    return {
        "protocol": "aave-v3",
        "reserves": [
            {"symbol": "USDC", "price_usd": 1, "decimals": 6, "ltv": 0.75, "lt": 0.78, "bonus": 0.045,
             "protocol_fee": 0.10, "collateral": 100_000},
            {"symbol": "WETH", "price_usd": 3000, "decimals": 18, "ltv": 0.805, "lt": 0.83, "bonus": 0.05,
             "debt": debt_weth},
        ],
    }  # fmt: skip


def morpho_weth(borrow: float = 20_000) -> dict[str, object]:
    return {"protocol": "morpho-blue", "collateral_symbol": "WETH", "loan_symbol": "USDC", "lltv": 0.86,
            "collateral": 10, "borrow": borrow, "collateral_price": 3000, "collateral_decimals": 18,
            "loan_decimals": 6}  # fmt: skip


def test_named_scenarios_carry_dates_and_sources() -> None:
    names = [s.name for s in stress.NAMED_DEFI_SCENARIOS]
    assert names == ["steth-depeg-2022-06", "usdc-depeg-2023-03", "wsteth-capo-2026-03", "eth-crash-40"]
    for s in stress.NAMED_DEFI_SCENARIOS:
        assert s.source
    assert stress.defi_scenario("2023-03-11").shocks == {"USDC": -0.1226}  # by date too
    assert stress.defi_scenario("steth-depeg-2022-06").shock_for("wstETH") == -0.065
    assert stress.defi_scenario("eth-crash-40").shock_for("weth") == -0.40


def test_capo_scenario_is_the_incidents_cap() -> None:
    shock = stress.defi_scenario("wsteth-capo-2026-03").shock_for("wstETH")
    assert shock == pytest.approx(-0.0285, abs=5e-4)  # the post-mortem's 2.85 %
    now = 1_773_143_160
    ans = capo_latest_answer(
        CapoAdapter(1_191_916 * 10**12, now - 7 * 86_400, 872), 1_934 * 10**8, 1_228_900 * 10**12, now
    )
    assert shock == pytest.approx(ans.answer / ans.uncapped_answer - 1, rel=1e-12)


def test_usdc_depeg_liquidates_a_usdc_collateral_position_exactly() -> None:
    spec = usdc_collateral()
    (r,) = stress.stress_position(spec, ["usdc-depeg-2023-03"])
    pos = load_position(spec)
    rows = tuple(replace(x, price=87_740_000) if x.symbol == "USDC" else x for x in pos.reserves)  # 0.8774 USD
    assert r.health_factor_after_wad == aave.get_user_account_data(rows).health_factor
    assert r.health_factor_before == pytest.approx(78_000 / 69_000, rel=1e-12)
    assert r.health_factor_after == pytest.approx(0.8774 * 78_000 / 69_000, rel=1e-6)
    assert r.liquidatable
    assert r.shocks == {"USDC": -0.1226}
    direct = aave.liquidation_call(rows, "USDC", "WETH", 2**256 - 1)
    liq = r.liquidation
    assert liq is not None
    assert liq.exact["actual_debt_to_liquidate"] == direct.actual_debt_to_liquidate == 23 * E18 // 2
    assert liq.exact["collateral_to_liquidator"] == direct.collateral_to_liquidator
    assert liq.exact["liquidation_protocol_fee"] == direct.liquidation_protocol_fee
    assert liq.close_factor == 0.5  # HF 0.99 > 0.95: half the debt
    assert (liq.collateral_symbol, liq.debt_symbol) == ("USDC", "WETH")
    assert liq.debt_repaid == 11.5
    # USDC's bonus is 4.5 %, the treasury takes 10 % of it: 34,500 x (1.045 - 0.0045).
    assert liq.collateral_seized_value == pytest.approx(34_500 * 1.0405, rel=1e-9)
    assert liq.liquidator_profit > 0
    assert liq.bad_debt_value == 0.0
    assert liq.health_factor_after > r.health_factor_after


def test_aave_picks_the_pair_that_pays_the_liquidator_most() -> None:
    spec = usdc_collateral(debt_weth=24.0)
    spec["reserves"].append(  # type: ignore[attr-defined]
        {
            "symbol": "WBTC",
            "price_usd": 60000,
            "decimals": 8,
            "ltv": 0.73,
            "lt": 0.78,
            "bonus": 0.05,
            "collateral": 0.05,
        }
    )
    (r,) = stress.stress_position(spec, ["usdc-depeg-2023-03"])
    assert r.liquidatable
    assert r.liquidation is not None
    pos = stress.shocked_position(spec, stress.defi_scenario("usdc-depeg-2023-03"))
    values = {}
    for c in ("USDC", "WBTC"):
        res = aave.liquidation_call(pos.reserves, c, "WETH", 2**256 - 1)  # type: ignore[union-attr]
        reserve = pos.reserve(c)  # type: ignore[union-attr]
        values[c] = res.collateral_to_liquidator * reserve.price / 10 ** (reserve.decimals + 8)
    assert r.liquidation.collateral_symbol == max(values, key=lambda k: values[k])
    assert r.liquidation.collateral_seized_value == pytest.approx(max(values.values()), rel=1e-12)


def test_where_the_dust_rule_refuses_the_most_the_largest_amount_that_goes_through_is_taken() -> None:
    """Aave 3.3: 1.0105 WETH (LT 95 %) against 2,000 USDC, WETH down 1 %: the close factor is 50 %
    (both sides worth 2,000 USD or more, HF > 0.95), and covering 1,000 USDC would leave 950 USD
    of collateral, under MIN_LEFTOVER_BASE (1,000 USD): MUST_NOT_LEAVE_DUST. A liquidator covers
    less; the stress takes the most the Pool lets through (one unit more is refused)."""
    spec = {"protocol": "aave-v3", "version": "3.3", "reserves": [
        {"symbol": "WETH", "price_usd": 2000, "decimals": 18, "ltv": 0.93, "lt": 0.95, "bonus": 0.05,
         "collateral": "1.0105"},
        {"symbol": "USDC", "price_usd": 1, "decimals": 6, "ltv": 0.75, "lt": 0.78, "debt": 2000}]}  # fmt: skip
    scenario = stress.DepegScenario("WETH -1 %", {"WETH": -0.01})
    pos = stress.shocked_position(spec, scenario)
    with pytest.raises(InputError, match="MUST_NOT_LEAVE_DUST"):
        aave.liquidation_call(pos.reserves, "WETH", "USDC", 2**256 - 1, version="3.3")  # type: ignore[union-attr]
    (r,) = stress.stress_position(spec, [scenario])
    assert r.liquidatable
    assert r.liquidation is not None
    x = r.liquidation.exact["actual_debt_to_liquidate"]
    assert 0 < x < 1_000 * 10**6
    res = aave.liquidation_call(pos.reserves, "WETH", "USDC", x, version="3.3")  # type: ignore[union-attr]
    assert res.collateral_to_liquidator == r.liquidation.exact["collateral_to_liquidator"]
    with pytest.raises(InputError, match="MUST_NOT_LEAVE_DUST"):
        aave.liquidation_call(pos.reserves, "WETH", "USDC", x + 1, version="3.3")  # type: ignore[union-attr]


def test_morpho_crash_liquidates_through_morpho_liquidate() -> None:
    # 10 x 1,800 x 0.86 = 15,480 < 16,500 owed: liquidatable; 16,500 x LIF 1.0438 < 18,000: all repaid.
    (r,) = stress.stress_position(morpho_weth(16_500), ["eth-crash-40"])
    pos = load_position(morpho_weth(16_500))
    price = pos.oracle_price * 6 // 10  # type: ignore[union-attr]
    assert r.liquidatable
    assert r.shocks == {"WETH": -0.4}
    direct = morpho.liquidate(pos.market, pos.position, pos.lltv, price, 0, pos.position.borrow_shares)  # type: ignore[union-attr]
    liq = r.liquidation
    assert liq is not None
    assert liq.close_factor is None
    assert liq.exact["seized_assets"] == direct.seized_assets
    assert liq.exact["repaid_assets"] == direct.repaid_assets
    assert liq.bad_debt_value == 0.0
    assert math.isinf(liq.health_factor_after)  # no debt left
    assert liq.collateral_seized == pytest.approx(16_500 * 1.0438413 / 1_800, rel=1e-6)


def test_morpho_crash_beyond_the_collateral_realises_bad_debt() -> None:
    spec = morpho_weth(borrow=25_000)  # HF 1.03; -40 %: collateral 18,000 < debt 25,000
    (r,) = stress.stress_position(spec, ["eth-crash-40"])
    liq = r.liquidation
    assert liq is not None
    assert liq.collateral_seized == 10.0  # everything
    assert liq.bad_debt_value > 0
    assert liq.debt_repaid + liq.bad_debt_value == pytest.approx(25_000, abs=1e-5)


def test_correlated_pair_moves_with_its_ratio() -> None:
    sample = "src/levguard/resources/samples/defi_morpho.yaml"  # wstETH/WETH, LLTV 94.5 %
    crash, depeg = stress.stress_position(sample, ["eth-crash-40", "steth-depeg-2022-06"])
    assert crash.health_factor_after_wad == crash.health_factor_before * E18  # both legs move together
    assert depeg.health_factor_after == pytest.approx(depeg.health_factor_before * 0.935, rel=1e-12)


def test_scenario_that_touches_nothing_says_so() -> None:
    (r,) = stress.stress_position(usdc_collateral(), ["steth-depeg-2022-06"])
    assert r.shocks == {}
    assert not r.liquidatable
    assert r.health_factor_after == r.health_factor_before
    assert "none of the position's assets" in r.note
    assert r.to_dict()["liquidation"] is None


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: stress.defi_scenario("lehman"), "scenario must be one of"),
        (lambda: stress.DepegScenario("x", {"USDC": -1.0}), r"shocks\['USDC'\] must be a finite move > -1"),
        (lambda: stress.DepegScenario("x", {"USDC": float("nan")}), "finite move"),
        (lambda: stress.DepegScenario("x", {"USDC": True}), "finite move"),
        (lambda: stress.DepegScenario("x", {}), "non-empty mapping"),
        (lambda: stress.stress_position(usdc_collateral(), [3]), r"scenarios\[0\] must be a DepegScenario"),
    ],
)
def test_bad_scenarios_name_the_value(make: object, message: str) -> None:
    with pytest.raises(InputError, match=message):
        make()  # type: ignore[operator]


shock = st.floats(-0.9, 0.5, allow_nan=False)


@settings(max_examples=60, deadline=None)
@given(a=shock, b=shock, protocol=st.sampled_from(["aave", "morpho"]))
def test_hf_after_is_monotone_in_the_shock(a: float, b: float, protocol: str) -> None:
    lo, hi = sorted((a, b))
    if protocol == "aave":
        spec = {"protocol": "aave-v3", "reserves": [
            {"symbol": "WETH", "price_usd": 3000, "decimals": 18, "ltv": 0.805, "lt": 0.83, "bonus": 0.05, "collateral": 10},
            {"symbol": "WBTC", "price_usd": 60000, "decimals": 8, "ltv": 0.73, "lt": 0.78, "bonus": 0.05, "collateral": 0.5},
            {"symbol": "USDC", "price_usd": 1, "decimals": 6, "ltv": 0.75, "lt": 0.78, "bonus": 0.045, "debt": 35000},
        ]}  # fmt: skip
    else:
        spec = morpho_weth()
    coll = [stress.DepegScenario(f"c{x}", {"WETH": x}) for x in (lo, hi)]
    debt = [stress.DepegScenario(f"d{x}", {"USDC": x}) for x in (lo, hi)]
    c_lo, c_hi = stress.stress_position(spec, coll)
    d_lo, d_hi = stress.stress_position(spec, debt)
    assert c_lo.health_factor_after_wad <= c_hi.health_factor_after_wad  # deeper collateral fall, lower HF
    assert d_lo.health_factor_after_wad >= d_hi.health_factor_after_wad  # dearer debt, lower HF
    assert c_lo.liquidatable >= c_hi.liquidatable
