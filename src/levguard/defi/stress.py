"""Depeg and crash stress of a lending position, through the protocols' exact engines.

A :class:`DepegScenario` moves oracle prices by symbol (``{"USDC": -0.1226}``).
:func:`stress_position` applies each scenario to a position spec, recomputes the health factor
with the exact engine (Aave v3 ``getUserAccountData``, Morpho Blue's health check), and, when the
position can be liquidated, runs the largest liquidation the protocol allows (Aave
``liquidationCall`` asking for the whole debt, which the close factor caps; Morpho ``liquidate``
of the whole debt, or of the whole collateral when that is less) to report what a liquidator takes.

Named scenarios (:data:`NAMED_DEFI_SCENARIOS`), each with its source:

* ``steth-depeg-2022-06``: stETH traded at about 0.935 ETH on Curve on 2022-06-13 (Dune
  Analytics, as reported by CoinDesk on 2022-06-13, "just above 93 cents on the dollar" of ETH),
  as Celsius froze withdrawals; CoinMarketCap's daily data put the widest discount that week near
  8 % (CoinDesk, 2022-07-13).  stETH and wstETH -6.5 % against everything else.  It moves a
  position only where the oracle prices stETH at the market (Aave v2's Chainlink stETH/ETH feed
  did in 2022); exchange-rate oracles (Aave v3's CAPO adapters, Morpho's wstETH/stETH adapter)
  do not follow it.
* ``usdc-depeg-2023-03``: USDC fell to 0.8774 USD on 2023-03-11 (CoinMarketCap's all-time low,
  after Circle disclosed 3.3 bn USD of reserves at Silicon Valley Bank; CoinGecko's low was
  0.88, CNN and The Block, 2023-03-11).  USDC -12.26 %.
* ``wsteth-capo-2026-03``: the misconfigured CAPO snapshot of 2026-03-10 capped Aave's wstETH
  price 2.85 % below its exchange rate (Aave post-mortem, governance.aave.com/t/24269); the shock
  is computed by :func:`levguard.core.defi.price_adapters.capo_latest_answer` from the
  incident's parameters (docs/defi.md, "Oracle rules"; tests/golden/test_oracle_examples.py).
* ``eth-crash-40``: a plain crash, not a historical event: ETH and every ETH-denominated token
  (WETH, stETH, wstETH, weETH, rETH, cbETH) -40 %.

Notes
-----
Prices move in contract units, floored: an Aave reserve's price ``floor(price x (1 + s))`` (USD
with 8 decimals); a Morpho oracle price ``floor(price x (1 + s_collateral) / (1 + s_loan))``.
On Aave 3.0/3.1 an e-mode category's own price source is not moved.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from fractions import Fraction
from types import MappingProxyType
from typing import Final

from levguard.core.defi.aave import AaveError, AaveReserve, LiquidationResult, get_user_account_data, liquidation_call
from levguard.core.defi.morpho import MorphoError
from levguard.core.defi.morpho import liquidate as morpho_liquidate
from levguard.core.defi.price_adapters import CapoAdapter, capo_latest_answer
from levguard.core.defi.wadray import UINT256_MAX, MathRevertError
from levguard.core.records import JsonRecord, empty_mapping
from levguard.core.validate import instance_of, pick_named, show
from levguard.defi import _aave_analytics as _aave
from levguard.defi import _morpho_analytics as _morpho
from levguard.defi._search import last_true
from levguard.defi.analytics import Spec
from levguard.defi.positions import AavePosition, DefiPosition, MorphoPosition, load_position
from levguard.errors import InputError

__all__ = [
    "ETH_FAMILY",
    "NAMED_DEFI_SCENARIOS",
    "DepegScenario",
    "LiquidationOutcome",
    "StressResult",
    "defi_scenario",
    "shocked_position",
    "stress_position",
]

ETH_FAMILY: Final = ("ETH", "WETH", "STETH", "WSTETH", "WEETH", "RETH", "CBETH")
"""Symbols an ETH crash moves."""
_WAD = 10**18


@dataclass(frozen=True, slots=True)
class DepegScenario(JsonRecord):
    """An instantaneous move of oracle prices, by symbol.

    Attributes
    ----------
    name : str
    shocks : Mapping[str, float]
        Relative move of each symbol's price (case-insensitive; ``-0.1226``: 12.26 % lower), each
        finite and ``> -1``.  Symbols not listed do not move.
    date, source, note : str
        When it happened, where the magnitude comes from, what it does and does not model.
    """

    name: str
    shocks: Mapping[str, float]
    date: str = ""
    source: str = ""
    note: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise InputError(f"scenario name must be a non-empty string, was {show(self.name)}")
        if not isinstance(self.shocks, Mapping) or not self.shocks:
            raise InputError(f"scenario {self.name!r}: shocks must be a non-empty mapping of symbol to move")
        clean: dict[str, float] = {}
        for k, v in self.shocks.items():
            if not isinstance(k, str) or not k.strip():
                raise InputError(f"scenario {self.name!r}: shock keys must be symbols, was {show(k)}")
            if isinstance(v, bool) or not isinstance(v, int | float) or not (math.isfinite(v) and v > -1.0):
                raise InputError(f"scenario {self.name!r}: shocks[{k!r}] must be a finite move > -1, was {show(v)}")
            clean[k.strip().upper()] = float(v)
        object.__setattr__(self, "shocks", MappingProxyType(clean))

    def shock_for(self, symbol: str) -> float:
        """The move of ``symbol``'s price (0 when the scenario does not list it)."""
        return self.shocks.get(symbol.upper(), 0.0)


