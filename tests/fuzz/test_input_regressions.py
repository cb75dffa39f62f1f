"""Regressions of issue 14 (input): the exact reproducers, one test per crash class, and the limits.

Each crash class the fuzzing found is pinned here as a plain test: huge integers (OverflowError),
deep nesting (RecursionError in json, PyYAML and repr), products that overflow or underflow
float64 (inf amounts, ZeroDivisionError), non-string keys (TypeError in sorted), multi-line and
unbounded messages, parser failures outside yaml.YAMLError (ValueError, UnicodeDecodeError), and
the CLI's ``--tiers`` merge into a non-mapping.
"""

from __future__ import annotations

import dataclasses
import io
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from fuzz_inputs import BAD_DOCUMENTS, BASES, check_error, nested_dict, nested_list, run_margin

import levguard
from levguard import documents as _io
from levguard.errors import InputError, LevguardError
from levguard.margin import _check_finite

POSITION = BASES[0]["positions"][0]  # BTCUSDT on binance-usdm


# ----------------------------------------------------------------------------- the issue's reproducers
def test_the_issue_reproducer_raises_input_error() -> None:
    """The exact call from the issue: an InputError naming the field, not OverflowError."""
    with pytest.raises(InputError) as exc:
        levguard.evaluate_account({"venue": "binance-usdm", "wallet_balance": 10**400})
    assert str(exc.value) == (
        "wallet_balance must be 0 or between 1e-30 and 1e30 in magnitude, was <integer of about 401 digits>"
    )


@pytest.mark.parametrize(
    ("document", "needle"),
    [
        (BAD_DOCUMENTS["huge int"], "wallet_balance must be 0 or between 1e-30 and 1e30 in magnitude"),
        (BAD_DOCUMENTS["3000 brackets"], "<stdin>: nested deeper than 64 levels at line 1"),
        (BAD_DOCUMENTS["3000 JSON objects"], "<stdin>: nested deeper than 64 levels at line 1"),
        (BAD_DOCUMENTS["binary"], "<stdin>: not UTF-8 text (byte 0xff at offset 0)"),
    ],
)
def test_the_issue_reproducers_through_the_installed_entry_point(document: bytes, needle: str) -> None:
    """``levguard margin -`` as installed: status 2, one line on stderr, nothing on stdout, no traceback."""
    proc = subprocess.run(
        [sys.executable, "-m", "levguard.cli.main", "margin", "-"], input=document, capture_output=True, check=False
    )
    err = proc.stderr.decode()
    assert proc.returncode == 2, err[-2000:]
    assert "Traceback" not in err
    assert err.strip().count("\n") == 0, err[:1000]
    assert needle in err
    assert proc.stdout == b""


@pytest.mark.parametrize("name", sorted(BAD_DOCUMENTS))
def test_bad_documents_exit_2_with_one_line(name: str) -> None:
    """Every hand-made bad document: status 2 and one ``levguard: error:`` line."""
    assert run_margin(BAD_DOCUMENTS[name]).exit_code == 2


@pytest.mark.parametrize("name", sorted(BAD_DOCUMENTS))
@pytest.mark.parametrize("json_only", [False, True])
def test_bad_documents_through_the_loader(name: str, json_only: bool) -> None:
    """The shared loader (YAML, and JSON for ``.json`` files) refuses with one InputError line or
    parses to a value evaluate_account refuses."""
    text = BAD_DOCUMENTS[name].decode("utf-8", "replace")
    with pytest.raises(LevguardError) as err:
        levguard.evaluate_account(_io.parse_spec_text(text, "doc", json_only=json_only))
    check_error(err.value)
    assert isinstance(err.value, InputError)


