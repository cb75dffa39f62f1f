"""Liquidation surface and reverse stress of an account under joint moves of several assets.

With one asset "the" liquidation price is a number; with a unified account (collateral in
several assets backing positions on several underlyings) it is a surface.  Two tools:

- :func:`liquidation_surface`: the venue's account ratio and the liquidation flag on a grid of
  joint relative moves of two assets, each point evaluated exactly by one compiled kernel
  (:func:`levguard.kernels.joint.account_scenarios_nb`);
- :func:`reverse_stress`: the smallest joint log-move, in the Mahalanobis norm of a covariance
  of the assets' log returns, that makes the account liquidatable, with the scenario there.

A move of asset ``a`` by ``m`` multiplies by ``1 + m`` the mark of every position on ``a`` (the
position's base asset) and the price of the account's balance in ``a``; every other price is
held.  Accounts are unified specs (:func:`levguard.core.unified.unified_account_from_spec`) or
single-wallet cross accounts (:class:`levguard.core.positions.Account`).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from levguard.core.margin import AccountReport, _terms, evaluate
from levguard.core.positions import Account, spec_place
from levguard.core.records import JsonRecord, empty_mapping, json_ready
from levguard.core.risk.covariance import checked_covariance, covariance_from_returns, covariance_from_vols
from levguard.core.risk.joint_stress_pm import EngineJoint, portfolio_margin_joint, trigger_ratio, unified_engine_joint
from levguard.core.rules import MMBasis, get_venue
from levguard.core.symbols import base_asset
from levguard.core.unified import UnifiedAccount, UnifiedVenue, evaluate_unified
from levguard.core.unified_pm import DeribitPmAccount, OkxPmAccount
from levguard.core.validate import array_1d, no_bools_or_strings, require_finite, show
from levguard.errors import InputError
from levguard.kernels import readonly
from levguard.kernels.joint import account_scenarios_nb
from levguard.kernels.margin import close_fee_at_bankruptcy
from levguard.typing import BoolArray1D, Float64Array1D, Float64Array2D, Int64Array1D

__all__ = [
    "JointAccount",
    "LiquidationSurface",
    "ReverseStress",
    "breached",
    "covariance_from_returns",
    "covariance_from_vols",
    "joint_account",
    "joint_for",
    "liquidation_surface",
    "reverse_stress",
    "scenario_values",
]

_MAX_GRID = 1_000_000  # points of one surface
_MAX_ASSETS = 20  # assets of one reverse stress


@dataclass(frozen=True, slots=True, eq=False)
class JointAccount:
    """An account flattened for the scenario kernel (see :func:`joint_account`).

    ``assets`` are the names a scenario may move: the account's balances (unified) and the base
    assets of its positions.  ``multiple`` ``c``: liquidatable when ``equity <= c * MM`` (at
    ``MM = 0`` only for a unified account holding positions or a debt, as
    :meth:`UnifiedVenue.liquidatable`; strictly below on dYdX
    and Hyperliquid, ``strict``, as :meth:`VenueModel.liquidatable`).
    """

    source: UnifiedAccount | Account
    venue: str
    ratio_name: str
    multiple: float
    mm_must_be_positive: bool
    upnl_in_haircut: bool
    strict: bool
    settle: int
    assets: tuple[str, ...]
    pos_asset: tuple[str, ...]
    bal_asset: tuple[str | None, ...]  # per collateral row: the movable name, None for a fixed wallet
    pos_q: Float64Array1D
    pos_entry: Float64Array1D
    pos_mark: Float64Array1D
    pos_inverse: BoolArray1D
    pos_mark_basis: BoolArray1D
    pos_mm_const: Float64Array1D
    pos_fee_mm: Float64Array1D
    tier_start: Int64Array1D
    caps: Float64Array1D
    mmrs: Float64Array1D
    cums: Float64Array1D
    asset_net: Float64Array1D
    asset_price: Float64Array1D
    asset_loan: Float64Array1D
    asset_qty_basis: BoolArray1D
    coll_start: Int64Array1D
    floors: Float64Array1D
    ratios: Float64Array1D

    def price_of(self, asset: str) -> float:
        """The current price of ``asset``: its balance's USD price, else its first position's mark."""
        for name, price in zip(self.bal_asset, self.asset_price, strict=True):
            if name == asset:
                return float(price)
        return float(self.pos_mark[self.pos_asset.index(asset)])

    def ratio(self, equity: float, mm: float) -> float | None:
        """The venue's account ratio (a single wallet: ``MM / equity``, None when equity <= 0)."""
        if isinstance(self.source, UnifiedAccount):
            return self.source.venue.ratio(equity, mm, exposed=self.source.exposed)
        return mm / equity if equity > 0.0 else None

    @property
    def trigger(self) -> float:
        """The value of :meth:`ratio` at the liquidation trigger (``E = c MM``, :func:`trigger_ratio`)."""
        return trigger_ratio(self.multiple, self.ratio_rises_when_safer)

    @property
    def ratio_rises_when_safer(self) -> bool:
        """True for ratios of equity over MM (uniMMR), False for MM over equity (MM rates)."""
        # Probed rather than listed, so that every venue's ratio reads the same way here.
        r2, r1 = self.ratio(2.0, 1.0), self.ratio(1.0, 1.0)
        return r2 is not None and r1 is not None and r2 > r1


