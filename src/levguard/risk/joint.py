"""Liquidation surface and reverse stress of one account, as ``levguard risk`` reports them.

Composes :mod:`levguard.core.risk.joint_stress` with the account spec (unified, portfolio margin
or single-wallet cross), the covariance of the assets' log moves (EWMA of daily log returns of one
OHLC history per asset, or a given annualised volatility and correlation) and the default choice
of assets.  An account that moves with one asset only (a ``deribit-pm`` currency, a unified
account with one non-stablecoin asset) gets the ratio along that asset's moves
(:func:`levguard.core.risk.joint_ladder.liquidation_ladder`) instead of a two-asset surface, and a
one-asset reverse stress.

A cross account with options (:mod:`levguard.risk.joint_options`): ``margin`` is the cross part
with its pooled options where it has any (equity ``C + V``, ratio ``MM / (C + V)``, the stress
table's flag at no move: the ladder's point at move 0), and ``trigger`` says what the flagged
points are: ``"liquidation"``, or ``"bankruptcy"`` for an account without futures (the cross
part below 0; nothing to liquidate).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from levguard.core.margin import AccountReport, evaluate
from levguard.core.positions import Account
from levguard.core.risk.joint_ladder import LiquidationLadder, liquidation_ladder
from levguard.core.risk.joint_stress import (
    JointAccount,
    LiquidationSurface,
    ReverseStress,
    covariance_from_returns,
    covariance_from_vols,
    joint_for,
    liquidation_surface,
    reverse_stress,
)
from levguard.core.risk.joint_stress_pm import EngineJoint
from levguard.core.symbols import USD_LIKE, base_asset
from levguard.core.unified import UnifiedAccount, evaluate_unified, is_unified_spec, unified_account_from_spec
from levguard.core.unified_pm import (
    DeribitPmAccount,
    OkxPmAccount,
    evaluate_portfolio_margin,
    is_portfolio_margin_spec,
    portfolio_margin_account_from_spec,
)
from levguard.core.validate import annual_vol
from levguard.errors import InputError
from levguard.risk.joint_options import OptionsEngine, options_joint

__all__ = ["JointStressReport", "default_assets", "joint_stress_report", "movable_assets", "parse_asset_files"]

RISKMETRICS_DAILY_LAMBDA = 0.94
"""EWMA decay of the covariance of daily log returns (RiskMetrics 1996, daily data)."""


@dataclass(frozen=True, slots=True, eq=False)
class JointStressReport:
    """The account's evaluation, its liquidation surface (two assets) or ladder (one asset) and its
    reverse stress; ``trigger`` is what their flagged points are (module docstring)."""

    account: AccountReport
    surface: LiquidationSurface | None
    reverse: ReverseStress
    covariance_source: str
    horizon_days: int
    ladder: LiquidationLadder | None = None
    trigger: str = "liquidation"

    def to_dict(self) -> dict[str, object]:
        """Return a JSON-ready dict."""
        return {
            "margin": self.account.to_dict(),
            "surface": None if self.surface is None else self.surface.to_dict(),
            "ladder": None if self.ladder is None else self.ladder.to_dict(),
            "reverse_stress": self.reverse.to_dict(),
            "covariance_source": self.covariance_source,
            "horizon_days": self.horizon_days,
            "trigger": self.trigger,
        }


def parse_asset_files(items: Sequence[str] | None) -> dict[str, str]:
    """Parse ``ASSET=FILE`` items (``--asset-history``) into ``{ASSET: FILE}``."""
    out: dict[str, str] = {}
    for item in items or ():
        asset, sep, path = item.partition("=")
        if not sep or not asset.strip() or not path.strip():
            raise InputError(f"asset history must be ASSET=FILE (e.g. BTC=btc_1h.csv), was {item!r}")
        name = asset.strip().upper()
        if name in out:  # the second would silently replace the first
            raise InputError(f"{name} is given twice ({out[name]} and {path.strip()}): give one file an asset")
        out[name] = path.strip()
    return out


_NOT_MARGIN = ("name", "options", "as_of", "vol_surfaces", "options_wallet_balance", "cross_collateral")
"""A cross account spec's keys the margin engine does not read (its options: risk.joint_options)."""


def _account(spec: Mapping[str, Any]) -> UnifiedAccount | Account | DeribitPmAccount | OkxPmAccount:
    from levguard.core.spec import account_from_spec

    if is_portfolio_margin_spec(spec):
        return portfolio_margin_account_from_spec(spec)
    if is_unified_spec(spec):
        return unified_account_from_spec(spec)
    return account_from_spec({k: v for k, v in spec.items() if k not in _NOT_MARGIN})


