"""Pydantic models of the API's requests and responses (they document ``/openapi.json``)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Any, get_type_hints

from fastapi import Path
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    create_model,
    field_validator,
    model_serializer,
    model_validator,
)

from levguard.core.margin import NULLABLE_NUMBERS, AccountReport, CollateralRow, PositionReport

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
    "LeftOut",
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


def utf8_text(value: Any) -> Any:
    """Refuse a string that is not UTF-8 text a database can hold: a lone surrogate (JSON's
    ``"\\ud800"`` escape carries one) cannot be encoded, and a NUL (``"\\u0000"``, ``%00``) is
    refused by PostgreSQL's text type; neither can be stored, sent to a database or a venue (422
    naming the field; it was a 503 "database unavailable" on PostgreSQL)."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ValueError(f"not UTF-8 text: a lone surrogate {value[exc.start]!r} at position {exc.start}") from None
        nul = value.find("\x00")
        if nul >= 0:
            raise ValueError(f"not text a database can store: a NUL character at position {nul}")
    return value


def utf8_tree(value: Any, where: str = "") -> Any:
    """:func:`utf8_text` on every key and string of a JSON value (a dict body), naming the key path."""
    if isinstance(value, dict):
        for key, item in value.items():
            at = f"{where}.{key}" if where else str(key)
            try:
                utf8_text(key)
            except ValueError as exc:
                raise ValueError(f"{where or 'body'}: a key is {exc}") from None
            utf8_tree(item, at)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            utf8_tree(item, f"{where}[{i}]")
    else:
        try:
            utf8_text(value)
        except ValueError as exc:
            raise ValueError(f"{where}: {exc}" if where else str(exc)) from None
    return value


#: A JSON object body taken as a dict (a policy file's content): every string UTF-8 text.
JsonObject = Annotated[dict[str, Any], AfterValidator(utf8_tree)]
#: An account's name in a route's path.
AccountName = Annotated[str, Path(description="The account's name"), AfterValidator(utf8_text)]


class _In(BaseModel):
    # Strict: JSON types as documented (``"on": 0`` is not a boolean), no unknown keys, and
    # strings that are UTF-8 text (the store cannot hold a lone surrogate).
    model_config = ConfigDict(extra="forbid", strict=True)

    @model_validator(mode="before")
    @classmethod
    def _utf8_keys(cls, value: Any) -> Any:
        # The keys first: an unknown key that is not text was pydantic's "Input should be a
        # valid string" at ["body"], naming nothing.
        if isinstance(value, dict):
            for key in value:
                try:
                    utf8_text(key)
                except ValueError as exc:
                    raise ValueError(f"a key of the body is {exc}") from None
        return value

    @field_validator("*", mode="before")
    @classmethod
    def _utf8(cls, value: Any) -> Any:
        return utf8_text(value)


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
    status: str | None = Field(
        None, description="Status of the last cycle: ok, partial (positions left out), stale, disabled, error..."
    )
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


# The margin engine's report, derived from the core dataclasses (the JSON of ``to_dict``): field
# names, order, types and defaults come from ``PositionReport``, ``CollateralRow`` and
# ``AccountReport``; only the JSON types that differ and the descriptions are stated here.
def _report_model(
    name: str,
    record: type,
    doc: str,
    *,
    json_types: Mapping[str, Any] | None = None,
    descriptions: Mapping[str, str] | None = None,
    base: type[BaseModel] = BaseModel,
) -> type[BaseModel]:
    hints = get_type_hints(record)
    types, notes = dict(json_types or {}), dict(descriptions or {})
    spec: dict[str, Any] = {}
    for f in dataclasses.fields(record):
        default = ... if f.default is dataclasses.MISSING else f.default
        spec[f.name] = (types.pop(f.name, hints[f.name]), Field(default, description=notes.pop(f.name, None)))
    if types or notes:  # a stated type or description of a field the dataclass no longer has
        raise TypeError(f"{name}: not fields of {record.__name__}: {sorted({*types, *notes})}")
    model: type[BaseModel] = create_model(name, __base__=base, __module__=__name__, **spec)
    model.__doc__ = doc
    return model


#: The keys ``AccountReport.to_dict`` writes only for unified accounts (its fields with a default).
UNIFIED_KEYS: tuple[str, ...] = tuple(
    f.name for f in dataclasses.fields(AccountReport) if f.default is not dataclasses.MISSING
)