def _collateral_rows(ua: UnifiedAccount) -> tuple[list[float], list[float], list[bool]]:
    floors: list[float] = []
    ratios: list[float] = []
    qty: list[bool] = []
    for a in ua.assets:
        floors.extend(a.tiers.floors)
        ratios.extend(a.tiers.ratios)
        qty.append(a.tiers.basis == "qty")
    return floors, ratios, qty


def joint_account(account: UnifiedAccount | Account) -> JointAccount:
    """Flatten ``account`` for the scenario kernel.

    Parameters
    ----------
    account : UnifiedAccount or Account
        A parsed unified account, or a single-wallet account whose positions are all cross.

    Raises
    ------
    InputError
        An isolated position (its margin is not the account's: the account has no one ratio), or
        an account without positions and balances to move, or a unified account with COIN-M
        positions (the kernel holds one settlement asset: :func:`joint_for` evaluates those
        through :func:`levguard.core.unified.evaluate_unified` per scenario).
    """
    if isinstance(account, UnifiedAccount) and (account.coin_positions or account.options):
        what = (
            f"{account.coin_positions[0].symbol} is a COIN-M position"
            if account.coin_positions
            else f"{account.options[0].symbol} is an option"
        )
        raise InputError(
            f"{what}: the scenario kernel holds linear positions in one settlement asset; pass the "
            "UnifiedAccount itself (or joint_for(account)) to evaluate it through its engine"
        )
    unified = isinstance(account, UnifiedAccount)
    positions = account.positions.positions if isinstance(account, UnifiedAccount) else account.positions
    model = account.model if isinstance(account, UnifiedAccount) else get_venue(account.venue)
    terms = []
    for i, p in enumerate(positions):
        i = spec_place(p, i)
        if p.isolated:
            raise InputError(
                f"positions[{i}] ({p.symbol}) is isolated: the liquidation surface and reverse stress take "
                "cross positions (one account, one ratio), was margin_mode 'isolated'"
            )
        try:
            terms.append(_terms(model, p, i))
        except InputError as exc:
            msg = str(exc)
            raise InputError(msg if msg.startswith("positions[") else f"positions[{i}] {msg}") from None
    entry_basis = model.mm_basis is MMBasis.ENTRY
    mm_const = []
    starts = [0]
    caps: list[float] = []
    mmrs: list[float] = []
    cums: list[float] = []
    wb = 0.0 if isinstance(account, UnifiedAccount) else float(account.wallet_balance)
    for t in terms:
        const = float(t.table.maintenance_margin(t.notional_entry)) if entry_basis else 0.0
        # Bybit inverse: the close fee at the bankruptcy price on the wallet.
        const += close_fee_at_bankruptcy(t.q, t.pos.entry_price, wb, t.close_fee, t.inverse)
        mm_const.append(const)
        caps.extend(t.table.caps)
        mmrs.extend(t.table.mmrs)
        cums.extend(t.table.cums)
        starts.append(len(caps))
    pos_asset = tuple(base_asset(t.pos.symbol) for t in terms)
    if isinstance(account, UnifiedAccount):
        venue: UnifiedVenue = account.venue
        floors, ratios, qty = _collateral_rows(account)
        coll = [0]
        for a in account.assets:
            coll.append(coll[-1] + len(a.tiers.floors))
        bal_asset: tuple[str | None, ...] = tuple(a.name for a in account.assets)
        net = [a.net for a in account.assets]
        price = [a.price for a in account.assets]
        loan = [a.borrowed * account.loan_mmr for a in account.assets]
        settle = next((i for i, a in enumerate(account.assets) if a.name == "USDT"), -1)
        name, ratio_name, c, in_haircut = (
            venue.name,
            venue.ratio_name,
            venue.liquidation_multiple,
            venue.upnl_in_haircut,
        )
    else:
        # One face-value wallet row in the settlement currency that no scenario moves.
        floors, ratios, qty, coll = [0.0], [1.0], [True], [0, 1]
        bal_asset, net, price, loan, settle = (None,), [wb], [1.0], [0.0], 0
        name, ratio_name, c, in_haircut = model.name, "margin_ratio", 1.0, False
    assets = tuple(dict.fromkeys([*(a for a in bal_asset if a is not None), *pos_asset]))
    if not assets:
        raise InputError("the account has no positions and no balances: nothing to move")

    def f64(x: Sequence[float]) -> Float64Array1D:
        return np.asarray(x, dtype=np.float64)

    return JointAccount(
        source=account,
        venue=name,
        ratio_name=ratio_name,
        multiple=float(c),
        upnl_in_haircut=bool(in_haircut),
        strict=not unified and model.strict_trigger,
        # A unified account holding positions or a debt is liquidatable at equity <= 0 whatever
        # its MM (UnifiedVenue.liquidatable); an empty one never.
        mm_must_be_positive=(isinstance(account, UnifiedAccount) and not account.exposed) or model.positive_mm_trigger,
        settle=settle,
        assets=assets,
        pos_asset=pos_asset,
        bal_asset=bal_asset,
        pos_q=f64([t.q for t in terms]),
        pos_entry=f64([t.pos.entry_price for t in terms]),
        pos_mark=f64([t.pos.mark_price for t in terms]),
        pos_inverse=np.asarray([t.inverse for t in terms], dtype=np.bool_),
        pos_mark_basis=np.full(len(terms), not entry_basis, dtype=np.bool_),
        pos_mm_const=f64(mm_const),
        pos_fee_mm=f64([t.fee_mm for t in terms]),
        tier_start=np.asarray(starts, dtype=np.int64),
        caps=f64(caps),
        mmrs=f64(mmrs),
        cums=f64(cums),
        asset_net=f64(net),
        asset_price=f64(price),
        asset_loan=f64(loan),
        asset_qty_basis=np.asarray(qty, dtype=np.bool_),
        coll_start=np.asarray(coll, dtype=np.int64),
        floors=f64(floors),
        ratios=f64(ratios),
    )


