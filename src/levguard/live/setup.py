"""The guardian's per-account set-up (:class:`AccountSetup`), its in-memory state, and the identities
it uses: the guardian's own (stable across restarts) and each order's deterministic client id."""

from __future__ import annotations

import hashlib
import math
import socket
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from levguard.core.risk.forecast import FORECAST_MODELS, MAX_HORIZON_DAYS
from levguard.errors import InputError
from levguard.live.account_cache import AccountCache
from levguard.live.forecasts import BarsSource, LiquidationForecasts, VolatilitySource
from levguard.live.states import Level, Thresholds
from levguard.live.store import Store
from levguard.live.venue_bars import venue_bars
from levguard.venues.base import Venue

__all__ = ["AccountSetup", "client_order_id", "default_guardian_id"]


def default_guardian_id(store: Store) -> str:
    """A guardian identity that survives restarts: the host name and a digest of the store's
    (redacted) URL, so one host guarding one database is one guardian, whatever its pid."""
    digest = hashlib.sha256(store.url_redacted.encode()).hexdigest()[:8]
    return f"{socket.gethostname()}:{digest}"


def client_order_id(account: str, symbol: str, seq: int, salt: int = 0) -> str:
    """Deterministic client order id of the ``seq``-th guardian order on ``account``/``symbol``.

    ``lg`` + 20 hex characters of SHA-256 (within every venue's 32-36 character limit); the same
    decision after a restart gives the same id, which the venue rejects as a duplicate.  ``salt``
    is the account row's creation time in the store (:func:`levguard.live.inflight.id_salt`), so
    a new database (a wiped or moved store) does not reuse the ids of orders a venue still knows
    (it would answer with the old order, and the guardian take it for its new one); 0 gives the
    ids of earlier versions.
    """
    key = f"{account}|{symbol}|{seq}" + (f"|{salt}" if salt else "")
    digest = hashlib.sha256(key.encode()).hexdigest()[:20]
    return f"lg{digest}"


