"""Populations for the market cascade simulator (v2): drawn multi-asset accounts and hedged
owners.

:func:`random_market_population` draws accounts with one to several positions on one venue
each; :func:`hedged_owners` builds owners long on one venue and short the same size on another
(a market maker's cross-venue hedge), the case issue 20 asks to follow.  Both are assumptions,
not measurements: calibrate them to your venue's data where you have it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from levguard.cascade.market_settings import MarketPopulation
from levguard.cascade.population import DEFAULT_LEVERAGE_MIXTURE
from levguard.cascade.settings import _int, _pos
from levguard.errors import InputError

__all__ = ["hedged_owners", "random_market_population"]

FloatArray = npt.NDArray[np.float64]


def _prices(s0: object) -> FloatArray:
    arr = np.atleast_1d(np.array(s0, dtype=np.float64))
    if arr.ndim != 1 or arr.size == 0:
        raise InputError(f"s0 must be one start price per asset, had shape {arr.shape}")
    bad = ~(np.isfinite(arr) & (arr > 0.0))
    if bad.any():
        i = int(np.argmax(bad))
        raise InputError(f"s0[{i}] must be a finite price > 0, was {float(arr[i])!r}")
    return arr


def _exp(x: np.ndarray) -> np.ndarray:
    # ``exp`` of every element through ``math.exp`` (the same bits on every CPU); inf past the
    # largest float, as NumPy's (the caller refuses what is not finite, naming it).
    return np.array([_exp1(v) for v in x.ravel().tolist()], dtype=np.float64).reshape(x.shape)


def _exp1(v: float) -> float:
    try:
        return math.exp(v)
    except OverflowError:
        return math.inf


def random_market_population(
    n: int,
    s0: Sequence[float] | FloatArray,
    *,
    n_venues: int = 1,
    seed: int = 0,
    max_positions: int | None = None,
    long_share: float = 0.5,
    leverage: Sequence[tuple[float, float, float]] = DEFAULT_LEVERAGE_MIXTURE,
    notional: tuple[float, float] = (5_000.0, 1.5),
    entry_spread: float = 0.02,
    mmr: float = 0.005,
) -> MarketPopulation:
    """Draw ``n`` accounts over ``K = len(s0)`` assets and ``n_venues`` venues.

    Parameters
    ----------
    n : int
        Number of accounts.
    s0 : sequence of float
        Start price per asset; entries are ``s0 exp(N(0, entry_spread))``.
    n_venues : int
        Venues; each account is on one, uniformly.
    seed : int
        Seed of ``numpy.random.default_rng``.
    max_positions : int, optional
        Positions per account are uniform on ``1 .. max_positions`` (default ``K``), in distinct
        assets drawn uniformly.
    long_share : float
        Probability that a position is long.
    leverage : sequence of (weight, low, high)
        Mixture of uniform leverages (gross notional at entry / wallet); v1's default.
    notional : (median, sigma)
        Lognormal notional per position (quote).
    entry_spread : float
        Lognormal dispersion of entries around ``s0``.
    mmr : float
        Survivors only: a wallet below ``1.05 x (mmr x gross notional - uPnL)`` at ``s0`` is raised
        to it, so no account is liquidatable at the start.
    """
    n = _int(n, "n", 1)
    prices = _prices(s0)
    k = prices.shape[0]
    n_venues = _int(n_venues, "n_venues", 1)
    mp = k if max_positions is None else _int(max_positions, "max_positions", 1)
    if mp > k:
        raise InputError(f"max_positions must be <= the number of assets ({k}), was {mp}")
    _pos(long_share, "long_share", allow_zero=True, upper=1.0)
    _pos(entry_spread, "entry_spread", allow_zero=True)
    _pos(mmr, "mmr", allow_zero=True, upper=0.5)
    med, sig = notional
    _pos(med, "notional median")
    _pos(sig, "notional sigma", allow_zero=True)
    mix = np.array(leverage, dtype=np.float64)
    if mix.ndim != 2 or mix.shape[1] != 3 or np.any(mix[:, 0] < 0) or not mix[:, 0].sum() > 0:
        raise InputError(f"leverage must be rows (weight, low, high) with weights >= 0, was {leverage!r}")
    if np.any(mix[:, 1] <= 0) or np.any(mix[:, 2] < mix[:, 1]):
        raise InputError(f"leverage rows need 0 < low <= high, was {leverage!r}")
    rng = np.random.default_rng(seed)
    venue = rng.integers(0, n_venues, n)
    n_pos = rng.integers(1, mp + 1, n)
    # Distinct assets per account: the first n_pos of a random permutation.
    perm = np.argsort(rng.random((n, k)), axis=1)
    held = np.zeros((n, k), dtype=bool)
    held[np.arange(n)[:, None], perm] = np.arange(k)[None, :] < n_pos[:, None]
    side = np.where(rng.random((n, k)) < long_share, 1.0, -1.0)
    # The C library's exp and log, element by element: NumPy's AVX-512 float64 loops differ from
    # them in the last bit, so one seed gave another population on another CPU.
    entry = prices[None, :] * _exp(rng.normal(0.0, entry_spread, (n, k)))
    size = _exp(rng.normal(math.log(med), sig, (n, k)))
    qty = np.where(held, side * size / entry, 0.0)
    comp = rng.choice(mix.shape[0], n, p=mix[:, 0] / mix[:, 0].sum())
    lev = rng.uniform(mix[comp, 1], mix[comp, 2])
    gross = (np.abs(qty) * entry).sum(axis=1)
    wallet = gross / lev
    upnl = (qty * (prices[None, :] - entry)).sum(axis=1)
    need = 1.05 * (mmr * (np.abs(qty) * prices[None, :]).sum(axis=1) - upnl)
    wallet = np.maximum(wallet, need)
    return MarketPopulation(venue, wallet, qty, np.where(held, entry, 1.0))


def _per_owner(value: object, name: str, n_owners: int) -> np.ndarray:
    # One float per owner from a number or a list of n_owners numbers (InputError otherwise).
    try:
        return np.broadcast_to(np.array(value, dtype=np.float64), (n_owners,))
    except (TypeError, ValueError, OverflowError):
        raise InputError(f"{name} must be a number or a list of {n_owners} numbers, was {value!r}") from None


def hedged_owners(
    n_owners: int,
    *,
    n_assets: int,
    asset: int,
    price: float,
    qty: float | Sequence[float],
    long_venue: int,
    short_venue: int,
    long_leverage: float | Sequence[float],
    short_leverage: float | Sequence[float],
    owner_offset: int = 0,
) -> MarketPopulation:
    """Owners long ``qty`` of ``asset`` on ``long_venue`` and short the same on ``short_venue``.

    Each owner has two accounts (same owner id, ``owner_offset + j``), both entered at
    ``price`` with wallet ``qty x price / leverage`` of its leg: flat in total, so a move of the
    price alone leaves the owner's equity unchanged, until one venue liquidates or
    auto-deleverages one leg and the other is left exposed.
    """
    n_owners = _int(n_owners, "n_owners", 1)
    k = _int(n_assets, "n_assets", 1)
    a = _int(asset, "asset")
    if a >= k:
        raise InputError(f"asset must be < n_assets ({k}), was {a}")
    p = _pos(price, "price")
    q, lev_l, lev_s = (
        _per_owner(value, name, n_owners)
        for value, name in ((qty, "qty"), (long_leverage, "long_leverage"), (short_leverage, "short_leverage"))
    )
    for name, arr in (("qty", q), ("long_leverage", lev_l), ("short_leverage", lev_s)):
        bad = ~(np.isfinite(arr) & (arr > 0.0))
        if bad.any():
            i = int(np.argmax(bad))
            raise InputError(f"{name}[{i}] must be finite and > 0, was {float(arr[i])!r}")
    qty2 = np.zeros((2 * n_owners, k))
    qty2[:n_owners, a] = q
    qty2[n_owners:, a] = -q
    entry = np.ones((2 * n_owners, k))
    entry[:, a] = p
    wallet = np.concatenate([q * p / lev_l, q * p / lev_s])
    venue = np.concatenate([np.full(n_owners, long_venue), np.full(n_owners, short_venue)])
    owners = np.arange(owner_offset, owner_offset + n_owners)
    return MarketPopulation(venue, wallet, qty2, entry, np.concatenate([owners, owners]))