AnyAccount = JointAccount | EngineJoint | UnifiedAccount | Account | DeribitPmAccount | OkxPmAccount
"""What the joint-stress tools take: haircut and cross accounts (one compiled kernel), and
portfolio-margin accounts (``deribit-pm``, ``okx-pm``: the venue's engine per scenario,
:mod:`levguard.core.risk.joint_stress_pm`)."""


def joint_for(account: AnyAccount) -> JointAccount | EngineJoint:
    """The account as the joint-stress tools take it: the compiled kernel's :class:`JointAccount`
    where it holds the account, else an :class:`~levguard.core.risk.joint_stress_pm.EngineJoint`
    (portfolio margin; unified with COIN-M positions) evaluated by its own engine per scenario."""
    return _as_joint(account)


def _as_joint(account: AnyAccount) -> JointAccount | EngineJoint:
    if isinstance(account, JointAccount | EngineJoint):
        return account
    if isinstance(account, UnifiedAccount) and (account.coin_positions or account.options):
        return unified_engine_joint(account)
    if isinstance(account, UnifiedAccount | Account):
        return joint_account(account)
    if isinstance(account, DeribitPmAccount | OkxPmAccount):
        return portfolio_margin_joint(account)
    raise InputError(f"account must be a UnifiedAccount, an Account or a portfolio-margin account, was {show(account)}")


