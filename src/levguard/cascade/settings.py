"""The cascade model's settings: the book (:class:`Market`), the venue's margin rules
(:class:`MarginRegime`) and its fund, ADL, liquidator and oracle (:class:`VenueSettings`), and
their translation into the kernel's records (:mod:`levguard.kernels.cascade_records`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from levguard.cascade.population import Population
from levguard.cascade.price_paths import depth_multiplier_path
from levguard.core.liquidation_outcome import cascade_regime_fields, venue_model
from levguard.core.rules import VenueModel
from levguard.core.rules.base import STEP_MODES, LiquidationRule
from levguard.core.tiers import TierTable
from levguard.core.validate import number, show
from levguard.errors import InputError
from levguard.kernels import cascade as kc
from levguard.kernels import liquidation as kl
from levguard.kernels import readonly

__all__ = ["MarginRegime", "Market", "VenueSettings"]

FloatArray = npt.NDArray[np.float64]


def _pos(value: object, name: str, *, allow_zero: bool = False, upper: float = math.inf) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.number):
        raise InputError(f"{name} must be a number, was {value!r}")
    v = number(value, name)  # an int past float64's range is refused by name
    ok = (v >= 0.0 if allow_zero else v > 0.0) and v <= upper and math.isfinite(v)
    if not ok:
        bound = ">= 0" if allow_zero else "> 0"
        raise InputError(
            f"{name} must be finite and {bound}"
            + (f" and <= {upper:g}" if upper < math.inf else "")
            + f", was {value!r}"
        )
    return v


def _int(value: object, name: str, lo: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < lo:
        raise InputError(f"{name} must be an integer >= {lo}, was {value!r}")
    if value >= 2**63:  # the kernels take int64
        raise InputError(f"{name} must be an integer below 2**63, was {value!r}")
    return int(value)


@dataclass(frozen=True)
class Market:
    """The order book the liquidation flow hits.

    Parameters
    ----------
    depth : float
        ``impact="linear"``: quote notional that moves the price by one basis point.
        ``impact="sqrt"``: the daily traded volume in quote.
    impact : {"linear", "sqrt"}
        Linear depth (``dP/P = -X / depth`` bp) or the square-root law
        ``|dP/P| = impact_coef * sigma_daily * sqrt(|X| / depth)`` (Almgren et al. 2005).
    impact_coef, sigma_daily : float
        ``Y`` (about 1 empirically) and the daily volatility of the square-root law.
    half_life_steps : float
        Resilience: the accumulated impact decays by half every ``half_life_steps`` steps
        (``inf``: permanent impact; 0: gone by the next step).
    depth_multiplier : array (T + 1,) or mapping, optional
        The depth's multiplier per step (thinner books under stress), or
        ``{"shock_step", "floor", "recovery_half_life"}`` for
        :func:`levguard.cascade.price_paths.depth_multiplier_path`.  Default 1 throughout.
    """

    depth: float
    impact: Literal["linear", "sqrt"] = "linear"
    impact_coef: float = 1.0
    sigma_daily: float = 0.03
    half_life_steps: float = 60.0
    depth_multiplier: Any = None

    def __post_init__(self) -> None:
        _pos(self.depth, "market.depth")
        if not isinstance(self.impact, str) or self.impact not in ("linear", "sqrt"):
            raise InputError(f"market.impact must be 'linear' or 'sqrt', was {show(self.impact)}")
        _pos(self.impact_coef, "market.impact_coef", allow_zero=True)
        _pos(self.sigma_daily, "market.sigma_daily", allow_zero=True)
        if not (isinstance(self.half_life_steps, float | np.floating) and self.half_life_steps == math.inf):
            _pos(self.half_life_steps, "market.half_life_steps", allow_zero=True)

    def multiplier(self, n_steps: int) -> FloatArray:
        """The depth multiplier path of length ``n_steps + 1``."""
        dm = self.depth_multiplier
        if dm is None:
            return np.ones(n_steps + 1)
        if isinstance(dm, Mapping):
            unknown = set(dm) - {"shock_step", "floor", "recovery_half_life"}
            if unknown:
                raise InputError(f"market.depth_multiplier: unknown keys {sorted(unknown)}")
            name = "market.depth_multiplier"
            return depth_multiplier_path(
                n_steps,
                shock_step=_int(dm.get("shock_step", 0), f"{name}.shock_step"),
                floor=number(dm.get("floor", 1.0), f"{name}.floor"),
                recovery_half_life=number(dm.get("recovery_half_life", math.inf), f"{name}.recovery_half_life"),
            )
        try:
            arr = np.asarray(dm, dtype=float)
        except (TypeError, ValueError, OverflowError):
            raise InputError(
                f"market.depth_multiplier must be a mapping or {n_steps + 1} numbers, was {show(dm)}"
            ) from None
        if arr.shape != (n_steps + 1,) or not np.all(np.isfinite(arr)) or np.any(arr <= 0.0):
            raise InputError(
                f"market.depth_multiplier must be {n_steps + 1} finite values > 0 (one per step), had shape {arr.shape}"
            )
        return arr


@dataclass(frozen=True)
class MarginRegime:
    """The venue's margin rules under test.

    Parameters
    ----------
    kind : {"static", "tiered", "dynamic"}
        Static over-collateralisation (one maintenance rate ``mmr``), a tiered schedule
        (``tiers``), or dynamic margin: the maintenance tiers (``tiers`` or ``mmr``) scaled by
        ``clip(realised vol / base_vol, min_scale, max_scale)``, recalibrated every
        ``every_steps`` steps on the last ``window_steps`` steps of the traded price.
    mmr : float
        Maintenance rate of the static regime (and of dynamic without tiers).
    tiers : TierTable, optional
        Maintenance tiers (cap, rate, amount) of the tiered regime.
    liquidation_fee : float
        Liquidation fee rate on the closed notional of book closes and partial closes, paid to
        the insurance fund.
    partial : float, "tier" or "restore"
        Fraction of a position closed per liquidation round (1: whole position; Hyperliquid
        closes 20 % slices of large positions), ``"tier"``: a risk-limit step-down to a lower
        maintenance tier's cap (``step_from``, ``step_to``, ``step_mode``), or ``"restore"``:
        close just enough to bring the maintenance margin back below the equity at the current
        price (Deribit's incremental liquidation); positions below ``partial_min_notional`` are
        closed whole (fraction and tier rules).
    step_from, step_to, step_mode
        The ``"tier"`` rule, as a venue's :class:`~levguard.core.rules.base.LiquidationRule`
        gives it (:meth:`for_venue` copies the venue's): the lowest tier index (0-based) that
        is stepped down, the target tier (-1: one tier down), and how far one order goes
        (``"each_trigger"``: to the target, again at the next trigger, as OKX; ``"once"``: one
        tier, taken over if that does not restore the margin, as BitMEX; ``"until_safe"``: to
        the highest lower tier that restores it, else taken over, as Bybit and Gate).  The
        defaults step one tier down at every trigger.
    outcome : {"takeover", "book"}
        What a full close leaves the account: ``"takeover"`` (closed at the bankruptcy price,
        the margin goes to the insurance fund: Binance, Bybit, OKX, Gate, BitMEX) or
        ``"book"`` (the fee is paid and the rest kept: Hyperliquid, dYdX, Deribit).
    backstop : float
        ``"book"``: a position whose equity at the fill is below ``backstop`` times its
        maintenance margin is taken over whole (Hyperliquid 2/3; 0: never).
    max_leverage, oi_cap : float, optional
        Venue caps applied to the population: accounts above ``max_leverage`` post more margin
        (their leverage is set to the cap); open interest above ``oi_cap`` (notional, one
        side) scales every position down pro rata.
    base_vol, window_steps, every_steps, min_scale, max_scale
        The dynamic regime's parameters.
    """

    kind: Literal["static", "tiered", "dynamic"] = "static"
    mmr: float = 0.005
    tiers: TierTable | None = None
    liquidation_fee: float = 0.005
    partial: float | Literal["tier", "restore"] = 1.0
    partial_min_notional: float = 0.0
    step_from: int = 1
    step_to: int = -1
    step_mode: Literal["each_trigger", "once", "until_safe"] = "each_trigger"
    outcome: Literal["takeover", "book"] = "takeover"
    backstop: float = 0.0
    max_leverage: float | None = None
    oi_cap: float | None = None
    base_vol: float = 0.6
    window_steps: int = 1440
    every_steps: int = 60
    min_scale: float = 1.0
    max_scale: float = 3.0

    def __post_init__(self) -> None:
        if self.kind not in ("static", "tiered", "dynamic"):
            raise InputError(f"regime.kind must be static, tiered or dynamic, was {self.kind!r}")
        _pos(self.mmr, "regime.mmr", upper=0.5)
        if self.kind == "tiered" and self.tiers is None:
            raise InputError("regime.tiers must be given for the tiered regime")
        if self.tiers is not None and not isinstance(self.tiers, TierTable):
            raise InputError(f"regime.tiers must be a TierTable, was {type(self.tiers).__name__}")
        _pos(self.liquidation_fee, "regime.liquidation_fee", allow_zero=True, upper=0.1)
        if self.partial not in ("tier", "restore"):
            _pos(self.partial, "regime.partial", upper=1.0)
        if self.outcome not in ("takeover", "book"):
            raise InputError(f"regime.outcome must be 'takeover' or 'book', was {self.outcome!r}")
        _pos(self.backstop, "regime.backstop", allow_zero=True, upper=1.0)
        _pos(self.partial_min_notional, "regime.partial_min_notional", allow_zero=True)
        _int(self.step_from, "regime.step_from")
        _int(self.step_to, "regime.step_to", -1)
        if self.step_mode not in STEP_MODES:
            raise InputError(f"regime.step_mode must be one of {', '.join(STEP_MODES)}, was {self.step_mode!r}")
        if self.max_leverage is not None:
            _pos(self.max_leverage, "regime.max_leverage")
        if self.oi_cap is not None:
            _pos(self.oi_cap, "regime.oi_cap")
        _pos(self.base_vol, "regime.base_vol")
        _int(self.window_steps, "regime.window_steps", 2)
        _int(self.every_steps, "regime.every_steps", 1)
        _pos(self.min_scale, "regime.min_scale")
        _pos(self.max_scale, "regime.max_scale")
        if self.max_scale < self.min_scale:
            raise InputError(f"regime.max_scale must be >= min_scale, was {self.max_scale!r} < {self.min_scale!r}")

    @classmethod
    def for_venue(cls, venue: str | VenueModel | LiquidationRule, **overrides: Any) -> MarginRegime:
        """The regime with a venue's liquidation rule: outcome, fee, partial rule and backstop.

        From :class:`~levguard.core.rules.base.LiquidationRule` (docs/margin.md): e.g.
        ``"hyperliquid"`` gives a book outcome without fee, 20 % slices above 100k and a 2/3
        backstop; ``"binance-usdm"`` a takeover.  A rule without a fee keeps the default
        ``liquidation_fee``; ``overrides`` set any other field (``kind``, ``mmr``, ``tiers``...).
        """
        fields: dict[str, Any] = cascade_regime_fields(venue)
        fields.update(overrides)
        model = venue_model(venue)
        if model is not None and isinstance(fields.get("tiers"), TierTable):
            # As the venue applies them: OKX and BitMEX put the tier's rate on the whole position
            # (no deduction), OKX's caps in the lower tier (VenueModel.read_tiers).  A bare
            # LiquidationRule says nothing about tiers.
            fields["tiers"] = model.read_tiers(fields["tiers"])
        return cls(**fields)

    def partial_code(self) -> tuple[int, float]:
        """The kernels' order sizing: the :data:`~levguard.kernels.cascade_records.PartialMode`
        code and the fraction closed per round (1 but for fraction rules)."""
        if self.partial == "tier":
            return int(kc.PartialMode.TIER), 1.0
        if self.partial == "restore":
            return int(kc.PartialMode.RESTORE), 1.0
        return int(kc.PartialMode.FRACTION), float(self.partial)

    @property
    def by_size(self) -> bool:
        """Whether the kernels read the tiers by position size (OKX's contracts): a tiered or
        dynamic regime whose ``tiers`` have ``basis == "quantity"``."""
        return self.tiers is not None and self.kind != "static" and self.tiers.basis == "quantity"

    def tier_rows(self) -> FloatArray:
        """The kernel's tier rows (cap, rate, amount); caps are sizes where :attr:`by_size`."""
        if self.tiers is not None and self.kind != "static":
            return np.column_stack([self.tiers.caps, self.tiers.mmrs, self.tiers.cums]).astype(float)
        return np.array([[math.inf, self.mmr, 0.0]])

    def apply_caps(self, pop: Population) -> Population:
        """The population after the venue's leverage and open-interest caps."""
        qty = np.array(pop.qty, dtype=float)
        margin = np.array(pop.margin, dtype=float)
        if self.max_leverage is not None:
            lev = qty * pop.entry_price / margin
            over = lev > self.max_leverage
            margin[over] = qty[over] * pop.entry_price[over] / self.max_leverage
        if self.oi_cap is not None:
            for mask in (pop.side > 0, pop.side < 0):
                oi = float(np.sum(qty[mask] * pop.entry_price[mask]))
                if oi > self.oi_cap:
                    f = self.oi_cap / oi
                    qty[mask] *= f
                    margin[mask] *= f
        return Population(pop.side, qty, pop.entry_price, margin, pop.cross)


@dataclass(frozen=True)
class VenueSettings:
    """Insurance fund, auto-deleveraging, liquidator and oracle behaviour.

    Parameters
    ----------
    insurance_fund : float
        Initial insurance fund (quote).
    adl : bool
        Auto-deleverage opposite positions when the fund cannot absorb a loss.
    latency_steps : int
        Steps between a liquidation trigger and its execution.
    mark_lag_steps : int
        The mark is the traded price ``mark_lag_steps`` steps ago (0: current).
    oracle : array (T + 1, S) or mapping, optional
        Per step and source the multiplier a source reports on the traded price (NaN: the
        source is missing); the mark is the median over sources.  A mapping
        ``{"sources": S, "corrupt": [{"source": i, "from": t0, "to": t1, "factor": f}],
        "stale": [{"source": i, "from": t0, "to": t1}]}`` builds it (a stale source is
        missing over the interval; a corrupted one reports ``f`` x the price).
    max_rounds : int
        Liquidation rounds per step before the step ends (a cap on the fixed point).
    vault_backstop : float
        Market simulator (v2) only.  FRACTION of the maintenance margin below which the venue's
        liquidator vault takes a due account over at the marks, positions and equity, when the
        equity is not negative (Hyperliquid's backstop liquidator: 2/3,
        :data:`levguard.core.rules.hyperliquid.LIQUIDATION`); the vault's gains and losses are
        its own, never the fund's.  0 (default): no vault.
    vault_capital : float
        The vault's starting balance (quote), v2 only.
    adl_drawdown : float
        Market simulator (v2) only.  Bybit's drawdown trigger of ADL (``-insurancePnlRatio``,
        0.3 in Bybit's examples): while the fund exceeds ``adl_drawdown_min_fund``, a close that
        would take the fund more than this FRACTION below its highest of the last
        ``adl_drawdown_window_steps`` steps goes to ADL instead (with ``adl`` on).  0 (default):
        off; the fund then only stops at 0.
    adl_drawdown_stop : float, optional
        ``-adlStopRatio`` (Bybit 0.25): once triggered, every close that would draw on the fund
        goes to ADL until the drawdown is back within this fraction; default ``adl_drawdown``.
    adl_drawdown_window_steps : int
        Steps of the drawdown window (Bybit 8 hours: 480 one-minute steps, the default).
    adl_drawdown_min_fund : float
        ``adlTriggerThreshold`` (quote): the drawdown rule applies only while the fund exceeds it.
    fee_to_fund : bool
        Market simulator (v2) only.  True (default): the liquidation fee of a book close credits
        the venue's insurance fund (the exchanges' clearance fee).  False: it leaves the venue,
        paid to the liquidators (outside the accounts, the fund and the books), and is reported
        as ``liquidator_fees``; a lending pool's bonus (Aave ``liquidationBonus``, Morpho ``LIF``)
        is the liquidator's, so a pool's fund never absorbs a shortfall with it.

    Notes
    -----
    Vault: hyperliquid.gitbook.io/hyperliquid-docs/trading/liquidations ("If the account equity
    drops below 2/3 of the maintenance margin without successful liquidation through the book, a
    backstop liquidation happens through the liquidator vault").  Drawdown trigger:
    bybit-exchange.github.io/docs/v5/market/adl-alert (:func:`levguard.core.rules.adl.bybit_adl_check`).
    """

    insurance_fund: float = 0.0
    adl: bool = True
    latency_steps: int = 0
    mark_lag_steps: int = 0
    oracle: Any = None
    max_rounds: int = 100
    vault_backstop: float = 0.0
    vault_capital: float = 0.0
    adl_drawdown: float = 0.0
    adl_drawdown_stop: float | None = None
    adl_drawdown_window_steps: int = 480
    adl_drawdown_min_fund: float = 0.0
    fee_to_fund: bool = True

    def __post_init__(self) -> None:
        _pos(self.insurance_fund, "venue.insurance_fund", allow_zero=True)
        if not isinstance(self.adl, bool):
            raise InputError(f"venue.adl must be true or false, was {self.adl!r}")
        _int(self.latency_steps, "venue.latency_steps")
        _int(self.mark_lag_steps, "venue.mark_lag_steps")
        _int(self.max_rounds, "venue.max_rounds", 1)
        _pos(self.vault_backstop, "venue.vault_backstop", allow_zero=True, upper=1.0)
        _pos(self.vault_capital, "venue.vault_capital", allow_zero=True)
        dd = _pos(self.adl_drawdown, "venue.adl_drawdown", allow_zero=True)
        if dd >= 1.0:
            raise InputError(f"venue.adl_drawdown must be a fraction < 1, was {self.adl_drawdown!r}")
        if self.adl_drawdown_stop is not None:
            stop = _pos(self.adl_drawdown_stop, "venue.adl_drawdown_stop", allow_zero=True)
            if stop > dd:
                raise InputError(
                    f"venue.adl_drawdown_stop must be <= adl_drawdown ({dd!r}), was {self.adl_drawdown_stop!r}"
                )
        _int(self.adl_drawdown_window_steps, "venue.adl_drawdown_window_steps", 1)
        _pos(self.adl_drawdown_min_fund, "venue.adl_drawdown_min_fund", allow_zero=True)
        if not isinstance(self.fee_to_fund, bool):
            raise InputError(f"venue.fee_to_fund must be true or false, was {self.fee_to_fund!r}")
        if isinstance(self.oracle, str | bytes | bool | int | float | np.number):
            # "x" was a NumPy ValueError in oracle_matrix, at the first simulation
            raise InputError(
                "venue.oracle must be None, a mapping {sources, corrupt, stale} or an array (T + 1, sources) "
                f"of multipliers, was {show(self.oracle)}"
            )

    def oracle_matrix(self, n_steps: int) -> FloatArray:
        """The oracle multipliers (T + 1, S)."""
        o = self.oracle
        if o is None:
            return np.ones((n_steps + 1, 1))
        if isinstance(o, Mapping):
            unknown = set(o) - {"sources", "corrupt", "stale"}
            if unknown:
                raise InputError(f"venue.oracle: unknown keys {sorted(unknown)}; use sources, corrupt, stale")
            s = _int(o.get("sources", 1), "venue.oracle.sources", 1)
            m = np.ones((n_steps + 1, s))
            for what in ("corrupt", "stale"):
                events = o.get(what, ()) or ()
                if not isinstance(events, list | tuple):
                    raise InputError(f"venue.oracle.{what} must be a list of mappings, was {show(events)}")
                for ev in events:
                    if not isinstance(ev, Mapping):
                        raise InputError(f"venue.oracle.{what} must be a list of mappings, held {show(ev)}")
                    src = _int(ev.get("source", 0), f"venue.oracle.{what}.source")
                    if src >= s:
                        raise InputError(f"venue.oracle.{what}.source must be < sources ({s}), was {src}")
                    t0 = _int(ev.get("from", 0), f"venue.oracle.{what}.from")
                    t1 = _int(ev.get("to", n_steps), f"venue.oracle.{what}.to")
                    if t1 < t0:  # a reversed interval did nothing, silently (an audit)
                        raise InputError(f"venue.oracle.{what}.to must be >= from, was {t1} < {t0}")
                    if t0 > n_steps:  # an interval after the path's end did nothing, silently
                        raise InputError(
                            f"venue.oracle.{what}.from must be <= the path's last step {n_steps}, was {t0}"
                        )
                    if what == "corrupt":
                        m[t0 : t1 + 1, src] = _pos(ev.get("factor", 1.0), "venue.oracle.corrupt.factor")
                    else:
                        m[t0 : t1 + 1, src] = np.nan
            return m
        try:
            arr = np.asarray(o, dtype=float)
        except (TypeError, ValueError, OverflowError):
            raise InputError(f"venue.oracle must be an array (T + 1, sources) of multipliers, was {show(o)}") from None
        if arr.ndim != 2 or arr.shape[0] != n_steps + 1 or arr.shape[1] < 1:
            raise InputError(f"venue.oracle must have shape ({n_steps + 1}, sources), had {arr.shape}")
        bad = ~(np.isnan(arr) | (np.isfinite(arr) & (arr > 0.0)))
        if bad.any():
            t, src = (int(i) for i in np.argwhere(bad)[0])
            raise InputError(
                f"venue.oracle[{t}, {src}] must be a multiplier > 0 (NaN: source missing), was {arr[t, src].item()!r}"
            )
        return arr


def kernel_config(
    market: Market, regime: MarginRegime, venue: VenueSettings, steps_per_year: float, naive: bool
) -> kc.CascadeConfig:
    """The kernel's :class:`~levguard.kernels.cascade_records.CascadeConfig` of these settings."""
    for name in ("vault_backstop", "adl_drawdown"):
        if getattr(venue, name):
            raise InputError(
                f"venue.{name} is a setting of the market simulator (simulate_market); the one-venue "
                f"simulator does not model it, was {getattr(venue, name)!r}"
            )
    if venue.fee_to_fund is not True:
        raise InputError(
            "venue.fee_to_fund is a setting of the market simulator (simulate_market); the one-venue "
            f"simulator books the liquidation fee to the fund, was {venue.fee_to_fund!r}"
        )
    mode, fraction = regime.partial_code()
    return kc.CascadeConfig(
        fund=float(venue.insurance_fund),
        liq_fee=float(regime.liquidation_fee),
        partial_mode=mode,
        partial=fraction,
        partial_min=float(regime.partial_min_notional),
        step_from=int(regime.step_from),
        step_to=int(regime.step_to),
        step_mode=STEP_MODES.index(regime.step_mode),
        impact_model=int(kc.ImpactModel.LINEAR if market.impact == "linear" else kc.ImpactModel.SQRT),
        depth=float(market.depth),
        impact_coef=float(market.impact_coef),
        sigma_daily=float(market.sigma_daily),
        half_life=float(market.half_life_steps),
        latency=int(venue.latency_steps),
        adl=bool(venue.adl),
        max_rounds=int(venue.max_rounds),
        mark_lag=int(venue.mark_lag_steps),
        naive=bool(naive),
        dynamic=regime.kind == "dynamic",
        dyn_base_vol=float(regime.base_vol),
        dyn_window=int(regime.window_steps),
        dyn_every=int(regime.every_steps),
        dyn_min=float(regime.min_scale),
        dyn_max=float(regime.max_scale),
        steps_per_year=float(steps_per_year),
        outcome=int(kl.TAKEOVER if regime.outcome == "takeover" else kl.BOOK),
        backstop=float(regime.backstop),
    )


def kernel_accounts(pop: Population) -> kc.Accounts:
    """The kernel's :class:`~levguard.kernels.cascade_records.Accounts` of a population."""
    if not isinstance(pop, Population):
        raise InputError(f"population must be a levguard.cascade.Population, was {type(pop).__name__}")
    return kc.Accounts(
        *(readonly(np.ascontiguousarray(a, dtype=np.float64)) for a in (pop.side, pop.qty, pop.entry_price, pop.margin))
    )


def kernel_tiers(regime: MarginRegime) -> kc.Tiers:
    """The kernel's :class:`~levguard.kernels.cascade_records.Tiers` of a regime."""
    rows = regime.tier_rows()
    caps, mmrs, cums = (np.ascontiguousarray(rows[:, j], dtype=np.float64) for j in range(3))
    return kc.Tiers(caps, mmrs, cums, regime.by_size)