def _capo_shock() -> float:
    # The 2026-03-10 incident as docs/defi.md reproduces it: the snapshot ratio raised only 3 %
    # (1.1572 -> ~1.1919) while its timestamp moved to 7 days back; market ratio ~1.2289.
    now = 1_773_143_160
    capo = CapoAdapter(1_191_916_000_000_000_000, now - 7 * 86_400, 872, ratio_decimals=18)
    answer = capo_latest_answer(capo, base_price=1_934 * 10**8, ratio=1_228_900_000_000_000_000, block_timestamp=now)
    return float(Fraction(answer.answer, answer.uncapped_answer) - 1)


NAMED_DEFI_SCENARIOS: Final[tuple[DepegScenario, ...]] = (
    DepegScenario(
        "steth-depeg-2022-06",
        {"STETH": -0.065, "WSTETH": -0.065},
        "2022-06-13",
        "Curve stETH/ETH about 0.935 (Dune Analytics via CoinDesk, 2022-06-13); widest weekly discount "
        "near 8 % on CoinMarketCap (CoinDesk, 2022-07-13)",
        "moves oracles that price stETH at the market; exchange-rate oracles (CAPO, Morpho's wstETH adapter) "
        "do not follow it",
    ),
    DepegScenario(
        "usdc-depeg-2023-03",
        {"USDC": -0.1226},
        "2023-03-11",
        "USDC low 0.8774 USD (CoinMarketCap all-time low, 2023-03-11; CoinGecko 0.88: CNN, The Block) after "
        "Circle disclosed 3.3 bn USD of reserves at Silicon Valley Bank",
        "USDC alone; DAI, backed partly by USDC, also traded near 0.90 that day",
    ),
    DepegScenario(
        "wsteth-capo-2026-03",
        {"WSTETH": _capo_shock()},
        "2026-03-10",
        "Aave post-mortem, governance.aave.com/t/24269: the CAPO cap ~1.1939 against an exchange rate "
        "~1.2289 (capo_latest_answer on the incident's parameters)",
        "Aave's wstETH oracle price capped below its exchange rate",
    ),
    DepegScenario(
        "eth-crash-40",
        dict.fromkeys(ETH_FAMILY, -0.40),
        "",
        "a plain stress, not a historical event",
        "ETH and ETH-denominated tokens -40 % in USD; stablecoins and other assets unchanged",
    ),
)
"""The named DeFi stress scenarios (module docstring)."""