def _asset_names(ja: JointAccount | EngineJoint, assets: Sequence[str], field_name: str) -> tuple[str, ...]:
    if isinstance(assets, str) or not isinstance(assets, Sequence) or not assets:
        raise InputError(f"{field_name} must be a non-empty list of asset names, was {show(assets)}")
    out = []
    for i, a in enumerate(assets):
        name = a.strip().upper() if isinstance(a, str) else None
        if name not in ja.assets:
            raise InputError(
                f"{field_name}[{i}] must be an asset of the account ({', '.join(ja.assets)}), was {show(a)}"
            )
        if name in out:
            raise InputError(f"{field_name} names {name!r} twice")
        out.append(name)
    return tuple(out)


def scenario_values(
    account: AnyAccount, assets: Sequence[str], factors: npt.ArrayLike
) -> tuple[Float64Array1D, Float64Array1D, BoolArray1D]:
    """Equity, maintenance margin and the liquidation flag of ``account`` in each scenario.

    Parameters
    ----------
    account : JointAccount, UnifiedAccount or Account
    assets : sequence of str
        The K moved assets (see :attr:`JointAccount.assets`).
    factors : (S, K) array_like
        Price multipliers (``1 + relative move``, > 0) per scenario and asset.

    Returns
    -------
    equity, mm : (S,) float64
        USD for a unified account, the settlement currency for a single wallet.
    liquidatable : (S,) bool
        ``equity <= c * MM`` (and ``MM > 0`` on unified venues).

    Notes
    -----
    Every scenario is evaluated by :func:`levguard.kernels.joint.account_scenarios_py` (compiled)
    with the terms of :func:`levguard.core.unified.evaluate_unified` or the cross part of
    :func:`levguard.core.margin.evaluate`; nothing is interpolated.
    """
    ja = _as_joint(account)
    names = _asset_names(ja, assets, "assets")
    f = readonly(np.ascontiguousarray(factors, dtype=np.float64))  # one compiled signature
    if f.ndim != 2 or f.shape[1] != len(names):
        raise InputError(f"factors must be an (S, {len(names)}) array, was shape {f.shape}")
    if not (np.isfinite(f).all() and (f > 0.0).all()):
        bad = np.argwhere(~(np.isfinite(f) & (f > 0.0)))[0]
        raise InputError(f"factors[{bad[0]}, {bad[1]}] must be a finite multiplier > 0, was {float(f[tuple(bad)])!r}")
    if isinstance(ja, EngineJoint):
        return ja.values(names, f)
    col = {a: j for j, a in enumerate(names)}
    pos_move = np.asarray([col.get(a, -1) for a in ja.pos_asset], dtype=np.int64)
    asset_move = np.asarray([col.get(a, -1) if a is not None else -1 for a in ja.bal_asset], dtype=np.int64)
    equity = np.empty(f.shape[0])
    mm = np.empty(f.shape[0])
    account_scenarios_nb(
        f,
        ja.pos_q,
        ja.pos_entry,
        ja.pos_mark,
        ja.pos_inverse,
        pos_move,
        ja.pos_mark_basis,
        ja.pos_mm_const,
        ja.pos_fee_mm,
        ja.tier_start,
        ja.caps,
        ja.mmrs,
        ja.cums,
        ja.asset_net,
        ja.asset_price,
        ja.asset_loan,
        asset_move,
        ja.asset_qty_basis,
        ja.coll_start,
        ja.floors,
        ja.ratios,
        ja.settle,
        ja.upnl_in_haircut,
        equity,
        mm,
    )
    return equity, mm, breached(ja, equity, mm)


