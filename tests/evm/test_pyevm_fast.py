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
    transferFrom; return each call's (success, output, gas used, logs) and the state root."""
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
    evm.persist()
    return out, evm.state.state_root


def test_a_contract_runs_the_same_with_and_without_the_shortcuts(request: pytest.FixtureRequest) -> None:
    fast, fast_root = _token_script()
    request.getfixturevalue("unpatched")
    assert not _pyevm_fast.installed()
    plain, plain_root = _token_script()
    assert fast == plain
    assert fast_root == plain_root
    assert [ok for ok, *_ in plain] == [True, True, False, True, True, True]