# ----------------------------------------------------------------------------- one test per crash class
@pytest.mark.parametrize(
    ("spec", "message"),
    [
        # OverflowError: int too large to convert to float
        (
            {"wallet_balance": -(10**400)},
            "wallet_balance must be 0 or between 1e-30 and 1e30 in magnitude, was -<integer",
        ),
        ({"wallet_balance": 10**5000}, "was <integer of about 5,001 digits>"),  # past str()'s 4,300 digits
        ({"positions": [{**POSITION, "qty": 10**400}]}, "positions[0].qty must be 0 or between 1e-30 and 1e30"),
        ({"positions": [{**POSITION, "mmr": 10**400}]}, "positions[0].mmr must be a number within float64 range"),
        ({"positions": [{"contracts": 10**400, "side": "long"}]}, "positions[0].contracts must be 0 or between"),
        # inf amounts: each input finite, their product not (qty 1e308 x price)
        ({"positions": [{**POSITION, "qty": 1e308}]}, "positions[0].qty must be 0 or between 1e-30 and 1e30"),
        ({"positions": [{**POSITION, "entry_price": 1.7976931348623157e308}]}, "positions[0].entry_price must be"),
        # ZeroDivisionError: leverage = notional / isolated margin underflowed to 0
        ({"positions": [{**POSITION, "qty": 5e-324, "isolated_margin": 100}]}, "positions[0].qty must be 0 or"),
        # RecursionError in repr / str of a 3,000-deep value
        ({"venue": nested_list(3000)}, "account spec: venue[0][0][0][0][0]... is nested deeper than 64 levels"),
        ({"positions": nested_dict(3000)}, "account spec: positions.a.a.a.a.a... is nested deeper than 64 levels"),
        # huge lists and strings: bounded work and bounded messages
        ({"positions": [0.0] * 1_000_001}, "account spec: more than 1,000,000 values"),
        ({"venue": "x" * 100_000}, "was 'xxxxxxxxxxxxxxxxxxxxxxxxxxx...xxxxxxxxxxxxxxxxxxxxxxxxxxxx'"),
        # TypeError in sorted() of keys of mixed types
        ({1: 2, None: 3}, "unknown field(s) ['1', 'None']"),
        # a symbol with a newline made a two-line message
        ({"positions": [{**POSITION, "symbol": "BTC\nUSDT"}]}, "positions[0].symbol must be a non-empty string of"),
        ({"positions": [{**POSITION, "symbol": "B" * 101}]}, "at most 100 printable characters"),
        # a list where a string is read (str() of it was taken as the value)
        ({"margin_mode": ["cross"]}, "margin_mode must be cross or isolated, was ['cross']"),
        ({"positions": [{**POSITION, "settlement": {"a": 1}}]}, "positions[0].settlement must be a non-empty string"),
        ({"positions": [{**POSITION, "leverage": [1]}]}, "positions[0].leverage must be a number, was [1]"),
    ],
)
def test_crash_classes_raise_input_error(spec: dict[Any, Any], message: str) -> None:
    full = {"venue": "binance-usdm", **spec}
    with pytest.raises(InputError) as exc:
        levguard.evaluate_account(full)
    check_error(exc.value)
    assert message in str(exc.value)


def test_dydx_liquidity_tier_errors_name_the_field() -> None:
    spec = {"venue": "dydx-v4", "positions": [{**BASES[9]["positions"][1], "liquidity_tier": "Huge-Cap"}]}
    with pytest.raises(InputError, match=r"^positions\[0\]\.liquidity_tier must be one of Large-Cap"):
        levguard.evaluate_account(spec)


def test_a_dict_that_contains_itself_is_refused() -> None:
    spec: dict[str, Any] = {"venue": "binance-usdm", "positions": []}
    spec["positions"].append(spec)
    with pytest.raises(InputError, match=r"account spec: positions\[0\] contains itself"):
        levguard.evaluate_account(spec)


def test_amounts_at_the_edges_of_the_range_are_accepted() -> None:
    """0, 1e-30 and 1e30 are amounts; rates keep their own ranges (a tiny fee rate is a rate)."""
    assert levguard.evaluate_account({"venue": "binance-usdm", "wallet_balance": 1e30}).equity == 1e30
    assert levguard.evaluate_account({"venue": "binance-usdm", "wallet_balance": "1e-30"}).equity == 1e-30
    p = {**POSITION, "symbol": "AAAUSDT", "mmr": 5e-324, "taker_fee_rate": 5e-324}
    assert levguard.evaluate_account({"venue": "okx", "positions": [p]}).positions[0].mmr == 5e-324


def test_an_overflowed_report_is_refused_at_the_edge() -> None:
    """The facade's backstop: an amount that is not finite is an InputError naming the position."""
    report = levguard.evaluate_account(BASES[0])
    bad = dataclasses.replace(report, positions=(dataclasses.replace(report.positions[0], notional=math.inf),))
    with pytest.raises(InputError, match=r"^position 'BTCUSDT': notional overflows float64 \(was inf\)"):
        _check_finite(bad)
    with pytest.raises(InputError, match=r"^account equity overflows float64"):
        _check_finite(dataclasses.replace(report, equity=-math.inf))