def breached(ja: JointAccount, equity: Float64Array1D, mm: Float64Array1D) -> npt.NDArray[np.bool_]:
    """Return where ``equity`` meets the account's liquidation trigger against ``mm``.

    ``equity <= c * MM`` (strictly below on dYdX and Hyperliquid, with ``MM > 0`` where
    ``mm_must_be_positive``: dYdX, an empty unified account):
    :meth:`levguard.core.rules.base.VenueModel.liquidatable` and
    :meth:`levguard.core.unified.UnifiedVenue.liquidatable` on arrays.
    """
    liq = equity < ja.multiple * mm if ja.strict else equity <= ja.multiple * mm
    if ja.mm_must_be_positive:
        liq &= mm > 0.0
    return liq


def _ratios(ja: JointAccount | EngineJoint, equity: Float64Array1D, mm: Float64Array1D) -> Float64Array1D:
    out = np.empty(equity.shape[0])
    for i, (e, m) in enumerate(zip(equity.tolist(), mm.tolist(), strict=True)):
        r = ja.ratio(e, m)
        out[i] = math.nan if r is None else r
    return out


@dataclass(frozen=True, slots=True, eq=False)
class LiquidationSurface:
    """The account on a grid of joint relative moves of two assets (see :func:`liquidation_surface`).

    Arrays are ``(len(moves_y), len(moves_x))``: row ``j``, column ``i`` is the scenario where
    ``asset_x`` moves by ``moves_x[i]`` and ``asset_y`` by ``moves_y[j]``.  ``ratio`` is the venue's
    account ratio (NaN where undefined), ``trigger`` its value at liquidation.
    """

    venue: str
    asset_x: str
    asset_y: str
    price_x: float
    price_y: float
    moves_x: Float64Array1D
    moves_y: Float64Array1D
    equity: Float64Array2D
    maintenance_margin: Float64Array2D
    ratio: Float64Array2D
    liquidatable: npt.NDArray[np.bool_]
    ratio_name: str
    trigger: float
    ratio_rises_when_safer: bool

    def to_dict(self) -> dict[str, object]:
        """Return a JSON-ready dict (arrays as nested lists, NaN as None)."""
        return {f.name: json_ready(_plain(getattr(self, f.name))) for f in dataclasses.fields(self)}


def _plain(value: object) -> object:
    return value.tolist() if isinstance(value, np.ndarray) else value


def _moves(values: object, field_name: str) -> Float64Array1D:
    no_bools_or_strings(values, field_name)  # True would read as a +100 % move
    arr = array_1d(values, field_name)
    if arr.shape[0] == 0:
        raise InputError(f"{field_name} must hold at least one move, was empty")
    require_finite(arr, field_name)
    bad = np.flatnonzero(arr <= -1.0)
    if bad.size:
        i = int(bad[0])
        raise InputError(f"{field_name}[{i}] must be a relative move > -1 (a price stays > 0), was {float(arr[i])!r}")
    return arr


def liquidation_surface(
    account: AnyAccount,
    asset_x: str,
    asset_y: str,
    moves_x: npt.ArrayLike,
    moves_y: npt.ArrayLike,
) -> LiquidationSurface:
    """Evaluate the account on the grid of joint relative moves of ``asset_x`` and ``asset_y``.

    Parameters
    ----------
    account : JointAccount, UnifiedAccount or Account
    asset_x, asset_y : str
        Two different assets of the account (balances or positions' base assets).
    moves_x, moves_y : (nx,), (ny,) array_like
        Relative moves, fractions > -1 (``-0.3`` is a 30 % fall).

    Returns
    -------
    LiquidationSurface
        Equity, maintenance margin, ratio and liquidation flag on the ``(ny, nx)`` grid.

    Notes
    -----
    Each grid point reprices every position on the moved assets (mark ``M (1 + m)``) and their
    balances (price ``P (1 + m)``), holds everything else, and evaluates the account exactly
    (:func:`scenario_values`); the boundary between liquidated and safe points is the liquidation
    surface's level set ``E = c MM`` sampled on the grid.
    """
    ja = _as_joint(account)
    ax, ay = _asset_names(ja, [asset_x, asset_y], "assets")
    mx = _moves(moves_x, "moves_x")
    my = _moves(moves_y, "moves_y")
    if mx.shape[0] * my.shape[0] > _MAX_GRID:
        raise InputError(f"the grid must have at most {_MAX_GRID:,} points, was {mx.shape[0]} x {my.shape[0]}")
    gx, gy = np.meshgrid(1.0 + mx, 1.0 + my)
    factors = np.column_stack([gx.ravel(), gy.ravel()])
    equity, mm, liq = scenario_values(ja, (ax, ay), factors)
    shape = (my.shape[0], mx.shape[0])
    return LiquidationSurface(
        venue=ja.venue,
        asset_x=ax,
        asset_y=ay,
        price_x=ja.price_of(ax),
        price_y=ja.price_of(ay),
        moves_x=mx.copy(),
        moves_y=my.copy(),
        equity=equity.reshape(shape),
        maintenance_margin=mm.reshape(shape),
        ratio=_ratios(ja, equity, mm).reshape(shape),
        liquidatable=liq.reshape(shape),
        ratio_name=ja.ratio_name,
        trigger=ja.trigger,
        ratio_rises_when_safer=ja.ratio_rises_when_safer,
    )


