"""Offline checks of CcxtVenue: capability flags from ccxt's static ``has``, rule sets, error table."""

from __future__ import annotations

import re
from typing import Any

import ccxt
import pytest

from levguard.errors import (
    InputError,
    VenueAuthError,
    VenueError,
    VenueOrderRejectedError,
    VenuePermanentError,
    VenueRateLimitError,
    VenueRetryableError,
)
from levguard.venues.ccxt_adapter import CcxtVenue, classify_ccxt_error


def _build(exchange_id: str, **kwargs: Any) -> CcxtVenue:
    # No request is made: ccxt's `has` is static and HTTP sessions open on the first request.
    return CcxtVenue(exchange_id, **kwargs)


@pytest.mark.parametrize(
    ("exchange_id", "rule_set", "tiers", "funding", "marks_note"),
    [
        ("binanceusdm", "binance-usdm", True, True, False),
        ("bybit", "bybit-linear", True, True, True),
        ("okx", "okx", True, True, False),
        ("hyperliquid", "hyperliquid", False, True, True),
        ("deribit", "deribit", False, True, True),
    ],
)
def test_capabilities_of_supported_exchanges(
    exchange_id: str, rule_set: str, tiers: bool, funding: bool, marks_note: bool
) -> None:
    venue = _build(exchange_id)
    caps = venue.capabilities
    assert venue.name == rule_set
    assert caps.mark_price
    assert caps.reduce_only
    assert caps.fetch_order_by_client_id
    assert caps.leverage_tiers is tiers
    assert caps.funding is funding
    notes = " | ".join(caps.notes)
    assert ("tickers' markPrice" in notes) is marks_note
    assert ("bundled tier tables" in notes) is (not tiers)
    assert "liquidation price" in notes


@pytest.mark.parametrize(
    ("exchange_id", "expiry_s"), [("binanceusdm", 10.0), ("bybit", 5.0), ("okx", None), ("deribit", None)]
)
def test_order_expiry_is_the_receive_window_ccxt_signs_with(exchange_id: str, expiry_s: float | None) -> None:
    venue = _build(exchange_id)
    assert venue.capabilities.order_expiry_s == expiry_s
    notes = " | ".join(venue.capabilities.notes)
    assert ("no documented order expiry" in notes) is (expiry_s is None)


@pytest.mark.parametrize("exchange_id", ["bybit", "deribit"])
def test_client_id_lookup_is_emulated_where_ccxt_has_no_direct_query(exchange_id: str) -> None:
    notes = " | ".join(_build(exchange_id).capabilities.notes)
    assert "scanning open and closed orders" in notes


def test_rule_set_override_and_unknown_exchange() -> None:
    assert _build("kraken", rule_set="generic").name == "generic"
    with pytest.raises(InputError, match="rule_set is required"):
        CcxtVenue("kraken")
    with pytest.raises(InputError, match="exchange_id"):
        CcxtVenue("not-an-exchange")
    with pytest.raises(InputError, match="venue must be one of"):
        CcxtVenue("binanceusdm", rule_set="nasdaq")


def test_settlement_currency_defaults() -> None:
    assert _build("hyperliquid").settle == "USDC"
    assert _build("deribit").settle == "USDC"  # the linear perpetuals levguard's deribit rules model
    assert _build("okx", settle="eth").settle == "ETH"


def test_client_ids_outside_the_venue_format_are_hashed_deterministically() -> None:
    okx = _build("okx")
    assert okx._wire_client_id("lgAcct1x42") == "lgAcct1x42"
    hashed = okx._wire_client_id("lg-acct1-000042")  # OKX clOrdId: letters and digits only
    assert hashed == okx._wire_client_id("lg-acct1-000042")
    assert hashed.isalnum()
    assert len(hashed) == 32
    cloid = _build("hyperliquid")._wire_client_id("lg-acct1-000042")
    assert re.fullmatch(r"0x[0-9a-f]{32}", cloid)  # Hyperliquid cloid: 128-bit hex


def test_credentials_never_in_repr() -> None:
    venue = _build("okx", api_key="k-123456789", secret="s-987654321", password="p-555")
    for text in (repr(venue), str(venue)):
        for secret in ("k-123456789", "s-987654321", "p-555"):
            assert secret not in text
        assert "credentials=set" in text


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (ccxt.NetworkError("x"), VenueRetryableError),
        (ccxt.RequestTimeout("x"), VenueRetryableError),
        (ccxt.ExchangeNotAvailable("x"), VenueRetryableError),
        (ccxt.OnMaintenance("x"), VenueRetryableError),
        (ccxt.OperationFailed("x"), VenueRetryableError),
        (ccxt.DDoSProtection("x"), VenueRateLimitError),
        (ccxt.RateLimitExceeded("x"), VenueRateLimitError),
        (ccxt.AuthenticationError("x"), VenueAuthError),
        (ccxt.PermissionDenied("x"), VenueAuthError),
        (ccxt.InvalidOrder("x"), VenueOrderRejectedError),
        (ccxt.InsufficientFunds("x"), VenueOrderRejectedError),
        (ccxt.DuplicateOrderId("x"), VenuePermanentError),  # the first order exists: not a refusal
        (ccxt.BadRequest("x"), VenuePermanentError),
        (ccxt.BadResponse("x"), VenueRetryableError),  # a NetworkError in ccxt: an order stays in flight
        (ccxt.BadSymbol("x"), VenueOrderRejectedError),
        (ccxt.NotSupported("x"), VenuePermanentError),
        (TimeoutError(), VenueRetryableError),
        (ValueError("x"), None),
    ],
)
def test_classification_table(exc: BaseException, expected: type[VenueError] | None) -> None:
    assert classify_ccxt_error(exc) is expected