def test_a_merged_tiers_file_needs_the_spec_tiers_to_be_a_mapping(tmp_path: Path) -> None:
    """``--tiers FILE`` merges into the spec's own ``tiers``: a list there was a TypeError."""
    tiers = tmp_path / "tiers.yaml"
    tiers.write_text("ETHUSDT: [{mmr: 0.01, max_leverage: 50}]\n")
    res = run_margin(BAD_DOCUMENTS["tiers not a mapping"], "--tiers", str(tiers))
    assert res.exit_code == 2
    assert "tiers must map symbol -> list of tiers, was list" in res.output


# ----------------------------------------------------------------------------- the limits
def test_stdin_over_the_size_limit_is_refused_without_reading_it_all(monkeypatch: pytest.MonkeyPatch) -> None:
    """16 MiB + 2 bytes on stdin: one line naming the limit and the variable that raises it."""
    monkeypatch.delenv("LEVGUARD_MAX_INPUT_BYTES", raising=False)
    big = b"# " + b"x" * (_io.MAX_INPUT_BYTES - 1) + b"\n"
    res = run_margin(big)
    assert res.exit_code == 2
    assert "<stdin>: input is larger than the 16 MiB limit (set LEVGUARD_MAX_INPUT_BYTES to raise it)" in res.output
    monkeypatch.setenv("LEVGUARD_MAX_INPUT_BYTES", "100")
    assert "input is larger than the 100 bytes limit" in run_margin(BAD_DOCUMENTS["huge int"]).output
    monkeypatch.setenv("LEVGUARD_MAX_INPUT_BYTES", "lots")
    assert (
        "LEVGUARD_MAX_INPUT_BYTES must be a number of bytes from 1 to 1,099,511,627,776, was 'lots'"
        in run_margin(b"{}").output
    )
    # A limit too large to size a read buffer (OverflowError in read()) is refused the same way.
    monkeypatch.setenv("LEVGUARD_MAX_INPUT_BYTES", str(2**63 - 1))
    assert "LEVGUARD_MAX_INPUT_BYTES must be a number of bytes from 1 to" in run_margin(b"{}").output