# --- reverse stress ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReverseStress(JsonRecord):
    """The smallest joint shock that liquidates the account (see :func:`reverse_stress`).

    ``shock`` holds the log moves ``ln(P' / P)`` per asset, ``moves`` the relative moves, ``norm``
    their Mahalanobis norm ``sqrt(x^T Sigma^-1 x)`` (in standard deviations of the covariance's
    horizon).  ``found`` is False when nothing within ``max_norm`` liquidates (then ``norm`` is
    inf and the shock fields are empty).  ``equity``, ``maintenance_margin``, ``ratio`` and
    ``liquidatable`` are the account's own evaluation at the scenario.
    """

    venue: str
    assets: tuple[str, ...]
    found: bool
    norm: float
    shock: tuple[float, ...]
    moves: tuple[float, ...]
    prices_before: Mapping[str, float] = field(default_factory=empty_mapping)
    prices_after: Mapping[str, float] = field(default_factory=empty_mapping)
    equity: float = math.nan
    maintenance_margin: float = math.nan
    ratio: float | None = None
    ratio_name: str = ""
    liquidatable: bool = False
    covariance: tuple[tuple[float, ...], ...] = ()
    max_norm: float = math.nan
    directions: int = 0


def _directions(k: int, n: int, seed: int) -> Float64Array2D:
    # Unit vectors in the whitened space: a circle of n for k = 2, both signs for k = 1, the
    # +/- axes and n seeded Gaussian directions for k >= 3.
    if k == 1:
        return np.array([[1.0], [-1.0]])
    if k == 2:
        theta = 2.0 * np.pi * np.arange(n) / n
        return np.column_stack([np.cos(theta), np.sin(theta)])
    g = np.random.default_rng(seed).standard_normal((n, k))
    g = np.vstack([np.eye(k), -np.eye(k), g])
    out: Float64Array2D = g / np.linalg.norm(g, axis=1, keepdims=True)
    return out


class _Ray:
    """First liquidating radius along whitened directions (vectorised over directions)."""

    def __init__(self, ja: JointAccount | EngineJoint, assets: tuple[str, ...], chol: Float64Array2D) -> None:
        self.ja, self.assets, self.chol = ja, assets, chol

    def liquidated(self, x: Float64Array2D) -> BoolArray1D:
        # x: (S, K) log moves.
        return scenario_values(self.ja, self.assets, np.exp(x))[2]

    def first(self, dirs: Float64Array2D, r_max: float, n_r: int) -> Float64Array1D:
        """Smallest ``r`` in ``(0, r_max]`` with ``L (r z)`` liquidated, per direction ``z`` (NaN: none).

        Scans ``n_r`` radii, then bisects the first bracket (a safe radius, a liquidated one)
        down to adjacent floats; the liquidated end is returned, so it liquidates by construction.
        """
        steps = np.linspace(0.0, r_max, n_r + 1)[1:]
        xs = dirs @ self.chol.T  # (D, K): the log move of radius 1 along each direction
        pts = (steps[None, :, None] * xs[:, None, :]).reshape(-1, xs.shape[1])
        liq = self.liquidated(pts).reshape(len(dirs), n_r)
        hit = liq.any(axis=1)
        idx = np.argmax(liq, axis=1)
        out = np.full(len(dirs), np.nan)
        if not hit.any():
            return out
        rows = np.flatnonzero(hit)
        hi = steps[idx[rows]]
        lo = np.where(idx[rows] > 0, steps[np.maximum(idx[rows] - 1, 0)], 0.0)
        d = xs[rows]
        for _ in range(200):
            mid = 0.5 * (lo + hi)
            open_ = (mid > lo) & (mid < hi)
            if not open_.any():
                break
            bad = self.liquidated(mid[:, None] * d)
            hi = np.where(open_ & bad, mid, hi)
            lo = np.where(open_ & ~bad, mid, lo)
        out[rows] = hi
        return out


