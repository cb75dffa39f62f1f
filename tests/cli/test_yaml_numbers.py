"""YAML documents read numbers as YAML 1.2 does: no base-60, binary or octal integers.

Found by a read-only hunt (2026-12-08): PyYAML's YAML 1.1 resolvers made ``qty: 1:30`` the number
90, ``0b101`` 5 and ``010`` the octal 8 in a positions file (``levguard margin y.yaml --json``
valued 90 contracts).  Base-60 and binary values now reach the fields as strings and are refused,
naming the field (exit 2 in the CLI); a leading zero is decimal, as in YAML 1.2 (``010`` is 10).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from levguard.cli.main import app
from levguard.documents import parse_spec_text
from levguard.errors import InputError

runner = CliRunner()


@pytest.mark.parametrize("text", ["1:30", "190:20:30.15", "0b101", "0o17", "-1:30", "+0b1", "0x_", "0x_1"])
def test_yaml_1_1_numbers_stay_strings(text: str) -> None:
    assert parse_spec_text(f"a: {text}\n", "x.yaml") == {"a": text}


@pytest.mark.parametrize(
    ("text", "value"),
    [("12", 12), ("-3", -3), ("010", 10), ("-007", -7), ("!!int 010", 10), ("-0x1F", -31), ("0", 0), ("1_000", 1000), ("0x1F", 31), ("1.5", 1.5), ("1e-3", 0.001),
     ("5.0e+4", 50000.0), ("2.0e8", 2.0e8), (".5", 0.5), ("-.5", -0.5), ("1.", 1.0)],
)  # fmt: skip
def test_decimal_numbers_and_exponents_are_numbers(text: str, value: object) -> None:
    got = parse_spec_text(f"a: {text}\n", "x.yaml")["a"]
    assert got == value
    assert type(got) is type(value)


def test_infinities_nulls_and_booleans_keep_their_meaning() -> None:
    doc = parse_spec_text("a: .inf\nb: -.inf\nc: true\nd: false\ne: null\nf: ~\n", "x.yaml")
    assert doc == {"a": float("inf"), "b": float("-inf"), "c": True, "d": False, "e": None, "f": None}


@pytest.mark.parametrize("text", ["!!int 0b101", "!!int 1:30", "!!float 1:30", '!!float ""', '!!float "_"'])
def test_explicit_tags_do_not_bring_them_back(text: str) -> None:
    with pytest.raises(InputError, match=r"^x\.yaml: invalid YAML/JSON: "):
        parse_spec_text(f"a: {text}\n", "x.yaml")


@pytest.mark.parametrize("qty", ["1:30", "0b101", "0o12"])
def test_the_margin_command_refuses_them_in_one_line(tmp_path: Path, qty: str) -> None:
    spec = tmp_path / "y.yaml"
    spec.write_text(
        "venue: generic\nwallet_balance: 100000\npositions:\n"
        f"  - {{symbol: X, qty: {qty}, entry_price: 10, mark_price: 10, mmr: 0.01}}\n"
    )
    result = runner.invoke(app, ["margin", str(spec), "--json"])
    assert result.exit_code == 2, result.output
    assert result.stderr.strip() == f"levguard: error: positions[0].qty must be a number, was '{qty}'"


def test_the_margin_command_reads_yaml_numbers(tmp_path: Path) -> None:
    spec = tmp_path / "y.yaml"
    spec.write_text(
        "venue: generic\nwallet_balance: 1.0e+5\npositions:\n"
        "  - {symbol: X, qty: 90, entry_price: 1e1, mark_price: 10., mmr: 0.01}\n"
    )
    result = runner.invoke(app, ["margin", str(spec), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["positions"][0]["qty"] == 90.0
