"""Historical crash replay (issue 20): a named window of real 1-minute paths through the v2 simulator.

:func:`run_replay` takes a :class:`~levguard.cascade.replay_config.ReplayConfig` (from
:func:`~levguard.cascade.replay_config.load_replay_config`) and, for every asset, builds

* the exogenous path from the asset's own 1-minute klines, ``step_seconds`` steps a bar through
  each bar's open, high, low and close (:func:`~levguard.cascade.replay_data.intrabar_path`);
* a population scaled by the asset's open interest (given, or ``oi_to_daily_volume`` x its own
  daily quote volume), with asset-free leverage, side and size distributions and entries spread
  by the asset's own volatility;
* the venue: maintenance half the initial margin at the asset's maximum leverage (Hyperliquid),
  its liquidation and ADL rule, a square-root-impact book whose depth and volatility come from
  the asset's own volume and ranges, the mark lag and fund of :class:`ReplayParams`;

runs :func:`levguard.cascade.market.simulate_market` on it, and reports per venue and asset the
liquidated and ADL notional, bad debt, the insurance fund path, the first liquidation and first
ADL times and the peak-to-trough, beside the venue's observed figures where the config has them.
Each asset runs on its own (its own fund), so an asset's figures do not depend on which other
assets the config lists.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from levguard.cascade.market import MarketResult, simulate_market
from levguard.cascade.market_settings import MarketPopulation, MarketSpec, MarketVenue
from levguard.cascade.replay_config import ReplayAsset, ReplayConfig, ReplayParams, load_replay_config
from levguard.cascade.replay_data import NS_PER_SECOND, AssetMarket, load_asset_market
from levguard.cascade.settings import MarginRegime, Market, VenueSettings
from levguard.core.validate import instance_of, show
from levguard.errors import InputError

__all__ = [
    "AssetReplay",
    "ReplayResult",
    "load_markets",
    "load_replay_config",
    "replay_asset",
    "replay_population",
    "replay_venue",
    "run_replay",
]

FloatArray = npt.NDArray[np.float64]


def _iso(ns: int | None) -> str | None:
    if ns is None:
        return None
    return pd.Timestamp(ns, tz="UTC").isoformat().replace("+00:00", "Z")


def _rng(seed: int, asset: str) -> np.random.Generator:
    # One stream per (seed, asset name): an asset's draw does not depend on the other assets.
    return np.random.default_rng([seed, zlib.crc32(asset.encode("utf-8"))])


def maintenance_rate(max_leverage: float) -> float:
    """Return the maintenance margin rate: half the initial margin at the maximum leverage.

    Notes
    -----
    ``mmr = 1 / (2 x max_leverage)``: Hyperliquid, *Liquidations* (hyperliquid.gitbook.io): "the
    maintenance margin is half of the initial margin at max leverage" (BTC 40x: 1.25 %).
    """
    if isinstance(max_leverage, bool) or not isinstance(max_leverage, int | float) or not max_leverage >= 1.0:
        raise InputError(f"max_leverage must be a number >= 1, was {max_leverage!r}")
    return 0.5 / float(max_leverage)


def open_interest(market: AssetMarket, asset: ReplayAsset, params: ReplayParams) -> float:
    """Return the open interest (one side, quote) of an asset: given, or ``oi_to_daily_volume`` x daily volume."""
    if asset.open_interest_usd is not None:
        return float(asset.open_interest_usd)
    return params.oi_to_daily_volume * market.daily_volume


def replay_population(
    market: AssetMarket, asset: ReplayAsset, params: ReplayParams, seed: int
) -> tuple[MarketPopulation, float]:
    """Draw the accounts of one asset at the window's start; return them and the open interest.

    Notes
    -----
    ``n_accounts`` accounts, long with probability ``long_share``; sizes lognormal with dispersion
    ``notional_sigma``, rescaled so that the gross notional at entry is twice the open interest
    (both sides); leverage ``exp(N(ln leverage_median, leverage_sigma))`` clipped to
    ``[1, max_leverage]``, wallet = notional / leverage; entries ``s0 exp(N(0, sigma_daily
    sqrt(entry_horizon_days)))``.  Survivors only, as in
    :func:`levguard.cascade.market_population.random_market_population`: a wallet below
    ``1.05 (mmr |q| s0 - uPnL)`` is raised to it, so no account is liquidatable at the start.
    """
    p = params
    rng = _rng(seed, asset.name)
    n = p.n_accounts
    s0 = market.start_price
    oi = open_interest(market, asset, p)
    mmr = maintenance_rate(asset.max_leverage)
    side = np.where(rng.random(n) < p.long_share, 1.0, -1.0)
    spread = market.sigma_daily * math.sqrt(p.entry_horizon_days)
    entry = s0 * np.exp(rng.normal(0.0, spread, n))
    size = np.exp(rng.normal(0.0, p.notional_sigma, n))
    size *= 2.0 * oi / float(size.sum())
    lev = np.clip(np.exp(rng.normal(math.log(p.leverage_median), p.leverage_sigma, n)), 1.0, asset.max_leverage)
    qty = side * size / entry
    wallet = size / lev
    need = 1.05 * (mmr * np.abs(qty) * s0 - qty * (s0 - entry))
    wallet = np.maximum(wallet, need)
    pop = MarketPopulation(np.zeros(n, dtype=np.int64), wallet, qty[:, None], entry[:, None])
    return pop, oi


def replay_venue(
    market: AssetMarket, asset: ReplayAsset, params: ReplayParams, config: ReplayConfig, oi: float
) -> MarketVenue:
    """The venue of one asset: liquidation rule, maintenance, book, fund, mark lag and latency.

    Notes
    -----
    Book: the square-root law ``dP/P = Y sigma_daily sqrt(|X| / V)`` (Almgren et al. 2005; Tóth
    et al. 2011) with ``V = volume_share x`` the asset's daily quote volume and ``sigma_daily``
    its range volatility (:func:`~levguard.cascade.replay_data.range_sigma`), decaying with
    ``half_life_seconds`` (Obizhaeva and Wang 2013).  With ``depth_collapse`` the depth is
    scaled every step by :meth:`AssetMarket.depth_multiplier`, ``m_t = clip((V_t / V_0)
    (sigma_0 / sigma_t)^2, depth_floor, 1)`` from the trailing ``depth_window_minutes`` bars,
    which turns the book's impact scale into ``sigma_t / sqrt(V_t)`` (Bouchaud et al. 2018,
    ch. 12; Tóth et al. 2011); without it the multiplier is 1.  Liquidation rule and ADL ranking: the
    venue's (:meth:`MarginRegime.for_venue`, :mod:`levguard.core.rules.adl`); maintenance
    :func:`maintenance_rate`; ``backstop`` and the fund ``fund_to_oi x OI`` from ``params``.
    """
    p = params
    step = config.step_seconds
    regime = MarginRegime.for_venue(config.adl_rule, mmr=maintenance_rate(asset.max_leverage), backstop=p.backstop)
    book = Market(
        depth=p.volume_share * market.daily_volume,
        impact="sqrt",
        impact_coef=p.impact_coef,
        sigma_daily=market.sigma_daily,
        half_life_steps=p.half_life_seconds / step,
        depth_multiplier=(
            market.depth_multiplier(config.steps_per_bar, p.depth_window_minutes, p.depth_floor)
            if p.depth_collapse
            else None
        ),
    )
    settings = VenueSettings(
        insurance_fund=p.fund_to_oi * oi,
        latency_steps=round(p.latency_seconds / step),
        mark_lag_steps=round(p.mark_lag_seconds / step),
    )
    return MarketVenue(config.venue_name, book, regime, settings=settings, adl_rule=config.adl_rule)


@dataclass(frozen=True)
class AssetReplay:
    """The replay of one asset: its figures (:attr:`row`) and per-step paths (:attr:`steps`)."""

    asset: str
    row: dict[str, Any]
    steps: pd.DataFrame
    result: MarketResult = field(repr=False)


def _ratio(model: float, observed: float | None) -> float | None:
    if observed is None or not observed > 0.0:
        return None
    return model / observed


def replay_asset(config: ReplayConfig, asset: ReplayAsset, market: AssetMarket) -> AssetReplay:
    """Run the replay of one asset (its data already loaded)."""
    p = config.params
    pop, oi = replay_population(market, asset, p, config.seed)
    venue = replay_venue(market, asset, p, config, oi)
    spec = MarketSpec([asset.name], [venue])
    path = market.path(config.steps_per_bar)
    res = simulate_market(pop, path, spec)
    step_ns = config.step_seconds * NS_PER_SECOND
    book = res.books.iloc[0]
    ven = res.venues.iloc[0]
    first_liq = int(book["first_liquidation_step"])
    first_adl = int(book["first_adl_step"])
    liq_ns = market.start_ns + first_liq * step_ns if first_liq >= 0 else None
    adl_ns = market.start_ns + first_adl * step_ns if first_adl >= 0 else None
    delay = (first_adl - first_liq) * config.step_seconds if first_liq >= 0 and first_adl >= 0 else None
    liq = float(book["liquidated_notional"])
    adl = float(book["adl_notional"])
    exo_peak = np.maximum.accumulate(path)
    obs = asset.observed
    row: dict[str, Any] = {
        "venue": config.venue_name,
        "asset": asset.name,
        "start_price": market.start_price,
        "open_interest": oi,
        "daily_volume": market.daily_volume,
        "sigma_daily": market.sigma_daily,
        "lookback_bars": market.lookback_bars,
        "maintenance_rate": maintenance_rate(asset.max_leverage),
        "accounts": pop.n,
        # Accounts whose final status is liquidated, as venue_outcomes counts them (the kernel's
        # summary count, which counts an ADL counterparty liquidated later too); ADL counterparties, closed
        # at a profit, are accounts_deleveraged: the ever-deleveraged flag.
        "accounts_liquidated": int((res.accounts["status"] == "liquidated").sum()),
        "accounts_deleveraged": int(np.count_nonzero(res.out.accounts.deleveraged)),
        "liquidated_notional": liq,
        "adl_notional": adl,
        "liquidated_incl_adl": liq + adl,
        "bad_debt": float(book["bad_debt"]),
        "fund_start": float(ven["fund_start"]),
        "fund_min": float(ven["fund_min"]),
        "fund_end": float(ven["fund_end"]),
        "first_liquidation": _iso(liq_ns),
        "first_adl": _iso(adl_ns),
        "first_adl_delay_seconds": delay,
        "peak_to_trough": float(book["peak_to_trough"]),
        "exogenous_peak_to_trough": float(np.max(1.0 - path / exo_peak)),
        "observed_liquidated_notional": obs.liquidated_notional,
        "observed_adl_notional": obs.adl_notional,
        "observed_first_adl_delay_seconds": obs.first_adl_delay_seconds,
        "ratio_liquidated": _ratio(liq + adl, obs.liquidated_notional),
        "ratio_adl": _ratio(adl, obs.adl_notional),
        "observed_source": obs.source,
    }
    st = res.book_steps(0, 0)
    times = pd.DatetimeIndex(pd.to_datetime(market.start_ns + np.arange(len(st)) * step_ns, utc=True), name="time")
    steps = pd.DataFrame(
        {
            "exogenous": st["exogenous"].to_numpy(),
            "price": st["price"].to_numpy(),
            "mark": st["mark"].to_numpy(),
            "liquidated_notional": st["liquidated_notional"].to_numpy(),
            "adl_notional": st["adl_notional"].to_numpy(),
            "insurance_fund": st["insurance_fund"].to_numpy(),
            "bad_debt": st["bad_debt"].to_numpy(),
            "depth_multiplier": res.spec.venues[0].book(0).multiplier(len(st) - 1),
        },
        index=times,
    )
    return AssetReplay(asset.name, row, steps, res)


@dataclass(frozen=True)
class ReplayResult:
    """The replay of every asset of a config.

    Attributes
    ----------
    config : ReplayConfig
    assets : tuple of AssetReplay
    table : DataFrame
        One row per (venue, asset): the model's figures, the observed ones and their ratios
        (:meth:`AssetReplay.row`).
    """

    config: ReplayConfig
    assets: tuple[AssetReplay, ...]

    @property
    def table(self) -> pd.DataFrame:
        """One row per (venue, asset)."""
        return pd.DataFrame([a.row for a in self.assets])

    def fund_paths(self) -> pd.DataFrame:
        """The insurance fund per step (UTC index), one column per asset."""
        return pd.DataFrame({a.asset: a.steps["insurance_fund"] for a in self.assets})

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict: window, parameters, one row per (venue, asset) and the fund paths."""

        def clean(v: Any) -> Any:
            if isinstance(v, float | np.floating):
                return float(v) if math.isfinite(float(v)) else None
            if isinstance(v, np.integer):
                return int(v)
            return v

        cfg = self.config
        return {
            "name": cfg.name,
            "window": {"start": cfg.start, "end": cfg.end, "step_seconds": cfg.step_seconds},
            "seed": cfg.seed,
            "venue": {"name": cfg.venue_name, "rule": cfg.adl_rule},
            "params": cfg.params.to_dict(),
            "assets": [{k: clean(v) for k, v in a.row.items()} for a in self.assets],
            "insurance_fund": {
                a.asset: {
                    "time": [_iso(int(t)) for t in pd.DatetimeIndex(a.steps.index).asi8],
                    "fund": [float(x) for x in a.steps["insurance_fund"]],
                }
                for a in self.assets
            },
        }