def defi_scenario(name: str) -> DepegScenario:
    """Return a named scenario (:data:`NAMED_DEFI_SCENARIOS`) by name or date.

    Raises
    ------
    InputError
        Unknown name, naming the choices.
    """
    return pick_named(NAMED_DEFI_SCENARIOS, name, "scenario")


def _factor(move: float) -> Fraction:
    return 1 + Fraction(Decimal(repr(move)))


def shocked_position(spec: Spec, scenario: DepegScenario) -> DefiPosition:
    """Return the position with the scenario's price moves applied, in contract units (floored)."""
    scenario = instance_of(scenario, DepegScenario, "scenario")
    pos = load_position(spec)
    if isinstance(pos, MorphoPosition):
        f = _factor(scenario.shock_for(pos.collateral_symbol)) / _factor(scenario.shock_for(pos.loan_symbol))
        loan = pos.loan_price_usd
        if loan is not None:
            loan = loan * (1.0 + scenario.shock_for(pos.loan_symbol))
        return replace(pos, oracle_price=int(pos.oracle_price * f), loan_price_usd=loan)
    rows = tuple(replace(r, price=int(r.price * _factor(scenario.shock_for(r.symbol)))) for r in pos.reserves)
    return replace(pos, reserves=rows)


@dataclass(frozen=True, slots=True)
class LiquidationOutcome(JsonRecord):
    """The largest liquidation of a position (exact engine), in human units.

    Attributes
    ----------
    collateral_symbol, debt_symbol : str
        The pair liquidated (Aave: the pair giving the liquidator the most collateral value).
    debt_repaid, collateral_seized, protocol_fee : float
        Tokens: debt the liquidator repays, collateral it receives (Aave: net of the protocol's
        fee), collateral to the treasury (Aave; 0 on Morpho).
    debt_repaid_value, collateral_seized_value, liquidator_profit : float
        In ``value_unit`` at the stressed prices; profit = seized value - repaid value.
    close_factor : float or None
        Aave's close factor applied (0.5 or 1.0); None on Morpho (no close factor).
    bad_debt_value : float
        Debt left without collateral and written off (Aave 3.3 deficit; Morpho bad debt).
    health_factor_after : float
        After the liquidation (``inf`` without debt: None in JSON).
    exact : Mapping[str, int]
        The engine's integers (``actual_debt_to_liquidate``, ``collateral_to_liquidator``, ... or
        ``seized_assets``, ``repaid_assets``, ``repaid_shares``, ``bad_debt_assets``).
    """

    collateral_symbol: str
    debt_symbol: str
    debt_repaid: float
    collateral_seized: float
    protocol_fee: float
    debt_repaid_value: float
    collateral_seized_value: float
    liquidator_profit: float
    close_factor: float | None
    bad_debt_value: float
    health_factor_after: float
    exact: Mapping[str, int] = field(default_factory=empty_mapping)


@dataclass(frozen=True, slots=True)
class StressResult(JsonRecord):
    """A position under one scenario.

    Attributes
    ----------
    scenario, date, source : str
    shocks : Mapping[str, float]
        The moves that touched this position's assets (symbol as in the spec).
    health_factor_before, health_factor_after : float
        ``inf`` without debt (None in JSON).
    health_factor_after_wad : int
        Exact.
    liquidatable : bool
        HF after < 1.
    value_unit : str
        Unit of the values (``"USD"``, or the loan token of a Morpho market without a USD price).
    liquidation : LiquidationOutcome or None
        The largest liquidation, when liquidatable (None otherwise, or with ``note`` saying why).
    note : str
    """

    scenario: str
    date: str
    source: str
    shocks: Mapping[str, float]
    health_factor_before: float
    health_factor_after: float
    health_factor_after_wad: int
    liquidatable: bool
    value_unit: str
    liquidation: LiquidationOutcome | None
    note: str = ""