def _exposure(ja: JointAccount | EngineJoint) -> dict[str, float]:
    # Gross USD exposure per asset: positions' notional (OKX PM: the risk units' cash delta) plus balances.
    exposure: dict[str, float] = {}
    if isinstance(ja, EngineJoint):
        src = ja.source
        if isinstance(src, DeribitPmAccount):
            return {src.currency: 1.0}
        if isinstance(src, UnifiedAccount):
            for p in evaluate_unified(src).positions:  # a COIN-M row's notional is in its coin
                a = base_asset(p.symbol)
                usd = abs(p.notional) * (ja.price_of(a) if p.contract_kind == "inverse" else 1.0)
                exposure[a] = exposure.get(a, 0.0) + usd
            for asset in src.assets:
                exposure[asset.name] = exposure.get(asset.name, 0.0) + abs(asset.net * asset.price)
            return exposure
        if isinstance(src, Account):  # a cross account with options (risk.joint_options)
            assert isinstance(ja.engine, OptionsEngine)
            exposure = _exposure(ja.engine.kernel) if ja.engine.kernel is not None else {}
            for a, usd in ja.engine.option_exposure().items():
                exposure[a] = exposure.get(a, 0.0) + usd
            return exposure
        for u in src.units:
            exposure[u.risk_unit] = abs(u.delta_usd)
        for b in src.assets:
            exposure[b.name] = exposure.get(b.name, 0.0) + abs(b.balance * b.price)
        return {a: v for a, v in exposure.items() if a in ja.assets}
    for a, q, mark in zip(ja.pos_asset, ja.pos_q, ja.pos_mark, strict=True):
        exposure[a] = exposure.get(a, 0.0) + abs(float(q) * float(mark))
    for name, net, price in zip(ja.bal_asset, ja.asset_net, ja.asset_price, strict=True):
        if name is not None:
            exposure[name] = exposure.get(name, 0.0) + abs(float(net) * float(price))
    return exposure


def movable_assets(ja: JointAccount | EngineJoint) -> tuple[str, ...]:
    """The account's non-stablecoin assets, largest gross USD exposure first."""
    exposure = _exposure(ja)
    return tuple(sorted((a for a in exposure if a not in USD_LIKE), key=lambda a: -exposure[a]))


def default_assets(ja: JointAccount | EngineJoint) -> tuple[str, str]:
    """The two assets of largest gross USD exposure (positions' notional plus balances), stablecoins aside."""
    ranked = movable_assets(ja)
    if len(ranked) < 2:
        names = [a for a in ja.assets if a not in USD_LIKE]
        ask = (
            f"name one for a ladder (--surface {names[0]})"  # one asset is enough for a ladder
            if len(names) == 1
            else f"name one for a ladder or two for a surface of {', '.join(names) or 'none'} (--surface A or A,B)"
        )
        raise InputError(
            f"the account moves with fewer than two non-stablecoin assets ({', '.join(ranked) or 'none'}); {ask}"
        )
    return ranked[0], ranked[1]


def _daily_returns(source: pd.DataFrame | str | Path, asset: str) -> pd.Series:
    from levguard.data.loaders import load_ohlcv
    from levguard.risk.vol import daily_returns

    frame = load_ohlcv(source) if isinstance(source, str | Path) else source
    # Complete UTC days: an unfinished last day's return is a fraction of a day's.
    out = daily_returns(frame, f"history of {asset}").complete.copy()
    out.name = asset
    return out


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
    """The liquidation surface (or one-asset ladder) and reverse stress of the account ``spec``
    (unified, portfolio margin or cross).

    Parameters
    ----------
    spec : mapping
        One account spec (docs/margin.md, docs/unified.md).
    assets : one or two str, optional
        The stressed assets (default: :func:`default_assets`, or the account's only
        non-stablecoin asset, which gives a ladder instead of a surface).
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
    if vol is not None:
        vol = annual_vol(vol)
    account = _account(spec)
    # A cross account's options are revalued in every scenario, where the stress table puts them.
    options = isinstance(account, Account) and bool(spec.get("options"))
    ja = options_joint(spec, _NOT_MARGIN) if options else joint_for(account)
    if assets is None:
        ranked = movable_assets(ja)
        pair: tuple[str, ...] = ranked[:1] if len(ranked) == 1 else default_assets(ja)
    else:
        if isinstance(assets, str) or len(assets) not in (1, 2):
            shown = assets if isinstance(assets, str) else list(assets)
            raise InputError(f"the surface takes two assets (e.g. BTC,ETH) or one for a ladder, was {shown!r}")
        pair = tuple(assets)
    moves = np.linspace(-move_range, move_range, points)
    surface, ladder = None, None
    if len(pair) == 2:
        surface = liquidation_surface(ja, pair[0], pair[1], moves, moves)
        names: tuple[str, ...] = (surface.asset_x, surface.asset_y)
    else:
        ladder = liquidation_ladder(ja, pair[0], moves)
        names = (ladder.asset,)
    cov, cov_source = _covariance(names, histories, vol, correlation, horizon_days)
    # A portfolio-margin scenario runs the venue's engine (0.1-1 ms), not the compiled kernel: a
    # coarser scan, then the same bisection to adjacent floats and pattern-search refinement.
    search = {"n_directions": 72, "n_radii": 40} if isinstance(ja, EngineJoint) else {}
    reverse = reverse_stress(ja, names, cov, max_norm=max_norm, **search)
    trigger = "liquidation"
    if isinstance(account, DeribitPmAccount | OkxPmAccount):
        report = evaluate_portfolio_margin(account)
    elif isinstance(account, UnifiedAccount):
        report = evaluate_unified(account)
    elif isinstance(ja, EngineJoint) and isinstance(ja.engine, OptionsEngine):
        trigger = ja.engine.trigger
        # The ladder's point at move 0: the cross part with its pooled options, the stress table's flag.
        report = ja.engine.report({names[0]: 1.0}) if ja.engine.book.pooled else evaluate(account)
    else:
        report = evaluate(account)
    return JointStressReport(report, surface, reverse, cov_source, horizon_days, ladder, trigger)