def load_markets(config: ReplayConfig) -> dict[str, AssetMarket]:
    """Load every asset's klines for the config's window (see :func:`load_asset_market`)."""
    return {
        a.name: load_asset_market(a.name, a.klines, config.start, config.end, config.lookback_minutes)
        for a in config.assets
    }


def run_replay(config: ReplayConfig, markets: dict[str, AssetMarket] | None = None) -> ReplayResult:
    """Replay the config's window for every asset.

    Parameters
    ----------
    config : ReplayConfig
        From :func:`load_replay_config` or :func:`~levguard.cascade.replay_config.config_from_dict`.
    markets : dict, optional
        The loaded data (:func:`load_markets`), to reuse across runs (calibration).

    Raises
    ------
    InputError
        Not a config, or ``markets`` not a dict of :class:`AssetMarket` for every asset.
    DataError
        A klines file is missing or does not cover the window.
    """
    if not isinstance(config, ReplayConfig):
        raise InputError(f"config must be a ReplayConfig, was {type(config).__name__}")
    if markets is not None and not isinstance(markets, Mapping):  # `name in object()` was a TypeError
        raise InputError(f"markets must be a dict of asset name to loaded data (load_markets), was {show(markets)}")
    data = load_markets(config) if markets is None else markets
    missing = [a.name for a in config.assets if a.name not in data]
    if missing:
        raise InputError(f"markets has no data for asset(s) {missing}")
    for a in config.assets:  # a str there was an AttributeError deep in the run
        instance_of(data[a.name], AssetMarket, f"markets[{a.name!r}]")
    return ReplayResult(config, tuple(replay_asset(config, a, data[a.name]) for a in config.assets))