@dataclass
class AccountSetup:
    """One watched account and its rules.

    Parameters
    ----------
    name : str
        The account's name in the store and alerts.
    venue : Venue
        Where its positions live.
    thresholds : Thresholds
        State-machine thresholds.
    sizer : callable, optional
        ``sizer(account_spec) -> dict`` with per-position ``target_leverage`` and the
        ``binding_constraint`` (:func:`levguard.sizing.size_account` with the account's policy);
        without it ``target_leverage`` is used for every position.
    target_leverage : float
        Fallback target leverage of a position (on the account's equity).
    live : bool
        The account's own opt-in to live orders (also needs the guardian's ``live``).
    act_level : Level
        The level from which the guardian deleverages (ACT by default).
    max_order_notional : float
        Largest order notional (quote) of one deleveraging step.
    step_fraction : float
        Fraction of the excess quantity reduced per step (0 < f <= 1).
    cooldown_s : float
        Minimum time between two orders on one position.
    max_age_s : float
        Oldest acceptable input; older is stale.
    drift_threshold : float
        Relative gap between our and the venue's liquidation price that raises a drift alert.
    horizon_days : float
        Horizon of the probability of liquidation, in ``(0, 30]`` days.
    bars : callable, optional
        ``bars(symbol) -> DataFrame | None``: hourly (mark) bars of a symbol up to now (a file,
        a venue's mark-price klines); with the marks the guardian sees (aggregated per hour) they
        are what the liquidation forecaster is fitted on, once an hour
        (:class:`~levguard.live.forecasts.LiquidationForecasts`).  None with ``venue_bars``: the
        venue's hourly klines when it serves them (:class:`~levguard.live.venue_bars.VenueBars`:
        last-price klines with the mark-price klines merged; the last price alone, said so in
        the forecast's source, when no mark klines can be had).
    venue_bars : bool
        Fetch the venue's klines when no ``bars`` are given (False: only the marks seen).
    forecast_model : str
        The forecaster's model (``"default"``: the calibrated ``excursion`` model; ``"naive"``).
    vol : float, optional
        Annualised volatility of the closed-form fallback used while fewer than a day of hourly
        bars are known (no ``bars`` and the guardian only just started); None: the EWMA of the
        marks the guardian has seen, unknown (no P(liq)) until enough are seen.
    volatility : callable, optional
        ``volatility(frame) -> float``, the annualised volatility forecast of a symbol's history
        (:func:`levguard.risk.report.volatility_forecast`: the number ``levguard risk``,
        ``levguard size`` and the service show), computed when the forecaster is refitted
        (:meth:`levguard.live.guardian.Guardian.volatility`); the composition roots pass it in
        (``levguard guard``, ``levguard serve --config``).  None: ``vol`` or the EWMA of the marks.
    forecasts : LiquidationForecasts, optional
        The account's forecasters (built from ``bars``, ``forecast_model`` and ``volatility``
        when omitted); sizers read the latest ones from it.
    retries, backoff_s : int, float
        Attempts for a transient venue failure and the first backoff (doubling).
    ratio_tolerance : float
        Unified accounts: relative gap between levguard's account ratio and the one the venue
        reports (both against the venue's trigger) beyond which a ``ratio_mismatch`` alert is
        raised (:func:`levguard.live.unified.compare`).
    assume_order_expiry_s : float
        The order expiry assumed for a venue that documents none
        (:attr:`Capabilities.order_expiry_s` None): an order it has not seen this long after it was
        sent (plus the guardian's margin) is taken as never arrived.
    policy_in_use : dict or str, optional
        What ``sizer`` was built from: a policy file's content, or the path of one (read again in
        every cycle); None with no policy.  Informational (``GET /api/accounts/{name}/policy``
        reports it); the composition roots and ``PUT /api/accounts/{name}/policy`` set it with
        the sizer.
    """

    name: str
    venue: Venue
    thresholds: Thresholds = field(default_factory=Thresholds)
    sizer: Callable[[dict[str, Any]], dict[str, Any]] | None = None
    target_leverage: float = 3.0
    live: bool = False
    act_level: Level = Level.ACT
    max_order_notional: float = 100_000.0
    step_fraction: float = 0.5
    cooldown_s: float = 30.0
    max_age_s: float = 15.0
    drift_threshold: float = 0.01
    horizon_days: float = 1.0
    vol: float | None = 0.8
    retries: int = 3
    backoff_s: float = 0.5
    assume_order_expiry_s: float = 120.0
    ratio_tolerance: float = 0.05
    bars: BarsSource | None = None
    venue_bars: bool = True
    forecast_model: str = "default"
    volatility: VolatilitySource | None = None
    forecasts: LiquidationForecasts | None = None
    policy_in_use: dict[str, Any] | str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise InputError(f"account name must be a non-empty string, was {self.name!r}")
        for key in (
            "max_order_notional",
            "cooldown_s",
            "max_age_s",
            "drift_threshold",
            "horizon_days",
            "target_leverage",
            "assume_order_expiry_s",
            "ratio_tolerance",
        ):
            v = getattr(self, key)
            if not (isinstance(v, int | float) and math.isfinite(v) and v >= 0):
                raise InputError(f"{self.name}: {key} must be a finite number >= 0, was {v!r}")
        # retries counts attempts after the first (range(retries + 1)): a negative count made no
        # attempt at all and every venue call ended in "unreachable".
        if isinstance(self.retries, bool) or not isinstance(self.retries, int) or self.retries < 0:
            raise InputError(f"{self.name}: retries must be an integer >= 0, was {self.retries!r}")
        b = self.backoff_s
        if isinstance(b, bool) or not (isinstance(b, int | float) and math.isfinite(b) and b >= 0):
            raise InputError(f"{self.name}: backoff_s must be a finite number >= 0, was {b!r}")
        if not (0.0 < self.step_fraction <= 1.0):
            raise InputError(f"{self.name}: step_fraction must be in (0, 1], was {self.step_fraction!r}")
        if self.vol is not None and not (math.isfinite(self.vol) and self.vol > 0):
            raise InputError(f"{self.name}: vol must be > 0 or null, was {self.vol!r}")
        if not 0 < self.horizon_days <= MAX_HORIZON_DAYS:
            raise InputError(
                f"{self.name}: horizon_days must be in (0, {MAX_HORIZON_DAYS:g}], was {self.horizon_days!r}"
            )
        if self.forecast_model not in FORECAST_MODELS:
            raise InputError(
                f"{self.name}: forecast_model must be one of {', '.join(FORECAST_MODELS)}, was {self.forecast_model!r}"
            )
        if self.forecasts is None:
            if self.bars is None and self.venue_bars:
                self.bars = venue_bars(self.venue)
            self.forecasts = LiquidationForecasts(self.bars, model=self.forecast_model, volatility=self.volatility)


