"""The cascade simulator (v1) with tiers counted by position size (``TierTable.basis ==
"quantity"``): OKX counts its position tiers in contracts (``minSz``/``maxSz`` of ``GET
/api/v5/public/position-tiers``), so an account is in the tier of its size at every price.  Its
liquidation price is solved with that tier's rate and a step-down leaves the lower tier's size
(okx.com help 360020411711: tier 3 and above are reduced to tier 1), as the margin engine and
``liquidation_outcome`` read them.  The contagion simulator (v2) reads notional caps and refuses
them by name."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from levguard.cascade import MarginRegime, Market
from levguard.cascade.market import MarketVenue
from levguard.cascade.population import Population
from levguard.cascade.simulator import simulate_path
from levguard.cli.main import app
from levguard.config.cascade import TierRows, resolve_tiers
from levguard.core.liquidation_outcome import liquidation_outcome
from levguard.core.rules import get_venue
from levguard.core.tiers import TierTable
from levguard.errors import InputError
from levguard.kernels import cascade_records as kc
from levguard.kernels.cascade_sweep import liq_price, maintenance_of

ROWS = [
    {"notional_floor": 0, "notional_cap": 10, "mmr": 0.004, "max_leverage": 100},
    {"notional_floor": 10, "notional_cap": 20, "mmr": 0.006, "max_leverage": 50},
    {"notional_floor": 20, "notional_cap": None, "mmr": 0.01, "max_leverage": 20},
]
BY_SIZE = get_venue("okx").read_tiers(TierTable.from_rows(ROWS, deduction=False, basis="quantity"))
DEEP = Market(depth=1e15)


def _kernel(table: TierTable, by_size: bool) -> kc.Tiers:
    return kc.Tiers(table.caps, table.mmrs, table.cums, by_size)


def test_okx_steps_25_btc_down_to_tier_1s_10_btc_at_any_fill() -> None:
    """25 BTC @ 100,000 on 62,500, gapping to 98,000: OKX reduces tier 3 to tier 1 at once, 15
    BTC, as liquidation_outcome says; the rest is the cap itself (OKX's caps are inclusive)."""
    regime = MarginRegime.for_venue("okx", tiers=BY_SIZE, kind="tiered", liquidation_fee=0.0)
    assert regime.by_size
    pop = Population(side=[1.0], qty=[25.0], entry_price=[100_000.0], margin=[62_500.0], cross=[False])
    res = simulate_path(pop, np.array([100_000.0, 98_000.0, 98_000.0]), market=DEEP, regime=regime)
    expected = liquidation_outcome(
        "okx", 25.0, 100_000.0, 98_000.0, 62_500.0, tiers=BY_SIZE, fee_rate=0.0, taker_fee=0.0, mm_at_entry=False
    )
    assert expected.remaining_qty == 10.0
    assert len(res.events) == 1
    assert res.events["qty"].iloc[0] == expected.closed_qty
    assert res.accounts["qty"].iloc[0] == 10.0


@settings(max_examples=200, deadline=None)
@given(
    qty=st.floats(0.01, 60.0),
    lev=st.floats(1.5, 90.0),
    entry=st.floats(1_000.0, 200_000.0),
    short=st.booleans(),
    scale=st.floats(0.5, 3.0),
)
def test_the_liquidation_price_by_size_is_the_sizes_own_tier(
    qty: float, lev: float, entry: float, short: bool, scale: float
) -> None:
    """At every size, entry and margin (and a dynamic margin's scale), the kernel's liquidation
    price and maintenance margin by size are, to the bit, those of the one tier of the size."""
    side = -1.0 if short else 1.0
    margin = qty * entry / lev
    # A cap above 1 / mmr is refused (an IM rate below the MM rate): the scaled rate lowers it.
    rows = [
        {**r, "mmr": r["mmr"] * scale, "max_leverage": min(r["max_leverage"], 1 / (r["mmr"] * scale))} for r in ROWS
    ]
    scaled = TierTable.from_rows(rows, deduction=False, basis="quantity")
    one = scaled.at_quantity(qty)
    assert liq_price(side, qty, entry, margin, _kernel(scaled, True)) == pytest.approx(
        liq_price(side, qty, entry, margin, _kernel(one, False)), rel=0, abs=0, nan_ok=True
    )
    assert maintenance_of(qty, entry, _kernel(scaled, True)) == maintenance_of(qty, entry, _kernel(one, False))


def test_a_config_file_gives_tiers_by_size_and_v2_refuses_them_by_name() -> None:
    table = resolve_tiers(TierRows(basis="quantity", rows=ROWS))
    assert (table.basis, table.deduction) == ("quantity", False)
    assert resolve_tiers(TierRows(rows=ROWS)).basis == "notional"
    regime = MarginRegime.for_venue("okx", tiers=table, kind="tiered")
    with pytest.raises(InputError, match=r"venue 'x': regime\.tiers must be tiers by notional"):
        MarketVenue("x", DEEP, regime)
    with pytest.raises(InputError, match="binance-usdm tiers by notional with a maintenance deduction"):
        MarginRegime.for_venue("binance-usdm", tiers=table, kind="tiered")


def test_the_cascade_command_runs_a_config_with_tiers_by_size(tmp_path: Path) -> None:
    cfg = {
        "population": {"distribution": {"n": 300, "price": 60000, "seed": 1}},
        "paths": {"model": "gbm", "s0": 60000, "sigma": 0.8, "n_steps": 40, "dt_years": 1.9e-6, "seed": 7},
        "market": {"depth": 1.0e5},
        "regime": {"kind": "tiered", "liquidation": "okx", "tiers": {"basis": "quantity", "rows": ROWS}},
        "scheduler": None,
        "output": {"report": None, "csv": None},
    }
    path = tmp_path / "okx.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    res = CliRunner().invoke(app, ["cascade", str(path)])
    assert res.exit_code == 0, res.output
    cfg["regime"]["liquidation"] = "binance-usdm"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    bad = CliRunner().invoke(app, ["cascade", str(path)])
    assert bad.exit_code == 2
    assert "binance-usdm tiers by notional with a maintenance deduction" in bad.output


def test_slices_by_size_close_what_they_record() -> None:
    """Only a step-down's rest is put back at its cap: a review found a fraction rule's rest
    snapped too, the quantity it took recorded nowhere."""
    regime = MarginRegime(kind="tiered", tiers=BY_SIZE, partial=0.5, liquidation_fee=0.0)
    pop = Population(side=[1.0], qty=[40.00000002], entry_price=[100_000.0], margin=[100_000.0], cross=[False])
    res = simulate_path(pop, np.array([100_000.0, 98_400.0, 98_400.0]), market=DEEP, regime=regime)
    assert float(res.events["qty"].sum() + res.accounts["qty"].iloc[0]) == pytest.approx(40.00000002, rel=1e-15)


@pytest.mark.parametrize("step_from", [1, 2])
@pytest.mark.parametrize("step_mode", ["once", "until_safe"])
def test_a_user_set_step_mode_at_an_exact_okx_cap_reads_the_sizes_tier(step_mode: str, step_from: int) -> None:
    """20 BTC, exactly the 0.6 % tier's cap (inclusive at OKX), filled at a price where the caps
    valued plainly (``caps x price``) put it in the 1 % tier: it steps down to tier 1 where its
    tier may step (``step_from`` 1) and goes whole where it may not (2), as liquidation_outcome
    books it.  A review found the cascade doing the opposite at about 3 % of prices (``once-1`` and
    ``until_safe-2``; the other two cases came out right by chance and hold the agreement)."""
    fills = np.random.default_rng(3).uniform(105_000.0, 110_000.0, 3_000)
    fill = float(max(p for p in fills if 20.0 * p == float(np.nextafter(20.0, np.inf)) * p))
    margin = 0.9 * 20.0 * fill * 0.006 + 20.0 * (112_000.0 - fill)  # equity at the fill: 90 % of the MM
    regime = MarginRegime.for_venue(
        "okx", tiers=BY_SIZE, kind="tiered", liquidation_fee=0.0, step_mode=step_mode, step_from=step_from
    )
    pop = Population(side=[1.0], qty=[20.0], entry_price=[112_000.0], margin=[margin], cross=[False])
    res = simulate_path(pop, np.array([112_000.0, fill, fill]), market=DEEP, regime=regime)
    rule = replace(get_venue("okx").liquidation, step_mode=step_mode, step_from=step_from)
    expected = liquidation_outcome(
        rule, 20.0, 112_000.0, fill, margin, tiers=BY_SIZE, fee_rate=0.0, taker_fee=0.0, mm_at_entry=False
    )
    assert expected.partial == (step_from == 1)
    assert res.events["qty"].tolist() == [expected.closed_qty]
    assert res.accounts["qty"].iloc[0] == expected.remaining_qty
