"""Seeded synthetic crypto-perpetual markets calibrated to BTC: the embedded default data.

:func:`synth_market` returns last-price OHLCV bars, mark-price bars, 8-hourly funding prints and
the hidden regime path of one synthetic perpetual.  The same configuration and seed give the
same frames on every run and machine (for a given NumPy version: the variates come from
``numpy.random.Generator(PCG64)``).

Model (details and sources in :mod:`levguard.kernels.synth` and in :class:`SynthParams`):

* a three-state hourly Markov chain (bull / normal / stress) sets the volatility level, drift,
  jump intensity, volume level and funding premium;
* within a regime a GARCH(1,1) factor with Student-t shocks clusters volatility;
* double-exponential (Kou) jumps add gaps; named-crash profiles (:mod:`levguard.data.crashes`)
  are injected with their measured depth, speed, wick, rebound, volume and funding;
* bar highs and lows are draws of the Brownian-bridge extremes given open and close;
* volume is lognormal and rises with the regime and the size of the move;
* the mark price is the last price times ``1 + basis`` with an AR(1) basis;
* funding follows Binance's formula applied to an AR(1) premium index with regime-dependent mean
  and spikes.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from levguard.core.validate import instance_of, short_name, show
from levguard.data.crashes import NAMED_CRASHES, CrashProfile
from levguard.data.frames import interval_to_ns, make_funding_frame, make_ohlcv_frame, timestamp_ns
from levguard.errors import DataError, InputError
from levguard.kernels.synth import N_REGIMES, funding_path_nb, market_path_nb, regime_chain_nb
from levguard.typing import Float64Array1D, Int64Array1D

__all__ = [
    "BTC_PARAMS",
    "MAX_SYNTH_BARS",
    "REGIME_NAMES",
    "SynthConfig",
    "SynthMarket",
    "SynthParams",
    "crash_frame",
    "synth_market",
]

REGIME_NAMES: tuple[str, ...] = ("bull", "normal", "stress")
"""Names of regimes 0, 1, 2."""

_HOUR_NS = 3_600 * 1_000_000_000
_DAY_NS = 24 * _HOUR_NS
_YEAR_NS = 365 * _DAY_NS
_INT64_MAX = 2**63 - 1
_MAX_START_PRICE = 1e12
_HOURS_PER_YEAR = 8_760.0

Triple = tuple[float, float, float]


MAX_SYNTH_BARS = 10_000_000
"""Most bars a synthetic market may have (:meth:`SynthConfig.n_bars`, Notes)."""


def _check(name: str, ok: bool, value: object, rule: str) -> None:
    # "<field> <rule>, was <value>" (the house style: "leverage must be > 0, was 0").
    if not ok:
        raise InputError(f"{name} {rule}, was {show(value)}")


def _finite(x: object) -> bool:
    if not isinstance(x, numbers.Real) or isinstance(x, bool):
        return False
    try:
        return math.isfinite(float(x))
    except OverflowError:  # an int beyond float64's range
        return False


def _in(x: object, lo: float, hi: float, *, lo_open: bool = False, hi_open: bool = False) -> bool:
    # Finite and inside [lo, hi], with open ends on request.
    if not _finite(x):
        return False
    v = float(x)  # type: ignore[arg-type]
    return (v > lo if lo_open else v >= lo) and (v < hi if hi_open else v <= hi)


def _triple(name: str, value: object, lo: float, hi: float) -> None:
    ok = isinstance(value, tuple) and len(value) == N_REGIMES and all(_finite(v) and lo <= v <= hi for v in value)
    if not ok:
        raise InputError(f"{name} must be {N_REGIMES} numbers in [{lo}, {hi}] (bull, normal, stress), was {value!r}")


@dataclass(frozen=True, slots=True)
class SynthParams:
    """Model parameters; the defaults (:data:`BTC_PARAMS`) are calibrated to BTC.

    Per-regime tuples are ``(bull, normal, stress)``.  Rates are fractions; volatilities and
    drifts are annualised over 365-day years (8,760 hours).

    Attributes
    ----------
    vol_ann : (3,) float
        Annualised volatility of the diffusive part at unit GARCH factor.
    drift_ann : (3,) float
        Annualised log drift.
    duration_days : (3,) float
        Expected time spent in a regime before leaving it.
    exit_to : ((3,), (3,), (3,)) float
        Where a regime goes when it leaves: row ``i`` gives the probabilities of moving to each
        regime (the diagonal entry is ignored; the others are normalised).
    garch_alpha, garch_beta : float
        GARCH(1,1) coefficients of the unit-mean variance factor (hourly clock).
    t_dof : float
        Degrees of freedom of the Student-t shocks (> 4 so the kurtosis is finite).
    crash_garch_floor : float
        The GARCH factor is raised to at least this at a crash trough.
    jumps_per_year : (3,) float
        Jump intensity.
    jump_p_down, jump_mean_down, jump_mean_up : float
        Probability of a down jump and mean log sizes of down and up jumps (Kou 2002).
    volume_per_hour : float
        Mean hourly volume in base units in the normal regime at the average move size.
    volume_level : (3,) float
        Log-volume offset per regime.
    volume_abs_loading : float
        Loading of log volume on the standardised absolute return.
    volume_sigma : float
        Lognormal noise of volume.
    basis_sd, basis_ar1_hourly : float
        Stationary standard deviation and hourly AR(1) coefficient of the basis ``mark / last - 1``.
    mark_excursion : float
        Share of the last price's intrabar excursions that the mark price shows.
    funding_interval_hours : int
        Hours between funding prints (prints at multiples of it since 00:00 UTC); each print pays
        the 8-hour rate times ``interval / 8``.
    funding_mean, funding_sigma, funding_spike_prob, funding_spike_size : (3,) float
        Premium index per regime: mean, innovation scale, spike probability per print and
        signed mean spike size.
    funding_ar1 : float
        AR(1) coefficient of the premium per print.
    funding_return_beta : float
        Premium added per unit log return over the funding interval.
    funding_interest, funding_clamp, funding_cap : float
        Binance's interest rate (0.01 % per 8 h), premium clamp (0.05 %) and the funding cap.
    crashes_per_year : float
        Crash events per year of data (``round(rate * years)`` crashes are injected).
    crash_stress_days : float
        Days the stress regime is imposed after a crash trough.

    Notes
    -----
    Calibration targets (Binance USDⓈ-M BTCUSDT perpetual, 2019-09-10 to 2026-05-17, 1h
    klines and funding prints from the shared reference data; see ``docs/data.md``):
    annualised volatility of hourly log returns 62 % overall (43-86 % by calendar year), daily
    excess kurtosis 27 (1.6-57 by year), autocorrelation of squared hourly returns 0.17 at lag 1
    falling to 0.08 at lag 10 and 0.02 at lag 24, correlation of log volume with ``|r|`` 0.49, funding mean
    0.0108 % per 8 h with 36 % of prints exactly 0.01 % and 15 % negative, funding AR(1) 0.80,
    basis ``mark / last - 1`` standard deviation 0.033 % with hourly AR(1) 0.53.  The crash rate is
    the six named crashes of :data:`levguard.data.crashes.NAMED_CRASHES` over the 6.7 years.

    The funding cap of +-0.3 % per 8 h is what BTCUSDT's prints show (both bounds were printed
    in March 2020); Binance caps the rate at a multiple of the first bracket's maintenance
    margin rate (0.75 x 0.4 % = 0.3 %) and publishes per-symbol caps (``GET /fapi/v1/fundingInfo``).
    """

    vol_ann: Triple = (0.40, 0.62, 1.10)
    drift_ann: Triple = (1.20, 0.30, -1.00)
    duration_days: Triple = (60.0, 45.0, 8.0)
    exit_to: tuple[Triple, Triple, Triple] = ((0.0, 0.85, 0.15), (0.55, 0.0, 0.45), (0.25, 0.75, 0.0))
    garch_alpha: float = 0.07
    garch_beta: float = 0.90
    t_dof: float = 5.0
    crash_garch_floor: float = 3.0
    jumps_per_year: Triple = (4.0, 10.0, 40.0)
    jump_p_down: float = 0.6
    jump_mean_down: float = 0.025
    jump_mean_up: float = 0.02
    volume_per_hour: float = 10_000.0
    volume_level: Triple = (-0.35, 0.0, 0.7)
    volume_abs_loading: float = 0.35
    volume_sigma: float = 0.6
    basis_sd: float = 3.3e-4
    basis_ar1_hourly: float = 0.53
    mark_excursion: float = 0.9
    funding_interval_hours: int = 8
    funding_mean: Triple = (0.0005, -0.0004, -0.0006)
    funding_sigma: Triple = (0.00008, 0.00006, 0.0001)
    funding_spike_prob: Triple = (0.05, 0.01, 0.05)
    funding_spike_size: Triple = (0.0008, 0.0003, -0.0006)
    funding_ar1: float = 0.8
    funding_return_beta: float = 0.003
    funding_interest: float = 0.0001
    funding_clamp: float = 0.0005
    funding_cap: float = 0.003
    crashes_per_year: float = 0.9
    crash_stress_days: float = 7.0

    def __post_init__(self) -> None:
        _triple("vol_ann", self.vol_ann, 1e-4, 10.0)
        _triple("drift_ann", self.drift_ann, -10.0, 10.0)
        _triple("duration_days", self.duration_days, 1.0 / 24.0, 1e5)
        rows_ok = isinstance(self.exit_to, tuple) and len(self.exit_to) == N_REGIMES
        if rows_ok:
            for i, row in enumerate(self.exit_to):
                _triple(f"exit_to[{i}]", row, 0.0, 1.0)
                if sum(v for j, v in enumerate(row) if j != i) <= 0.0:
                    rows_ok = False
        _check("exit_to", rows_ok, self.exit_to, "must be 3 rows, each with an exit probability > 0")
        _check("garch_alpha", _in(self.garch_alpha, 0.0, 1.0), self.garch_alpha, "must be in [0, 1]")
        _check("garch_beta", _in(self.garch_beta, 0.0, 1.0), self.garch_beta, "must be in [0, 1]")
        ab = self.garch_alpha + self.garch_beta
        _check("garch_alpha + garch_beta", ab < 1.0, ab, "must be < 1 (stationary variance)")
        _check("t_dof", _in(self.t_dof, 4.0, 1e6, lo_open=True), self.t_dof, "must be > 4 (finite kurtosis)")
        _check(
            "crash_garch_floor",
            _in(self.crash_garch_floor, 0.0, 1e3, lo_open=True),
            self.crash_garch_floor,
            "must be > 0",
        )
        _triple("jumps_per_year", self.jumps_per_year, 0.0, 8_760.0)
        _check("jump_p_down", _in(self.jump_p_down, 0.0, 1.0), self.jump_p_down, "must be in [0, 1]")
        _check(
            "jump_mean_down",
            _in(self.jump_mean_down, 0.0, 1.0, lo_open=True, hi_open=True),
            self.jump_mean_down,
            "must be in (0, 1)",
        )
        _check(
            "jump_mean_up",
            _in(self.jump_mean_up, 0.0, 1.0, lo_open=True, hi_open=True),
            self.jump_mean_up,
            "must be in (0, 1)",
        )
        for name in ("volume_per_hour", "volume_sigma", "basis_sd"):
            value = getattr(self, name)
            _check(name, _in(value, 0.0, math.inf, lo_open=True, hi_open=True), value, "must be > 0 and finite")
        _triple("volume_level", self.volume_level, -10.0, 10.0)
        _check(
            "volume_abs_loading",
            _in(self.volume_abs_loading, -10.0, 10.0),
            self.volume_abs_loading,
            "must be in [-10, 10]",
        )
        _check(
            "basis_ar1_hourly",
            _in(self.basis_ar1_hourly, 0.0, 1.0, hi_open=True),
            self.basis_ar1_hourly,
            "must be in [0, 1)",
        )
        _check("mark_excursion", _in(self.mark_excursion, 0.0, 1.0), self.mark_excursion, "must be in [0, 1]")
        fi = self.funding_interval_hours
        ok = isinstance(fi, int) and not isinstance(fi, bool) and 1 <= fi <= 24 and 24 % fi == 0
        _check("funding_interval_hours", ok, fi, "must be a whole number of hours dividing 24")
        _triple("funding_mean", self.funding_mean, -0.1, 0.1)
        _triple("funding_sigma", self.funding_sigma, 0.0, 0.1)
        _triple("funding_spike_prob", self.funding_spike_prob, 0.0, 1.0)
        _triple("funding_spike_size", self.funding_spike_size, -0.1, 0.1)
        _check("funding_ar1", _in(self.funding_ar1, 0.0, 1.0, hi_open=True), self.funding_ar1, "must be in [0, 1)")
        _check(
            "funding_return_beta",
            _in(self.funding_return_beta, -1.0, 1.0),
            self.funding_return_beta,
            "must be in [-1, 1]",
        )
        _check(
            "funding_interest", _in(self.funding_interest, -0.1, 0.1), self.funding_interest, "must be in [-0.1, 0.1]"
        )
        _check("funding_clamp", _in(self.funding_clamp, 0.0, 0.1), self.funding_clamp, "must be in [0, 0.1]")
        _check("funding_cap", _in(self.funding_cap, 0.0, 0.1, lo_open=True), self.funding_cap, "must be in (0, 0.1]")
        _check("crashes_per_year", _in(self.crashes_per_year, 0.0, 52.0), self.crashes_per_year, "must be in [0, 52]")
        _check(
            "crash_stress_days", _in(self.crash_stress_days, 0.0, 365.0), self.crash_stress_days, "must be in [0, 365]"
        )

    def transition_matrix(self) -> np.ndarray:
        """Return the hourly transition matrix ``P[i, j]`` of the regime chain.

        Notes
        -----
        Leaving regime ``i`` has probability ``1 / (24 * duration_days[i])`` per hour (geometric
        durations with that mean); the exit goes to ``j != i`` in proportion to ``exit_to[i][j]``.
        """
        p = np.zeros((N_REGIMES, N_REGIMES))
        for i in range(N_REGIMES):
            leave = 1.0 / (24.0 * self.duration_days[i])
            leave = min(leave, 1.0)
            others = sum(v for j, v in enumerate(self.exit_to[i]) if j != i)
            for j in range(N_REGIMES):
                p[i, j] = (1.0 - leave) if i == j else leave * self.exit_to[i][j] / others
        return p

    def stationary(self) -> np.ndarray:
        """Return the stationary distribution of the regime chain (left eigenvector for 1)."""
        p = self.transition_matrix()
        w, v = np.linalg.eig(p.T)
        pi = np.real(v[:, int(np.argmin(np.abs(w - 1.0)))])
        out: np.ndarray = pi / pi.sum()
        return out


BTC_PARAMS = SynthParams()
"""The BTC calibration (see :class:`SynthParams`, Notes)."""


def _parse_start(start: object) -> pd.Timestamp:
    if isinstance(start, datetime) and not isinstance(start, pd.Timestamp) and start.tzinfo is None:
        raise InputError(f"start must be timezone-aware (naive datetimes are ambiguous), was {start!r}")
    try:
        ts = pd.Timestamp(start)  # type: ignore[arg-type]
    except (TypeError, ValueError) as exc:
        raise InputError(f"start must be a date or timestamp such as 2021-01-01, was {start!r}") from exc
    if not isinstance(ts, pd.Timestamp) or pd.isna(ts):
        raise InputError(f"start must be a date or timestamp such as 2021-01-01, was {start!r}")
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


@dataclass(frozen=True, slots=True)
class SynthConfig:
    """What to generate: symbol, span, bar interval, seed, start, start price and model.

    Attributes
    ----------
    symbol : str
        Symbol written into the frames' attrs: a non-empty string of at most 100 printable
        characters (:func:`levguard.core.validate.short_name`).
    years : float
        Length in 365-day years (> 0, at most 100).
    interval : str
        Bar interval from ``1m`` to ``1d``; it must divide one hour (``1m``, ``5m``, ``15m``,
        ``30m``, ...) or be a whole number of hours (``1h``, ``4h``, ``1d``).
    seed : int
        Seed of the random streams (a non-negative integer).
    start : str or datetime
        Open time of the first bar, UTC (strings without a zone are read as UTC; naive datetime
        objects are refused); it must lie on the interval's grid, and the last bar must close by
        2262-04-11 (the end of int64 nanoseconds).
    start_price : float
        Open of the first bar (> 0, at most 1e12, so a century of paths stays finite).
    params : SynthParams
        Model parameters (default :data:`BTC_PARAMS`).
    crashes : tuple of CrashProfile
        Crash profiles to inject, used in a seeded order; empty for none.
    """

    symbol: str = "BTC-SYNTH"
    years: float = 3.0
    interval: str = "1h"
    seed: int = 7
    start: str | datetime = "2021-01-01"
    start_price: float = 30_000.0
    params: SynthParams = BTC_PARAMS
    crashes: tuple[CrashProfile, ...] = NAMED_CRASHES

    def __post_init__(self) -> None:
        short_name(self.symbol, "symbol")  # one printable line: it goes into every frame's attrs and messages
        _check("years", _in(self.years, 0.0, 100.0, lo_open=True), self.years, "must be > 0 and <= 100")
        ok = isinstance(self.seed, numbers.Integral) and not isinstance(self.seed, bool) and int(self.seed) >= 0
        _check("seed", ok, self.seed, "must be an integer >= 0")
        _check(
            "start_price",
            _in(self.start_price, 0.0, _MAX_START_PRICE, lo_open=True),
            self.start_price,
            f"must be > 0 and at most {_MAX_START_PRICE:g}",
        )
        _check("params", isinstance(self.params, SynthParams), self.params, "must be a SynthParams")
        ok = isinstance(self.crashes, tuple) and all(isinstance(c, CrashProfile) for c in self.crashes)
        _check("crashes", ok, self.crashes, "must be a tuple of CrashProfile")
        end = self.start_ns() + self.n_bars() * self.interval_ns()
        if end > _INT64_MAX:
            raise InputError(
                f"start {self.start!r} plus years={self.years!r} runs past 2262-04-11, the last time "
                "int64 nanoseconds hold; start earlier or generate fewer years"
            )

    def interval_ns(self) -> int:
        """Return the bar length in nanoseconds; raise InputError for unsupported intervals."""
        try:
            ns = interval_to_ns(self.interval)
        except DataError as exc:
            raise InputError(f"interval {exc}") from None
        if ns < 60 * 1_000_000_000 or ns > _DAY_NS or (_HOUR_NS % ns != 0 and ns % _HOUR_NS != 0):
            raise InputError(
                f"interval must be from 1m to 1d and divide one hour or be whole hours, was {self.interval!r}"
            )
        return ns

    def start_ns(self) -> int:
        """Return the start as int64 nanoseconds since the epoch (UTC), checked against the grid."""
        ns = timestamp_ns(_parse_start(self.start), "start")
        if ns % self.interval_ns() != 0:
            raise InputError(f"start must lie on the {self.interval} grid (e.g. 2021-01-01T00:00Z), was {self.start!r}")
        return ns

    def n_bars(self) -> int:
        """Return the number of bars: ``round(years * 365 days / interval)``, at least 1.

        Notes
        -----
        At most :data:`MAX_SYNTH_BARS` (10 million: 19 years of 1-minute bars, 95 of 5-minute
        ones, any 100 years from 15 minutes): the market takes about 200 bytes a bar (measured: 160 MB for 0.79 million
        bars), 2 GB at the cap, and a backtest of it as much again. 100 years of 1-minute bars
        (52.6 million, accepted before) grew past 10 GB of memory in a backtest.
        """
        n = max(1, round(self.years * _YEAR_NS / self.interval_ns()))
        if n > MAX_SYNTH_BARS:
            raise InputError(
                f"years x interval gives {n:,} bars (about {n * 200 / 2**30:,.1f} GiB); at most {MAX_SYNTH_BARS:,} "
                "(fewer years or a longer interval)"
            )
        return n

    def replace(self, **changes: Any) -> SynthConfig:
        """Return a copy with ``changes`` applied (and validated)."""
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True, slots=True, eq=False)
class SynthMarket:
    """A generated market.

    Attributes
    ----------
    ohlcv : DataFrame
        Last-price bars (``attrs["kind"] == "ohlcv"``), volume in base units.
    mark : DataFrame
        Mark-price bars (``kind == "mark"``, volume 0 as in Binance's mark klines).
    funding : DataFrame
        Funding prints (``kind == "funding"``), fraction per interval, positive = longs pay.
    regime : Series
        Regime (0 bull, 1 normal, 2 stress) in force at each bar's open, int8, same index as
        ``ohlcv``.
    crashes : DataFrame
        The injected crashes: ``name``, ``start`` (first hour of the fall), ``trough`` (open of
        the trough hour), ``depth``, ``speed_hours``, ``funding_min``.
    config : SynthConfig
        The configuration that produced it.
    """

    ohlcv: pd.DataFrame
    mark: pd.DataFrame
    funding: pd.DataFrame
    regime: pd.Series
    crashes: pd.DataFrame
    config: SynthConfig


def _streams(seed: int) -> list[np.random.Generator]:
    # Independent streams per component (SeedSequence.spawn), so that changing how many numbers
    # one component draws leaves the others unchanged.
    return [np.random.Generator(np.random.PCG64(s)) for s in np.random.SeedSequence(seed).spawn(5)]


def _place_crashes(
    cfg: SynthConfig, n_hours: int, hour0: int, rng: np.random.Generator
) -> tuple[Int64Array1D, np.ndarray, list[CrashProfile]]:
    """Choose crash start hours: one per equal segment, trough at the profile's UTC hour."""
    p = cfg.params
    profiles: Sequence[CrashProfile] = cfg.crashes
    n_c = math.floor(p.crashes_per_year * cfg.years + 0.5) if profiles else 0
    n_c = min(n_c, n_hours // (24 * 6))
    order = rng.permutation(len(profiles)) if profiles else np.zeros(0, dtype=np.int64)
    starts: list[int] = []
    chosen: list[CrashProfile] = []
    for c in range(n_c):
        prof = profiles[int(order[c % len(profiles)])]
        lo = (c * n_hours) // n_c
        hi = ((c + 1) * n_hours) // n_c
        s = prof.speed_hours
        # Trough hours t with the profile's UTC hour of day, the 24-hour lookback inside the
        # segment and the 24-hour rebound before its end.
        first = lo + 25 + s
        cands = np.arange(first, hi - 25)
        cands = cands[(hour0 + cands) % 24 == prof.trough_hour]
        if cands.size == 0:
            continue
        trough = int(cands[int(rng.integers(cands.size))])
        starts.append(trough - s + 1)
        chosen.append(prof)
    params = np.array(
        [[c.speed_hours, c.depth, c.wick, c.rebound_24h, c.volume_mult, c.mark_excess] for c in chosen],
        dtype=np.float64,
    ).reshape(len(chosen), 6)
    return np.array(starts, dtype=np.int64), params, chosen


def _aggregate(ohlc: np.ndarray, volume: Float64Array1D, m: int) -> tuple[np.ndarray, Float64Array1D]:
    """Aggregate (4, N*m) step bars and volume into (4, N) bars of m steps."""
    n = ohlc.shape[1] // m
    o = ohlc[:, : n * m].reshape(4, n, m)
    out = np.empty((4, n))
    out[0] = o[0, :, 0]
    out[1] = o[1].max(axis=1)
    out[2] = o[2].min(axis=1)
    out[3] = o[3, :, m - 1]
    vol: Float64Array1D = volume[: n * m].reshape(n, m).sum(axis=1)
    return out, vol


def synth_market(
    config: SynthConfig | None = None,
    *,
    symbol: str | None = None,
    years: float | None = None,
    interval: str | None = None,
    seed: int | None = None,
    start: str | datetime | None = None,
) -> SynthMarket:
    """Generate a synthetic perpetual market.

    Parameters
    ----------
    config : SynthConfig, optional
        Full configuration (default ``SynthConfig()``: 3 years of 1h BTC-SYNTH bars, seed 7).
    symbol, years, interval, seed, start : optional
        Override the corresponding fields of ``config``.

    Returns
    -------
    SynthMarket
        Frames built with :func:`~levguard.data.frames.make_ohlcv_frame` and
        :func:`~levguard.data.frames.make_funding_frame`; ``attrs["source"]`` is
        ``"synthetic(seed=<seed>)"``.

    Raises
    ------
    InputError
        A configuration field is invalid (the message names it).

    Notes
    -----
    Random streams: ``SeedSequence(seed).spawn(5)`` gives independent PCG64 generators for
    (0) regimes and crash placement, (1) Student-t shocks, (2) jump and intrabar uniforms,
    (3) volume and basis normals, (4) funding.  The kernels are
    :func:`levguard.kernels.synth.regime_chain_nb`, :func:`~levguard.kernels.synth.market_path_nb`
    and :func:`~levguard.kernels.synth.funding_path_nb`.
    """
    cfg = instance_of(config, SynthConfig, "config") if config is not None else SynthConfig()
    changes = {
        k: v
        for k, v in (("symbol", symbol), ("years", years), ("interval", interval), ("seed", seed), ("start", start))
        if v is not None
    }
    if changes:
        cfg = cfg.replace(**changes)
    p = cfg.params
    bar_ns = cfg.interval_ns()
    start_ns = cfg.start_ns()
    n_bars = cfg.n_bars()
    if bar_ns <= _HOUR_NS:
        k = _HOUR_NS // bar_ns  # steps per hour
        agg = 1
        n_steps = n_bars
    else:
        k = 1
        agg = bar_ns // _HOUR_NS  # hourly steps per bar
        n_steps = n_bars * agg
    n_hours = -(-n_steps // k)
    hour0 = (start_ns // _HOUR_NS) % 24
    g_reg, g_z, g_u, g_n, g_f = _streams(cfg.seed)

    # Crashes and regimes (hourly clock).
    crash_start, crash_params, chosen = _place_crashes(cfg, n_hours, hour0, g_reg)
    forced = np.full(n_hours, -1, dtype=np.int64)
    stress_h = round(p.crash_stress_days * 24.0)
    for s0, prof in zip(crash_start, chosen, strict=True):
        forced[s0 : min(n_hours, s0 + prof.speed_hours + stress_h)] = 2
    cum = np.cumsum(p.transition_matrix(), axis=1)
    cum[:, -1] = 1.0
    init = int(np.searchsorted(np.cumsum(p.stationary()), g_reg.random(), side="right"))
    regime_h = np.empty(n_hours, dtype=np.int64)
    regime_chain_nb(g_reg.random(n_hours), cum, min(init, N_REGIMES - 1), forced, regime_h)

    # Price path (step clock).
    nu = p.t_dof
    z = g_z.standard_t(nu, n_steps) * math.sqrt((nu - 2.0) / nu)
    u_jump = g_u.random(n_steps)
    u_hi = g_u.random(n_steps)
    u_lo = g_u.random(n_steps)
    n_vol = g_n.standard_normal(n_steps)
    n_basis = g_n.standard_normal(n_steps)
    var_h = np.array(p.vol_ann) ** 2 / _HOURS_PER_YEAR
    drift_h = np.array(p.drift_ann) / _HOURS_PER_YEAR
    garch = np.array([p.garch_alpha, p.garch_beta, p.crash_garch_floor])
    jump_p = np.array(p.jumps_per_year) / (_HOURS_PER_YEAR * k)
    jump_sizes = np.array([p.jump_p_down, p.jump_mean_down, p.jump_mean_up])
    vol_params = np.array([math.log(p.volume_per_hour / k), p.volume_abs_loading, p.volume_sigma])
    mark_params = np.array([p.basis_ar1_hourly ** (1.0 / k), p.basis_sd, p.mark_excursion])
    ohlc = np.empty((4, n_steps))
    mark = np.empty((4, n_steps))
    volume = np.empty(n_steps)
    market_path_nb(
        k, float(cfg.start_price), regime_h, var_h, drift_h, garch, jump_p, jump_sizes, vol_params,
        np.array(p.volume_level), mark_params, crash_start, crash_params,
        z, u_jump, u_hi, u_lo, n_vol, n_basis, ohlc, mark, volume,
    )  # fmt: skip
    del z, u_jump, u_hi, u_lo, n_vol, n_basis

    # Hourly closes for the funding clock (before any aggregation).
    hour_close = ohlc[3, k - 1 :: k]
    if agg > 1:
        ohlc, volume = _aggregate(ohlc, volume, agg)
        mark, _ = _aggregate(mark, np.zeros(n_steps), agg)
        regime_bar = regime_h[::agg]
    else:
        regime_bar = np.repeat(regime_h, k)[:n_bars] if k > 1 else regime_h
    ts = start_ns + np.arange(n_bars, dtype=np.int64) * bar_ns
    source = f"synthetic(seed={cfg.seed})"
    ohlcv_frame = make_ohlcv_frame(ts, ohlc[0], ohlc[1], ohlc[2], ohlc[3], volume, symbol=cfg.symbol,
                                   interval=cfg.interval, source=source)  # fmt: skip
    mark_frame = make_ohlcv_frame(ts, mark[0], mark[1], mark[2], mark[3], None, symbol=cfg.symbol,
                                  interval=cfg.interval, source=source, kind="mark")  # fmt: skip
    regime = pd.Series(regime_bar.astype(np.int8), index=ohlcv_frame.index, name="regime")

    funding_frame, funding_forced = _funding(
        cfg, start_ns, n_steps // k, regime_h, hour_close, crash_start, chosen, g_f
    )
    troughs = crash_start + np.array([c.speed_hours for c in chosen], dtype=np.int64) - 1
    crashes = crash_frame(
        [c.name for c in chosen],
        start_ns + crash_start * _HOUR_NS,
        start_ns + troughs * _HOUR_NS,
        [c.depth for c in chosen],
        [c.speed_hours for c in chosen],
        funding_forced,
    )
    return SynthMarket(ohlcv_frame, mark_frame, funding_frame, regime, crashes, cfg)


def crash_frame(
    names: Sequence[str],
    start_ns: object,
    trough_ns: object,
    depth: Sequence[float],
    speed_hours: Sequence[int],
    funding_min: Sequence[float],
) -> pd.DataFrame:
    """Return the table of injected crashes (see :attr:`SynthMarket.crashes`)."""
    return pd.DataFrame(
        {
            "name": pd.Series(list(names), dtype=object),
            "start": pd.to_datetime(np.asarray(start_ns, dtype=np.int64), unit="ns", utc=True),
            "trough": pd.to_datetime(np.asarray(trough_ns, dtype=np.int64), unit="ns", utc=True),
            "depth": np.asarray(depth, dtype=np.float64),
            "speed_hours": np.asarray(speed_hours, dtype=np.int64),
            "funding_min": np.asarray(funding_min, dtype=np.float64),
        }
    )


def _funding(
    cfg: SynthConfig,
    start_ns: int,
    n_hours: int,
    regime_h: Int64Array1D,
    hour_close: Float64Array1D,
    crash_start: Int64Array1D,
    chosen: Sequence[CrashProfile],
    rng: np.random.Generator,
) -> tuple[pd.DataFrame, list[float]]:
    """Funding prints at multiples of the funding interval in (start, end]."""
    p = cfg.params
    step = p.funding_interval_hours
    end_ns = start_ns + n_hours * _HOUR_NS
    first = (start_ns // (step * _HOUR_NS) + 1) * step * _HOUR_NS
    ts = np.arange(first, end_ns + 1, step * _HOUR_NS, dtype=np.int64)
    hours = (ts - start_ns) // _HOUR_NS  # prints settle at the end of hour index hours - 1
    n = ts.shape[0]
    log_close = np.log(np.concatenate(([float(cfg.start_price)], hour_close)))
    prev = np.maximum(hours - step, 0)
    ret = log_close[hours] - log_close[prev]
    regime = regime_h[hours - 1] if n else np.zeros(0, dtype=np.int64)
    forced = np.full(n, np.nan)
    forced_values: list[float] = []
    for s0, prof in zip(crash_start, chosen, strict=True):
        trough_end = int(s0) + prof.speed_hours  # hour index at the trough bar's close
        i = int(np.searchsorted(hours, trough_end, side="left"))
        if i < n:
            forced[i] = prof.funding_min
        forced_values.append(prof.funding_min)
    eps = rng.standard_normal(n)
    u = rng.random(n)
    # The premium model is fitted per 8-hour print; sampled every `step` hours it keeps its
    # stationary spread and its spikes per day: phi**k, sigma scaled to the same stationary
    # variance, spike probability times k (k = step / 8).
    k = step / 8.0
    phi = p.funding_ar1**k
    scale = math.sqrt((1.0 - phi * phi) / (1.0 - p.funding_ar1**2)) if p.funding_ar1**2 < 1.0 else math.sqrt(k)
    params = np.array([phi, p.funding_return_beta, p.funding_interest, p.funding_clamp, p.funding_cap])
    premium = np.empty(n)
    rate = np.empty(n)
    funding_path_nb(
        regime.astype(np.int64), ret, eps, u, forced, np.array(p.funding_mean), np.array(p.funding_sigma) * scale,
        np.minimum(np.array(p.funding_spike_prob) * k, 1.0), np.array(p.funding_spike_size), params, premium, rate,
    )  # fmt: skip
    # The premium model and Binance's interest and clamp are per 8 hours; a venue settling every N
    # hours pays the 8-hour rate times N/8 (Gate, help 27569: "(P + clamp(I - P)) / (8/N)", then
    # the cap).  Hourly prints paid the 8-hour rate every hour, 19 times the carry (a helper's audit).
    rate = np.clip(rate * (step / 8.0), -p.funding_cap, p.funding_cap)
    frame = make_funding_frame(ts, rate, symbol=cfg.symbol, source=f"synthetic(seed={cfg.seed})", interval=f"{step}h")
    return frame, forced_values