class _AccountMarginBase(BaseModel):
    @model_serializer(mode="wrap")
    def _single_wallet_as_before(self, handler):  # type: ignore[no-untyped-def]
        # A single-wallet account serialises without the unified keys, exactly as
        # ``AccountReport.to_dict`` does (no return annotation: the schema stays the model's).
        out = handler(self)
        if getattr(self, "account_ratio_name", None) is None and isinstance(out, dict):
            for key in UNIFIED_KEYS:
                out.pop(key, None)
        return out


if TYPE_CHECKING:  # the models are built at import; to a type checker they are pydantic models
    PositionMargin = BaseModel
    CollateralMargin = BaseModel
    AccountMargin = BaseModel
else:
    PositionMargin = _report_model(
        "PositionMargin",
        PositionReport,
        "One position of the margin engine's report (:class:`levguard.PositionReport`).",
        json_types={"side": str, **dict.fromkeys(NULLABLE_NUMBERS, float | None)},
        descriptions={"health": "Adverse move to the liquidation price, fraction of the mark"},
    )
    CollateralMargin = _report_model(
        "CollateralMargin",
        CollateralRow,
        "One collateral asset of a unified account (:class:`levguard.core.margin.CollateralRow`).",
        descriptions={
            "amount": "Coins the haircut applies to (balance - borrowed; Binance PM: + PnL)",
            "price": "USD price of the asset",
            "haircut": "Collateral value ratio in effect (value / face value)",
            "value": "USD value after the haircut",
        },
    )
    AccountMargin = _report_model(
        "AccountMargin",
        AccountReport,
        "The margin engine's report of an account: the contract of ``levguard.evaluate_account``.\n\n"
        "The keys after ``positions`` are set for unified accounts (``bybit-uta``, ``binance-pm``, "
        "``okx-mcm``; see docs/unified.md) and left out for single-wallet accounts.",
        json_types={"positions": list[PositionMargin], "collateral": list[CollateralMargin] | None},
        descriptions={
            "account_ratio": "The venue's ratio: uniMMR, account MM rate or margin ratio",
            "account_ratio_name": "uniMMR (binance-pm), account_mm_rate (bybit-uta) or margin_ratio (okx-mcm)",
            "account_status": "The venue's account status at that ratio",
            "collateral": "Collateral after haircuts, per asset",
            "liquidation_price_basis": "What the positions' liquidation prices hold fixed (unified accounts)",
        },
        base=_AccountMarginBase,
    )


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


class LeftOut(BaseModel):
    """A position the venue read but left out of the account: settled outside its wallet, or in a
    market the venue does not list (``settle`` is then ``"unlisted"``)."""

    symbol: str
    settle: str = Field(
        description="Its settlement currency (not the account's wallet, `venue.settle`), or `unlisted`: a market "
        "not listed by the venue (its contract size unknown; its settlement too)"
    )


_LEFT_OUT = (
    "Positions left out of the last cycle, settled outside the account's wallet (`venue.settle`) or in a market "
    "not listed by the venue (`settle` `unlisted`): not evaluated or protected (the cycle's status is `partial`; "
    "docs/guardian.md, one wallet per account)"
)


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
    left_out: list[LeftOut] = Field(default_factory=list, description=_LEFT_OUT)


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
    method: str = Field(
        description="The forecasters and the VaR the figures come from; `none (no positions)` without positions"
    )
    positions: list[PositionRisk]
    notes: list[str] = Field(
        default_factory=list,
        description=(
            "What the account's histories say: that they end more than a day apart (each position's "
            "vol and P(liq) are then of its own history's end, and `levguard risk` without the "
            "account's `as_of` reads all of them to the earliest end); one note per position left out "
            "(`left_out`); empty otherwise"
        ),
    )
    left_out: list[LeftOut] = Field(default_factory=list, description=_LEFT_OUT)


class PolicyOut(BaseModel):
    account: str
    policy: dict[str, Any] | None = Field(
        description=(
            "The policy the running guardian sizes the account with (a policy file's content): the "
            "config's since the start (a policy file the config names: its content now), or one set "
            "through PUT since; the stored one for an account the guardian does not watch; null "
            "without a policy"
        )
    )
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
    drop: float = Field(
        description="Fraction in (-1, 1), at least 0.0001 (one basis point) away from 0 (negative: a rise)"
    )
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
