"""Pydantic models of the API's requests and responses (they document ``/openapi.json``)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_serializer

__all__ = [
    "BALANCE_KEYS",
    "AccountMargin",
    "AccountOut",
    "AckOut",
    "AlertOut",
    "AlertPage",
    "AuditOut",
    "AuditPage",
    "EnableIn",
    "EnableOut",
    "ErrorOut",
    "HealthOut",
    "KillSwitchIn",
    "KillSwitchOut",
    "ModeIn",
    "ModeOut",
    "OrderOut",
    "OrderPage",
    "PolicyOut",
    "PositionMargin",
    "PositionOut",
    "PositionRisk",
    "PositionsOut",
    "RiskOut",
    "ShockIn",
    "ShockOut",
    "SnapshotOut",
    "StatusOut",
    "StreamTicketOut",
]


def _json_int(value: object) -> object:
    # JSON has one number type: 1120.0 is the integer 1120 to a JSON Schema validator (and to
    # schemathesis), so an integral float is taken as an int; strict mode still refuses "5" and true.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


#: An integer field of a request body, as JSON Schema defines integers.
JsonInt = Annotated[int, BeforeValidator(_json_int)]


class _In(BaseModel):
    # Strict: JSON types as documented (``"on": 0`` is not a boolean), no unknown keys.
    model_config = ConfigDict(extra="forbid", strict=True)


class ErrorOut(BaseModel):
    """Every error: a message and the HTTP status (422 adds pydantic's ``details``)."""

    error: str
    status: int
    details: list[dict[str, Any]] | None = None


#: The error responses documented on every route (the others are added per route).
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "Missing, invalid or revoked bearer token"},
    422: {"model": ErrorOut, "description": "Invalid parameters or body"},
}
#: Routes with a JSON body: malformed JSON is a 400, a body over the limit a 413.
BODY_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorOut, "description": "Malformed JSON body (or input the engine rejects)"},
    413: {"model": ErrorOut, "description": "Request body too large"},
}
WRITE_RESPONSES: dict[int | str, dict[str, Any]] = {
    **ERROR_RESPONSES,
    403: {"model": ErrorOut, "description": "The route needs an admin token"},
    429: {"model": ErrorOut, "description": "Write rate limit exceeded"},
}
#: Routes that run the margin engine or P(liq): rate limited per token.
COMPUTE_RESPONSES: dict[int | str, dict[str, Any]] = {
    429: {"model": ErrorOut, "description": "Rate limit of the computed reads exceeded"},
}
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": ErrorOut, "description": "Unknown account"}}
BAD_INPUT: dict[int | str, dict[str, Any]] = {400: {"model": ErrorOut, "description": "Rejected input"}}
UNAVAILABLE: dict[int | str, dict[str, Any]] = {
    503: {"model": ErrorOut, "description": "The guardian did not take the change in time (stopping or stuck)"}
}


class HealthOut(BaseModel):
    status: str = Field(description="ok, or guardian stopped (then the status code is 503)")
    cycles: int
    guardian: str = Field(description="running, stopped, or off (the app runs without its guardian)")


class _AccountRow(BaseModel):
    # The stored account with the status and state of its last cycle.
    name: str
    venue: str
    live_enabled: bool = Field(description="The account's opt-in to live orders (dry run otherwise)")
    kill_switch: bool = Field(description="The account's own kill switch (the global one is in /api/status)")
    policy: dict[str, Any] | None = Field(None, description="The policy file content, when one was set")
    created_ns: int
    status: str | None = Field(None, description="Status of the last cycle: ok, stale, disabled, error...")
    state: str | None = Field(None, description="Worst position state of the last cycle: OK, WARN, DANGER, ACT")
    paper: bool = Field(False, description="The account is on a paper (simulated) venue: the shock route applies")
    disabled_reason: str | None = Field(
        None,
        description=(
            "Why acting on the account is disabled (an authentication failure), until an operator "
            "re-enables it: POST /api/accounts/{name}/enable; null: acting is enabled"
        ),
    )
    disabled_ns: int | None = Field(None, description="When acting was last disabled or re-enabled")


