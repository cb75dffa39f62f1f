"""reverse_stress and liquidation_surface refuse bools where a number is meant: max_norm=True read as a
norm of 1.0 (no liquidation found within it), seed=True as seed 1, a move of True as +100 %."""

from __future__ import annotations

import pytest

from levguard.core.risk.joint_stress import liquidation_surface, reverse_stress
from levguard.core.spec import account_from_spec
from levguard.errors import InputError

ACC = account_from_spec(
    {
        "venue": "binance-usdm",
        "wallet_balance": 1000,
        "positions": [
            {"symbol": "BTCUSDT", "qty": 0.1, "entry_price": 60000, "mark_price": 60000, "leverage": 10},
            {"symbol": "ETHUSDT", "qty": 1, "entry_price": 3000, "mark_price": 3000, "leverage": 10},
        ],
    }
)


@pytest.mark.parametrize("max_norm", [True, False])
def test_max_norm_bool_refused(max_norm: bool) -> None:
    with pytest.raises(InputError, match=r"^max_norm must be > 0, was (True|False)$"):
        reverse_stress(ACC, ["BTC"], [[0.01]], max_norm=max_norm)


@pytest.mark.parametrize("seed", [True, -1, 1.5, "1"])
def test_seed_must_be_an_integer(seed: object) -> None:
    with pytest.raises(InputError, match=r"^seed must be an integer >= 0"):
        reverse_stress(ACC, ["BTC"], [[0.01]], seed=seed)  # type: ignore[arg-type]


def test_numbers_still_accepted() -> None:
    r = reverse_stress(ACC, ["BTC"], [[0.01]], max_norm=20, seed=3)
    assert r.found


@pytest.mark.parametrize(("mx", "my"), [([True, 0.1], [0.0]), ([0.1], [False])])
def test_surface_moves_bool_refused(mx: list[object], my: list[object]) -> None:
    with pytest.raises(InputError, match=r"^moves_[xy]"):
        liquidation_surface(ACC, "BTC", "ETH", mx, my)  # type: ignore[arg-type]


@pytest.mark.parametrize("cov", [[[True]], [[0.01, True], [True, 0.02]]])
def test_a_covariance_of_bools_is_refused(cov: list[list[object]]) -> None:
    # [[True]] was read as a variance of 1 (a review).
    with pytest.raises(InputError, match=r"^cov must be a \(\d, \d\) matrix of numbers"):
        reverse_stress(ACC, ["BTC", "ETH"][: len(cov)], cov)
