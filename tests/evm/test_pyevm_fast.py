"""The py-evm shortcuts of ``_pyevm_fast`` change no execution: same answers, gas, logs, state."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import _pyevm_fast
import pytest
from eth.vm.code_stream import CodeStream


@pytest.fixture
def unpatched() -> Iterator[None]:
    """py-evm as released for the body of a test; the shortcuts again after it."""
    _pyevm_fast.uninstall()
    try:
        yield
    finally:
        _pyevm_fast.install()


def _aave() -> Any:
    import _aave

    if not _aave.available():
        pytest.skip("the @aave/core-v3 artifacts are missing: run `make evm`")
    return _aave


def test_the_shortcuts_are_in_force_in_the_evm_tests() -> None:
    assert _pyevm_fast.installed()


def _runtime_code(name: str) -> bytes:
    aave = _aave()
    art = aave.artifact(name)
    refs = art["deployedLinkReferences"]
    libs = {lib: "0x" + "ab" * 20 for names in refs.values() for lib in names}
    code = bytes.fromhex(aave.link(art["deployedBytecode"], refs, libs)[2:])
    _pyevm_fast.SharedAnalysisCodeStream._analyses.pop(code, None)
    return code


def test_shared_analysis_answers_as_a_fresh_stream_at_every_position() -> None:
    """Every position of two runtime codes (the Pool's 24 kB and the oracle's, PUSH data that
    looks like opcodes), asked in a shuffled order through two streams per code that share one
    analysis, interleaved between the codes, against a fresh stream per code."""
    codes = [_runtime_code("Pool"), _runtime_code("AaveOracle")]
    queries = [(k, p) for k, code in enumerate(codes) for p in range(len(code) + 40)]
    random.Random(7).shuffle(queries)
    shared = [[_pyevm_fast.SharedAnalysisCodeStream(code) for _ in range(2)] for code in codes]
    fresh = [CodeStream(code) for code in codes]
    answers = [shared[k][i % 2].is_valid_opcode(p) for i, (k, p) in enumerate(queries)]
    assert answers == [fresh[k].is_valid_opcode(p) for k, p in queries]
    assert shared[0][0].valid_positions is shared[0][1].valid_positions
    assert shared[0][0].valid_positions is not shared[1][0].valid_positions
    assert 0 < len(shared[0][0].invalid_positions) < len(codes[0])  # PUSH data was met and recorded


def _token_script() -> tuple[list[tuple[bool, bytes, int, tuple[Any, ...]]], bytes]:
    """Deploy an ERC-20 mock and run mints, transfers (one reverting), approvals and a
    transferFrom, then a transfer from a snapshot that is reverted; return each call's (success,
    output, gas used, logs), the balances in and after the trial, and the state root."""
    aave = _aave()
    evm = aave.Evm(num_accounts=3)
    a, b, c = evm.accounts[:3]
    token = evm.deploy("MintableERC20", "Token", "TOK", 18)
    calls = [
        (token.functions.mint(a, 10**21), a),
        (token.functions.transfer(b, 4 * 10**20), a),
        (token.functions.transfer(c, 10**22), b),  # more than b holds: reverts
        (token.functions.approve(c, 10**20), b),
        (token.functions.transferFrom(b, c, 5 * 10**19), c),
        (token.functions.balanceOf(c), a),
    ]
    out = []
    for fn, sender in calls:
        computation = evm._message(fn.address, evm._data(fn), sender, keep=True)
        out.append(
            (
                computation.is_success,
                bytes(computation.output),
                computation.get_gas_used(),
                computation.get_log_entries(),
            )
        )
    with evm.trial():  # a transfer tried from a snapshot and reverted (the storage cache's case)
        tried = evm._message(token.address, evm._data(token.functions.transfer(c, 10**19)), a, keep=True)
        out.append((tried.is_success, evm.call(token.functions.balanceOf(a))))
    out.append((True, evm.call(token.functions.balanceOf(a))))
    evm.persist()
    return out, evm.state.state_root


def test_a_contract_runs_the_same_with_and_without_the_shortcuts(request: pytest.FixtureRequest) -> None:
    fast, fast_root = _token_script()
    request.getfixturevalue("unpatched")
    assert not _pyevm_fast.installed()
    plain, plain_root = _token_script()
    assert fast == plain
    assert fast_root == plain_root
    assert [ok for ok, *_ in plain] == [True, True, False, True, True, True, True, True]
    assert plain[-2:] == [(True, 6 * 10**20 - 10**19), (True, 6 * 10**20)]  # the trial was reverted


# ------------------------------------------------------------------ the opcode loop and the stack
#
# Hand-assembled code for every path the loop runs itself (PUSH, DUP, SWAP, POP inline; plain
# opcodes through their logic function; the rest called as py-evm calls them) and every way it
# can stop: STOP, the end of the code, RETURN, REVERT, an invalid byte, a jump into PUSH data,
# stack underflow and overflow, out of gas, and a call into a precompile and into a contract.

_CALLEE = bytes.fromhex("602a60005260206000f3")  # mstore(0, 42); return(0, 32)
_CALLEE_AT = "0x" + "c0" * 20
_CALL_IDENTITY = "602a600052" + "6020602060206000600060045af1" + "50" + "60206020f3"
_CALL_CALLEE = "6020600060006000600073" + "c0" * 20 + "5af1" + "600051" + "6001" + "01" + "60005260206000f3"
_SELF = "a1" * 20


def _revert_then_read() -> str:
    """Store 5 at slot 0, call itself with one byte of calldata (the callee stores 9 at slot 0
    and reverts), then return slot 0: 5, read after the callee's changes were discarded."""
    head = "36600114" + "60{child:02x}57" + "6005600055"
    call = "60006000600160006000" + "73" + _SELF + "5af1" + "50"
    tail = "600054" + "600052" + "60206000f3"
    child = len(bytes.fromhex(head.format(child=0) + call + tail))
    return head.format(child=child) + call + tail + "5b" + "6009600055" + "60006000fd"


