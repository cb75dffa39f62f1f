"""Liquidation surface and reverse stress of one account, as ``levguard risk`` reports them.

Composes :mod:`levguard.core.risk.joint_stress` with the account spec (unified or single-wallet
cross), the covariance of the assets' log moves (EWMA of daily log returns of one OHLC history
per asset, or a given annualised volatility and correlation) and the default choice of assets.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd

from levguard.core.margin import AccountReport, evaluate
from levguard.core.positions import Account
from levguard.core.risk.joint_stress import (
    JointAccount,
    LiquidationSurface,
    ReverseStress,
    covariance_from_returns,
    covariance_from_vols,
    joint_account,
    liquidation_surface,
    reverse_stress,
)
from levguard.core.symbols import USD_LIKE
from levguard.core.unified import UnifiedAccount, evaluate_unified, is_unified_spec, unified_account_from_spec
from levguard.errors import InputError

__all__ = ["JointStressReport", "default_assets", "joint_stress_report", "parse_asset_files"]

RISKMETRICS_DAILY_LAMBDA = 0.94
"""EWMA decay of the covariance of daily log returns (RiskMetrics 1996, daily data)."""


@dataclass(frozen=True, slots=True, eq=False)
class JointStressReport:
    """The account's evaluation, its liquidation surface and its reverse stress."""

    account: AccountReport
    surface: LiquidationSurface
    reverse: ReverseStress
    covariance_source: str
    horizon_days: int

    def to_dict(self) -> dict[str, object]:
        """Return a JSON-ready dict."""
        return {
            "margin": self.account.to_dict(),
            "surface": self.surface.to_dict(),
            "reverse_stress": self.reverse.to_dict(),
            "covariance_source": self.covariance_source,
            "horizon_days": self.horizon_days,
        }


def parse_asset_files(items: Sequence[str] | None) -> dict[str, str]:
    """Parse ``ASSET=FILE`` items (``--asset-history``) into ``{ASSET: FILE}``."""
    out: dict[str, str] = {}
    for item in items or ():
        asset, sep, path = item.partition("=")
        if not sep or not asset.strip() or not path.strip():
            raise InputError(f"asset history must be ASSET=FILE (e.g. BTC=btc_1h.csv), was {item!r}")
        out[asset.strip().upper()] = path.strip()
    return out


def _account(spec: Mapping[str, Any]) -> UnifiedAccount | Account:
    from levguard.core.spec import account_from_spec

    if is_unified_spec(spec):
        return unified_account_from_spec(spec)
    plain = {k: v for k, v in spec.items() if k not in ("name", "options", "as_of", "vol_surfaces")}
    return account_from_spec(plain)


def default_assets(ja: JointAccount) -> tuple[str, str]:
    """The two assets of largest gross USD exposure (positions' notional plus balances), stablecoins aside."""
    exposure: dict[str, float] = {}
    for a, q, mark in zip(ja.pos_asset, ja.pos_q, ja.pos_mark, strict=True):
        exposure[a] = exposure.get(a, 0.0) + abs(float(q) * float(mark))
    for name, net, price in zip(ja.bal_asset, ja.asset_net, ja.asset_price, strict=True):
        if name is not None:
            exposure[name] = exposure.get(name, 0.0) + abs(float(net) * float(price))
    ranked = sorted((a for a in exposure if a not in USD_LIKE), key=lambda a: -exposure[a])
    if len(ranked) < 2:
        raise InputError(
            f"the account moves with fewer than two non-stablecoin assets ({', '.join(ranked) or 'none'}); "
            f"name two assets of {', '.join(ja.assets)} (--surface A,B)"
        )
    return ranked[0], ranked[1]


def _daily_returns(source: pd.DataFrame | str | Path, asset: str) -> pd.Series:
    from levguard.data.loaders import load_ohlcv

    frame = load_ohlcv(source) if isinstance(source, str | Path) else source
    daily = frame["close"].resample("1D").last().dropna()
    out = np.log(daily).diff().dropna()
    out.name = asset
    return cast(pd.Series, out)


