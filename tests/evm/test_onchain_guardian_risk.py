"""P(HF < 1) in the on-chain guardian's states, against the real contracts (Aave v3.0.2 from npm
``@aave/core-v3``, Morpho Blue 1.0.0 from npm ``@morpho-org/morpho-blue``) on an in-process chain.

The account's bars (synthetic hourly WETH bars, 90 days up to the current hour, hourly volatility
2 %) feed :class:`levguard.defi.onchain.HfForecasts`; P(HF < 1) over 7 days then reaches the ACT
threshold while the health factor is still above its own ACT threshold, and the guardian acts.
Without bars the states are the health factor's alone, and the position says so.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("eth_tester")
pytest.importorskip("web3")

import _chain_positions as cp

from levguard.core.risk.forecast import HOUR_NS
from levguard.defi import risk
from levguard.defi.onchain import HfForecasts, assess, position_of
from levguard.live.guardian import Guardian
from levguard.live.onchain import NO_FORECAST, HealthRules, OnchainAccountSetup
from levguard.live.store import Store
from levguard.venues.onchain import LocalSigner, OnchainVenue

CRASH = [3_000.0 - 120.0 * k for k in range(11)]  # 3,000 -> 1,800: -40 % in ten steps
WAD = 10**18
HORIZON = 7.0
P_LIQ = (0.01, 0.03, 0.08)  # P(HF < 1 within 7 days) of WARN, DANGER, ACT
LEVELS = ["OK", "WARN", "DANGER", "ACT"]


def weth_bars(hours: int = 24 * 90, seed: int = 7) -> pd.DataFrame:
    """Synthetic hourly WETH bars ending with the last closed hour (hourly log sd 2 %)."""
    end = (time.time_ns() // HOUR_NS - 1) * HOUR_NS
    idx = pd.date_range(end=pd.Timestamp(end, tz="UTC"), periods=hours, freq="1h")
    rng = np.random.default_rng(seed)
    close = 3_000 * np.exp(np.cumsum(rng.normal(0.0, 0.02, hours)))
    wick = np.exp(np.abs(rng.normal(0.0, 0.01, (2, hours))))
    return pd.DataFrame({"high": close * wick[0], "low": close / wick[1], "close": close}, index=idx)


@pytest.fixture(scope="module")
def deployed(evm_build: Any, fresh_stack: Any) -> cp.ChainPositions:
    return fresh_stack(cp.deploy, evm_build("morpho-blue")["contracts"])  # type: ignore[no-any-return]


@pytest.fixture
def chain(deployed: cp.ChainPositions) -> Iterator[cp.ChainPositions]:
    snapshot = deployed.evm.tester.take_snapshot()
    try:
        yield deployed
    finally:
        deployed.evm.tester.revert_to_snapshot(snapshot)


@pytest.fixture(scope="module")
def bars() -> pd.DataFrame:
    return weth_bars()


def venues(p: cp.ChainPositions) -> tuple[OnchainVenue, OnchainVenue]:
    key = LocalSigner(cp.WALLET_KEY)
    aave = OnchainVenue("aave-v3", w3=p.w3, wallet=p.wallet, signer=key, pool=p.pool.address, aave_version="3.0")
    morpho = OnchainVenue("morpho-blue", w3=p.w3, wallet=p.wallet, signer=key, morpho=p.morpho.address,
                          market_id="0x" + p.market_id.hex())  # fmt: skip
    return aave, morpho


async def _no_sleep(_s: float) -> None:
    return None


def guardian(p: cp.ChainPositions, tmp_path: Path, name: str, hook: Any, *, live: bool) -> tuple[Guardian, Store]:
    store = Store(f"sqlite:///{tmp_path / f'{name}.db'}")
    setups = []
    for account, venue in zip(("aave", "morpho"), venues(p), strict=True):
        store.upsert_account(account, venue.name, live_enabled=True)
        setups.append(
            OnchainAccountSetup(
                name=account, venue=venue, assess=assess, p_hf_below_one=hook, horizon_days=HORIZON,
                rules=HealthRules(p_hf_below_one=P_LIQ, confirm_wait_s=2.0), live=True, cooldown_s=0.0,
                retries=0, backoff_s=0.0,
            )
        )  # fmt: skip
    g = Guardian(setups, store, live=live, owner="test", sleep=_no_sleep, lease_ttl_s=3_600.0, cycle_budget_s=1_200.0)
    return g, store


def cycle(g: Guardian) -> dict[str, dict[str, Any]]:
    return {r["account"]: r for r in asyncio.run(g.cycle())}


def test_the_hook_is_position_risk_on_the_read(chain: cp.ChainPositions, bars: pd.DataFrame) -> None:
    hook = HfForecasts({"weth": bars})  # symbols match in any case
    for venue in venues(chain):
        chain.set_weth_price(2_400.0)
        read = asyncio.run(venue.read())
        a = assess(read, 1.35)
        got = hook(read, a, HORIZON, 0.05)
        ref = risk.position_risk(position_of(read), {"WETH": bars}, HORIZON, as_of=pd.Timestamp(read.read_ns, tz="UTC"))
        assert got.probability == pytest.approx(ref.probability(HORIZON), rel=1e-12, abs=1e-15)
        assert got.distance == pytest.approx(ref.distance, rel=1e-12)
        assert 0.0 < got.probability < 1.0
        assert "WETH" in got.source
        assert got.safe_health_factor is not None
        # At the safe health factor P is the 5 % asked for: a position there would have distance
        # 1 - 1 / HF_safe to HF 1.
        d_safe = 1.0 - 1.0 / got.safe_health_factor
        f = hook._fits[next(iter(hook._fits))][1]
        assert float(f.prob(np.ones(1), np.array([d_safe]), np.array([168]))[0]) == pytest.approx(0.05, abs=1e-9)
        hook._fits.clear()


def test_p_reaches_act_before_the_health_factor_does_and_the_guardian_acts(
    chain: cp.ChainPositions, tmp_path: Path, bars: pd.DataFrame
) -> None:
    snapshot = chain.evm.tester.take_snapshot()
    # Without bars: the health factor alone (HF thresholds 1.5, 1.25, 1.15).
    plain, _ = guardian(chain, tmp_path, "plain", None, live=False)
    hf_only: dict[float, dict[str, tuple[str, float]]] = {}
    for price in CRASH:
        chain.set_weth_price(price)
        reports = cycle(plain)
        hf_only[price] = {n: (r["state"], r["health_factor"]) for n, r in reports.items()}
        for r in reports.values():
            pos = r["positions"][0]
            assert math.isnan(pos["p_liq"])
            assert pos["forecast_source"] == NO_FORECAST
            hf = r["health_factor"]
            expected = "ACT" if hf < 1.15 else "DANGER" if hf < 1.25 else "WARN" if hf < 1.5 else "OK"
            if r["state"] != expected:  # only the hysteresis may hold a higher level on the way down
                assert LEVELS.index(r["state"]) > LEVELS.index(expected)
    plain.close()
    chain.evm.tester.revert_to_snapshot(snapshot)

    # With bars, live: ACT (by P) while the health factor alone says less, and the guardian repays.
    g, store = guardian(chain, tmp_path, "bars", HfForecasts({"WETH": bars}), live=True)
    early: dict[str, float] = {}
    for price in CRASH:
        chain.set_weth_price(price)
        for name, r in cycle(g).items():
            assert r["status"] == "ok", r
            pos = r["positions"][0]
            assert 0.0 <= pos["p_liq"] <= 1.0
            assert "model fitted on" in pos["forecast_source"]
            if r["state"] == "ACT" and name not in early:
                early[name] = price
                assert hf_only[price][name][0] != "ACT"  # the health factor alone would not act
                assert r["health_factor"] > 1.15
                assert pos["p_liq"] >= P_LIQ[2]
                action = pos["action"]
                assert action["side"] == "repay"
                assert action["status"] == "closed"
    g.flush()
    assert set(early) == {"aave", "morpho"}
    snapshots = store.snapshots("aave", limit=50)
    assert any(s["figures"]["positions"][0]["p_liq"] is not None for s in snapshots)  # stored
    assert chain.aave_health_factor() >= int(1.15 * WAD)
    g.close()


def test_a_stricter_p_threshold_raises_the_target_of_the_action(
    chain: cp.ChainPositions, tmp_path: Path, bars: pd.DataFrame
) -> None:
    # P thresholds so low that at HF 1.35 P(HF < 1) is still above ACT: the action's target is the
    # health factor at which P falls below the ACT threshold less the hysteresis, and the next
    # cycle leaves ACT.
    hook = HfForecasts({"WETH": bars})
    store = Store(f"sqlite:///{tmp_path / 'g.db'}")
    aave, _ = venues(chain)
    store.upsert_account("aave", aave.name, live_enabled=True)
    rules = HealthRules(p_hf_below_one=(0.002, 0.004, 0.008), confirm_wait_s=2.0)
    setup = OnchainAccountSetup(name="aave", venue=aave, assess=assess, p_hf_below_one=hook, horizon_days=HORIZON,
                                rules=rules, live=True, cooldown_s=0.0, retries=0, backoff_s=0.0)  # fmt: skip
    g = Guardian([setup], store, live=True, owner="test", sleep=_no_sleep, lease_ttl_s=3_600.0, cycle_budget_s=1_200.0)
    chain.set_weth_price(2_600.0)  # HF 1.39 > 1.35
    r = cycle(g)["aave"]
    pos = r["positions"][0]
    assert r["state"] == "ACT"
    assert r["health_factor"] > 1.35
    action = pos["action"]
    assert pos["target_hf"] > 1.35
    assert action["target_hf"] == pos["target_hf"]
    assert action["status"] == "closed"
    after = cycle(g)["aave"]
    assert after["health_factor"] >= pos["target_hf"] - 1e-9
    assert after["positions"][0]["p_liq"] < 0.008 * 0.9
    assert after["state"] != "ACT"
    g.close()


def test_bars_missing_for_an_asset_fall_back_to_the_health_factor(chain: cp.ChainPositions) -> None:
    hook = HfForecasts(lambda symbol: None)  # a history without WETH
    aave, _ = venues(chain)
    read = asyncio.run(aave.read())
    got = hook(read, assess(read, 1.35), HORIZON, 0.05)
    assert math.isnan(got.probability)
    assert "bars for WETH are needed" in got.source
    assert "health factor alone" in got.source