PROGRAMS = {
    "arithmetic then stop": "6001600201600302" + "00",
    "runs off the end": "6001600201",
    "truncated push at the end": "6001" + "61ff",
    "every dup and swap": "".join(f"60{k:02x}" for k in range(17))
    + "".join(f"{0x80 + k:02x}" for k in range(16))
    + "".join(f"{0x90 + k:02x}" for k in range(16))
    + "50" * 20,
    "push32 and pop": "7f" + "ee" * 32 + "50" + "00",
    "return data": "602a60005260206000f3",
    "revert data": "600760005260206000fd",
    "invalid byte": "6001" + "fe",
    "unassigned byte": "6001" + "0c",
    "jump into push data": "6004566" + "05b",  # the 0x5b at 4 is PUSH1's data
    "jump to a non-jumpdest": "600356" + "00",
    "jump to a jumpdest": "6004565b" + "5b" + "6001" + "00",
    "dup underflow": "6001" + "81",
    "dup on empty": "80",
    "swap underflow": "6001" + "90",
    "pop on empty": "50",
    "stack overflow by push": "6001" * 1025,
    "stack overflow by dup": "6001" * 1024 + "80",
    "out of gas in a loop": "5b600056",
    "out of gas on a push": "6001" * 200,
    "call a precompile": _CALL_IDENTITY,
    "call a contract": _CALL_CALLEE,
    "calldata and memory": "60003560005260206000f3",
    "log": "602a600052" + "6020600020" + "60206000a1" + "00",
    "storage read after a reverted write": _revert_then_read(),
    "memory grows": "602a6201000052" + "602a6201ffff53" + "59600052" + "60206000f3",
    "out of gas growing memory": "602a" + "640100000000" + "52",
}
GAS = {"out of gas on a push": 300, "out of gas in a loop": 5_000}


