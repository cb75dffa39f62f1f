"""`levguard init` into a directory that already holds samples names them without "(and 0 more)"."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from levguard.cli.main import app


def test_one_existing_sample_is_named_alone_and_several_are_counted(tmp_path: Path) -> None:
    (tmp_path / "account.yaml").write_text("keep: me\n")
    one = CliRunner().invoke(app, ["init", str(tmp_path)])
    assert one.exit_code == 2
    assert "account.yaml exists; nothing was written" in one.output
    assert "(and 0 more)" not in one.output
    assert (tmp_path / "account.yaml").read_text() == "keep: me\n"
    (tmp_path / "book.yaml").write_text("keep: me too\n")
    two = CliRunner().invoke(app, ["init", str(tmp_path)])
    assert two.exit_code == 2
    assert "exists (and 1 more); nothing was written" in two.output