def _covariance(
    assets: Sequence[str],
    histories: Mapping[str, pd.DataFrame | str | Path] | None,
    vol: float | None,
    correlation: float,
    horizon_days: int,
) -> tuple[np.ndarray, str]:
    histories = {k.upper(): v for k, v in (histories or {}).items()}
    if histories:
        missing = [a for a in assets if a not in histories]
        if missing:
            raise InputError(
                f"asset history is missing for {', '.join(missing)} (give ASSET=FILE for each of {', '.join(assets)})"
            )
        extra = sorted(set(histories) - set(assets))
        if extra:
            raise InputError(
                f"asset history names {', '.join(extra)}, which is not among the stressed assets {', '.join(assets)}"
            )
        frame = pd.concat([_daily_returns(histories[a], a) for a in assets], axis=1, join="inner").dropna()
        if len(frame) < 30:
            raise InputError(f"the asset histories share {len(frame)} days of returns; at least 30 are needed")
        cov = covariance_from_returns(frame.to_numpy(), lam=RISKMETRICS_DAILY_LAMBDA, horizon_bars=float(horizon_days))
        first, last = frame.index[0].date(), frame.index[-1].date()
        return cov, f"EWMA (lambda {RISKMETRICS_DAILY_LAMBDA}) of {len(frame)} daily log returns, {first} to {last}"
    if vol is None:
        raise InputError("give an OHLC history per stressed asset (--asset-history ASSET=FILE) or a volatility (--vol)")
    if not (math.isfinite(correlation) and -1 < correlation < 1):
        raise InputError(f"correlation must be in (-1, 1), was {correlation!r}")
    k = len(assets)
    rho = np.full((k, k), correlation)
    np.fill_diagonal(rho, 1.0)
    cov = covariance_from_vols([vol] * k, rho, horizon_years=horizon_days / 365.0)
    return cov, f"given volatility {vol:.1%} per asset, correlation {correlation:.2f}"


def joint_stress_report(
    spec: Mapping[str, Any],
    *,
    assets: Sequence[str] | None = None,
    move_range: float = 0.6,
    points: int = 61,
    histories: Mapping[str, pd.DataFrame | str | Path] | None = None,
    vol: float | None = None,
    correlation: float = 0.6,
    horizon_days: int = 1,
    max_norm: float = 20.0,
) -> JointStressReport:
    """The liquidation surface and reverse stress of the account ``spec`` (unified or cross).

    Parameters
    ----------
    spec : mapping
        One account spec (docs/margin.md, docs/unified.md).
    assets : two str, optional
        The stressed assets (default: :func:`default_assets`).
    move_range, points : float, int
        The surface's grid: ``points`` relative moves per asset from ``-move_range`` to
        ``+move_range`` (``0 < move_range < 1``, ``3 <= points <= 401``).
    histories : mapping, optional
        OHLC history (frame or file) per stressed asset: the covariance is the EWMA of their
        common daily log returns, scaled to ``horizon_days``.
    vol, correlation : float
        Without histories: the same annualised volatility for each asset and their correlation.
    horizon_days : int
        Horizon of the shock (days, >= 1).
    max_norm : float
        Largest Mahalanobis norm searched.
    """
    if not (isinstance(move_range, int | float) and 0.0 < move_range < 1.0):
        raise InputError(f"move range must be a fraction in (0, 1), was {move_range!r}")
    if isinstance(points, bool) or not isinstance(points, int) or not 3 <= points <= 401:
        raise InputError(f"surface points must be an integer in [3, 401], was {points!r}")
    if isinstance(horizon_days, bool) or not isinstance(horizon_days, int) or not 1 <= horizon_days <= 365:
        raise InputError(f"horizon_days must be an integer in [1, 365], was {horizon_days!r}")
    if vol is not None and not (math.isfinite(vol) and 0 < vol < 20):
        raise InputError(f"vol must be an annualised fraction in (0, 20), was {vol!r}")
    account = _account(spec)
    ja = joint_account(account)
    if assets is None:
        pair: tuple[str, ...] = default_assets(ja)
    else:
        if isinstance(assets, str) or len(assets) != 2:
            shown = assets if isinstance(assets, str) else list(assets)
            raise InputError(f"the surface takes two assets (e.g. BTC,ETH), was {shown!r}")
        pair = tuple(assets)
    moves = np.linspace(-move_range, move_range, points)
    surface = liquidation_surface(ja, pair[0], pair[1], moves, moves)
    names = (surface.asset_x, surface.asset_y)
    cov, cov_source = _covariance(names, histories, vol, correlation, horizon_days)
    reverse = reverse_stress(ja, names, cov, max_norm=max_norm)
    report = evaluate_unified(account) if isinstance(account, UnifiedAccount) else evaluate(account)
    return JointStressReport(report, surface, reverse, cov_source, horizon_days)
