"""A paper shock moves the price: a drop closer to 0 than one basis point (e.g. 1e-300, accepted
though the docs said "not 0") is refused, by the venue and by the API."""

from __future__ import annotations

import pytest
from service_helpers import ACCOUNT, Service

from levguard.errors import InputError
from levguard.venues.paper import SHOCK_DROP_MIN


@pytest.mark.parametrize("drop", [1e-300, -1e-300, 5e-324, 9.9e-5, -9.9e-5])
def test_a_shock_that_moves_nothing_is_refused(service: Service, drop: float) -> None:
    r = service.client.post(
        f"/api/paper/{ACCOUNT}/shock", json={"symbol": "BTCUSDT", "drop": drop, "ticks": 5}, headers=service.admin
    )
    assert r.status_code == 400, r.text
    assert r.json()["error"].startswith("drop must be a fraction in (-1, 1), at least 0.0001 away from 0")
    venue = service.runtime.papers[0]  # refused before anything changes
    with pytest.raises(InputError, match=r"at least 0\.0001 away from 0"):
        venue.shock("BTCUSDT", drop, 5)


@pytest.mark.parametrize("drop", [SHOCK_DROP_MIN, -SHOCK_DROP_MIN, 0.2])
def test_a_shock_of_a_basis_point_or_more_passes(service: Service, drop: float) -> None:
    r = service.client.post(
        f"/api/paper/{ACCOUNT}/shock", json={"symbol": "BTCUSDT", "drop": drop, "ticks": 5}, headers=service.admin
    )
    assert r.status_code == 200, r.text