class _Balances(BaseModel):
    # An account's balances as the guardian last saw them (each null while unknown).
    settlement: str | None = Field(None, description="Settlement currency of the balances (null while unknown)")
    equity: float | None = Field(
        None, description="The margin engine's equity: cross wallet + isolated margins + unrealised PnL"
    )
    wallet_balance: float | None = Field(None, description="Wallet balance (realised: deposits, fees, realised PnL)")
    unrealized_pnl: float | None = Field(None, description="Unrealised PnL of every position at the last marks")
    margin_balance: float | None = Field(None, description="Wallet balance + unrealised PnL (a venue's margin balance)")
    margin_ratio: float | None = Field(None, description="Maintenance margin / equity of the last cycle")
    account_ratio: float | None = Field(
        None, description="Unified accounts: levguard's account ratio (uniMMR, account MM rate...); null otherwise"
    )
    account_ratio_name: str | None = Field(
        None, description="uniMMR (binance-pm), account_mm_rate (bybit-uta) or margin_ratio (okx-mcm); null otherwise"
    )
    account_status: str | None = Field(None, description="Unified accounts: the venue's account status at that ratio")
    venue_account_ratio: float | None = Field(
        None, description="Unified accounts: the same ratio as the venue reported it in the last cycle"
    )


class AccountOut(_Balances, _AccountRow):  # fields: the row's, then the balances
    pass


#: The balance fields of an account (``/api/accounts``, ``/positions``).
BALANCE_KEYS: tuple[str, ...] = tuple(_Balances.model_fields)


class PositionMargin(BaseModel):
    """One position of the margin engine's report (:class:`levguard.PositionReport`)."""

    symbol: str
    qty: float
    side: str
    margin_mode: str
    contract_kind: str
    entry_price: float
    mark_price: float
    notional: float
    leverage: float | None
    initial_margin: float
    maintenance_margin: float
    unrealized_pnl: float
    margin_balance: float | None
    liquidation_price: float | None
    bankruptcy_price: float | None
    mmr: float
    maint_amount: float
    max_leverage: float | None
    tier: int
    health: float | None = Field(description="Adverse move to the liquidation price, fraction of the mark")
    liquidatable: bool


class CollateralMargin(BaseModel):
    """One collateral asset of a unified account (:class:`levguard.core.margin.CollateralRow`)."""

    asset: str
    amount: float = Field(description="Coins the haircut applies to (balance - borrowed; Binance PM: + PnL)")
    price: float = Field(description="USD price of the asset")
    haircut: float = Field(description="Collateral value ratio in effect (value / face value)")
    value: float = Field(description="USD value after the haircut")


class AccountMargin(BaseModel):
    """The margin engine's report of an account: the contract of ``levguard.evaluate_account``.

    The last four fields are set for unified accounts (``bybit-uta``, ``binance-pm``; see
    docs/unified.md) and null for single-wallet accounts.
    """

    venue: str
    settlement: str
    wallet_balance: float
    equity: float
    maintenance_margin: float
    initial_margin: float
    margin_ratio: float | None
    liquidatable: bool
    health: float | None
    positions: list[PositionMargin]
    account_ratio: float | None = Field(None, description="The venue's ratio: uniMMR, account MM rate or margin ratio")
    account_ratio_name: str | None = Field(
        None, description="uniMMR (binance-pm), account_mm_rate (bybit-uta) or margin_ratio (okx-mcm)"
    )
    account_status: str | None = Field(None, description="The venue's account status at that ratio")
    collateral: list[CollateralMargin] | None = Field(None, description="Collateral after haircuts, per asset")

    @model_serializer(mode="wrap")
    def _single_wallet_as_before(self, handler):  # type: ignore[no-untyped-def]
        # A single-wallet account serialises without the unified keys, exactly as
        # ``AccountReport.to_dict`` does (no return annotation: the schema stays the model's).
        out = handler(self)
        if self.account_ratio_name is None and isinstance(out, dict):
            for key in ("account_ratio", "account_ratio_name", "account_status", "collateral"):
                out.pop(key, None)
        return out


