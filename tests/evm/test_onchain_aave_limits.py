"""The on-chain guardian at the edges of Aave v3's rules, against the real contracts (Aave v3.0.2 of
npm ``@aave/core-v3`` on the in-process chain of ``_chain_positions.py``, through web3.py):

* a collateral at or near its **supply cap** (``ValidationLogic.validateSupply``, error 51
  ``SUPPLY_CAP_EXCEEDED``): the read's room equals the contract's boundary less the margin; a supply
  cut by the cap yields to a repayment that reaches the target; with nothing to repay the supply
  fills the room and is mined (it used to be refused every cycle, the position never protected);
* a price feed answering **<= 0**: without a fallback oracle ``getUserAccountData`` reverts (the
  guardian raises a critical ``oracle`` alert naming the asset, sends nothing, and never calls the
  pool "not a pool"); with one, the alert says the fallback's price is used;
* an **e-mode category with a price source** (3.0 / 3.1): its feed is checked like the assets'
  and the assessment prices the category's reserves at the source's price, as ``GenericLogic`` does.

The wallet's position is the fixture's: 10 WETH supplied, USDC borrowed at health factor 1.6;
WETH at 2,000 USD puts it at 1.07, below the ACT level (1.15).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("eth_tester")
pytest.importorskip("web3")

import _chain_positions as cp
from test_onchain_guardian import cycle, guardian, read, venues

from levguard.core.defi.aave import get_user_account_data
from levguard.defi.onchain import assess
from levguard.live.onchain import HealthRules
from levguard.live.store import Store
from levguard.venues.onchain_read import AaveRead

WAD = 10**18
ACT_PRICE = 2_000.0  # WETH: health factor 1.07


@pytest.fixture(scope="module")
def deployed(evm_build: Any, fresh_stack: Any) -> cp.ChainPositions:
    return fresh_stack(cp.deploy, evm_build("morpho-blue")["contracts"])  # type: ignore[no-any-return]


@pytest.fixture
def chain(deployed: cp.ChainPositions) -> Iterator[cp.ChainPositions]:
    """The deployed chain, put back as it was after the test."""
    snapshot = deployed.evm.tester.take_snapshot()
    try:
        yield deployed
    finally:
        deployed.evm.tester.revert_to_snapshot(snapshot)


def _store(tmp_path: Path, name: str = "g") -> Store:
    return Store(f"sqlite:///{tmp_path / (name + '.db')}")


def _cap_weth(chain: cp.ChainPositions, whole_tokens: int) -> None:
    chain.send(chain.configurator().functions.setSupplyCap(chain.tokens["WETH"].address, whole_tokens))


def _action(report: dict[str, Any]) -> dict[str, Any]:
    return dict(report["positions"][0]["action"])


# --- supply caps -----------------------------------------------------------------------------------


def test_the_supply_room_is_the_pools_own_boundary_less_the_margin(chain: cp.ChainPositions) -> None:
    weth = chain.tokens["WETH"]
    chain.send(weth.functions.mint(5 * WAD), chain.wallet)
    _cap_weth(chain, 11)  # 10 WETH supplied (not borrowed: index 1 ray, nothing accrued to the treasury)
    aave, _ = venues(chain)
    r = read(aave)
    assert isinstance(r, AaveRead)
    # validateSupply: 10e18 + amount <= 11e18; the read keeps 1 bp of the cap and 3 units of rounding.
    assert r.supply_room == {"WETH": 10**18 - 11 * 10**14 - 3}
    supply = chain.pool.functions.supply
    assert chain.evm.call_raw(supply(weth.address, 10**18 + 1, chain.wallet, 0), chain.wallet) == (False, "51")
    assert chain.evm.call_raw(supply(weth.address, 10**18, chain.wallet, 0), chain.wallet) == (True, "")
    _cap_weth(chain, 1)  # below what is supplied already
    assert read(aave).supply_room == {"WETH": 0}
    _cap_weth(chain, 0)  # no cap
    assert read(aave).supply_room == {}


def test_a_supply_cut_by_the_cap_yields_to_a_repayment_that_reaches_the_target(
    chain: cp.ChainPositions, tmp_path: Path
) -> None:
    chain.send(chain.tokens["WETH"].functions.mint(5 * WAD), chain.wallet)
    _cap_weth(chain, 11)  # room about 1 WETH; the target needs about 2.66
    chain.set_weth_price(ACT_PRICE)
    aave, _ = venues(chain)
    g = guardian(_store(tmp_path), [("aave", aave)], live=True, rules=HealthRules(confirm_wait_s=2.0, prefer="supply"))
    act = _action(cycle(g)["aave"])
    g.flush()
    assert (act["side"], act["symbol"], act["status"]) == ("repay", "USDC", "closed")
    assert chain.aave_health_factor() >= 1.349 * WAD  # the target 1.35, less a block's interest


def test_with_nothing_to_repay_the_supply_fills_the_room_and_then_alerts(
    chain: cp.ChainPositions, tmp_path: Path
) -> None:
    usdc, weth = chain.tokens["USDC"], chain.tokens["WETH"]
    chain.send(usdc.functions.transfer(chain.lender, usdc.functions.balanceOf(chain.wallet).call()), chain.wallet)
    chain.send(weth.functions.mint(5 * WAD), chain.wallet)
    _cap_weth(chain, 11)
    chain.set_weth_price(ACT_PRICE)
    aave, _ = venues(chain)
    store = _store(tmp_path)
    g = guardian(store, [("aave", aave)], live=True, rules=HealthRules(confirm_wait_s=2.0, prefer="supply"))
    hf_before = chain.aave_health_factor()
    act = _action(cycle(g)["aave"])
    assert (act["side"], act["symbol"], act["status"]) == ("supply", "WETH", "closed")
    assert int(act["amount"]) == 10**18 - 11 * 10**14 - 3  # the room, not the 2.66 WETH needed
    assert chain.aave_health_factor() > hf_before
    assert chain.tokens["aWETH"].functions.totalSupply().call() <= 11 * WAD
    act = _action(cycle(g)["aave"])  # at the cap, no debt token: nothing the Pool accepts
    g.flush()
    assert act["skipped"] == "no_funds"
    assert act["supply_cap_reached"] == ["WETH"]
    messages = [a["message"] for a in store.alerts(limit=50) if a["kind"] == "action"]
    assert any("at its supply cap: ['WETH']" in m for m in messages)
    assert not any("not sent" in m for m in messages)  # nothing was refused by eth_estimateGas


# --- a feed answering <= 0 -------------------------------------------------------------------------


def test_a_zero_answer_without_fallback_is_an_oracle_alert_not_a_missing_pool(
    chain: cp.ChainPositions, tmp_path: Path
) -> None:
    chain.set_weth_price(ACT_PRICE)
    chain.send(chain.weth_feed.functions.setAnswer(0))
    ok, _ = chain.evm.call_raw(chain.pool.functions.getUserAccountData(chain.wallet), chain.admin)
    assert not ok  # AaveOracle asks the fallback oracle at address 0: the account cannot be valued
    aave, _ = venues(chain)
    store = _store(tmp_path)
    g = guardian(store, [("aave", aave)], live=False)
    nonce = chain.nonce()
    report = cycle(g)["aave"]
    g.flush()
    assert report["status"] == "error"
    assert "does not answer" not in report["error"]
    alerts = store.alerts(limit=50)
    oracle = [a for a in alerts if a["kind"] == "oracle"]
    assert len(oracle) == 1
    assert oracle[0]["level"] == "critical"
    assert oracle[0]["data"]["symbol"] == "WETH"
    text = oracle[0]["message"]
    assert text.startswith("WETH: AaveOracle.getAssetPrice reverts")
    assert "answers 0 (<= 0)" in text
    assert "no fallback oracle" in text
    assert "liquidations, borrows and withdrawals revert" in text
    assert not any(a["kind"] == "stale" for a in alerts)
    assert chain.nonce() == nonce  # nothing sent
    # The feed answers again: the account is read and assessed as before.
    chain.set_weth_price(ACT_PRICE)
    assert cycle(g)["aave"]["status"] == "ok"


def test_a_negative_answer_with_a_fallback_says_the_fallback_price_is_used(
    chain: cp.ChainPositions, tmp_path: Path
) -> None:
    weth = chain.tokens["WETH"]
    fallback = chain.evm.deploy("PriceOracle")
    chain.send(fallback.functions.setAssetPrice(weth.address, 1_500 * 10**8))
    chain.send(chain.oracle.functions.setFallbackOracle(fallback.address))
    chain.send(chain.weth_feed.functions.setAnswer(-5))
    aave, _ = venues(chain)
    store = _store(tmp_path)
    g = guardian(store, [("aave", aave)], live=False)
    cycle(g)
    g.flush()
    (alert,) = [a for a in store.alerts(limit=50) if a["kind"] == "oracle"]
    assert "non_positive_answer" in alert["message"]
    assert "uses its fallback oracle's price (150000000000)" in alert["message"]
    assert "still uses its answer" not in alert["message"]
    assert {o.symbol: o for o in read(aave).oracles}["WETH"].price == 1_500 * 10**8


# --- e-mode price source (3.0 / 3.1) ---------------------------------------------------------------


def test_an_emode_price_source_is_checked_and_prices_the_category(chain: cp.ChainPositions, tmp_path: Path) -> None:
    usdc = chain.tokens["USDC"]
    source = chain.evm.deploy("MintableERC20", "USD source", "USDSRC", 8)  # the address the category prices by
    feed = chain.evm.deploy_artifact(cp.aggregator_artifact(), 105_000_000, sender=chain.admin)
    now = chain.w3.eth.get_block("latest")["timestamp"]
    chain.send(feed.functions.setRound(105_000_000, now - 10 * 86_400))  # 1.05 USD, 10 days old
    chain.send(chain.oracle.functions.setAssetSources([source.address], [feed.address]))
    cfg = chain.configurator()
    chain.send(cfg.functions.setEModeCategory(1, 9000, 9300, 10100, source.address, "usd"))
    chain.send(cfg.functions.setAssetEModeCategory(usdc.address, 1))
    chain.send(chain.pool.functions.setUserEMode(1), chain.wallet)
    chain.set_weth_price(ACT_PRICE)
    aave, _ = venues(chain)
    aave.heartbeats = {"WETH": 3_600, "USDC": 3_600, "USDSRC": 3_600}
    r = read(aave)
    # The debt is valued at the source's 1.05 by the Pool and by levguard's engine ...
    account = chain.pool.functions.getUserAccountData(chain.wallet).call(block_identifier=r.block_number)
    assert get_user_account_data(r.reserves, r.emode, r.version).health_factor == account[5]
    # ... and the assessment shows that price (what max_order_notional converts with).
    a = assess(r, 1.35)
    assert a.asset("USDC").price == pytest.approx(1.05)
    assert a.asset("WETH").price == pytest.approx(ACT_PRICE)  # not in the category: its own
    # The source's feed is read and checked like an asset's (heartbeat by its symbol).
    src = {o.symbol: o for o in r.oracles}["USDSRC"]
    assert (src.emode_category, src.price, src.source) == (1, 105_000_000, feed.address)
    assert src.check is not None
    assert src.check.failures == ("stale",)
    store = _store(tmp_path)
    g = guardian(store, [("aave", aave)], live=False)
    cycle(g)
    g.flush()
    (alert,) = [x for x in store.alerts(limit=50) if x["kind"] == "oracle"]
    assert alert["message"].startswith("e-mode category 1 price source USDSRC: price feed")
    assert "stale" in alert["message"]
