"""The policy interface: state in, decision out; and a vectorized path for backtests.

Every policy is a small frozen object whose constructor validates its parameters (raising
:class:`~levguard.errors.InputError` naming the parameter) and that offers:

* ``decide(state) -> SizingDecision``: the target leverage now, the binding constraint and
  human-readable reasons.  Market conditions never raise here: a missing forecast gives leverage
  0 with ``binding_constraint="no_forecast"`` (failure is a value);
* ``leverage_path(inputs) -> ndarray``: the target leverage at every bar of aligned arrays, using
  data up to and including bar ``t`` only (no look-ahead), computed by a numba kernel with a
  plain-Python twin;
* ``cap``: the largest leverage the policy can return.

Leverage is a non-negative multiple of equity; the direction (long/short) is the strategy's,
not the policy's.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Protocol, runtime_checkable

import numpy as np

from levguard.core.records import empty_mapping
from levguard.core.rules import get_venue
from levguard.core.tiers import TierTable
from levguard.core.validate import (
    array_1d,
    finite,
    finite_number,
    no_bools_or_strings,
    non_negative_number,
    number,
    positive,
    positive_number,
    show,
    side_sign,
)
from levguard.errors import InputError
from levguard.typing import Float64Array1D

__all__ = [
    "Composite",
    "FixedLeverage",
    "ForecastPathLike",
    "MarketContext",
    "Policy",
    "ProbabilityForecaster",
    "SeriesInputs",
    "SizingDecision",
    "SizingState",
    "clip_leverage",
    "log_returns",
]


@dataclass(frozen=True)
class MarketContext:
    """The instrument and venue a leverage applies to (for venue-aware policies).

    ``venue`` names a rule set (``binance-usdm``...); ``side`` is +1/-1 or ``"long"``/``"short"``
    (stored as +1/-1); ``tiers`` override the venue's built-in brackets (by notional, or by
    position size as OKX counts them: valued at the decision's price); ``mmr`` gives a fixed
    maintenance rate instead.  ``funding_rate`` is per ``funding_interval_hours`` (positive:
    longs pay; default interval: the venue's, :attr:`VenueModel.funding_interval_hours
    <levguard.core.rules.base.VenueModel.funding_interval_hours>`, 1 h on Hyperliquid and dYdX
    v4, else 8 h), ``taker_fee_rate`` a fraction.  Every field is checked here (InputError naming
    it), so a policy never decides on a NaN funding rate or an unknown venue.
    ``contract_kind`` and ``contract_size`` are the position's when it gives them (default: what
    the venue reads from the symbol, :meth:`levguard.core.rules.base.VenueModel.kind_for`).
    """

    venue: str = "generic"
    symbol: str = "BTCUSDT"
    side: int = 1
    tiers: TierTable | None = None
    mmr: float | None = None
    taker_fee_rate: float = 0.0
    funding_rate: float = 0.0
    funding_interval_hours: float | None = None
    contract_kind: str | None = None
    contract_size: float | None = None

    def __post_init__(self) -> None:
        # Checked here, not at decide(): a NaN funding rate made LiquidationBudget skip the
        # funding term and allow its maximum leverage with P(liq) 0 (an API audit).
        object.__setattr__(self, "side", side_sign(self.side))
        model = get_venue(self.venue)
        object.__setattr__(self, "venue", model.name)  # " Binance-USDM " as get_venue reads it
        if not isinstance(self.symbol, str) or not self.symbol.strip():
            raise InputError(f"symbol must be a non-empty string, was {show(self.symbol)}")
        if self.tiers is not None and not isinstance(self.tiers, TierTable):
            raise InputError(f"tiers must be a TierTable or None, was {type(self.tiers).__name__}")
        if self.tiers is not None:
            model.read_tiers(self.tiers)  # tiers by size on a venue that deducts are refused
        if self.mmr is not None:
            mmr = finite_number(self.mmr, "mmr")
            if not 0.0 < mmr < 1.0:
                raise InputError(f"mmr must be a fraction in (0, 1) (0.005 is 0.5 %), was {show(self.mmr)}")
            object.__setattr__(self, "mmr", mmr)
        fee = finite_number(self.taker_fee_rate, "taker_fee_rate")
        if not 0.0 <= fee < 1.0:
            raise InputError(f"taker_fee_rate must be a fraction in [0, 1), was {show(self.taker_fee_rate)}")
        funding = finite_number(self.funding_rate, "funding_rate")
        if not abs(funding) < 1.0:
            raise InputError(f"funding_rate must be a fraction per interval in (-1, 1), was {show(self.funding_rate)}")
        object.__setattr__(self, "taker_fee_rate", fee)
        object.__setattr__(self, "funding_rate", funding)
        # Kept as given (None: the venue's), so dataclasses.replace(ctx, venue=...) reads the new
        # venue's interval; the resolved one is funding_hours.
        if self.funding_interval_hours is not None:
            hours = positive_number(self.funding_interval_hours, "funding_interval_hours")
            object.__setattr__(self, "funding_interval_hours", hours)
        kind = self.contract_kind
        if kind is not None:
            if not isinstance(kind, str) or kind.lower() not in ("linear", "inverse"):
                raise InputError(f"contract_kind must be linear, inverse or None, was {kind!r}")
            object.__setattr__(self, "contract_kind", kind.lower())
        size = self.contract_size
        if size is not None:
            if isinstance(size, bool) or not isinstance(size, numbers.Real) or not (_finite_real(size) and size > 0):
                raise InputError(f"contract_size must be a finite number > 0 or None, was {show(size)}")
            object.__setattr__(self, "contract_size", float(size))

    @property
    def funding_hours(self) -> float:
        """The funding interval in hours: :attr:`funding_interval_hours`, else the venue's."""
        if self.funding_interval_hours is None:
            return get_venue(self.venue).funding_interval_hours
        return self.funding_interval_hours

    @property
    def funding_rate_per_hour(self) -> float:
        """``funding_rate / funding_hours``."""
        return self.funding_rate / self.funding_hours


@runtime_checkable
class ProbabilityForecaster(Protocol):
    """A liquidation forecaster fitted at decision time (:func:`levguard.core.risk.forecast.fit_forecaster`).

    ``prob(side, distance, hours)`` returns, per case, the probability that the mark moves the
    fractional ``distance`` against a position of ``side`` (+1/-1) within ``hours`` whole hours.
    """

    def prob(self, side: Float64Array1D, distance: Float64Array1D, hours: np.ndarray) -> Float64Array1D:
        """Probabilities of liquidation, one per broadcast case."""
        ...


@runtime_checkable
class ForecastPathLike(Protocol):
    """Liquidation forecasters fitted at every bar (:class:`levguard.core.risk.forecast.ForecastPath`)."""

    def __len__(self) -> int:
        """Number of bars."""
        ...

    def required_distances(self, side: object, max_prob: float, hours: int) -> Float64Array1D:
        """Per bar, the smallest distance to a liquidation price forecast at ``<= max_prob`` (NaN: none)."""
        ...


class _DefaultPrice(float):
    """:attr:`SizingState.price` when none is given: 1.0, a price notional tiers never read; tiers
    by position size need the real one (:attr:`SizingState.price_given`).  One object, which
    copies and pickles keep."""

    def __reduce__(self) -> str:
        return "_NO_PRICE"

    def __copy__(self) -> _DefaultPrice:
        return self

    def __deepcopy__(self, memo: object) -> _DefaultPrice:
        return self


_NO_PRICE = _DefaultPrice(1.0)


@dataclass(frozen=True)
class SizingState:
    """What a policy may know at decision time ``t`` (nothing after it).

    Parameters
    ----------
    equity : float
        Account equity (margin balance) now, settlement currency, > 0.
    price : float
        Mark price now.  Without one, 1.0, which notional tiers never read; tiers by position
        size need it (:attr:`price_given` says whether it was given).
    vol_forecast : float or None
        Annualised volatility forecast for the next period (365-day year), >= 0; NaN or 0 is no
        usable forecast (policies give 0, ``no_forecast``, as their paths do on such a bar).
    mu_forecast : float or None
        Annualised expected (arithmetic) return forecast, finite.
    peak_equity : float or None
        Highest equity so far (drawdown policies); default ``equity``.
    floor : float or None
        Protected floor of equity (CPPI), finite.
    returns : ndarray or None
        Per-bar log returns up to ``t`` (regime and estimator policies), 1-D (stored as float64).
    periods_per_year : float
        Bars per 365-day year of ``returns``.
    current_leverage : float
        Leverage held now (rebalancing rules).
    context : MarketContext
        Instrument and venue.
    exposures : Mapping[str, float]
        Signed notional per instrument now, in the unit of ``equity`` (coins on an inverse
        account: the leverage is ``x / equity``) (portfolio policies); keys are symbols.
    vols, venues : Mapping[str, float] and Mapping[str, str]
        Per-instrument annualised vol forecasts and venue names (portfolio policies).
    liquidation_forecaster : ProbabilityForecaster or None
        The liquidation forecaster fitted on the instrument's (mark) bars up to ``t``
        (:func:`levguard.core.risk.forecast.fit_forecaster`);
        :class:`~levguard.core.sizing.venue.LiquidationBudget` reads its probabilities from it
        (docs/risk.md, "Probability of liquidation").
    """

    equity: float
    price: float = _NO_PRICE
    vol_forecast: float | None = None
    mu_forecast: float | None = None
    peak_equity: float | None = None
    floor: float | None = None
    returns: Float64Array1D | None = field(default=None, compare=False, repr=False)
    periods_per_year: float = 8760.0
    current_leverage: float = 0.0
    context: MarketContext = field(default_factory=MarketContext)
    exposures: Mapping[str, float] = field(default_factory=empty_mapping)
    vols: Mapping[str, float] = field(default_factory=empty_mapping)
    venues: Mapping[str, str] = field(default_factory=empty_mapping)
    liquidation_forecaster: ProbabilityForecaster | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        positive(self.equity, "equity")
        positive(self.price, "price")
        finite(self.current_leverage, "current_leverage")
        if self.peak_equity is not None:
            peak = number(self.peak_equity, "peak_equity")  # text or an array was a raw TypeError/ValueError
            if not peak >= self.equity * (1 - 1e-12):
                raise InputError(f"peak_equity must be >= equity {self.equity!r}, was {self.peak_equity!r}")
            object.__setattr__(self, "peak_equity", peak)
        # A negative vol sized Kelly by its square (1.0x at -0.5), text raised a raw ValueError and
        # 2-D returns a numba TypingError: each field is refused here, named.
        # NaN and 0 stay: a bar without a usable forecast (a path's warm-up), on which policies
        # give 0 with no_forecast as their paths do.
        if self.vol_forecast is not None:
            vol = number(self.vol_forecast, "vol_forecast")
            object.__setattr__(
                self, "vol_forecast", vol if math.isnan(vol) else non_negative_number(vol, "vol_forecast")
            )
        if self.mu_forecast is not None:
            mu = number(self.mu_forecast, "mu_forecast")
            # NaN: no forecast yet, as Kelly's path reads it (0 with no_forecast).
            object.__setattr__(self, "mu_forecast", mu if math.isnan(mu) else finite_number(mu, "mu_forecast"))
        if self.floor is not None:
            object.__setattr__(self, "floor", finite_number(self.floor, "floor"))
        if self.returns is not None:
            object.__setattr__(self, "returns", log_returns(self.returns, "returns"))
        # A NaN or infinite exposure was dropped by PortfolioCap, which then sized the rest.
        if hasattr(self.exposures, "to_dict") and not isinstance(self.exposures, Mapping):  # a pandas Series
            object.__setattr__(self, "exposures", dict(self.exposures.to_dict()))
        if not isinstance(self.exposures, Mapping):
            raise InputError(f"exposures must be a mapping of symbol to signed notional, was {show(self.exposures)}")
        for key, x in self.exposures.items():
            finite_number(x, f"exposures[{key!r}]")

    @property
    def price_given(self) -> bool:
        """Whether the state was given a price (tiers by position size are valued at it)."""
        return self.price is not _NO_PRICE

    @property
    def drawdown(self) -> float:
        """``1 - equity / peak_equity`` (0 without a peak)."""
        peak = self.peak_equity if self.peak_equity is not None else self.equity
        return max(0.0, 1.0 - self.equity / peak)


@dataclass(frozen=True)
class SizingDecision:
    """A policy's answer.

    ``target_leverage`` is a non-negative multiple of equity; ``binding_constraint`` names what
    set it (e.g. ``"vol_target"``, ``"max_leverage"``, ``"tier_cap"``); ``reasons`` explain it in
    words; ``allocations`` give per-instrument signed leverage for portfolio policies.
    """

    target_leverage: float
    binding_constraint: str
    reasons: tuple[str, ...] = ()
    allocations: Mapping[str, float] = field(default_factory=empty_mapping)
    details: Mapping[str, float] = field(default_factory=empty_mapping)

    def to_dict(self) -> dict[str, object]:
        """JSON-ready dict."""
        return {
            "target_leverage": self.target_leverage,
            "binding_constraint": self.binding_constraint,
            "reasons": list(self.reasons),
            "allocations": dict(self.allocations),
            "details": {k: (v if math.isfinite(v) else None) for k, v in self.details.items()},
        }


def _finite_real(x: numbers.Real) -> bool:
    # math.isfinite(10**400) was a raw OverflowError: an int past float64's range is not finite here.
    try:
        return math.isfinite(x)
    except OverflowError:
        return False


@dataclass(frozen=True)
class SeriesInputs:
    """Aligned per-bar arrays for the vectorized path (value at ``t`` known at bar ``t``'s close).

    ``returns[t]`` is the log return of bar ``t``; ``vol_forecast[t]`` the annualised forecast
    made with data up to ``t`` for bar ``t + 1``; ``equity[t]`` the equity at ``t``'s close.
    Optional arrays may be None when a policy does not need them.  ``liquidation_forecasts`` are
    the liquidation forecaster fitted at each bar's close
    (:func:`levguard.core.risk.forecast.forecast_path` on the instrument's hourly mark bars), which
    :class:`~levguard.core.sizing.venue.LiquidationBudget` budgets against.  ``side[t]`` is the
    direction held after bar ``t``'s decision (+1 long, -1 short, 0 flat; None: long throughout):
    :class:`~levguard.core.sizing.policies.Kelly` sizes a short on the asset's negated drift,
    :class:`~levguard.core.sizing.policies.GapCap` and
    :class:`~levguard.core.sizing.venue.LiquidationBudget` (``context.side`` when None) a short
    as a short.
    """

    returns: Float64Array1D
    periods_per_year: float = 8760.0
    vol_forecast: Float64Array1D | None = None
    mu_forecast: Float64Array1D | None = None
    equity: Float64Array1D | None = None
    price: Float64Array1D | None = None
    liquidation_forecasts: ForecastPathLike | None = field(default=None, compare=False, repr=False)
    side: Float64Array1D | None = None

    def __post_init__(self) -> None:
        # None.shape or len(0) was a raw AttributeError/TypeError; a 1-D array or Series passes.
        if getattr(self.returns, "ndim", None) != 1:
            raise InputError(f"returns must be a 1-D array, was {type(self.returns).__name__} {show(self.returns)}")
        log_returns(self.returns, "returns")  # checked, kept as given
        n = self.returns.shape[0]
        for name in ("vol_forecast", "mu_forecast", "equity", "price", "side"):
            arr = getattr(self, name)
            if arr is not None and getattr(arr, "ndim", None) != 1:
                raise InputError(f"{name} must be a 1-D array or None, was {type(arr).__name__} {show(arr)}")
            if arr is not None and arr.shape[0] != n:
                raise InputError(f"{name} must have the length of returns ({n}), was {arr.shape[0]}")
        lf = self.liquidation_forecasts
        if lf is not None and not hasattr(lf, "__len__"):
            raise InputError(f"liquidation_forecasts must be a forecast path (one per bar) or None, was {show(lf)}")
        if self.liquidation_forecasts is not None and len(self.liquidation_forecasts) != n:
            raise InputError(
                f"liquidation_forecasts must have the length of returns ({n}), was {len(self.liquidation_forecasts)}"
            )
        positive(self.periods_per_year, "periods_per_year")


def log_returns(values: object, field: str) -> Float64Array1D:
    """Return per-bar log returns as a contiguous 1-D float64 array, NaN (a missing bar) kept.

    Raises InputError naming the value for bools and strings (NumPy read ``True`` as a return of
    1.0) and for an infinite return (the estimators skipped it as missing: a price of 0 or inf
    sized as if the bar had not happened).
    """
    no_bools_or_strings(values, field)
    arr = array_1d(values, field)
    bad = np.isinf(arr)
    if bad.any():
        i = int(np.argmax(bad))
        raise InputError(f"{field}[{i}] must be finite (NaN: a missing bar), was {arr[i].item()!r}")
    return arr


def clip_leverage(value: float, cap: float) -> float:
    """``value`` clipped to ``[0, cap]``; NaN becomes 0 (no forecast, no exposure)."""
    if not math.isfinite(value) or value <= 0.0:
        return 0.0
    return min(value, cap)


@runtime_checkable
class Policy(Protocol):
    """A leverage policy (see the module docstring)."""

    # Read-only in the protocol so that frozen dataclasses (FixedLeverage...) conform.
    @property
    def name(self) -> str:
        """Policy name (prefixes the binding constraint in composites)."""
        ...

    @property
    def cap(self) -> float:
        """Largest leverage the policy can return."""
        ...

    def decide(self, state: SizingState) -> SizingDecision:
        """Target leverage now, with the binding constraint and reasons."""
        ...

    def leverage_path(self, inputs: SeriesInputs) -> Float64Array1D:
        """Target leverage at every bar, no look-ahead."""
        ...


class ConstantPath:
    """Mixin of the policies whose target is their ``cap`` at every bar (fixed leverage, gap cap)."""

    @property
    def cap(self) -> float:
        """Largest leverage the policy can return (the constant)."""
        raise NotImplementedError

    def leverage_path(self, inputs: SeriesInputs) -> Float64Array1D:
        """The cap at every bar."""
        return np.full(inputs.returns.shape[0], float(self.cap))


@dataclass(frozen=True)
class FixedLeverage(ConstantPath):
    """Always the same leverage ``L`` (a baseline, and a cap when composed)."""

    leverage: float
    name: str = "fixed"

    def __post_init__(self) -> None:
        finite(self.leverage, "leverage")
        if self.leverage < 0:
            raise InputError(f"leverage must be >= 0, was {self.leverage!r}")

    @property
    def cap(self) -> float:
        """The fixed leverage."""
        return self.leverage

    def decide(self, state: SizingState) -> SizingDecision:
        """Return ``L``."""
        del state
        return SizingDecision(self.leverage, self.name, (f"fixed leverage {self.leverage:g}x",))


@dataclass(frozen=True)
class Composite:
    """The minimum of several policies, reporting which one binds.

    Notes
    -----
    ``L = min_i L_i``; the binding constraint is the first member attaining the minimum (its own
    binding constraint is kept, prefixed by the member's name), so a composite can be read as
    "volatility target, capped by the tier, the gap cap and the liquidation budget".

    Allocations are that member's.  A member with per-instrument limits (a ``fit_scale`` method:
    :class:`~levguard.core.sizing.portfolio.PortfolioCap`, or a nested composite holding one)
    bounds them too: with ``s_j`` the largest factor within member ``j``'s limits
    (:meth:`~levguard.core.sizing.portfolio.PortfolioCap.fit_scale`), the allocations and ``L``
    are scaled by ``f = min(1, min_j s_j)`` and, when ``f < 1``, the member attaining it binds.
    A leverage target with other weights than the book (a risk budget) was taken whole when its
    gross was the smallest, and could exceed a cap's per-asset limit.  Scaling keeps the
    allocations' directions and relative weights, and every limit is homogeneous of degree one,
    so the answer holds every member's limits.  For one instrument ``s_j L`` is member ``j``'s
    single-instrument bound, so ``f L`` is the minimum of the members' targets and ``decide``
    still equals the last bar of :meth:`leverage_path`, the element-wise minimum.
    """

    policies: tuple[Policy, ...]
    name: str = "composite"

    def __init__(self, *policies: Policy, name: str = "composite") -> None:
        if not policies:
            raise InputError("Composite needs at least one policy, was given none")
        for i, p in enumerate(policies):
            if not isinstance(p, Policy):
                raise InputError(f"policies[{i}] is not a policy (needs name, cap, decide, leverage_path), was {p!r}")
        object.__setattr__(self, "policies", tuple(policies))
        object.__setattr__(self, "name", name)

    @property
    def cap(self) -> float:
        """The smallest member cap."""
        return min(p.cap for p in self.policies)

    def fit_scale(self, allocations: Mapping[str, float], state: SizingState) -> tuple[float, str]:
        """The smallest of the members' ``fit_scale`` (``inf`` and ``""`` when none has one), the
        binding limit prefixed by the member's name."""
        best: tuple[float, str] = (math.inf, "")
        for p in self.policies:
            fit = getattr(p, "fit_scale", None)
            if fit is not None:
                scale, limit = fit(allocations, state)
                if scale < best[0]:
                    best = (scale, f"{p.name}.{limit}")
        return best

    def decide(self, state: SizingState) -> SizingDecision:
        """Ask every member, keep the smallest leverage, and scale its allocations into every
        member's per-instrument limits (class Notes)."""
        decisions = [p.decide(state) for p in self.policies]
        best = min(range(len(decisions)), key=lambda i: (decisions[i].target_leverage, i))
        d = decisions[best]
        member = self.policies[best].name
        binding = f"{member}.{d.binding_constraint}" if d.binding_constraint != member else member
        reasons = [f"{member}: {r}" for r in d.reasons]
        for p, other in zip(self.policies, decisions, strict=True):
            if other is not d:
                reasons.append(f"{p.name} would allow {other.target_leverage:.3g}x ({other.binding_constraint})")
        details = {f"{p.name}": dd.target_leverage for p, dd in zip(self.policies, decisions, strict=True)}
        target, allocations = d.target_leverage, d.allocations
        if allocations:
            scale, limit = self.fit_scale(allocations, state)
            if scale < 1.0 - 1e-12:  # not a cap's own allocations read back with a rounding error
                target *= scale
                allocations = MappingProxyType({s: v * scale for s, v in allocations.items()})
                reasons.append(f"{limit} binds on {member}'s allocations: scaled by {scale:.4g} to {target:.4g}x")
                binding = limit
                details["allocation_scale"] = scale
        return SizingDecision(target, binding, tuple(reasons), allocations, details)

    def leverage_path(self, inputs: SeriesInputs) -> Float64Array1D:
        """Element-wise minimum of the members' paths."""
        paths: Sequence[Float64Array1D] = [p.leverage_path(inputs) for p in self.policies]
        # float64 whatever the members return (FixedLeverage(5)'s path was int64, and a float
        # member after it a casting error).
        out = np.array(paths[0], dtype=np.float64)
        for p in paths[1:]:
            np.minimum(out, p, out=out)
        return out