def _aave_largest(pos: AavePosition, c: AaveReserve, d: AaveReserve) -> LiquidationResult:
    # The largest liquidation of debt d against collateral c a liquidator can make: debtToCover
    # 2**256 - 1 (the close factor caps it); where the dust rule of 3.3+ refuses that
    # (MUST_NOT_LEAVE_DUST, 103: a partial liquidation leaves MIN_LEFTOVER_BASE on both sides, or
    # clears one), the largest amount the engine lets through. Leftovers fall as the amount grows,
    # so the amounts that go through are 1 to some bound.
    def call(amount: int) -> LiquidationResult:
        return liquidation_call(pos.reserves, c.symbol, d.symbol, amount, False, pos.emode_category, pos.version)

    def through(amount: int) -> bool:
        try:
            call(amount)
        except AaveError as exc:
            if exc.name != "MUST_NOT_LEAVE_DUST":
                raise
            return False
        return True

    try:
        return call(UINT256_MAX)
    except AaveError as exc:
        if exc.name != "MUST_NOT_LEAVE_DUST" or not through(1):
            raise
    return call(last_true(through, 1, d.debt))


def _aave_liquidation(pos: AavePosition) -> tuple[LiquidationOutcome | None, str]:
    best: LiquidationOutcome | None = None
    errors: list[str] = []
    for c in pos.reserves:
        if not pos.counted(c):
            continue
        for d in pos.reserves:
            if d.debt == 0:
                continue
            try:
                res = _aave_largest(pos, c, d)
            except (AaveError, MathRevertError) as exc:
                errors.append(f"{c.symbol}/{d.symbol}: {exc}")
                continue
            seized = _aave.usd(res.collateral_to_liquidator, c)
            repaid = _aave.usd(res.actual_debt_to_liquidate, d)
            bad = sum((_aave.usd(units, pos.reserve(sym)) for sym, units in res.deficit.items()), 0.0)
            after = get_user_account_data(res.positions_after, pos.emode_category, pos.version).health_factor
            out = LiquidationOutcome(
                c.symbol,
                d.symbol,
                _aave.tokens(res.actual_debt_to_liquidate, d),
                _aave.tokens(res.collateral_to_liquidator, c),
                _aave.tokens(res.liquidation_protocol_fee, c),
                repaid,
                seized,
                seized - repaid,
                res.close_factor / 10_000,
                bad,
                _aave.hf_float(after),
                MappingProxyType(
                    {
                        "actual_debt_to_liquidate": res.actual_debt_to_liquidate,
                        "collateral_to_liquidator": res.collateral_to_liquidator,
                        "liquidation_protocol_fee": res.liquidation_protocol_fee,
                        "close_factor": res.close_factor,
                    }
                ),
            )
            if best is None or out.collateral_seized_value > best.collateral_seized_value:
                best = out
    return best, "" if best is not None else "no liquidation goes through: " + "; ".join(errors)


def _morpho_liquidation(pos: MorphoPosition) -> tuple[LiquidationOutcome | None, str]:
    p = pos.position
    try:  # repay the whole debt; when that would seize more than the collateral, seize all of it
        res = morpho_liquidate(pos.market, p, pos.lltv, pos.oracle_price, 0, p.borrow_shares)
    except MorphoError:
        try:
            res = morpho_liquidate(pos.market, p, pos.lltv, pos.oracle_price, p.collateral, 0)
        except MorphoError as exc:
            return None, f"no liquidation goes through: {exc}"
    seized = _morpho.loan_value(pos, _morpho.collateral_value(pos, res.seized_assets))
    repaid = _morpho.loan_value(pos, res.repaid_assets)
    after = _morpho.hf(pos, res.market, res.position)
    return (
        LiquidationOutcome(
            pos.collateral_symbol,
            pos.loan_symbol,
            res.repaid_assets / 10**pos.loan_decimals,
            res.seized_assets / 10**pos.collateral_decimals,
            0.0,
            repaid,
            seized,
            seized - repaid,
            None,
            _morpho.loan_value(pos, res.bad_debt_assets),
            _morpho.hf_float(after),
            MappingProxyType(
                {
                    "seized_assets": res.seized_assets,
                    "repaid_assets": res.repaid_assets,
                    "repaid_shares": res.repaid_shares,
                    "bad_debt_assets": res.bad_debt_assets,
                    "bad_debt_shares": res.bad_debt_shares,
                }
            ),
        ),
        "",
    )


