"""The guardian for on-chain lending positions: Aave v3 accounts and Morpho Blue borrows.

An :class:`OnchainAccountSetup` is an :class:`~levguard.live.setup.AccountSetup` whose venue is an
:class:`~levguard.venues.onchain.OnchainVenue`; :meth:`levguard.live.guardian.Guardian.cycle_account`
hands it to :func:`cycle` (and :meth:`~levguard.live.guardian.Guardian.reconcile` to
:func:`levguard.live.onchain_tx.resolve`), inside the guardian's lease, containment, backoff and
store.  Per cycle:

1. **Transactions in flight** first: looked up by hash, and by the sender's nonce when the node
   has never seen the hash (:func:`levguard.live.onchain_tx.resolve`);
2. **Read** the position at one block (retrying transient failures; a node that is down or hangs
   makes the cycle *stale*: alert, no transaction);
3. **Assess** it with levguard's exact engines (the injected :data:`Assessor`, by default
   :func:`levguard.defi.onchain.assess`): health factor, liquidation prices, the repayment and
   supply that restore ``rules.target_hf``;
4. **Cross-check** (Aave): levguard's health factor against ``Pool.getUserAccountData`` of the same
   block, one ``hf_mismatch`` alert per episode beyond ``rules.hf_tolerance``; **oracles**: a price
   feed whose round is stale, non-positive or incomplete raises an ``oracle`` alert;
5. **State**: the guardian's state machine (:func:`levguard.live.states.next_level`, with its
   hysteresis) on the margin-ratio scale ``1 / HF`` against ``1 / rules.health_factor`` and, when a
   forecaster is plugged in (:attr:`OnchainAccountSetup.p_hf_below_one`, by default
   :class:`levguard.defi.onchain.HfForecasts` on the account's bars), on P(HF < 1) over
   ``horizon_days`` against ``thresholds.p_liq``, as exchange accounts use P(liq); without one the
   state follows the health factor alone, and the position's ``forecast_source`` says so;
6. **Act** at ``act_level`` towards ``rules.target_hf`` or, when P(HF < 1) is known, the higher
   health factor at which it falls below the ACT threshold less the hysteresis (else the state
   could not leave ACT): repay from the paying wallet or supply collateral
   (:func:`levguard.live.onchain_tx.protect`), or unwind a loop (``prefer: unwind``,
   :mod:`levguard.live.onchain_unwind`); an unwind step left open (a crash between its legs) is
   finished first, whatever the level.  Dry run unless the guardian runs live *and* the account
   opted in; live, each transaction is journaled before it is sent;
7. A snapshot and an audit row.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from levguard.core.records import JsonRecord
from levguard.errors import InputError, LevguardError, VenueAuthError, VenueError
from levguard.live import inflight, onchain_tx, onchain_unwind, passes
from levguard.live.onchain_unwind import Unwinder
from levguard.live.setup import AccountSetup, AccountState, PositionState
from levguard.live.states import Level, Thresholds, next_level
from levguard.venues.onchain import OnchainVenue
from levguard.venues.onchain_read import AaveOracleRevertError, AaveRead, LendingRead

if TYPE_CHECKING:
    from levguard.live.guardian import Guardian

__all__ = [
    "NO_FORECAST",
    "Assessor",
    "AssetFigures",
    "HealthRules",
    "HfProbability",
    "LendingAssessment",
    "OnchainAccountSetup",
    "cycle",
    "is_onchain",
    "resolve",
]

_UINT256_MAX = 2**256 - 1
_WAD = 10**18
NO_FORECAST = "none: no bars for P(HF < 1) (the account's history): the state follows the health factor alone"
"""The ``forecast_source`` of an account without a P(HF < 1) forecaster."""


@dataclass(frozen=True, slots=True)
class AssetFigures(JsonRecord):
    """One token of a lending position, as the assessment sees it.

    Attributes
    ----------
    symbol : str
    price : float
        Value of one whole token in the assessment's ``value_unit``: the price the protocol values it
        at (its oracle; Aave 3.0 / 3.1, for a reserve of the user's e-mode category with a price
        source, that source's price).
    decimals : int
    collateral, debt : int
        Base units held as collateral (counted in the health factor) and owed.
    liquidation_price : float or None
        The price (``value_unit``) at which the position becomes liquidatable, every other price
        fixed (collaterals only; None when there is none, see ``note``).
    repay_to_target, supply_to_target : int or None
        The least repayment of this debt, or supply of this collateral, in base units, that brings
        the health factor to the target (0: already there; None: not possible with this token, or
        refused by the protocol: an Aave reserve paused, or frozen for a supply, see ``note``).
    note : str
        Why a figure is missing (the liquidation price's reason, the reserve's state).
    repay_max : int or None
        The most one repayment of this debt can be (base units): a Morpho loan's largest repayment
        by assets the contract accepts, which can be below ``debt`` (``Morpho.repay`` reverts when
        the shares it burns exceed those owed); None where the protocol takes any amount and
        repays at most the debt (Aave's ``Pool.repay``).
    """

    symbol: str
    price: float
    decimals: int
    collateral: int
    debt: int
    liquidation_price: float | None
    repay_to_target: int | None
    supply_to_target: int | None
    note: str = ""
    repay_max: int | None = None


@dataclass(frozen=True, slots=True)
class LendingAssessment(JsonRecord):
    """levguard's figures for one position read (what :data:`Assessor` returns).

    Attributes
    ----------
    health_factor_wad : int
        levguard's health factor (wad; ``2**256 - 1`` without debt).
    target_hf : float
    value_unit : str
        ``"USD"`` (Aave: the oracle's base currency) or the loan token (Morpho).
    collateral_value, debt_value : float
        In ``value_unit``.
    assets : tuple of AssetFigures
    """

    health_factor_wad: int
    target_hf: float
    value_unit: str
    collateral_value: float
    debt_value: float
    assets: tuple[AssetFigures, ...]

    @property
    def health_factor(self) -> float:
        """As a float (``inf`` without debt)."""
        return math.inf if self.health_factor_wad == _UINT256_MAX else self.health_factor_wad / _WAD

    def asset(self, symbol: str) -> AssetFigures:
        """The figures of ``symbol``; InputError naming the known ones."""
        for a in self.assets:
            if a.symbol == symbol:
                return a
        raise InputError(f"symbol must be one of {[a.symbol for a in self.assets]}, was {symbol!r}")


Assessor = Callable[[LendingRead, float], LendingAssessment]
"""``assess(read, target_hf) -> LendingAssessment``: levguard's exact engines on a read (injected
by the composition root: :func:`levguard.defi.onchain.assess`)."""


@dataclass(frozen=True, slots=True)
class HfProbability(JsonRecord):
    """P(HF < 1) of a position over the horizon, as a :data:`PHook` returns it.

    Attributes
    ----------
    probability : float
        In ``[0, 1]``; NaN when unknown (``source`` says why).
    source : str
        What it was computed from (the model, the price ratio, the bars), or why there is none.
    distance : float or None
        The fall of the collateral / debt price ratio that brings HF to 1 (fraction).
    safe_health_factor : float or None
        The least health factor at which P(HF < 1) is at most the ``max_p`` asked for (None:
        unknown, or no health factor gets there).
    """

    probability: float
    source: str
    distance: float | None = None
    safe_health_factor: float | None = None


PHook = Callable[[LendingRead, LendingAssessment, float, float], "float | HfProbability"]
"""``p(read, assessment, horizon_days, max_p) -> HfProbability`` (or a bare probability): P(HF < 1)
over the horizon and the health factor at which it is ``max_p``; injected by the composition
root (:class:`levguard.defi.onchain.HfForecasts`)."""


@dataclass(frozen=True)
class HealthRules:
    """States and actions of an on-chain account, in health-factor terms.

    Parameters
    ----------
    health_factor : (warn, danger, act)
        Health factors below which each level starts (decreasing, all > 1).
    p_hf_below_one : (warn, danger, act)
        P(HF < 1) over the horizon above which each level starts (increasing), used when a
        forecaster is plugged in.
    hysteresis : float
        Relative margin to leave a level (on ``1 / HF``: leaving WARN at 1.5 needs HF above
        ``1.5 / (1 - h)``).
    target_hf : float
        What an action restores (above the ACT threshold).
    prefer : {"repay", "supply", "unwind"}
        The action tried first; the other when the wallet holds none of the first's tokens.
        ``"unwind"``: withdraw collateral, sell it for the debt token, repay
        (:mod:`levguard.live.onchain_unwind`; needs the venue's swapper and the wallet's own
        key); repay, then supply, when no unwind is possible.
    unwind_min_hf : float
        The least health factor a withdrawal of an unwind may leave (> 1; at most halfway from 1
        to the health factor before it).
    unwind_rounds : int
        Withdraw-sell-repay rounds of one unwind action at most.
    max_slippage : float
        The sale of an unwind must deliver at least the oracle value less this fraction.
    hf_tolerance : float
        Relative gap between levguard's and the protocol's health factor (Aave) that is alerted.
    confirm_wait_s : float
        How long a cycle waits for a sent transaction's receipt before leaving it in flight.
    max_block_age_s : float or None
        The node's latest block older than this makes the cycle stale (None: not checked).
    """

    health_factor: tuple[float, float, float] = (1.5, 1.25, 1.15)
    p_hf_below_one: tuple[float, float, float] = (0.05, 0.2, 0.5)
    hysteresis: float = 0.1
    target_hf: float = 1.35
    prefer: Literal["repay", "supply", "unwind"] = "repay"
    unwind_min_hf: float = 1.05
    unwind_rounds: int = 4
    max_slippage: float = 0.01
    hf_tolerance: float = 1e-9
    confirm_wait_s: float = 15.0
    max_block_age_s: float | None = None

    def __post_init__(self) -> None:
        hf = self.health_factor
        if len(hf) != 3 or not all(isinstance(v, int | float) and math.isfinite(v) and v > 1 for v in hf):
            raise InputError(f"health_factor must be three finite numbers > 1 (warn, danger, act), was {hf!r}")
        if not hf[0] >= hf[1] >= hf[2]:
            raise InputError(f"health_factor must be decreasing from warn to act, was {hf!r}")
        if not (isinstance(self.target_hf, int | float) and math.isfinite(self.target_hf) and self.target_hf > hf[2]):
            raise InputError(f"target_hf must be above the ACT health factor {hf[2]:g}, was {self.target_hf!r}")
        if self.prefer not in ("repay", "supply", "unwind"):
            raise InputError(f"prefer must be 'repay', 'supply' or 'unwind', was {self.prefer!r}")
        if not (isinstance(self.unwind_min_hf, int | float) and 1 < self.unwind_min_hf < 100):
            raise InputError(f"unwind_min_hf must be a number in (1, 100), was {self.unwind_min_hf!r}")
        if not (isinstance(self.unwind_rounds, int) and 1 <= self.unwind_rounds <= 20):
            raise InputError(f"unwind_rounds must be an integer in [1, 20], was {self.unwind_rounds!r}")
        if not (isinstance(self.max_slippage, int | float) and 0 <= self.max_slippage < 0.5):
            raise InputError(f"max_slippage must be a fraction in [0, 0.5), was {self.max_slippage!r}")
        for key in ("hf_tolerance", "confirm_wait_s"):
            v = getattr(self, key)
            if not (isinstance(v, int | float) and math.isfinite(v) and v >= 0):
                raise InputError(f"{key} must be a finite number >= 0, was {v!r}")
        if self.max_block_age_s is not None and not self.max_block_age_s > 0:
            raise InputError(f"max_block_age_s must be > 0 or None, was {self.max_block_age_s!r}")
        self.thresholds()  # p_hf_below_one and hysteresis checked by Thresholds

    def thresholds(self) -> Thresholds:
        """The guardian's thresholds: margin ratio ``1 / HF``; the distance is not used."""
        w, d, a = self.health_factor
        return Thresholds(
            margin_ratio=(1.0 / w, 1.0 / d, 1.0 / a), p_liq=self.p_hf_below_one, hysteresis=self.hysteresis
        )


@dataclass
class OnchainAccountSetup(AccountSetup):
    """An on-chain lending account: :class:`AccountSetup` with an :class:`OnchainVenue`, the
    :class:`HealthRules`, the :data:`Assessor`, an optional P(HF < 1) forecaster (:data:`PHook`)
    and, for ``prefer: unwind``, the :data:`~levguard.live.onchain_unwind.Unwinder`.

    ``thresholds`` is derived from ``rules``; ``max_order_notional`` caps one repayment's or
    supply's value in the assessment's unit (USD on Aave, the loan token on Morpho); ``cooldown_s``
    separates two actions; ``live`` is the account's opt-in; ``horizon_days`` is P(HF < 1)'s.
    """

    rules: HealthRules = field(default_factory=HealthRules)
    assess: Assessor | None = None
    p_hf_below_one: PHook | None = None
    unwind: Unwinder | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.venue, OnchainVenue):
            raise InputError(f"{self.name}: venue must be an OnchainVenue, was {type(self.venue).__name__}")
        if self.assess is None:
            raise InputError(f"{self.name}: assess (levguard.defi.onchain.assess) is required")
        if self.rules.prefer == "unwind" and (self.unwind is None or self.venue.swapper is None):
            raise InputError(
                f"{self.name}: prefer 'unwind' needs a swapper on the venue and unwind "
                "(levguard.defi.onchain.unwind_plan)"
            )
        self.thresholds = self.rules.thresholds()
        self.venue_bars = False
        super().__post_init__()


def is_onchain(setup: AccountSetup) -> bool:
    """Whether ``setup`` is an on-chain lending account (handled by this module)."""
    return isinstance(setup, OnchainAccountSetup)


async def resolve(g: Guardian, setup: AccountSetup, st: AccountState) -> list[dict[str, Any]]:
    """The account's transactions in flight, looked up by hash and nonce (see
    :func:`levguard.live.onchain_tx.resolve`); a dry run settles none: it follows the store every
    cycle, as for orders (:func:`levguard.live.inflight.follow`)."""
    assert isinstance(setup, OnchainAccountSetup)
    if not g.live:
        return []
    return await onchain_tx.resolve(g, setup, st)


def position_key(read: LendingRead) -> str:
    """The key of the position's state (stable across cycles): ``aave-v3`` or ``morpho-blue:<id>``."""
    return read.protocol if isinstance(read, AaveRead) else f"morpho-blue:{read.market_id[:10]}"


def _label(read: LendingRead, a: LendingAssessment) -> str:
    coll = "+".join(x.symbol for x in a.assets if x.collateral) or "-"
    debt = "+".join(x.symbol for x in a.assets if x.debt) or "-"
    return f"{read.protocol} {coll}/{debt}"


async def cycle(g: Guardian, setup: AccountSetup, st: AccountState) -> dict[str, Any]:
    """One cycle of an on-chain account (the module docstring); the guardian's report."""
    assert isinstance(setup, OnchainAccountSetup)
    assert setup.assess is not None
    venue = setup.venue
    assert isinstance(venue, OnchainVenue)
    rules = setup.rules
    # 1. Transactions in flight, by hash and nonce (a dry run reads the live guardian's).
    if not g.live:
        inflight.follow(g, setup, st)
    if st.inflight:
        await resolve(g, setup, st)
        if st.lease_until_ns == 0:  # a fenced result was refused: another process holds the account
            return {"account": setup.name, "status": "lease_held_elsewhere"}
        why = "no new transaction until they are mined or their nonce is used"
        await inflight.escalate(g, setup, st, "transaction", why)
    # 2. Read.
    try:
        read = await g._call(setup, "read", venue.read)
    except VenueAuthError:
        raise
    except AaveOracleRevertError as exc:
        return await _unpriced(g, setup, st, exc)
    except VenueError as exc:
        return await g._stale(setup, st, f"chain unavailable after retries: {exc}")
    now = g.clock()
    if rules.max_block_age_s is not None:
        age = now / 1e9 - read.block_timestamp
        if age > rules.max_block_age_s:
            return await g._stale(setup, st, f"the node's latest block is {age:.0f} s old")
    await g._fresh(setup, st, "the chain answers again")
    # 3. Assess with levguard's engines.
    try:
        a = setup.assess(read, rules.target_hf)
    except LevguardError as exc:
        await g._alert(setup.name, "critical", "evaluation", f"cannot evaluate the position: {exc}", dedup="assess")
        return {"account": setup.name, "status": "error", "error": str(exc)}
    hf = a.health_factor
    # 4. The protocol's own health factor, and the oracles.
    extra = await _cross_check(g, setup, st, read, a)
    await _oracles(g, setup, read)
    # 5. State.
    h = setup.horizon_days
    risk = _probability(setup, read, a, h)
    p = risk.probability
    ratio = 0.0 if math.isinf(hf) else (1.0 / hf if hf > 0 else math.inf)
    key = position_key(read)
    ps = st.positions.get(key)
    if ps is None:
        # The cooldown survives a restart: Guardian.load keyed the last orders by token.
        last = max((q.last_order_ns for q in st.positions.values()), default=PositionState().last_order_ns)
        ps = st.positions[key] = PositionState(last_order_ns=last)
    new = next_level(ps.level, setup.thresholds, ratio, math.nan, p)
    label = _label(read, a)
    detail = f"health factor {hf:.4f}, P(HF<1, {h:g}d) {'unknown' if math.isnan(p) else f'{p:.1%}'}"
    await g._move(setup, ps, new, label, key, detail, health_factor=hf, p_liq=p)
    view = _view(read, a, label, new, p, extra)
    view.update(forecast_source=risk.source, p_horizon_days=h, distance_hf1=risk.distance)
    # 6. Act: an unwind step left open first, whatever the level.
    action = None
    pending = None
    if not st.inflight and setup.unwind is not None and venue.swapper is not None:
        pending = onchain_unwind.open_step(g, setup)
    if pending is not None or new >= setup.act_level:
        target = rules.target_hf
        safe = risk.safe_health_factor
        if safe is not None and math.isfinite(safe) and safe > target:
            target = safe  # P(HF < 1) would keep the position at ACT at the configured target
            a = setup.assess(read, target)
            view["target_hf"] = target
        if pending is not None:
            more = new >= setup.act_level
            action = await onchain_unwind.resume(g, setup, st, ps, read, a, view, now, pending, more=more)
        else:
            if rules.prefer == "unwind":
                action = await onchain_unwind.act(g, setup, st, ps, read, a, view, now)
            if action is None:
                action = await onchain_tx.protect(g, setup, st, ps, read, a, view, now)
    view["action"] = action
    # 7. Records.
    figures = {"health_factor": hf, "block": read.block_number, "positions": [view], **extra}
    g._pending_snapshots.append((setup.name, now, new.name, figures))
    inputs = {"block": read.block_number, "health_factor_wad": str(a.health_factor_wad)}
    reasons = [f"{label}: {new.name}"]
    passes.routine_audit(g, setup.name, now, inputs, {"state": new.name}, reasons, (new.name, *reasons))
    return {
        "account": setup.name,
        "status": "ok",
        "level": int(new),
        "state": new.name,
        "protocol": read.protocol,
        "block": read.block_number,
        "health_factor": hf,
        "positions": [view],
        **extra,
    }


def _probability(setup: OnchainAccountSetup, read: LendingRead, a: LendingAssessment, h: float) -> HfProbability:
    # P(HF < 1) from the account's forecaster; NaN, and why, without one or when it fails.  The
    # safe health factor asked for is where P falls below the ACT threshold less the hysteresis.
    if setup.p_hf_below_one is None:
        return HfProbability(math.nan, NO_FORECAST)
    th = setup.thresholds
    try:
        out = setup.p_hf_below_one(read, a, h, th.p_liq[2] * (1.0 - th.hysteresis))
    except LevguardError as exc:
        return HfProbability(math.nan, f"none: {exc}: the state follows the health factor alone")
    return out if isinstance(out, HfProbability) else HfProbability(float(out), "the account's P(HF < 1) hook")


def _view(
    read: LendingRead, a: LendingAssessment, label: str, level: Level, p: float, extra: Mapping[str, Any]
) -> dict[str, Any]:
    # The position's row of the report, in the shape of an exchange position's row (the largest
    # collateral stands for qty, mark and liquidation price) plus the lending figures.
    main = max(
        (x for x in a.assets if x.collateral), key=lambda x: x.collateral / 10**x.decimals * x.price, default=None
    )
    lp = main.liquidation_price if main is not None else None
    mark = main.price if main is not None else math.nan
    distance = abs(mark - lp) / mark if lp is not None and mark > 0 else math.inf
    equity = a.collateral_value - a.debt_value
    return {
        "symbol": label,
        "qty": main.collateral / 10**main.decimals if main is not None else 0.0,
        "mark": mark,
        "liquidation_price": lp,
        "venue_liquidation_price": None,
        "distance": distance,
        "p_liq": p,
        "state": level.name,
        "health_factor": a.health_factor,
        "margin_ratio": 1.0 / a.health_factor if a.health_factor > 0.0 else math.inf,  # the states' scale
        "target_leverage": None,
        "binding_constraint": None,
        "target_hf": a.target_hf,
        "chain_health_factor": extra.get("chain_health_factor"),
        "leverage": a.collateral_value / equity if equity > 0 else math.inf,
        "collateral_value": a.collateral_value,
        "debt_value": a.debt_value,
        "value_unit": a.value_unit,
        "assets": [x.to_dict() for x in a.assets],
        "block": read.block_number,
    }


async def _cross_check(
    g: Guardian, setup: OnchainAccountSetup, st: AccountState, read: LendingRead, a: LendingAssessment
) -> dict[str, Any]:
    # Aave: levguard's HF against Pool.getUserAccountData at the same block; alerted once per
    # episode (st.ratio_mismatch), again only after the two agreed in between.
    if not isinstance(read, AaveRead):
        return {}
    chain, ours = read.chain_health_factor, a.health_factor_wad
    chain_f = math.inf if chain == _UINT256_MAX else chain / _WAD
    gap = 0.0 if chain == ours else (abs(chain - ours) / chain if chain not in (0, _UINT256_MAX) else math.inf)
    out = {"chain_health_factor": chain_f, "hf_gap": gap}
    if gap > setup.rules.hf_tolerance:
        if not st.ratio_mismatch:
            st.ratio_mismatch = True
            await g._alert(
                setup.name,
                "warning",
                "hf_mismatch",
                f"levguard's health factor {a.health_factor:.6f} differs from the pool's {chain_f:.6f} at block "
                f"{read.block_number} (gap {gap:.2e}): levguard's model of this account is off",
                levguard_wad=str(ours),
                chain_wad=str(chain),
                block=read.block_number,
            )
    else:
        st.ratio_mismatch = False
    return out


async def _oracles(g: Guardian, setup: OnchainAccountSetup, read: LendingRead) -> None:
    # A feed whose last round fails the consumer checks (stale, non-positive, incomplete): one
    # alert per feed per alert_repeat_s; cleared when it passes again.  AaveOracle.getAssetPrice
    # ignores an answer <= 0 and asks its fallback oracle (the read's price is the fallback's).
    for o in read.oracles:
        if o.check is None:
            continue
        if o.check.ok:
            g._clear_alert(setup.name, "oracle", o.symbol)
            continue
        what = f"e-mode category {o.emode_category} price source {o.symbol}" if o.emode_category else o.symbol
        uses = (
            f"the AaveOracle ignores it and uses its fallback oracle's price ({o.price})"
            if "non_positive_answer" in o.check.failures
            else "the protocol still uses its answer"
        )
        await g._alert(
            setup.name,
            "warning",
            "oracle",
            f"{what}: price feed {o.source} fails {', '.join(o.check.failures)} ({o.check.detail}); {uses}",
            dedup=o.symbol,
            symbol=o.symbol,
            failures=list(o.check.failures),
            age_s=o.check.age,
            heartbeat_s=o.check.heartbeat,
        )


async def _unpriced(
    g: Guardian, setup: OnchainAccountSetup, st: AccountState, exc: AaveOracleRevertError
) -> dict[str, Any]:
    # getUserAccountData reverts: the AaveOracle cannot price an asset of the account (a feed
    # answering <= 0 without a fallback).  The chain answers (not stale); one critical ``oracle``
    # alert per asset; no transaction: a repayment would go through, but nothing sizes it
    # without the price, and no liquidation goes through either while it lasts.
    await g._fresh(setup, st, "the chain answers again")
    why = "liquidations, borrows and withdrawals revert on-chain; levguard cannot value the position: no transaction"
    for o, reason in zip(exc.answers, exc.reasons, strict=True):
        await g._alert(
            setup.name,
            "critical",
            "oracle",
            f"{reason}: {why}",
            dedup=o.symbol,
            symbol=o.symbol,
            failures=list(o.check.failures) if o.check is not None else ["reverts"],
            block=exc.block_number,
        )
    g._audit(setup.name, "onchain_skipped", {"block": exc.block_number}, {"skipped": "unpriced"}, [str(exc)])
    return {"account": setup.name, "status": "error", "error": str(exc), "block": exc.block_number}
