"""An account whose positions the venue left out (settled outside its wallet: docs/guardian.md,
one wallet per account) is served as it is now: no margin report of the positions it had before,
the left-out positions named by ``/positions`` and ``/risk``, the account's status ``partial``."""

from __future__ import annotations

from service_helpers import ACCOUNT, Service

from levguard.venues.base import UNLISTED, VenuePosition


def test_positions_and_risk_serve_the_current_account_and_name_the_left_out(service: Service) -> None:
    rt = service.runtime
    v = rt.venue(ACCOUNT)
    read = v.fetch_positions

    async def fetch_positions() -> list[VenuePosition]:
        # As CcxtVenue.fetch_positions with a USDT wallet and a USDC-settled position.
        ps = await read()
        v.left_out = {p.symbol: "USDC" for p in ps}
        return []

    v.settle = "USDT"
    v.fetch_positions = fetch_positions
    service.wait(lambda: rt.guardian.last_reports.get(ACCOUNT, {}).get("positions") == [])
    seen = rt.cycles
    service.wait(lambda: rt.cycles >= seen + 2)  # the margin report is cached per cycle
    body = service.client.get(f"/api/accounts/{ACCOUNT}/positions", headers=service.viewer).json()
    assert body["status"] == "partial"
    assert body["positions"] == []
    assert body["margin"] is None  # was the report of the 2 BTC evaluated before
    assert body["equity"] is None
    assert body["left_out"] == [{"symbol": "BTCUSDT", "settle": "USDC"}]
    risk = service.client.get(f"/api/accounts/{ACCOUNT}/risk", headers=service.viewer).json()
    assert risk["positions"] == []
    assert risk["left_out"] == [{"symbol": "BTCUSDT", "settle": "USDC"}]
    assert any(
        n.startswith("BTCUSDT (USDC): settled outside the account's wallet, not evaluated") for n in risk["notes"]
    )
    (acct,) = [a for a in service.client.get("/api/accounts", headers=service.viewer).json() if a["name"] == ACCOUNT]
    assert acct["status"] == "partial"
    assert acct["state"] is None


def test_an_unlisted_position_is_noted_as_a_market_the_venue_does_not_list(service: Service) -> None:
    """/risk noted a position in an unlisted market as "PEPE-USDT-SWAP (unlisted): settled outside
    the account's wallet" (the marker read as a currency); now as a market the venue does not list."""
    rt = service.runtime
    v = rt.venue(ACCOUNT)
    read = v.fetch_positions

    async def fetch_positions() -> list[VenuePosition]:
        await read()
        v.left_out = {"PEPE-USDT-SWAP": UNLISTED}
        return []

    v.settle = "USDT"
    v.fetch_positions = fetch_positions
    service.wait(lambda: rt.guardian.last_reports.get(ACCOUNT, {}).get("left_out"))
    risk = service.client.get(f"/api/accounts/{ACCOUNT}/risk", headers=service.viewer).json()
    assert risk["left_out"] == [{"symbol": "PEPE-USDT-SWAP", "settle": UNLISTED}]
    (note,) = [n for n in risk["notes"] if n.startswith("PEPE-USDT-SWAP")]
    assert note.startswith("PEPE-USDT-SWAP: market not listed by the venue")
    assert "settled outside" not in note
    from levguard.service.models import LeftOut

    assert "not listed by the venue" in (LeftOut.model_fields["settle"].description or "")
