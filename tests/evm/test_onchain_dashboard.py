"""On-chain accounts in the service and on the dashboard, against the real contracts.

The service's guardian (dry run) watches the wallet's Aave v3.0.2 account and Morpho Blue
position on the in-process chain of :mod:`_chain_positions`, read over web3.py as from a node.
The REST API's positions of each account carry the health factor levguard computed, the
protocol's own (Aave's ``getUserAccountData``) and the collateral and debt values; in Debian's
chromium (Playwright), each account's card shows the health factor with the protocol's figure
in its title, the collateral and debt, and the target health factor, instead of an exchange
account's equity and wallet.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("eth_tester")
pytest.importorskip("web3")

import _chain_positions as cp

BROWSER_TESTS = Path(__file__).resolve().parents[1] / "service" / "browser"
if str(BROWSER_TESTS) not in sys.path:
    sys.path.insert(0, str(BROWSER_TESTS))

from test_dashboard_browser import CHROMIUM, _Service, serve_runtime  # noqa: E402

from levguard.defi.onchain import assess  # noqa: E402
from levguard.live.alerts import Alerter  # noqa: E402
from levguard.live.guardian import Guardian  # noqa: E402
from levguard.live.onchain import HealthRules, OnchainAccountSetup  # noqa: E402
from levguard.live.store import Store  # noqa: E402
from levguard.service.runtime import Runtime  # noqa: E402
from levguard.venues.onchain import OnchainVenue  # noqa: E402

WAD = 10**18


@pytest.fixture(scope="module")
def deployed(evm_build: Any, fresh_stack: Any) -> cp.ChainPositions:
    return fresh_stack(cp.deploy, evm_build("morpho-blue")["contracts"])  # type: ignore[no-any-return]


@pytest.fixture
def service(deployed: cp.ChainPositions, tmp_path: Path) -> Iterator[tuple[_Service, cp.ChainPositions]]:
    p = deployed
    snapshot = p.evm.tester.take_snapshot()
    p.set_weth_price(2_400.0)  # HF about 1.28: the state leaves OK
    store = Store(f"sqlite:///{tmp_path / 'g.db'}")
    aave = OnchainVenue("aave-v3", w3=p.w3, wallet=p.wallet, pool=p.pool.address, aave_version="3.0")
    morpho = OnchainVenue(
        "morpho-blue", w3=p.w3, wallet=p.wallet, morpho=p.morpho.address, market_id="0x" + p.market_id.hex()
    )
    setups = []
    for name, venue in (("aave", aave), ("morpho", morpho)):
        store.upsert_account(name, venue.name, live_enabled=False)
        setups.append(
            OnchainAccountSetup(name=name, venue=venue, assess=assess, rules=HealthRules(), retries=0, backoff_s=0.0)
        )
    guardian = Guardian(
        setups, store, live=False, alerter=Alerter([]), owner="onchain-dashboard-test", cycle_budget_s=1_200.0
    )
    try:
        yield from ((svc, p) for svc in serve_runtime(Runtime(guardian, interval_s=0.3, fast_interval_s=0.3)))
    finally:
        p.evm.tester.revert_to_snapshot(snapshot)


def _positions(service: _Service, account: str) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while True:
        answer = service.get(f"/api/accounts/{account}/positions")
        rows = answer if isinstance(answer, list) else answer.get("positions", [])
        if rows:
            return dict(rows[0])
        assert time.monotonic() < deadline, f"no cycle of {account} within 30 s: {answer}"
        time.sleep(0.2)


def test_the_api_and_the_cards_show_the_health_factor(
    service: tuple[_Service, cp.ChainPositions], tmp_path: Path
) -> None:
    svc, p = service
    row = _positions(svc, "aave")
    pool_hf = p.pool.functions.getUserAccountData(p.wallet).call()[5] / WAD
    assert row["health_factor"] == pytest.approx(pool_hf, rel=1e-9)
    assert row["chain_health_factor"] == pytest.approx(pool_hf, rel=1e-9)
    assert 1.2 < row["health_factor"] < 1.35
    assert row["collateral_value"] > row["debt_value"] > 0
    assert row["state"] != "OK"
    morpho = _positions(svc, "morpho")
    assert 1.0 < morpho["health_factor"] < 1.4

    from playwright.sync_api import expect

    from browser_session import dashboard_page

    if not CHROMIUM.exists():
        pytest.skip("needs Debian's chromium at /usr/bin/chromium for the dashboard half")
    with dashboard_page(tmp_path) as page:
        page.goto(svc.url + "/")
        page.fill("#token-input", svc.token)
        page.click("#token-submit")
        expect(page.locator("#dashboard")).to_be_visible()
        for account, figures in (("aave", row), ("morpho", morpho)):
            card = page.locator(f'#accounts [data-account="{account}"]')
            hf = card.locator('[data-field="health_factor"]')
            expect(hf.locator("dt")).to_have_text("Health factor")
            expect(hf.locator("dd")).to_have_text(f"{figures['health_factor']:,.4f}")
            if account == "aave":
                expect(hf).to_have_attribute("title", _contains("the protocol reports"))
            expect(card.locator('[data-field="debt_value"] dd')).to_contain_text(f"{figures['debt_value']:,.2f}")
            expect(card.locator('[data-field="target_hf"] dd')).not_to_have_text("")
            expect(card.locator('[data-field="equity"]')).to_have_count(0)


def _contains(text: str) -> Any:
    import re

    return re.compile(re.escape(text))
