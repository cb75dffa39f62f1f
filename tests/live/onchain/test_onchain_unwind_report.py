"""What an unwind reports and alerts once collateral is withdrawn: the alert of a quote the node
does not answer says the collateral sits in the wallet, under its own dedup key; ``repaid`` is
what was repaid, not the plan.  The hand-written chain of ``test_onchain_unwind_resume``."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from test_onchain_unwind_resume import ADDR, WAD, WETH_SALE, Chain, Flaky, Guardian, resume, sent, weth_at

from levguard.defi.onchain import assess, unwind_plan
from levguard.errors import VenueRetryableError
from levguard.live import onchain_unwind as ou
from levguard.live.onchain import HealthRules
from levguard.live.setup import AccountState, PositionState
from levguard.venues.onchain import TxRequest

__all__ = ["sent"]  # the fixture, shared

TIMEOUT = VenueRetryableError("quote WETH -> USDC: no answer from the node within 10 s")


def test_a_quote_timeout_after_the_withdrawal_has_its_own_alert_saying_the_collateral_is_idle(sent: list[Any]) -> None:
    # Before, its dedup key was "quote", the key of the alert before any withdrawal ("nothing
    # withdrawn"): within alert_repeat_s one swallowed the other, and it said only "no quote".
    decision, g = resume(Flaky(weth_at(2_000.0), {"WETH": 1 * WAD}, quote_error=TIMEOUT), WETH_SALE)
    assert sent == []
    assert g.dedups == ["quote_withdrawn:unwind-1"]
    (alert,) = g.alerts
    assert "no quote for WETH -> USDC" in alert
    assert "the 1 WETH withdrawn by unwind step unwind-1 sit in the paying wallet" in alert
    assert "(withdrawn, not yet sold)" in alert
    assert "stay in the wallet until the next cycle" in decision["stopped"]


class Unwinding(Chain):
    """The chain of an unwind from its start: withdrawals built; the swapper quotes ``quotes`` in
    turn, the last one for every later quote (-1: at the oracle, 2,000 USDC a WETH)."""

    def __init__(self, *args: Any, quotes: list[int | Exception]) -> None:
        super().__init__(*args)
        self.quotes = quotes

    def _tx(self, kind: str, symbol: str, amount: int) -> Any:
        return TxRequest(kind, symbol, amount, ADDR, "0x", f"{kind}({symbol}, {amount})")

    def withdraw(self, read: Any, symbol: str, amount: int) -> Any:  # type: ignore[override]
        return self._tx("withdraw", symbol, amount)

    async def quote(self, read: Any, x: str, y: str, amount: int) -> int:  # type: ignore[override]
        q = self.quotes.pop(0) if len(self.quotes) > 1 else self.quotes[0]
        if isinstance(q, Exception):
            raise q
        return amount * 2_000 // 10**12 if q < 0 else q  # -1: at the oracle (2,000 USDC a WETH)


def act(chain: Unwinding) -> tuple[dict[str, Any], Guardian]:
    g = Guardian()
    setup = SimpleNamespace(name="aave", venue=chain, rules=HealthRules(prefer="unwind"), unwind=unwind_plan,
                            assess=assess, live=True, cooldown_s=0.0)  # fmt: skip
    a = assess(chain.now, 1.35)
    run = ou.act(g, setup, AccountState(), PositionState(), chain.now, a, {"symbol": "WETH"}, 10**18)  # type: ignore[arg-type]
    decision = asyncio.run(run)
    assert decision is not None
    return decision, g


def test_a_sale_refused_after_the_withdrawal_reports_nothing_repaid(sent: list[Any]) -> None:
    # WETH 2,000, HF 1.0607, target 1.35: the plan withdraws, sells and repays 2,366.91 USDC over
    # its rounds.  The swapper quotes at the oracle (twice before the withdrawal: the action's
    # check, then the round's), then 0 once the WETH is withdrawn: it is supplied back, nothing is
    # repaid.  Before, the decision said repaid 2,366.91 (the plan's).
    chain = Unwinding(weth_at(2_000.0), {"WETH": 10 * WAD}, quotes=[-1, -1, 0])
    decision, g = act(chain)
    kinds = [k for k, *_ in sent]
    assert kinds == ["withdraw", "supply"]
    withdrawn = sent[0][2]
    assert sent[1][2] == withdrawn
    assert decision["supplied_back"] == str(withdrawn)
    assert decision["repaid"] == 0.0
    assert decision["repaid_planned"] == 2_366.90999
    assert decision["filled"] == 0.0
    assert any("supplied back to the position" in m for m in g.alerts)


def test_a_sale_made_reports_what_its_repayment_repaid(sent: list[Any]) -> None:
    # The sale goes (quoted at the oracle) and its repayment takes what the wallet holds of USDC
    # (1,234 here, the swap's output as the chain tells it): repaid 1,234, not the plan's figure.
    chain = Unwinding(weth_at(2_000.0), {"WETH": 10 * WAD, "USDC": 1_234 * 10**6}, quotes=[-1])
    decision, _ = act(chain)
    repays = [amount for kind, _, amount, _ in sent if kind == "repay"]
    assert repays
    assert decision["repaid"] == sum(repays) / 10**6
    assert decision["repaid"] != decision["repaid_planned"]


def test_a_quote_timeout_before_any_withdrawal_keeps_the_quote_key(sent: list[Any]) -> None:
    chain = Unwinding(weth_at(2_000.0), {"WETH": 10 * WAD}, quotes=[TIMEOUT])
    decision, g = act(chain)
    assert sent == []
    assert g.dedups == ["quote"]
    assert "nothing withdrawn" in g.alerts[0]
    assert decision["skipped"] == "swap_quote"