def _symbols(pos: DefiPosition) -> tuple[str, ...]:
    if isinstance(pos, MorphoPosition):
        return (pos.collateral_symbol, pos.loan_symbol)
    return tuple(r.symbol for r in pos.reserves)


def _hf(pos: DefiPosition) -> int:
    return _aave.account(pos).health_factor if isinstance(pos, AavePosition) else _morpho.hf(pos)


def stress_position(
    spec: Spec, scenarios: Iterable[DepegScenario | str] = NAMED_DEFI_SCENARIOS
) -> tuple[StressResult, ...]:
    """Return the position under each scenario: HF after, liquidatable or not, and what a liquidator takes.

    Parameters
    ----------
    spec : mapping, path or position
        A position spec (:mod:`levguard.defi.positions`).
    scenarios : iterable of DepegScenario or str
        Scenarios or names of :data:`NAMED_DEFI_SCENARIOS` (default: all of them).

    Returns
    -------
    tuple of StressResult
        In the order given.

    Raises
    ------
    InputError
        A bad spec or an unknown scenario name.

    Notes
    -----
    The stressed position's health factor is the engine's (Aave v3
    ``GenericLogic.calculateUserAccountData``; Morpho ``wDivDown(maxBorrow, borrowed)``).  When it
    is below 1, Aave: ``LiquidationLogic.executeLiquidationCall`` with ``debtToCover = 2**256 - 1``
    for every collateral/debt pair (the close factor, 50 % above HF 0.95 and 100 % below, and
    v3.3's whole-position rules decide how much), keeping the pair that gives the liquidator the
    most collateral value; Morpho: ``Morpho.liquidate`` repaying every borrow share, or seizing
    all the collateral when repaying everything would seize more than there is (bad debt is
    then realised).
    """
    if isinstance(scenarios, str | bytes | Mapping) or not isinstance(scenarios, Iterable):
        raise InputError(f"scenarios must be a sequence of DepegScenario or scenario names, was {show(scenarios)}")
    pos = load_position(spec)
    chosen = [defi_scenario(s) if isinstance(s, str) else s for s in scenarios]
    for i, s in enumerate(chosen):
        if not isinstance(s, DepegScenario):
            raise InputError(f"scenarios[{i}] must be a DepegScenario or a scenario name, was {type(s).__name__}")
    before = _aave.hf_float(_hf(pos))
    unit = "USD" if isinstance(pos, AavePosition) else _morpho.value_unit(pos)
    out = []
    for s in chosen:
        after_pos = shocked_position(pos, s)
        wad = _hf(after_pos)
        shocks = {sym: s.shock_for(sym) for sym in _symbols(pos) if s.shock_for(sym) != 0.0}
        liquidation: LiquidationOutcome | None = None
        note = ""
        if wad < _WAD:
            if isinstance(after_pos, AavePosition):
                liquidation, note = _aave_liquidation(after_pos)
            else:
                liquidation, note = _morpho_liquidation(after_pos)
        elif not shocks:
            note = "the scenario moves none of the position's assets"
        out.append(
            StressResult(
                s.name,
                s.date,
                s.source,
                MappingProxyType(shocks),
                before,
                _aave.hf_float(wad),
                wad,
                wad < _WAD,
                unit,
                liquidation,
                note,
            )
        )
    return tuple(out)