def _refine(ray: _Ray, z: Float64Array1D, r: float, step: float, n_r: int) -> tuple[Float64Array1D, float]:
    # Pattern search on the unit sphere: try z +/- h t for each tangent t, keep the best, halve h
    # when nothing improves.  Each candidate's radius is searched in (0, r] only (nothing beyond
    # can improve), so a candidate without a root there is no improvement.
    k = z.shape[0]
    if k == 1:
        return z, r
    h = step
    for _ in range(400):
        if h < 1e-13:
            break
        # Tangent basis of the sphere at z: the null space of z^T.
        _, _, vt = np.linalg.svd(z[None, :])
        tang = vt[1:]
        cand = np.vstack([z + h * tang, z - h * tang])
        cand /= np.linalg.norm(cand, axis=1, keepdims=True)
        rs = ray.first(cand, r, n_r)
        j = int(np.nanargmin(rs)) if np.isfinite(rs).any() else -1
        if j >= 0 and rs[j] < r:
            z, r = cand[j], float(rs[j])
        else:
            h *= 0.5
    return z, r


def _moved(source: UnifiedAccount | Account, prices: Mapping[str, float]) -> UnifiedAccount | Account:
    # The account with every position on a moved asset at its new mark and every moved balance at
    # its new price (multipliers in ``prices``).
    def pos(p: Any) -> Any:
        f = prices.get(base_asset(p.symbol))
        return p if f is None else dataclasses.replace(p, mark_price=p.mark_price * f)

    if isinstance(source, UnifiedAccount):
        acc = dataclasses.replace(source.positions, positions=tuple(pos(p) for p in source.positions.positions))
        assets = tuple(
            dataclasses.replace(a, price=a.price * prices[a.name]) if a.name in prices else a for a in source.assets
        )
        return dataclasses.replace(source, positions=acc, assets=assets)
    return dataclasses.replace(source, positions=tuple(pos(p) for p in source.positions))


def _evaluate(source: UnifiedAccount | Account, factors: Mapping[str, float]) -> AccountReport:
    moved = _moved(source, factors)
    return evaluate_unified(moved) if isinstance(moved, UnifiedAccount) else evaluate(moved)


