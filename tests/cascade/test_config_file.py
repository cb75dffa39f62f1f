"""The simulators' config files (replay, contagion) are read through the project's document limits."""

from __future__ import annotations

from pathlib import Path

import pytest

from levguard.cascade.config_file import load_config_file, read_config_file
from levguard.cascade.contagion_config import load_contagion_config
from levguard.cascade.replay_config import load_replay_config
from levguard.errors import InputError


def test_missing_unreadable_and_bad_files_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"none\.yaml: cannot read the replay config"):
        read_config_file(tmp_path / "none.yaml", "replay")
    with pytest.raises(InputError, match=r"cannot read the contagion config"):
        read_config_file(tmp_path, "contagion")  # a folder
    bad = tmp_path / "bad.yaml"
    bad.write_bytes(b"\xff\xfe not utf-8")
    with pytest.raises(InputError, match=r"bad\.yaml: cannot read the replay config"):
        read_config_file(bad, "replay")


@pytest.mark.parametrize("load", [load_contagion_config, load_replay_config])
def test_deeply_nested_yaml_is_refused_in_one_line(load: object, tmp_path: Path) -> None:
    deep = tmp_path / "deep.yaml"
    deep.write_text("a: " + "[" * 5000 + "]" * 5000 + "\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"deep\.yaml: not valid YAML") as err:
        load(deep)  # type: ignore[operator]
    assert "\n" not in str(err.value)


def test_a_config_reads_its_mapping_and_folder(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("name: x\nvalues: [1, 2]\n", encoding="utf-8")
    raw, folder = read_config_file(cfg, "replay")
    assert raw == {"name": "x", "values": [1, 2]}
    assert folder == tmp_path.resolve()


def test_load_config_file_builds_from_the_file_and_names_it_in_value_errors(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("name: x\n", encoding="utf-8")
    seen: list[tuple[object, Path, str]] = []

    def build(raw: object, folder: Path, source: str) -> str:
        seen.append((raw, folder, source))
        return "built"

    assert load_config_file(cfg, "replay", build) == "built"
    assert seen == [({"name": "x"}, tmp_path.resolve(), str(cfg))]

    def refuse(raw: object, folder: Path, source: str) -> str:
        raise InputError("name must be y")

    with pytest.raises(InputError, match=r"^.*c\.yaml: name must be y$"):
        load_config_file(cfg, "replay", refuse)


def test_an_integer_past_the_float_range_is_refused_by_name() -> None:
    # Found by a bad-input campaign (2026-12-05): a 90-digit YAML integer in a contagion or replay
    # config raised OverflowError ("int too large to convert to float").
    from levguard.cascade.replay_config import _num
    from levguard.cascade.settings import _pos
    from levguard.errors import InputError

    for check in (_pos, _num):
        with pytest.raises(InputError, match=r"book\.depth_floor must be a number within float64 range"):
            check(10**90 * 10**300, "book.depth_floor")
