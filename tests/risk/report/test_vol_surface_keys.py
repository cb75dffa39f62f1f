"""Two ``vol_surfaces`` keys naming one asset (``BTC`` and ``btc``, or ``XBT``) are refused naming
both: the second silently replaced the first (a review)."""

from __future__ import annotations

import pytest

from levguard.errors import InputError
from levguard.risk.option_specs import parse_surfaces

SLICE = {"t_years": 0.1, "forward": 61_000, "a": 0.01, "b": 0.1, "rho": -0.3, "m": 0.0, "sigma": 0.2}


@pytest.mark.parametrize("other", ["btc", "XBT", "BTCUSD"])
def test_two_keys_for_one_asset_are_refused(other: str) -> None:
    spec = {"vol_surfaces": {"BTC": {"slices": [SLICE]}, other: {"slices": [{**SLICE, "a": 0.02}]}}}
    with pytest.raises(InputError, match=rf"vol_surfaces\['{other}'\] and vol_surfaces\['BTC'\] both name BTC"):
        parse_surfaces(spec)


def test_one_key_per_asset_is_kept() -> None:
    out = parse_surfaces({"vol_surfaces": {"btc": {"slices": [SLICE]}, "ETH": {"slices": [SLICE]}}})
    assert sorted(out) == ["BTC", "ETH"]