def reverse_stress(
    account: AnyAccount,
    assets: Sequence[str],
    cov: npt.ArrayLike,
    *,
    max_norm: float = 20.0,
    n_directions: int = 720,
    n_radii: int = 400,
    seed: int = 0,
) -> ReverseStress:
    """Find the smallest joint log-move of ``assets`` (Mahalanobis norm under ``cov``) that liquidates.

    Parameters
    ----------
    account : JointAccount, UnifiedAccount or Account
    assets : sequence of str
        The K moved assets (1 to 20; every other price is held).
    cov : (K, K) array_like
        Covariance of the assets' log moves over the horizon of interest, positive definite
        (:func:`covariance_from_returns`, :func:`covariance_from_vols`, or the user's).
    max_norm : float
        Largest norm searched (standard deviations, > 0).
    n_directions : int
        Directions scanned before refinement (>= 8): around the circle for two assets, seeded
        Gaussian directions plus the axes for more.
    n_radii : int
        Radii scanned per direction before bisection (>= 10).
    seed : int
        Seed of the directions for three assets or more.

    Returns
    -------
    ReverseStress

    Notes
    -----
    Minimise ``||x||_Sigma = sqrt(x^T Sigma^-1 x)`` over log moves ``x`` with the account
    liquidatable at prices ``P exp(x)``.  With ``Sigma = L L^T`` and ``x = L r z`` (``|z| = 1``)
    the norm is ``r``: for each direction ``z`` the first liquidating ``r`` is found by scanning
    ``n_radii`` radii in ``(0, max_norm]`` and bisecting the first bracket to adjacent floats on
    the account's own test (:func:`scenario_values`); the best direction is refined by a pattern
    search on the sphere with halving steps.  The returned scenario is the liquidated end of the
    final bracket, checked once more by the scalar evaluation
    (:func:`levguard.core.unified.evaluate_unified` or :func:`levguard.core.margin.evaluate`) and
    pushed outward by a few ulps if that disagrees.  A liquidated region thinner than the radius
    step in every direction can be missed (the scan samples it).  This is the "maximum
    plausibility" reverse stress test of Breuer, Jandacka, Rheinberger and Summer (2009, "How to
    find plausible, severe, and useful stress scenarios", Int. J. Central Banking 5(3)).
    """
    ja = _as_joint(account)
    names = _asset_names(ja, assets, "assets")
    k = len(names)
    if k > _MAX_ASSETS:
        raise InputError(f"assets must name at most {_MAX_ASSETS} assets, was {k}")
    c = checked_covariance(cov, k)
    if isinstance(max_norm, bool) or not (
        isinstance(max_norm, int | float) and math.isfinite(max_norm) and max_norm > 0.0
    ):  # True is an int: it read as a norm of 1
        raise InputError(f"max_norm must be > 0, was {max_norm!r}")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise InputError(f"seed must be an integer >= 0, was {show(seed)}")
    for value, low, label in ((n_directions, 8, "n_directions"), (n_radii, 10, "n_radii")):
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= 100_000:
            raise InputError(f"{label} must be an integer in [{low}, 100000], was {value!r}")
    chol: Float64Array2D = np.asarray(np.linalg.cholesky(c), dtype=np.float64)
    ray = _Ray(ja, names, chol)
    before = {a: ja.price_of(a) for a in names}
    base = ReverseStress(
        venue=ja.venue,
        assets=names,
        found=False,
        norm=math.inf,
        shock=(),
        moves=(),
        prices_before=before,
        ratio_name=ja.ratio_name,
        covariance=tuple(tuple(row) for row in c.tolist()),
        max_norm=float(max_norm),
    )
    zero = np.zeros((1, k))
    dirs = _directions(k, n_directions, seed)
    if ray.liquidated(zero)[0]:
        x = np.zeros(k)
        r_best = 0.0
    else:
        rs = ray.first(dirs, float(max_norm), n_radii)
        if not np.isfinite(rs).any():
            return dataclasses.replace(base, directions=len(dirs))
        j = int(np.nanargmin(rs))
        step = 2.0 * math.pi / n_directions if k == 2 else 0.5
        z, r_best = _refine(ray, dirs[j], float(rs[j]), step, n_radii)
        x = r_best * (chol @ z)
    # The account's own scalar evaluation must agree; push outward by ulps where it does not.
    for attempt in range(64):
        # 1 + the reported move: a forward stress of these moves prices exactly this scenario.
        factors = {a: 1.0 + math.expm1(v) for a, v in zip(names, x.tolist(), strict=True)}
        rep = ja.report(factors) if isinstance(ja, EngineJoint) else _evaluate(ja.source, factors)
        if rep.liquidatable or r_best == 0.0:
            break
        x = x * (1.0 + 4e-16 * 2.0 ** min(attempt, 40))
    norm = float(math.sqrt(x @ np.linalg.solve(c, x)))
    return dataclasses.replace(
        base,
        found=bool(rep.liquidatable),
        norm=norm,
        shock=tuple(x.tolist()),
        moves=tuple(float(math.expm1(v)) for v in x.tolist()),
        prices_after={a: before[a] * factors[a] for a in names},
        equity=rep.equity,
        maintenance_margin=rep.maintenance_margin,
        ratio=rep.account_ratio if isinstance(ja.source, UnifiedAccount) else rep.margin_ratio,
        liquidatable=rep.liquidatable,
        directions=len(dirs),
    )
