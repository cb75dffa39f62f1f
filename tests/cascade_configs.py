"""A small cascade configuration shared by the cascade CLI tests and the report browser test."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


def tiny(tmp_path: Path, **overrides: Any) -> dict[str, Any]:
    cfg: dict[str, Any] = {
        "population": {"distribution": {"n": 2000, "price": 60000, "seed": 1, "total_notional": 1.0e8}},
        "paths": {
            "model": "jump", "s0": 60000, "sigma": 0.8, "n_steps": 300, "dt_years": 1.9e-6, "seed": 7,
            "lam": 5000, "jump_mean": -0.02, "jump_std": 0.03,
        },
        "market": {"depth": 2.0e4, "half_life_steps": 30,
                   "depth_multiplier": {"shock_step": 0, "floor": 0.5, "recovery_half_life": 100}},
        "regime": {"kind": "static", "mmr": 0.005, "liquidation_fee": 0.005},
        "venue": {"insurance_fund": 5.0e4, "adl": True},
        "monte_carlo": {"n_paths": 20, "budget": 1.0e4},
        "scheduler": None,  # in-process: the default LocalCluster costs seconds per run
        "calibrate": {
            "grid": {"mmr": [0.004, 0.01], "max_leverage": [10, 100]},
            "epsilon": 0.2, "efficiency": "max_leverage", "x": "max_leverage", "y": "mmr",
            "output": {"report": str(tmp_path / "cal.html"), "csv": str(tmp_path / "cal.csv"),
                       "json": str(tmp_path / "cal.json")},
        },
        "output": {"report": str(tmp_path / "c.html"), "csv": str(tmp_path / "c.csv"),
                   "paths_csv": str(tmp_path / "p.csv"), "events_csv": str(tmp_path / "e.csv"),
                   "json": str(tmp_path / "c.json")},
    }  # fmt: skip
    cfg.update(overrides)
    return cfg


def write(tmp_path: Path, cfg: dict[str, Any]) -> str:
    p = tmp_path / "cascade.yaml"
    p.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return str(p)