class PositionOut(BaseModel):
    """A position as the guardian saw it in its last cycle, with the margin engine's figures."""

    symbol: str
    qty: float
    mark: float | None
    liquidation_price: float | None = Field(description="levguard's liquidation price")
    venue_liquidation_price: float | None = Field(description="The venue's own figure, when it reports one")
    bankruptcy_price: float | None
    margin_ratio: float | None = Field(description="Maintenance margin / margin balance")
    distance: float | None = Field(description="Distance of the mark to the liquidation price, fraction of the mark")
    health: float | None
    p_liq: float | None = Field(description="Probability of liquidation over the guardian's horizon")
    state: str
    leverage: float | None
    target_leverage: float | None = None
    binding_constraint: str | None = None
    action: dict[str, Any] | None = Field(None, description="The deleveraging decision of the last cycle")
    margin: PositionMargin | None = Field(None, description="The margin engine's full report of the position")
    side: str | None = Field(None, description="long or short")
    entry_price: float | None = Field(None, description="Average entry price (null without the margin report)")
    unrealized_pnl: float | None = Field(None, description="Unrealised PnL at the mark, settlement currency")
    notional: float | None = Field(None, description="Notional at the mark, settlement currency (the margin report's)")
    horizon_days: float | None = Field(None, description="Horizon of `p_liq`, days (null: not watched)")
    health_factor: float | None = Field(
        None, description="On-chain lending positions: levguard's health factor (null: no debt, infinite)"
    )
    chain_health_factor: float | None = Field(
        None, description="On-chain lending positions: the protocol's own (Aave getUserAccountData) at the same block"
    )
    target_hf: float | None = Field(None, description="On-chain lending positions: the health factor actions restore")
    collateral_value: float | None = Field(None, description="On-chain lending positions: at the oracle's prices")
    debt_value: float | None = Field(None, description="On-chain lending positions: at the oracle's prices")
    value_unit: str | None = Field(None, description="On-chain lending positions: unit of the values (the oracle's)")
    block: int | None = Field(None, description="On-chain lending positions: the block the position was read at")
    assets: list[dict[str, Any]] | None = Field(
        None,
        description="On-chain lending positions: per asset balance, price, liquidation price and the repay "
        "or supply that restores the target health factor",
    )
    forecast_source: str | None = Field(None, description="On-chain lending positions: where P(HF < 1) comes from")


class PositionsOut(BaseModel):
    account: str
    status: str | None = Field(description="Status of the last cycle (null before the first one)")
    state: str | None
    equity: float | None
    margin_ratio: float | None
    margin: AccountMargin | None = Field(
        None, description="The margin engine's report of the positions (null when the venue cannot be read)"
    )
    margin_error: str | None = None
    positions: list[PositionOut]
    settlement: str | None = Field(None, description="Settlement currency of the balances")
    wallet_balance: float | None = None
    unrealized_pnl: float | None = None
    margin_balance: float | None = Field(None, description="Wallet balance + unrealised PnL")
    account_ratio: float | None = Field(None, description="Unified accounts: levguard's account ratio")
    account_ratio_name: str | None = Field(None, description="Unified accounts: the ratio's name (uniMMR...)")
    account_status: str | None = Field(None, description="Unified accounts: the venue's status at that ratio")
    venue_account_ratio: float | None = Field(None, description="Unified accounts: the ratio the venue reported")
    horizon_days: float | None = Field(None, description="Horizon of the positions' `p_liq`, days")
    thresholds: dict[str, list[float]] | None = Field(
        None,
        description="The guardian's state thresholds of the account: margin_ratio, distance and p_liq, each "
        "(warn, danger, act)",
    )