def _run_program(code_hex: str, gas: int) -> tuple[Any, ...]:
    """Run ``code_hex`` at a fresh address (a callee contract beside it); return all that py-evm
    reports of the run: success, the error's type and message, gas used and left, output, logs,
    the final stack and memory, and the state root."""
    from eth.vm.message import Message
    from eth_utils import to_canonical_address

    aave = _aave()
    evm = aave.Evm(num_accounts=1)
    state = evm.state
    here = to_canonical_address("0x" + _SELF)
    state.set_code(here, bytes.fromhex(code_hex))
    state.set_code(to_canonical_address(_CALLEE_AT), _CALLEE)
    origin = to_canonical_address(evm.accounts[0])
    msg = Message(gas=gas, to=here, sender=origin, value=0, data=(7).to_bytes(32, "big"), code=state.get_code(here))
    computation = state.computation_class.apply_message(state, msg, evm._context(origin))
    error = computation._error
    evm.persist()
    return (
        computation.is_success,
        type(error).__name__ if error else None,
        str(error) if error else None,
        computation.get_gas_used(),
        computation.get_gas_remaining(),
        bytes(computation.output),
        computation.get_log_entries(),
        list(computation._stack.values),
        bytes(computation._memory._bytes),
        state.state_root,
    )


@pytest.mark.parametrize("name", list(PROGRAMS))
def test_each_program_runs_the_same_with_and_without_the_shortcuts(name: str, request: pytest.FixtureRequest) -> None:
    code, gas = PROGRAMS[name], GAS.get(name, 1_000_000)
    fast = _run_program(code, gas)
    request.getfixturevalue("unpatched")
    plain = _run_program(code, gas)
    assert fast == plain


def test_the_programs_reach_the_outcomes_they_are_named_for() -> None:
    """The cases cover what they say (on the patched py-evm, equal to the plain one above)."""
    runs = {name: _run_program(code, GAS.get(name, 1_000_000)) for name, code in PROGRAMS.items()}
    ok = {name for name, run in runs.items() if run[0]}
    assert ok == {
        "arithmetic then stop", "runs off the end", "truncated push at the end", "every dup and swap",
        "push32 and pop", "return data", "jump to a jumpdest", "call a precompile", "call a contract",
        "calldata and memory", "log", "storage read after a reverted write", "memory grows",
    }  # fmt: skip
    errors = {name: run[1] for name, run in runs.items() if not run[0]}
    assert errors == {
        "revert data": "Revert", "invalid byte": "InvalidInstruction", "unassigned byte": "InvalidInstruction",
        "jump into push data": "InvalidInstruction",
        "jump to a non-jumpdest": "InvalidJumpDestination", "dup underflow": "InsufficientStack",
        "dup on empty": "InsufficientStack", "swap underflow": "InsufficientStack", "pop on empty": "InsufficientStack",
        "stack overflow by push": "FullStack", "stack overflow by dup": "FullStack",
        "out of gas in a loop": "OutOfGas", "out of gas on a push": "OutOfGas",
        "out of gas growing memory": "OutOfGas",
    }  # fmt: skip
    assert runs["arithmetic then stop"][7] == [9]
    assert runs["truncated push at the end"][7] == [b"\x01", b"\xff\x00"]
    assert int.from_bytes(runs["call a precompile"][5], "big") == 42
    assert int.from_bytes(runs["call a contract"][5], "big") == 43
    assert int.from_bytes(runs["calldata and memory"][5], "big") == 7
    assert len(runs["log"][6]) == 1
    assert int.from_bytes(runs["storage read after a reverted write"][5], "big") == 5
    assert int.from_bytes(runs["memory grows"][5], "big") == 0x20000  # MSIZE after a byte at 0x1ffff


def test_an_aave_market_deploys_to_the_same_state_with_and_without_the_shortcuts(
    request: pytest.FixtureRequest,
) -> None:
    """The Aave market of the differential tests (libraries, proxies, delegate calls, interest
    accrued on whale positions): the same state root and reserve data either way."""
    aave = _aave()
    fast = aave.deploy_market(num_users=1)
    fast.evm.persist()
    request.getfixturevalue("unpatched")
    plain = aave.deploy_market(num_users=1)
    plain.evm.persist()
    assert fast.evm.state.state_root == plain.evm.state.state_root
    assert aave.read_reserves(fast) == aave.read_reserves(plain)
