"""Differential test: levguard's Aave v3.0 rate strategy against the real contract, to the wei.

The contract is ``DefaultReserveInterestRateStrategy`` of Aave v3.0.2, the compiled artifact of
npm ``@aave/core-v3@1.19.3`` (see :mod:`_aave`), deployed alone on an in-process EVM (py-evm) with
the package's ``MintableERC20`` as the reserve token.  For seeded random reserve states (debts
and balances from 0 to 1e40 wei, stable and variable debt, unbacked, liquidity added and taken,
any reserve factor, usage ratios on both sides of the kink and exactly on it) across strategies
(the Aave test market's, zero and full optimal usage, huge slopes), every
``calculateInterestRates`` output equals
:func:`levguard.core.defi.irm.calculate_interest_rates`, and every input the contract reverts on
(liquidity taken above the balance, a reserve factor above 100 %, a zero optimal ratio at zero
usage, an overflow) raises :class:`~levguard.core.defi.wadray.MathRevertError` with the same kind
of revert (a ``Panic(0x11)`` or WadRayMath's bare ``revert()``).
"""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

import pytest

pytest.importorskip("eth_tester")
pytest.importorskip("web3")

import _aave
from eth_utils import to_checksum_address

from levguard.core.defi.irm import AaveInterestRates, AaveRateStrategy, calculate_interest_rates
from levguard.core.defi.wadray import RAY, UINT256_MAX, MathRevertError

pytestmark = pytest.mark.skipif(not _aave.available(), reason="npm @aave/core-v3 is not installed (make evm)")

SEED = 20_240_619
N_CASES = 400


def _ray(percent: float) -> int:
    return round(percent * RAY / 100)


# (optimal, base, s1, s2, stable s1, stable s2, base stable offset, stable excess offset, optimal stable)
STRATEGIES: list[tuple[int, ...]] = [
    # rateStrategyStableTwo of the Aave test market (aave/aave-v3-deploy markets/test/rateStrategies.ts)
    (_ray(80), 0, _ray(4), _ray(75), _ray(2), _ray(75), _ray(2), _ray(5), _ray(20)),
    # rateStrategyVolatileOne
    (_ray(45), 0, _ray(7), _ray(300), 0, 0, _ray(2), _ray(5), _ray(20)),
    # a base rate, odd ray values, a high optimal stable ratio
    (_ray(92) + 7, _ray(1) + 3, _ray(3.5) + 11, _ray(60) + 1, _ray(1) + 5, _ray(80), 1, _ray(8) + 9, RAY - 1),
    (RAY, _ray(0.5), _ray(10), _ray(100), _ray(3), _ray(30), _ray(1), _ray(2), RAY),  # no kink
    (0, _ray(2), _ray(4), _ray(75), _ray(2), _ray(75), _ray(2), _ray(5), 0),  # kink at 0 (reverts at 0 usage)
    (_ray(50), 10**33, 10**31, 10**34, 10**32, 10**34, 10**30, 10**33, _ray(50)),  # huge rates
]


def _amount(rng: random.Random) -> int:
    roll = rng.random()
    if roll < 0.08:
        return 0
    if roll < 0.12:
        return rng.randint(1, 10)
    return rng.randrange(10 ** rng.randint(1, 40))