def test_a_file_over_the_size_limit_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A file is read up to the limit plus one byte; the limit is an argument or the module constant."""
    monkeypatch.delenv("LEVGUARD_MAX_INPUT_BYTES", raising=False)
    path = tmp_path / "big.json"
    path.write_text('{"venue": "binance-usdm"}' + " " * 1000)
    with pytest.raises(InputError, match=r"big.json' *: input is larger than the 100 bytes limit"):
        _io.load_spec(path, max_bytes=100)
    assert _io.load_spec(path) == {"venue": "binance-usdm"}
    monkeypatch.setattr(_io, "MAX_INPUT_BYTES", 100)
    with pytest.raises(InputError, match=r"input is larger than the 100 bytes limit"):
        levguard.evaluate_account(path)


def test_an_endless_stream_is_not_exhausted() -> None:
    """Only limit + 1 bytes are read from a stream, however long it is."""

    class Endless(io.RawIOBase):
        def readable(self) -> bool:
            return True

        def readinto(self, b: Any) -> int:
            b[:] = b" " * len(b)
            return len(b)

    with pytest.raises(InputError, match=r"<stdin>: input is larger than the 1,000 bytes limit"):
        _io.load_spec_stream(io.BufferedReader(Endless()), max_bytes=1000)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[" * 64 + "]" * 64, None),
        ("[" * 65 + "]" * 65, "doc: nested deeper than 64 levels at line 1"),
        (
            "".join(" " * i + "a:\n" for i in range(70)) + " " * 70 + "b: 1\n",
            "doc: nested deeper than 64 levels at line 65",
        ),
        ("a: &a [*a]", "doc: a[0] contains itself (a recursive YAML alias)"),
        (BAD_DOCUMENTS["billion laughs"].decode(), "doc: more than 1,000,000 values (YAML aliases count at each use)"),
        ("wallet_balance: 2024-13-45", "doc: invalid YAML/JSON: month must be in 1..12"),
        ("a: 1\x00", "doc: invalid YAML/JSON: unacceptable character #x0000 at offset 4"),
        (
            "a: 1\n---\nb: 2",
            "doc: invalid YAML/JSON: expected a single document in the stream; but found another document at line 2",
        ),
        ("a: " + "9" * 5000, "doc: invalid YAML/JSON: a number has more than 4,300 digits"),
        # Found by a bad-input campaign (2026-12-05): a key given twice ran on its last value.
        ("venue: binance-usdm\nqty: 1\nvenue: okx\n", "doc: the key 'venue' is given twice (lines 1 and 3)"),
        ("{a: 1, a: 2}", "doc: the key 'a' is given twice (lines 1 and 1)"),
        ("base: &b {x: 1, y: 2}\nover:\n  <<: *b\n  x: 3\n", None),  # a merge key may be overridden
        # An anchored mapping with its own merge, merged again deeper (PyYAML rewrites its node).
        ("outer:\n  a: &a\n    <<: {x: 1}\n    x: 2\nb:\n  <<: *a\n", None),
    ],
)
def test_yaml_limits_and_parser_failures(text: str, message: str | None) -> None:
    if message is None:
        _io.parse_spec_text(text, "doc")
        return
    with pytest.raises(InputError) as exc:
        _io.parse_spec_text(text, "doc")
    check_error(exc.value)
    assert str(exc.value).startswith(message), str(exc.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[" * 3000 + "]" * 3000, "doc: nested deeper than 64 levels"),
        ("[" * 65 + "]" * 65, "doc: [0][0][0][0][0][0]... is nested deeper than 64 levels"),
        ('{"a": ' + "9" * 5000 + "}", "doc: invalid JSON: a number has more than 4,300 digits"),
        ("{not json", "doc: invalid JSON at line 1, column 2"),
        ('{"a": 1, "b": {"a": 2, "a": 3}}', "doc: invalid JSON: the key 'a' is given twice in one object"),
    ],
)
def test_json_limits_and_parser_failures(text: str, message: str) -> None:
    with pytest.raises(InputError) as exc:
        _io.parse_spec_text(text, "doc", json_only=True)
    check_error(exc.value)
    assert str(exc.value).startswith(message), str(exc.value)


@pytest.mark.parametrize("depth", [600, 3_000, 2_000_000])
def test_deep_json_is_refused_whatever_the_recursion_limit(depth: int) -> None:
    # web3 raises sys.getrecursionlimit() to 100,000 at import; json.loads would then recurse
    # through megabytes of "[" and overflow the C stack instead of raising RecursionError
    # (found by CI, where a web3 test ran earlier in the same worker).
    before = sys.getrecursionlimit()
    sys.setrecursionlimit(100_000)
    try:
        with pytest.raises(InputError) as exc:
            _io.parse_spec_text("[" * depth + "]" * depth, "doc", json_only=True)
    finally:
        sys.setrecursionlimit(before)
    check_error(exc.value)
    assert str(exc.value) == "doc: nested deeper than 64 levels"
    # brackets inside strings do not count
    assert _io.parse_spec_text('{"a": "' + "[" * 1000 + '"}', "doc", json_only=True) == {"a": "[" * 1000}


def test_not_utf8_file_and_nul_in_path(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("venue: binance-usdm # café".encode("latin-1"))
    with pytest.raises(InputError, match=r"latin1.yaml: not UTF-8 text \(byte 0xe9 at offset 25\)"):
        _io.load_spec(path)
    with pytest.raises(InputError, match=r"cannot be read: not a valid path"):
        levguard.evaluate_account("spec\x00.yaml")


@pytest.mark.parametrize("command", [["margin"], ["cascade"], ["contagion"], ["data", "check"]])
def test_a_fifo_or_device_is_refused_at_once(tmp_path: Path, command: list[str]) -> None:
    # Found by a bad-input campaign (2026-12-05): opening a FIFO waited for a writer forever,
    # and the cascade configs read /dev/zero until memory ran out.
    import os

    from typer.testing import CliRunner

    from levguard.cli.main import app

    fifo = tmp_path / "spec.csv"
    os.mkfifo(fifo)
    for path in (str(fifo), "/dev/zero"):
        result = CliRunner().invoke(app, [*command, path])
        assert result.exit_code == 2, (command, path, result.output)
        assert "not a regular file" in result.output, result.output
        with pytest.raises(InputError, match="not a regular file"):
            _io.load_spec(path)
