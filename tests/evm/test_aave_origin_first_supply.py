"""A supply enables a reserve as collateral only on a first supply the Pool allows: v3.6 on chain.

``SupplyLogic.executeSupply`` (aave-v3-origin v3.6.0 ``SupplyLogic.sol:74-86``) sets the flag when
the aToken's scaled balance was 0 before the mint and ``validateAutomaticUseAsCollateral``
(``ValidationLogic.sol:623-644``: false with a debt ceiling) passes.  On the real Pool
(:mod:`_aave_origin`), levguard's ``supply_to_target`` and the unwind plan's ``supply_counts``
(where a refused sale's collateral is supplied back) say what the Pool does:

* AAVE (a debt ceiling), 1,000 USDC owed and no collateral: not enabled by a supply (levguard
  advised 20.5479 AAVE "to HF 1.5"; supplied, the flag stayed off, HF 0);
* DAI never supplied (its flag read off): enabled; the advised supply reaches the target on chain
  (levguard refused it: "does not count as collateral");
* DAI disabled by the user with 5,000 DAI held: a supply leaves the flag off and the HF unchanged,
  and the unwind plan no longer counts it (it did: a refused sale's DAI went "back").
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

pytest.importorskip("eth_tester")
pytest.importorskip("web3")

import _aave_common as _aave
import _aave_origin as origin
from eth_utils import to_checksum_address
from web3 import Web3

from levguard.defi import analytics
from levguard.defi.onchain import position_of, unwind_plan
from levguard.live.onchain_unwind import UnwindParams
from levguard.venues.onchain_read import AaveRead, Rpc, read_aave

VERSION = origin.LEVGUARD_VERSION
PARAMS = UnwindParams(1.35, 1.05, 0.01, 4)


def _units(m: origin.Market, symbol: str, tokens: float) -> int:
    return int(tokens * 10 ** m.specs[symbol].decimals)


def _flags(read: AaveRead) -> dict[str, tuple[int, bool]]:
    return {r.symbol: (r.collateral, r.collateral_enabled) for r in read.reserves}


def test_supply_to_target_and_supply_counts_follow_the_pools_first_supply(
    evm_build: Callable[[str], dict[str, Any]], fresh_stack: Callable[..., Any]
) -> None:
    document = evm_build(origin.TARGET)

    def run() -> None:
        m = origin.deploy_market(document["contracts"], num_users=1)
        rpc = Rpc(Web3(origin.EvmProvider(m.evm)))
        iso, first = (to_checksum_address(f"0x{0xEAD0000042 + i:040x}") for i in range(2))
        weth = {"WETH": _units(m, "WETH", 10)}
        usdc_owed = _units(m, "USDC", int(10 * m.specs["WETH"].price / 10**8 * 0.75))
        accounts = [
            _aave.StoredAccount(iso, {}, frozenset(), {"USDC": _units(m, "USDC", 1000)}, 0),
            _aave.StoredAccount(first, weth, frozenset(weth), {"USDC": usdc_owed}, 0),
        ]
        origin.write_accounts(m, accounts)

        def read(user: str, *keep: str) -> AaveRead:
            return read_aave(rpc, m.pool.address, user, user, version=VERSION, keep=tuple(map(m.address, keep)))

        def supply(user: str, symbol: str, amount: int) -> None:
            m.send(m.pool.functions.supply(m.address(symbol), amount, user, 0), m.funder)

        # 1. An isolated reserve: refused; supplied anyway, the Pool leaves the flag off (HF 0).
        before = read(iso, "AAVE")
        assert m.specs["AAVE"].debt_ceiling > 0
        out = analytics.supply_to_target(position_of(before), 1.5, "AAVE")
        assert out.amount is None, out  # was 20.5479 AAVE "to HF 1.5"
        assert "AAVE" not in unwind_plan(before, PARAMS).supply_counts
        supply(iso, "AAVE", _units(m, "AAVE", 20.5479))
        assert _flags(read(iso, "AAVE"))["AAVE"][1] is False
        assert read(iso).chain_health_factor == 0

        # 2. DAI never supplied, read with its flag off: the advised supply reaches HF 1.5 on chain.
        before = read(first, "DAI")
        assert _flags(before)["DAI"] == (0, False)
        assert "DAI" in unwind_plan(before, PARAMS).supply_counts
        out = analytics.supply_to_target(position_of(before), 1.5, "DAI")
        assert out.amount is not None, out.reason  # was None: "DAI does not count as collateral"
        supply(first, "DAI", out.amount)
        after = read(first)
        assert _flags(after)["DAI"][1] is True
        assert after.chain_health_factor >= 15 * 10**17

        # 3. DAI disabled by the user, its balance kept: a supply leaves it off, the HF unchanged.
        m.send(m.pool.functions.setUserUseReserveAsCollateral(m.address("DAI"), False), first)
        off = read(first, "DAI")
        assert _flags(off)["DAI"][1] is False
        assert "DAI" not in unwind_plan(off, PARAMS).supply_counts  # was counted: put back for nothing
        assert analytics.supply_to_target(position_of(off), 1.5, "DAI").amount is None
        supply(first, "DAI", _units(m, "DAI", 5000))
        again = read(first, "DAI")
        assert _flags(again)["DAI"][1] is False
        assert again.chain_health_factor == off.chain_health_factor

    fresh_stack(run)