class PositionRisk(BaseModel):
    symbol: str
    side: str
    mark: float | None
    liquidation_price: float | None
    notional: float | None = Field(description="Absolute notional (settlement currency)")
    vol: float | None = Field(
        description="Annualised volatility forecast of the symbol (the guardian's: GARCH(1,1)-t on its hourly "
        "bars' daily returns, as `levguard risk` and `levguard size`; the configured vol or the EWMA of the marks "
        "while no bars are known), also the VaR's; null while unknown"
    )
    model: str = Field(
        description="The forecaster behind P(liq): excursion (calibrated, fitted on hourly mark bars), gbm "
        "(closed-form fallback while too few bars are known) or unknown (no forecaster: no P(liq); no VaR either "
        "while `vol` is unknown too)"
    )
    p_liq: dict[str, float] = Field(description="Probability of liquidation within 1, 7 and 30 days (keys 1d, 7d, 30d)")
    var_1d_99: float | None = Field(
        description="One-day 99 % delta-normal VaR at `vol` (`levguard.risk.report.position_var`, the risk "
        "report's `position_var`), settlement currency"
    )
    es_1d_99: float | None = Field(description="The matching expected shortfall")


class RiskOut(BaseModel):
    account: str
    method: str
    positions: list[PositionRisk]


class PolicyOut(BaseModel):
    account: str
    policy: dict[str, Any] | None
    positions: list[dict[str, Any]] = Field(
        description="Per position: symbol, leverage, target_leverage and binding_constraint of the last cycle"
    )


class AlertOut(BaseModel):
    id: int
    account: str | None
    ts_ns: int
    level: str
    kind: str
    message: str
    data: dict[str, Any] | None
    acked: bool
    acked_ns: int | None


class OrderOut(BaseModel):
    client_order_id: str
    account: str
    symbol: str
    side: str
    qty: float
    reason: str
    status: str
    intent_ns: int
    sent_ns: int | None
    result_ns: int | None
    filled: float
    average_price: float | None
    venue_order_id: str | None


class AuditOut(BaseModel):
    id: int
    account: str | None
    ts_ns: int
    event: str
    inputs: Any
    decision: Any
    reasons: list[str]


class AlertPage(BaseModel):
    """A page of alerts, newest first."""

    items: list[AlertOut]
    next: int | None = Field(description="`before_id` of the next (older) page; null on the last page")


class AuditPage(BaseModel):
    """A page of audit rows, newest first."""

    items: list[AuditOut]
    next: int | None = Field(description="`before_id` of the next (older) page; null on the last page")


class OrderPage(BaseModel):
    """A page of orders, newest intent first."""

    items: list[OrderOut]
    next: str | None = Field(description="`before` cursor of the next (older) page; null on the last page")


class StreamTicketOut(BaseModel):
    ticket: str = Field(description="Single-use: open `GET /api/events?ticket=...` with it")
    expires_in_s: float


class SnapshotOut(BaseModel):
    id: int
    account: str
    ts_ns: int
    state: str
    figures: dict[str, Any]


class StatusOut(BaseModel):
    cycles: int
    live: bool = Field(description="The guardian's --live flag (orders need it and the account's opt-in)")
    kill_switch: bool = Field(description="The global kill switch")
    started_ns: int
    interval_s: float
    accounts: int
    last_event_id: int


class KillSwitchIn(_In):
    on: bool
    account: str | None = Field(None, description="An account's own switch; omitted: the global one")


class KillSwitchOut(BaseModel):
    account: str | None
    on: bool


class ModeIn(_In):
    live: bool
    confirm: str = Field(description="Must repeat the account's name")


class ModeOut(BaseModel):
    account: str
    live_enabled: bool
    effective_live: bool = Field(
        description="Orders are really sent: the guardian's --live, the account's setup and this opt-in"
    )


class EnableIn(_In):
    confirm: str = Field(description="Must repeat the account's name")


class EnableOut(BaseModel):
    account: str
    enabled: bool


class AckOut(BaseModel):
    id: int
    acked: bool


class ShockIn(_In):
    symbol: str
    drop: float = Field(description="Fraction in (-1, 1), not 0 (negative: a rise)")
    ticks: JsonInt = Field(5, ge=1, le=10_000)


class ShockOut(BaseModel):
    account: str
    symbol: str
    drop: float
    ticks: int


class PolicyUpdateOut(BaseModel):
    account: str
    policy: dict[str, Any]
    target_leverage: float | None = Field(
        description="The policy's target leverage for the account's current positions (null if not computable now)"
    )
    binding_constraint: str | None
    audit_id: int