@dataclass
class PositionState:
    level: Level = Level.OK
    last_order_ns: int = -(2**62)
    qty: float = 0.0


@dataclass
class AccountState:
    positions: dict[str, PositionState] = field(default_factory=dict)
    disabled: str | None = None  # why acting is stopped (auth failure), persisted in the store
    expected: dict[str, float] | None = None  # qty seen, moved by our own fills; persisted
    inflight: dict[str, dict[str, Any]] = field(default_factory=dict)  # unresolved orders by client id
    inflight_cycles: int = 0  # consecutive cycles with an unresolved order
    waiting: dict[str, tuple[int, bool]] = field(default_factory=dict)  # cid -> (monotonic ns waited from, sent here)
    # Orders taken as final without the venue's word, on the late watch: cid -> (row, watched
    # until on this process's monotonic clock, ns).
    late: dict[str, tuple[dict[str, Any], int]] = field(default_factory=dict)
    # A venue change alerted beside an order in flight on its symbol: key -> (the quantity read, the
    # expected one then); not adopted until the order is resolved (the read may hold a fill still
    # to be booked, or miss one that lands after it).
    held: dict[str, tuple[float, float]] = field(default_factory=dict)
    marks: dict[str, deque[tuple[int, float]]] = field(default_factory=dict)
    stale: bool = False
    stale_cycles: int = 0
    cycles: int = 0
    tiers: dict[str, tuple[int, Any]] = field(default_factory=dict)  # symbol -> (fetched ns, TierTable | None)
    lease_until_ns: int = 0
    epoch: int = -1  # fencing epoch of the lease held (-1: not held)
    loaded: bool = False  # persisted state read since the lease was taken
    errors: int = 0  # consecutive contained failures of the class error_kind
    error_kind: str | None = None  # the class of the last contained failure (levguard.live._support.classify)
    backoff_until_ns: int = 0
    margin: AccountCache = field(default_factory=AccountCache)  # the margin engine's account, kept
    unified: Any = None  # the last read of a unified account (levguard.venues.ccxt_unified.UnifiedAccountRead)
    audited: tuple[Any, ...] | None = None  # what the last routine "cycle" audit row said (passes.routine_audit)
    audited_ns: int = 0
    error_audited: tuple[Any, ...] | None = None  # the last cycle_error audit row's error (passes.error_audit)
    error_audited_ns: int = 0
    followed_ns: int | None = None  # a dry run's last read of the store's expected positions (inflight.follow)
    ratio_mismatch: bool = False  # levguard's and the venue's account ratios disagree (alerted once)
    loans: PositionState = field(default_factory=PositionState)  # a unified account owing with no position
    unrated: list[str] = field(default_factory=list)  # coins held with no collateral ratio, counted at 0
    left_out_cycles: int = 0  # consecutive cycles with positions of another wallet left out (watch.left_out)

    def clear_failures(self) -> None:
        """Forget the contained failures (a read succeeded, or an operator re-enabled the account):
        no backoff, the counter at 0, and the next failure's ``cycle_error`` row written at once."""
        self.errors, self.error_kind, self.backoff_until_ns = 0, None, 0
        self.error_audited, self.error_audited_ns = None, 0
