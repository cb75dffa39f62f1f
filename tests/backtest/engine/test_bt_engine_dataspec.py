"""run() accepts a data spec the data layer understands, and a bar file path."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from bt_engine_helpers import random_frame

from levguard.backtest.engine import run
from levguard.data.perp import load_perp_spec
from levguard.errors import InputError


def test_synthetic_spec_equals_the_loaded_frame() -> None:
    spec = {"source": "synth", "years": 0.05, "interval": "1h", "seed": 3}
    frame = load_perp_spec(spec)
    assert {"mark_close", "funding_rate"} <= set(frame.columns)
    a = run(spec, np.ones(len(frame)), 3.0, symbol="BTCUSDT")
    b = run(frame, np.ones(len(frame)), 3.0, symbol="BTCUSDT")
    assert a.equity.equals(b.equity)
    assert a.metrics["funding_paid"] != 0.0


def test_file_path_and_file_spec(tmp_path: Path) -> None:
    df = random_frame(n=120, seed=4).drop(columns=["funding_rate"])
    path = tmp_path / "bars.csv"
    out = df.reset_index(names="timestamp")
    out["timestamp"] = out["timestamp"].astype("int64") // 1_000_000
    out.to_csv(path, index=False)
    by_path = run(str(path), np.ones(120), 2.0, symbol="BTCUSDT")
    by_spec = run({"source": "file", "path": str(path)}, np.ones(120), 2.0, symbol="BTCUSDT")
    direct = run(df, np.ones(120), 2.0)
    np.testing.assert_allclose(by_path.equity.to_numpy(), direct.equity.to_numpy(), rtol=1e-12)
    assert by_spec.equity.equals(by_path.equity)


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        ({"source": "bogus"}, "source"),
        ({"source": "synth", "yaers": 1}, "yaers"),
        ({"source": "file"}, "path"),
    ],
)
def test_bad_specs_name_the_problem(spec: dict[str, object], match: str) -> None:
    with pytest.raises(InputError, match=match):
        run(spec, np.ones(10), 1.0)
