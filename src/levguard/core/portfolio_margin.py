"""Portfolio margin of Deribit (PME, the extended risk matrix) and OKX (MR1-MR9 per risk unit).

Deribit
    :func:`deribit_pme_margin` computes one settlement currency of a coin-margined (inverse)
    portfolio-margin account the way ``private/pme/simulate`` reports it: risk vectors (9 price
    buckets x 3 volatility scenarios, plus the extended moves), the worst case with its bucket,
    the roll shock, ``risk_matrix_margin``, ``initial_margin`` and ``maintenance_margin``.
    Parameters mirror the API's ``model_params`` (:class:`DeribitPmeParams`).
OKX
    :func:`okx_risk_unit_margin` composes one risk unit (underlying) of a portfolio-margin
    account, MR1 and MR6 from the spot-shock grid for linear derivatives, and
    :func:`okx_account_margin` adds the units and the borrowing requirement (MR8).

Numbers reproduced by the golden tests come from each venue's own worked example; rules the
examples do not pin down are named in the Notes of the function applying them and in each result's
``assumptions``.  Sources (read 2026-12): Deribit API reference ``private/pme/simulate``
(OpenAPI 2.1.1, example of 2024-06-17), a captured ETH answer of that method (2026-02-15),
support.deribit.com "Portfolio Margin" (article 25944756247837); OKX API v5 "Position builder
(new)" (example of 2025-01-15), OKX announcement "OKX will further adjust portfolio margin
parameters" (2025-01-02) and OKX help "Multi-currency margin mode vs. Portfolio margin mode".
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal, TypeAlias

import numpy as np

from levguard.core.options.black76 import DAYS_PER_YEAR, black76, black76_price
from levguard.core.records import JsonRecord
from levguard.core.rules.deribit_pm import EXTENDED_MOVES, VOL_SCENARIOS
from levguard.core.validate import finite_number, integer_in, non_negative_number, number, positive_number, show
from levguard.errors import InputError
from levguard.typing import Float64Array

__all__ = [
    "DERIBIT_PME_BTC_2024_06_17",
    "DERIBIT_PME_ETH_2026_02_15",
    "DeribitFuture",
    "DeribitOption",
    "DeribitPmeParams",
    "DeribitPmeResult",
    "DeribitPosition",
    "DeribitRiskVector",
    "WorstCaseBucket",
    "deribit_pme_margin",
    "deribit_price_moves",
    "deribit_risk_vector",
    "deribit_shocked_vols",
]


# ============================================================================ helpers
def _text(value: object, field_name: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InputError(f"{field_name} must be a non-empty string, was {show(value)}")
    return value


def _fraction(value: object, field_name: str, *, lo: float, hi: float, lo_open: bool = False) -> float:
    # A finite number in [lo, hi] (or (lo, hi] with lo_open), else InputError naming field and value.
    x = finite_number(value, field_name)
    if (x <= lo if lo_open else x < lo) or x > hi:
        raise InputError(f"{field_name} must be in {'(' if lo_open else '['}{lo:g}, {hi:g}], was {value!r}")
    return x


# ============================================================================ Deribit PME
# model_params section of the DeribitPmeParams fields the API carries ("currency_pair" otherwise).
_SECTION: dict[str, str] = {"mm_factor": "general", "buckets_count": "general"}
_SECTION.update(dict.fromkeys(("extended_dampener", "annualised_move_risk", "min_annualised_move"), "currency"))
_SECTION.update(dict.fromkeys(("pnl_offset", "max_offsetable_pnl"), "currency"))
_LEVGUARD_ONLY = frozenset({"extended_moves", "vega_power_days", "min_days_to_expiry"})


@dataclass(frozen=True, slots=True)
class DeribitPmeParams(JsonRecord):
    """Deribit PME model parameters of one currency, named as the API's ``model_params`` names them.

    Parameters
    ----------
    price_range : float
        ``currency_pair.<ccy>_usd.price_range``: largest standard price move, a fraction in (0, 1)
        (0.16 = +/-16 %).
    buckets_count : int, default 4
        ``general.buckets_count``: buckets on each side of 0, so ``2 * buckets_count + 1`` moves.
    volatility_range_up, volatility_range_down : float, default 0.5, 0.25
        ``currency_pair`` volatility shock sizes (fractions of the implied vol at 30 days).
    short_term_vega_power, long_term_vega_power : float, default 0.3, 0.13
        Exponents of ``30 / days`` below and from 30 days to expiry.
    min_volatility_for_shock_up : float, default 0.5
        Floor of the volatility-up scenario (a vol, 0.5 = 50 %).
    extended_table_factor : float, default 1.0
        Share of the extended-table loss that counts (``currency_pair``).
    extended_dampener : float, default 0.0
        ``currency.<ccy>.extended_dampener``; carried for reporting, **not applied** (its formula
        is unpublished; see :func:`deribit_pme_margin`).
    annualised_move_risk, min_annualised_move : float, default 0.075, 0.01
        ``currency.<ccy>`` roll-shock parameters (fractions per year, and the floor).
    pnl_offset : float, default 0.0
        ``currency.<ccy>.pnl_offset``: share of a scenario gain that counts, in [0, 1].
    max_offsetable_pnl : float, default 0.0
        ``currency.<ccy>.max_offsetable_pnl``: cap of a counted gain, read in units of the currency.
    mm_factor : float, default 0.8
        ``general.mm_factor``: maintenance margin as a share of ``risk_matrix_margin``, in (0, 1].
    extended_moves : tuple of float, default ``EXTENDED_MOVES``
        Extended-table price moves (-66 % ... +500 %), each > -1 and non-zero.
    vega_power_days : float, default 30.0
        Days to expiry from which ``long_term_vega_power`` applies (levguard's assumption).
    min_days_to_expiry : float, default 1.0
        Floor of the days to expiry in ``30 / days`` (levguard's assumption; keeps the shock finite).
    """

    price_range: float
    buckets_count: int = 4
    volatility_range_up: float = 0.5
    volatility_range_down: float = 0.25
    short_term_vega_power: float = 0.3
    long_term_vega_power: float = 0.13
    min_volatility_for_shock_up: float = 0.5
    extended_table_factor: float = 1.0
    extended_dampener: float = 0.0
    annualised_move_risk: float = 0.075
    min_annualised_move: float = 0.01
    pnl_offset: float = 0.0
    max_offsetable_pnl: float = 0.0
    mm_factor: float = 0.8
    extended_moves: tuple[float, ...] = EXTENDED_MOVES
    vega_power_days: float = 30.0
    min_days_to_expiry: float = 1.0

    def __post_init__(self) -> None:
        if not 0.0 < finite_number(self.price_range, "price_range") < 1.0:
            raise InputError(f"price_range must be in (0, 1), was {self.price_range!r}")
        integer_in(self.buckets_count, "buckets_count", 1, 1001)
        for name in (*_SECTION, "volatility_range_up", "min_volatility_for_shock_up", "extended_table_factor"):
            if _SECTION.get(name) != "general" and name != "pnl_offset":
                non_negative_number(getattr(self, name), name)
        _fraction(self.volatility_range_down, "volatility_range_down", lo=0.0, hi=1.0)
        finite_number(self.short_term_vega_power, "short_term_vega_power")
        finite_number(self.long_term_vega_power, "long_term_vega_power")
        _fraction(self.pnl_offset, "pnl_offset", lo=0.0, hi=1.0)
        _fraction(self.mm_factor, "mm_factor", lo=0.0, hi=1.0, lo_open=True)
        positive_number(self.vega_power_days, "vega_power_days")
        positive_number(self.min_days_to_expiry, "min_days_to_expiry")
        if not isinstance(self.extended_moves, tuple):
            raise InputError(f"extended_moves must be a tuple of numbers, was {show(self.extended_moves)}")
        for i, m in enumerate(self.extended_moves):
            x = finite_number(m, f"extended_moves[{i}]")
            if x <= -1.0 or x == 0.0:
                raise InputError(f"extended_moves[{i}] must be > -1 and non-zero, was {m!r}")

    @classmethod
    def from_model_params(cls, model_params: Mapping[str, object], currency: str) -> DeribitPmeParams:
        """Build the parameters of ``currency`` from a ``private/pme/simulate`` ``model_params`` object.

        Reads ``general`` (``mm_factor``, ``buckets_count``), ``currency_pair.<ccy>_usd`` and
        ``currency.<ccy>``; fields without a formula here (``m_inc``, ``max_delta_shock``,
        ``delta_total_liq_shock_threshold``, ``haircut``, ...) are ignored.
        """
        ccy = _text(currency, "currency").strip().lower()

        def section(*path: str) -> Mapping[str, object]:
            node: object = model_params
            for i, key in enumerate(path):
                if not isinstance(node, Mapping) or key not in node:
                    where = ".".join(("model_params", *path[: i + 1]))
                    raise InputError(f"{where} is missing, was {show(node)}")
                node = node[key]
            if not isinstance(node, Mapping):
                raise InputError(f"{'.'.join(('model_params', *path))} must be an object, was {show(node)}")
            return node

        paths = {"general": "general", "currency_pair": f"currency_pair.{ccy}_usd", "currency": f"currency.{ccy}"}
        sections = {key: section(*path.split(".")) for key, path in paths.items()}
        values: dict[str, object] = {}
        for f in dataclasses.fields(cls):
            key = _SECTION.get(f.name, "currency_pair")
            if f.name not in _LEVGUARD_ONLY and f.name in sections[key]:
                value, where = sections[key][f.name], f"model_params.{paths[key]}.{f.name}"
                is_int = f.name == "buckets_count"
                values[f.name] = integer_in(value, where, 1, 1001) if is_int else number(value, where)
        if "price_range" not in values:
            raise InputError(f"model_params.currency_pair.{ccy}_usd.price_range is missing, was {show(model_params)}")
        general = sections["general"]
        scenarios = general.get("vol_scenarios_count", 3)
        if scenarios != 3:
            raise InputError(f"model_params.general.vol_scenarios_count must be 3 (up, same, down), was {scenarios!r}")
        return cls(**values)  # type: ignore[arg-type]


DERIBIT_PME_BTC_2024_06_17 = DeribitPmeParams(price_range=0.16, extended_dampener=100_000.0)
"""BTC ``model_params`` of Deribit's ``private/pme/simulate`` documentation example (2024-06-17): the
defaults of :class:`DeribitPmeParams` with ``price_range`` 0.16 and ``extended_dampener`` 100000."""

DERIBIT_PME_ETH_2026_02_15 = DeribitPmeParams(
    price_range=0.18,
    volatility_range_up=0.4,
    extended_dampener=200_000.0,
    annualised_move_risk=0.05,
    min_annualised_move=0.005,
    pnl_offset=0.6,
    max_offsetable_pnl=20_000_000.0,
)
"""ETH ``model_params`` of a captured ``private/pme/simulate`` answer (2026-02-15; not published by Deribit)."""


@dataclass(frozen=True, slots=True)
class DeribitFuture(JsonRecord):
    """An inverse (coin-margined) future or perpetual in a Deribit PME currency.

    Parameters
    ----------
    instrument : str
        Instrument name, e.g. ``"BTC-PERPETUAL"`` (unique within a portfolio).
    size : float
        Signed position in coin of the underlying, as ``portfolio.position`` of
        ``private/pme/simulate`` gives it (USD face value / mark price; see :meth:`from_contracts`).
    t_years : float, default 0.0
        Time to expiry in 365-day years; 0 for a perpetual.
    """

    instrument: str
    size: float
    t_years: float = 0.0

    def __post_init__(self) -> None:
        _text(self.instrument, "instrument")
        finite_number(self.size, "size")
        non_negative_number(self.t_years, "t_years")

    @classmethod
    def from_contracts(
        cls, instrument: str, contracts: float, contract_size_usd: float, mark_price: float, t_years: float = 0.0
    ) -> DeribitFuture:
        """Build a future from signed contracts of ``contract_size_usd`` face value at ``mark_price`` (USD).

        ``size = contracts * contract_size_usd / mark_price`` coin: an inverse contract's coin
        exposure is its USD face value over the price.
        """
        c = finite_number(contracts, "contracts")
        face = positive_number(contract_size_usd, "contract_size_usd")
        mark = positive_number(mark_price, "mark_price")
        return cls(instrument, c * face / mark, t_years)


@dataclass(frozen=True, slots=True)
class DeribitOption(JsonRecord):
    """A coin-settled (inverse) European option in a Deribit PME currency.

    Parameters
    ----------
    instrument : str
        Instrument name, e.g. ``"BTC-27DEC24-70000-C"`` (unique within a portfolio).
    qty : float
        Signed quantity in coin of underlying (``> 0`` long).
    kind : {"call", "put"}
    strike : float
        Strike in USD per coin, > 0.
    t_years : float
        Time to expiry in 365-day years, >= 0.
    vol : float
        Implied (Black) volatility, a fraction per sqrt(year), >= 0.
    forward : float
        Forward (the same-expiry future's price) in USD per coin, > 0.
    """

    instrument: str
    qty: float
    kind: Literal["call", "put"]
    strike: float
    t_years: float
    vol: float
    forward: float

    def __post_init__(self) -> None:
        _text(self.instrument, "instrument")
        finite_number(self.qty, "qty")
        if not isinstance(self.kind, str) or self.kind not in ("call", "put"):
            raise InputError(f"kind must be 'call' or 'put', was {show(self.kind)}")
        positive_number(self.strike, "strike")
        non_negative_number(self.t_years, "t_years")
        non_negative_number(self.vol, "vol")
        positive_number(self.forward, "forward")


DeribitPosition: TypeAlias = DeribitFuture | DeribitOption


@dataclass(frozen=True, slots=True)
class DeribitRiskVector(JsonRecord):
    """Scenario P&L in coin: ``standard`` (price-major, 3 volatility scenarios each) and ``extended``."""

    standard: tuple[float, ...]
    extended: tuple[float, ...]


@dataclass(frozen=True, slots=True)
class WorstCaseBucket(JsonRecord):
    """Where the worst case sits, as ``worst_case_bucket`` reports it.

    ``bucket`` is the 1-based price bucket (standard) or extended move; ``side`` is ``"left"``
    (price down), ``"right"`` (up) or ``"center"`` (no move: levguard's label); ``source`` is
    ``"standard"`` or ``"extended"``; ``index`` is the 0-based entry of that vector.
    """

    bucket: int
    side: str
    source: str
    index: int


@dataclass(frozen=True, slots=True)
class DeribitPmeResult(JsonRecord):
    """Deribit PME margin of one currency, fields named as ``private/pme/simulate`` names them (coin).

    ``initial_risk_vectors`` per instrument, ``pre_aggregated_risk_vectors`` their sum,
    ``aggregated_risk_vectors`` after the gain offset; ``price_moves`` the standard moves;
    ``assumptions`` lists the rules applied that the published examples do not pin down.
    """

    currency: str
    price_moves: tuple[float, ...]
    initial_risk_vectors: Mapping[str, DeribitRiskVector]
    pre_aggregated_risk_vectors: DeribitRiskVector
    aggregated_risk_vectors: DeribitRiskVector
    worst_case: float
    worst_case_bucket: WorstCaseBucket
    roll_shock: float
    delta_shock: float
    correlation_contingency: float
    risk_matrix_margin: float
    spot_margin: float
    mmp_margin: float
    open_orders_margin: float
    initial_margin: float
    maintenance_margin: float
    assumptions: tuple[str, ...] = ()


def _check_params(params: object) -> DeribitPmeParams:
    # The model parameters every public function reads attributes of (None gave an AttributeError).
    if not isinstance(params, DeribitPmeParams):
        raise InputError(f"params must be a DeribitPmeParams, was {type(params).__name__} {show(params)}")
    return params


def deribit_price_moves(params: DeribitPmeParams) -> Float64Array:
    """Return the standard price moves ``price_range * k / buckets_count``, ``k = -n..n`` (shape ``(2n+1,)``).

    Notes
    -----
    support.deribit.com "Portfolio Margin": the range split into 9 evenly spaced buckets that
    include 0; ``buckets_count`` 4 per side in both API examples (+/-16 % in 4 % steps for BTC).
    """
    n = _check_params(params).buckets_count
    return np.array([params.price_range * k / n for k in range(-n, n + 1)], dtype=np.float64)


def deribit_shocked_vols(vol: float, t_years: float, params: DeribitPmeParams) -> tuple[float, float, float]:
    """Return the implied vols of the scenarios ``(up, same, down)`` for one option.

    Notes
    -----
    **levguard's assumption, not Deribit's published rule** (the API examples hold no option).
    With ``d = max(365 t, min_days_to_expiry)`` days, ``p`` the short-term vega power below
    ``vega_power_days`` and the long-term one from there, and ``s = (30 / d) ** p``:
    ``up = max(vol (1 + volatility_range_up s), min_volatility_for_shock_up)`` and
    ``down = vol max(0, 1 - volatility_range_down s)``.  The shape follows the parameter names
    of ``model_params`` and third-party descriptions of Deribit's model; Deribit has not
    published it.
    """
    _check_params(params)
    v = non_negative_number(vol, "vol")
    days = max(non_negative_number(t_years, "t_years") * DAYS_PER_YEAR, params.min_days_to_expiry)
    power = params.short_term_vega_power if days < params.vega_power_days else params.long_term_vega_power
    scale = (30.0 / days) ** power
    up = max(v * (1.0 + params.volatility_range_up * scale), params.min_volatility_for_shock_up)
    down = v * max(0.0, 1.0 - params.volatility_range_down * scale)
    return up, v, down


def _future_pnl(size: float, moves: Float64Array) -> Float64Array:
    # Inverse contract P&L in coin when the price moves by m: size * (1 - 1 / (1 + m)).
    out: Float64Array = size * (1.0 - 1.0 / (1.0 + moves)) + 0.0  # + 0.0: no -0.0 at m = 0
    return out


def deribit_risk_vector(position: DeribitPosition, params: DeribitPmeParams) -> DeribitRiskVector:
    """Return one instrument's scenario P&L in coin (``initial_risk_vectors`` of the API).

    Returns
    -------
    DeribitRiskVector
        ``standard``: ``3 * (2 buckets_count + 1)`` entries, price-major, volatility scenarios in
        the order up, same, down; ``extended``: one entry per extended move.

    Notes
    -----
    Futures and perpetuals (reproduced from both API examples): ``size (1 - 1/(1 + m))`` coin for
    a move ``m``, equal across the three volatility scenarios; their extended entries equal the
    standard entry at ``-price_range`` (falling moves) or ``+price_range`` (rising moves), as the
    examples print them.

    Options (**levguard's assumption**; no published example holds an option): Black-76 in coin
    (:func:`levguard.core.options.black76.black76_price` with ``settlement="coin"``) at forward
    ``F (1 + m)`` and the vols of :func:`deribit_shocked_vols`, time held fixed, less today's value
    ``V(F, vol)``; the extended entries use the full extended move and the volatility-up scenario
    (support.deribit.com "Portfolio Margin": extended table on Volatility Range Up only).
    """
    _check_params(params)
    moves = deribit_price_moves(params)
    ext = np.asarray(params.extended_moves, dtype=np.float64)
    if isinstance(position, DeribitFuture):
        pnl = _future_pnl(position.size, moves)
        standard = np.repeat(pnl, len(VOL_SCENARIOS))
        extended = np.where(ext < 0.0, pnl[0], pnl[-1])
    elif isinstance(position, DeribitOption):
        vols = np.asarray(deribit_shocked_vols(position.vol, position.t_years, params))
        p = position

        def value(fwd: Float64Array | float, vol: Float64Array | float) -> Float64Array:
            return np.asarray(black76_price(p.kind, fwd, p.strike, p.t_years, vol, settlement="coin"))

        today = float(value(p.forward, p.vol))
        grid = value(p.forward * (1.0 + moves)[:, None], vols[None, :])
        standard = (p.qty * (grid - today)).ravel()
        extended = p.qty * (value(p.forward * (1.0 + ext), vols[0]) - today)
    else:
        raise InputError(f"position must be a DeribitFuture or DeribitOption, was {show(position)}")
    return DeribitRiskVector(tuple(float(x) for x in standard), tuple(float(x) for x in extended))


def _offset(pnl: Float64Array, params: DeribitPmeParams) -> Float64Array:
    # Losses count in full; a gain counts pnl_offset of itself, at most max_offsetable_pnl.
    gain = np.minimum(params.pnl_offset * pnl, params.max_offsetable_pnl)
    out: Float64Array = np.where(pnl < 0.0, pnl, gain)
    return out


def _roll_exposure(position: DeribitPosition) -> float:
    # Coin exposure that the roll shock charges: the size of a future, |qty x forward delta| of an option.
    if isinstance(position, DeribitFuture):
        return abs(position.size)
    p = position
    delta = float(np.asarray(black76(p.kind, p.forward, p.strike, p.t_years, p.vol).delta))
    return abs(p.qty * delta)


def _worst_entry(standard: Float64Array) -> tuple[float, int]:
    # Lowest entry; among equal entries the volatility-"same" one, then the first price bucket
    # (both examples print the middle entry of a tied triple: index 1 for BTC, 25 for ETH).
    lowest = float(standard.min())
    n_vol = len(VOL_SCENARIOS)
    tied = [i for i in range(len(standard)) if standard[i] == lowest]
    same = [i for i in tied if i % n_vol == 1]
    return lowest, (same or tied)[0]


def _side(move: float) -> str:
    return "left" if move < 0.0 else "right" if move > 0.0 else "center"


def deribit_pme_margin(
    positions: Sequence[DeribitPosition],
    params: DeribitPmeParams,
    *,
    currency: str = "BTC",
    delta_shock: float = 0.0,
    correlation_contingency: float = 0.0,
    spot_margin: float = 0.0,
    mmp_margin: float = 0.0,
    open_orders_margin: float = 0.0,
) -> DeribitPmeResult:
    """Return the Deribit PME margin of one currency's positions (all amounts in coin).

    Parameters
    ----------
    positions : sequence of DeribitFuture or DeribitOption
        The currency's positions; instrument names must be unique.
    params : DeribitPmeParams
        The currency's ``model_params``.
    currency : str, default "BTC"
        Label of the settlement currency.
    delta_shock, correlation_contingency, spot_margin, mmp_margin, open_orders_margin : float
        Charges taken as given (coin, >= 0; default 0): Deribit does not publish their formulas.
        Both examples print ``delta_shock`` and ``correlation_contingency`` 0.

    Returns
    -------
    DeribitPmeResult

    Raises
    ------
    InputError
        If ``positions`` is not a sequence of positions, names repeat, or a charge is negative or
        not finite (naming the field and the value).

    Notes
    -----
    Reproduced from the ``private/pme/simulate`` documentation example (BTC, 2024-06-17) and a
    captured ETH answer (2026-02-15), futures only:

    * pre-aggregated vector = sum of the instruments' vectors, entry by entry;
    * aggregated vector: a loss counts in full, a gain ``min(pnl_offset * gain, max_offsetable_pnl)``
      (BTC: pnl_offset 0, gains set to 0; ETH: 0.6 x each gain);
    * ``worst_case = max(0, -min(aggregated standard), -min(aggregated extended))``;
    * ``roll_shock = sum_i |size_i| max(min_annualised_move, annualised_move_risk T_i)``: an
      **inference** that fits both examples exactly (the floor binds in both: BTC
      0.315725898 x 0.01, ETH 0.999487053 x 0.005); Deribit has not published the formula;
    * ``risk_matrix_margin = worst_case + roll_shock + delta_shock + correlation_contingency``
      (the printed value differs by < 1e-9 coin: positions are printed to 9 decimals);
    * ``maintenance_margin = mm_factor * risk_matrix_margin`` (exact in both examples: no MMP or
      open-order margin in it);
    * ``initial_margin = risk_matrix_margin + spot_margin + mmp_margin + open_orders_margin``.

    **levguard's assumptions** (listed in ``assumptions`` when they apply): options are revalued as
    in :func:`deribit_risk_vector` with the vols of :func:`deribit_shocked_vols`; an option's roll
    exposure is ``|qty x forward delta|``; the aggregated extended vector counts only what each
    extended entry loses *beyond* the same-side standard boundary entry (volatility up), times
    ``extended_table_factor`` (for futures this is 0, as both examples print it); the
    ``extended_dampener`` is not applied (its formula is unpublished; without it the extended loss
    can only be larger); ``max_offsetable_pnl`` is read in units of the currency.
    """
    _check_params(params)
    if isinstance(positions, str | bytes) or not isinstance(positions, Sequence):
        raise InputError(f"positions must be a sequence of DeribitFuture or DeribitOption, was {show(positions)}")
    label = _text(currency, "currency")
    charges = {
        "delta_shock": non_negative_number(delta_shock, "delta_shock"),
        "correlation_contingency": non_negative_number(correlation_contingency, "correlation_contingency"),
        "spot_margin": non_negative_number(spot_margin, "spot_margin"),
        "mmp_margin": non_negative_number(mmp_margin, "mmp_margin"),
        "open_orders_margin": non_negative_number(open_orders_margin, "open_orders_margin"),
    }
    moves = deribit_price_moves(params)
    n_moves, n_vol, n_ext = len(moves), len(VOL_SCENARIOS), len(params.extended_moves)
    vectors: dict[str, DeribitRiskVector] = {}
    pre_std = np.zeros(n_moves * n_vol)
    pre_ext = np.zeros(n_ext)
    beyond = np.zeros(n_ext)
    left_up, right_up = 0, (n_moves - 1) * n_vol  # the volatility-up entries of the two boundaries
    has_option = False
    for i, pos in enumerate(positions):
        if not isinstance(pos, DeribitFuture | DeribitOption):
            raise InputError(f"positions[{i}] must be a DeribitFuture or DeribitOption, was {show(pos)}")
        if pos.instrument in vectors:
            raise InputError(f"positions[{i}].instrument must be unique, was {pos.instrument!r} again")
        has_option = has_option or isinstance(pos, DeribitOption)
        vec = deribit_risk_vector(pos, params)
        vectors[pos.instrument] = vec
        std, ext = np.asarray(vec.standard), np.asarray(vec.extended)
        pre_std += std
        pre_ext += ext
        boundary = np.where(np.asarray(params.extended_moves) < 0.0, std[left_up], std[right_up])
        beyond += ext - boundary
    agg_std = _offset(pre_std, params)
    agg_ext = _offset(params.extended_table_factor * beyond, params)
    std_low, std_index = _worst_entry(agg_std)
    ext_low = float(agg_ext.min()) if n_ext else 0.0
    if ext_low < std_low:
        j = int(np.argmin(agg_ext))
        bucket = WorstCaseBucket(j + 1, _side(params.extended_moves[j]), "extended", j)
    else:
        price_index = std_index // n_vol
        bucket = WorstCaseBucket(price_index + 1, _side(float(moves[price_index])), "standard", std_index)
    worst_case = max(0.0, -std_low, -ext_low)
    roll_shock = math.fsum(
        _roll_exposure(p) * max(params.min_annualised_move, params.annualised_move_risk * p.t_years) for p in positions
    )
    rmm = worst_case + roll_shock + charges["delta_shock"] + charges["correlation_contingency"]
    im = rmm + charges["spot_margin"] + charges["mmp_margin"] + charges["open_orders_margin"]
    assumptions = ["roll_shock = sum |size| max(min_annualised_move, annualised_move_risk T) (inferred)"]
    if has_option:
        assumptions.append("options: Black-76 revaluation with levguard's volatility shocks (not Deribit's)")
        assumptions.append("options: extended loss beyond the +/-price_range entry; dampener not applied")
    return DeribitPmeResult(
        currency=label,
        price_moves=tuple(float(m) for m in moves),
        initial_risk_vectors=MappingProxyType(vectors),
        pre_aggregated_risk_vectors=DeribitRiskVector(tuple(pre_std.tolist()), tuple(pre_ext.tolist())),
        aggregated_risk_vectors=DeribitRiskVector(tuple(agg_std.tolist()), tuple(agg_ext.tolist())),
        worst_case=worst_case,
        worst_case_bucket=bucket,
        roll_shock=roll_shock,
        risk_matrix_margin=rmm,
        initial_margin=im,
        maintenance_margin=params.mm_factor * rmm,
        assumptions=tuple(assumptions),
        **charges,
    )