def _case(rng: random.Random) -> dict[str, int]:
    variable = _amount(rng)
    stable = _amount(rng) if rng.random() < 0.6 else 0
    balance = _amount(rng)
    added = _amount(rng) if rng.random() < 0.5 else 0
    taken = 0
    roll = rng.random()
    if roll < 0.3:
        taken = rng.randint(0, balance + added)
    elif roll < 0.35:
        taken = balance + added + rng.randint(1, 10**6)  # more than there is: the contract reverts
    if rng.random() < 0.1 and variable + stable > 0:
        # usage exactly at a round ratio (often the kink): balance = debt * (1 - u) / u
        debt = variable + stable
        u = rng.choice([20, 45, 50, 80, 92, 100])
        balance, added, taken = debt * (100 - u) // u, 0, 0
    unbacked = _amount(rng) if rng.random() < 0.3 else 0
    rf = rng.choice([0, 1_000, 2_000, 10_000, rng.randint(0, 10_000)])
    if rng.random() < 0.03:
        rf = rng.randint(10_001, 65_535)  # above 100 %: 10_000 - rf underflows
    avg = rng.choice([0, _ray(10), rng.randrange(2 * RAY)])
    if rng.random() < 0.01:
        added = UINT256_MAX - balance + rng.randint(1, 10)  # balance + added overflows
    return {
        "unbacked": unbacked,
        "liquidity_added": added,
        "liquidity_taken": taken,
        "total_stable_debt": stable,
        "total_variable_debt": variable,
        "average_stable_borrow_rate": avg,
        "reserve_factor": rf,
        "underlying_balance": balance,
    }


def _revert_kind(reason: str) -> str:
    # _aave.revert_reason: "panic 0x11", "revert()" (WadRayMath), an Error(string) ...
    return {"panic 0x11": "0x11", "panic 0x12": "0x12", "revert()": ""}.get(reason, reason)


@pytest.fixture(scope="module")
def deployed() -> tuple[Any, Any, list[Any]]:
    evm = _aave.Evm(num_accounts=2)
    token = evm.deploy("MintableERC20", "Reserve", "RSV", 18)
    provider = evm.accounts[1]  # the strategy only stores it
    strategies = [evm.deploy("DefaultReserveInterestRateStrategy", provider, *p) for p in STRATEGIES]
    return evm, token, strategies


def test_calculate_interest_rates_matches_the_contract(deployed: tuple[Any, Any, list[Any]]) -> None:
    evm, token, contracts = deployed
    mint = token.get_function_by_signature("mint(address,uint256)")
    rng = random.Random(SEED)
    outcomes = {"equal": 0, "reverted": 0, "above_kink": 0}
    kinds: Counter[str] = Counter()
    for i in range(N_CASES):
        k = i % len(STRATEGIES)
        strategy, contract = AaveRateStrategy(*STRATEGIES[k]), contracts[k]
        case = _case(rng)
        a_token = to_checksum_address("0x" + f"{0x1000 + i:040x}")
        if case["underlying_balance"]:
            evm.send(mint(a_token, case["underlying_balance"]), evm.accounts[0])
        params = (
            case["unbacked"],
            case["liquidity_added"],
            case["liquidity_taken"],
            case["total_stable_debt"],
            case["total_variable_debt"],
            case["average_stable_borrow_rate"],
            case["reserve_factor"],
            token.address,
            a_token,
        )
        try:
            chain: Any = evm.call(contract.functions.calculateInterestRates(params))
        except _aave.RevertedError as exc:
            chain = exc
        try:
            ours: Any = calculate_interest_rates(strategy, **case)
        except MathRevertError as err:
            ours = err
        if isinstance(chain, _aave.RevertedError):
            assert isinstance(ours, MathRevertError), (i, case, chain.reason, ours)
            assert ours.code == _revert_kind(chain.reason), (i, case, chain.reason, ours.code)
            outcomes["reverted"] += 1
            kinds[chain.reason] += 1
            continue
        assert isinstance(ours, AaveInterestRates), (i, case, ours)
        got = (ours.current_liquidity_rate, ours.current_stable_borrow_rate, ours.current_variable_borrow_rate)
        assert got == tuple(chain), (i, k, case)
        outcomes["equal"] += 1
        outcomes["above_kink"] += ours.borrow_usage_ratio > strategy.optimal_usage_ratio
    print(f"\nAave v3.0 rate strategy: {outcomes}, reverts {dict(kinds)}")
    assert outcomes["equal"] >= 300
    assert outcomes["reverted"] >= 10
    assert outcomes["above_kink"] >= 50
    assert set(kinds) == {"revert()", "panic 0x11"}
