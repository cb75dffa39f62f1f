"""A dated future's mark does not price the options where a perpetual on the base is held,
wherever the future is listed (a review: listed first, it priced BTC puts at its 62,500 and
refused the perpetual's 61,000 as their ``underlying_price``)."""

from __future__ import annotations

import pytest

from levguard.risk.report import risk_report


def _book(underlying_price: float | None) -> dict[str, object]:
    option: dict[str, object] = {"symbol": "BTC-28JUN24-55000-P", "qty": 3, "vol": 0.55, "settlement": "usd"}
    if underlying_price is not None:
        option["underlying_price"] = underlying_price
    return {
        "venue": "binance-usdm",
        "wallet_balance": 20_000,
        "as_of": "2024-06-01T00:00:00Z",
        "positions": [
            {
                "symbol": "BTCUSDT_240628",
                "qty": 1,
                "entry_price": 62_000,
                "mark_price": 62_500,
                "leverage": 10,
                "mmr": 0.005,
            },
            {"symbol": "BTCUSDT", "qty": 1, "entry_price": 60_000, "mark_price": 61_000, "leverage": 10},
        ],
        "options": [option],
    }


def test_the_perpetuals_mark_prices_the_options_wherever_the_future_is_listed() -> None:
    # The future listed first priced the puts at 62,500 and refused the perpetual's 61,000.
    (g,) = risk_report(_book(61_000.0), vol=0.6, n_sims=200).to_dict()["accounts"][0]["greeks"]
    (h,) = risk_report(_book(None), vol=0.6, n_sims=200).to_dict()["accounts"][0]["greeks"]
    assert g["value"] == pytest.approx(h["value"])
    assert g["delta"] == pytest.approx(h["delta"])
