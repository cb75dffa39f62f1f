"""dYdX v4 perpetuals: ppm margin fractions, open-interest-scaled initial margin, liquidations.

Sources (protocol source, dydxprotocol/v4-chain @ 84d4664b, 2026-03-04)
----------------------------------------------------------------------
* ``x/perpetuals/types/liquidity_tier.go``: ``MMF_ppm = floor(IMF_ppm * maintenance_fraction_ppm
  / 1e6)``; open-interest IMF scaling; ``IMR = ceil(notional * IMF)``.
* ``x/subaccounts`` risk: ``TNC = USDC + sum(size * oracle)``, ``MMR = sum(|notional| * MMF)``;
  liquidatable iff ``MMR > 0 and TNC < MMR``.
* ``x/clob/keeper/liquidations.go``: bankruptcy price of a close of ``delta``:
  ``-DNNV - TNC * |DMMR| / TMMR`` (rounded towards +inf); fillable price
  ``(PNNV - ABR * SMMR * PMMR) / PS`` with ``ABR = clamp(BA * (1 - TNC/TMMR), 0, 1)``;
  insurance-fund delta.
* Liquidations config of mainnet (``dydx-mainnet-1/genesis.json`` in dydxopsdao/networks,
  genesis 2023-10-26): max liquidation fee 15,000 ppm (1.5 %, also dYdX's help "Liquidations on
  dYdX Chain": "the Maximum Liquidation Penalty of 1.5%"), bankruptcy adjustment 1e6 ppm,
  spread-to-maintenance-margin ratio 1,500,000 ppm; per block at most 10 % of a position
  (``max_position_portion_liquidated_ppm`` 100,000; at least 1,000 USDC,
  ``min_position_notional_liquidated``) and 100,000 USDC of a subaccount.  The protocol's
  ``LiquidationsConfig_Default`` (5,000 ppm, 1e6, 100,000 ppm, 100 %) is the local testnet's.
  Liquidity tiers below are the repository's local-testnet genesis
  (``protocol/testing/genesis.sh``); its Large-Cap (2 %, 60 %) is the tier governance set later
  (mainnet genesis had 5 %), not verified against today's mainnet.

The integer functions work in the protocol's units (quote quantums, ppm) and reproduce its
rounding exactly; the venue model feeds the float evaluator with the same fractions.

Liquidation outcome: the position is closed by a liquidation order at (or better than) the
fillable price; the insurance fund takes ``min(maxLiquidationFeePpm x |quote received|, d)``
of the remainder ``d`` (or pays ``-d``), so the trader keeps ``d`` minus that fee
(:data:`LIQUIDATION`; the v4 documentation's example, "Contract Loss Mechanisms"
(dydx-documentation-six.vercel.app/concepts/trading/contract-loss-mechanism): a 100 USD deposit
long 500 ABC at 1, liquidated at 0.77, bankruptcy price 0.80).
* Minimum order (read 2026-12-03): the indexer's ``GET /v4/perpetualMarkets`` gives BTC-USD
  ``stepSize`` 0.0001 BTC (``stepBaseQuantums`` 1,000,000 at ``atomicResolution`` -10; the
  answer quoted in ccxt 4.5.90 ``dydx.parse_market``); order sizes are whole multiples of the
  step in base quantums (dydxprotocol/v4-documentation, "How to interpret block data for
  trades"), so the smallest order is one step, 0.0001 BTC.  No ETH-USD figure was found.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

from levguard.core.instruments import ContractKind
from levguard.core.positions import Position
from levguard.core.rules.base import BaseAssetTable, LiquidationRule, Rates, VenueModel
from levguard.core.validate import finite, non_negative, show, whole_number
from levguard.errors import InputError

SOURCE = "github.com/dydxprotocol/v4-chain @ 84d4664bae71e3a077adaac67fb77ad19cd28d30"
ONE_MILLION = 1_000_000

MAX_LIQUIDATION_FEE_PPM = 15_000
BANKRUPTCY_ADJUSTMENT_PPM = 1_000_000
SPREAD_TO_MMR_PPM = 1_500_000
MAX_POSITION_PORTION_LIQUIDATED_PPM = 100_000
MIN_POSITION_NOTIONAL_LIQUIDATED = 1_000.0
"""Mainnet genesis liquidations config (dydx-mainnet-1); ``LiquidationsConfig_Default`` differs."""


@dataclass(frozen=True, slots=True)
class LiquidityTier:
    """A dYdX liquidity tier (fractions in ppm, open-interest caps in quote units)."""

    name: str
    initial_margin_ppm: int
    maintenance_fraction_ppm: int
    open_interest_lower_cap: float = 0.0
    open_interest_upper_cap: float = 0.0


LIQUIDITY_TIERS: dict[str, LiquidityTier] = {
    t.name.lower(): t
    for t in (
        LiquidityTier("Large-Cap", 20_000, 600_000),
        LiquidityTier("Small-Cap", 100_000, 500_000, 20e6, 50e6),
        LiquidityTier("Long-Tail", 200_000, 500_000, 5e6, 10e6),
        LiquidityTier("Safety", 1_000_000, 200_000, 2e6, 5e6),
        LiquidityTier("Isolated", 50_000, 600_000, 0.5e6, 1e6),
        LiquidityTier("Mid-Cap", 50_000, 600_000, 40e6, 100e6),
        LiquidityTier("FX", 10_000, 500_000, 0.5e6, 1e6),
    )
}
DEFAULT_TIER_BY_MARKET = {"BTCUSD": "large-cap", "ETHUSD": "large-cap"}
_UINT32 = 2**32


def _ppm(value: object, field: str, lo: int = 0, hi: int = ONE_MILLION) -> int:
    # A protocol ppm parameter: an integer in [lo, hi] (x/perpetuals LiquidityTier.Validate: the
    # initial margin and the maintenance fraction at most 1e6; x/clob LiquidationsConfig.Validate).
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise InputError(f"{field} must be an integer in [{lo:_}, {hi:_}] ppm, was {show(value)}")
    return value


def _quantums(value: object, field: str) -> int:
    # A protocol amount in quantums: an integer of either sign (big.Int), never a float.
    if isinstance(value, bool) or not isinstance(value, int):
        raise InputError(f"{field} must be an integer number of quantums, was {show(value)}")
    return value


def maintenance_fraction_ppm(initial_margin_ppm: int, maintenance_fraction_ppm_: int) -> int:
    """Return ``floor(IMF_ppm * maintenance_fraction_ppm / 1e6)`` (``GetMaintenanceMarginPpm``).

    The protocol uses this floored fraction for funding clamps; margin requirements use
    :func:`maintenance_margin_quantums`.

    Raises
    ------
    InputError
        A fraction that is not an integer in [0, 1e6] ppm (``LiquidityTier.Validate``).
    """
    imf = _ppm(initial_margin_ppm, "initial_margin_ppm")
    return (imf * _ppm(maintenance_fraction_ppm_, "maintenance_fraction_ppm")) // ONE_MILLION


def scaled_initial_margin_ppm(base_imf_ppm: int, open_interest: float, lower_cap: float, upper_cap: float) -> int:
    """Return the open-interest-scaled initial margin fraction in ppm (rounded down).

    Notes
    -----
    ``[DYDX_OIMF]``: base if ``upper_cap == 0`` or ``OI <= lower_cap``; 100 % if
    ``OI >= upper_cap``; else ``base + (1e6 - base) * (OI - lower) / (upper - lower)``, at most
    1e6 (``x/perpetuals/types/liquidity_tier.go``, ``GetInitialMarginQuoteQuantums``: "Effective
    IMF = Min(Base IMF + Max(IMF Increase, 0), 1.0)").  The increase is rounded down to whole ppm
    as :data:`SOURCE` computes it: ``GetAdjustedInitialMarginPpm`` divides
    ``(1e6 - base) * (OI - lower)`` by ``upper - lower`` with ``big.Int.Div``, and
    ``GetInitialMarginQuoteQuantums`` rounds only ``notional * IMF_ppm / 1e6`` up; the
    protocol's ``TestGetAdjustedInitialMarginPpm``, "Open interest within bounds, rounded":
    0.3876536 -> 387,653 ppm.  Versions from 3a2ede68 (2024-03-12) until df00d841
    (2024-05-29, "Clean up open-interest liquidity tier calculations", #1592) kept the scaled
    IMF an exact ``big.Rat`` and rounded only the requirement up (up to 1 ppm of the notional
    more).

    Raises
    ------
    InputError
        ``base_imf_ppm`` not an integer in [0, 1e6] (``LiquidityTier.Validate``: the initial margin
        is at most 1, ``MaxInitialMarginPpm``), an open interest or cap that is negative or not
        finite, or ``lower_cap > upper_cap`` (``ErrOpenInterestLowerCapLargerThanUpperCap``).
    """
    base_imf_ppm = _ppm(base_imf_ppm, "base_imf_ppm")
    open_interest = non_negative(open_interest, "open_interest")
    lower_cap = non_negative(lower_cap, "open_interest_lower_cap")
    upper_cap = non_negative(upper_cap, "open_interest_upper_cap")
    if lower_cap > upper_cap:
        raise InputError(
            f"open_interest_lower_cap must be <= open_interest_upper_cap ({upper_cap!r}), was {lower_cap!r}"
        )
    if upper_cap == 0 or open_interest <= lower_cap:
        return base_imf_ppm
    if open_interest >= upper_cap:
        return ONE_MILLION
    step = (
        Fraction(ONE_MILLION - base_imf_ppm)
        * (Fraction(open_interest) - Fraction(lower_cap))
        / (Fraction(upper_cap) - Fraction(lower_cap))
    )
    return min(base_imf_ppm + math.floor(step), ONE_MILLION)


def initial_margin_quantums(notional_quantums: int, imf_ppm: int) -> int:
    """Return ``ceil(|notional| * IMF)`` in quote quantums (``[DYDX_IMR]``).

    Raises
    ------
    InputError
        A notional that is not an integer, or an IMF not an integer in [0, 1e6] ppm.
    """
    notional = _quantums(notional_quantums, "notional_quantums")
    return -((-abs(notional) * _ppm(imf_ppm, "imf_ppm")) // ONE_MILLION)


def maintenance_margin_quantums(notional_quantums: int, imf_ppm: int, maintenance_fraction_ppm_: int) -> int:
    """Return a position's maintenance margin requirement in quote quantums.

    Notes
    -----
    ``x/perpetuals/lib/lib.go`` (``GetMarginRequirementsInQuoteQuantums``):
    ``ceil(ceil(|notional| * IMF_base) * maintenance_fraction)`` on the *base* IMF (no
    open-interest scaling).  The floored ``MMF_ppm`` helper is used for funding clamps only.

    Raises
    ------
    InputError
        As :func:`initial_margin_quantums`, or a maintenance fraction not an integer in [0, 1e6] ppm.
    """
    initial = initial_margin_quantums(notional_quantums, imf_ppm)
    return -((-initial * _ppm(maintenance_fraction_ppm_, "maintenance_fraction_ppm")) // ONE_MILLION)


def is_liquidatable(tnc: float, tmmr: float) -> bool:
    """Return True iff ``TMMR > 0 and TNC < TMMR`` (``IsLiquidatable``).

    Raises
    ------
    InputError
        ``tnc`` or ``tmmr`` not a finite number (NaN answered "not liquidatable").
    """
    finite(tnc, "tnc")
    return finite(tmmr, "tmmr") > 0 and tnc < tmmr


def bankruptcy_quote_quantums(dnnv: int, tnc: int, dmmr: int, tmmr: int) -> int:
    """Return the quote quantums a close of ``delta`` must receive (``GetBankruptcyPriceInQuoteQuantums``).

    Parameters
    ----------
    dnnv : int
        Change in the position's net notional from the close, at the oracle price.
    tnc, tmmr : int
        The subaccount's total net collateral and total maintenance margin requirement.
    dmmr : int
        Change in the maintenance margin requirement from the close.

    Notes
    -----
    ``-DNNV - TNC * |DMMR| / TMMR``, rounded towards +inf.

    Raises
    ------
    InputError
        An argument that is not an integer (quantums), or ``tmmr <= 0``.
    """
    dnnv, tnc, dmmr = (_quantums(v, f) for v, f in ((dnnv, "dnnv"), (tnc, "tnc"), (dmmr, "dmmr")))
    if _quantums(tmmr, "tmmr") <= 0:
        raise InputError(f"tmmr must be > 0, was {tmmr!r}")
    value = Fraction(-dnnv) - Fraction(tnc * abs(dmmr), tmmr)
    return math.ceil(value)


def fillable_price(
    pnnv: float,
    position_size: float,
    tnc: float,
    tmmr: float,
    pmmr: float,
    *,
    bankruptcy_adjustment_ppm: int = BANKRUPTCY_ADJUSTMENT_PPM,
    spread_to_mmr_ppm: int = SPREAD_TO_MMR_PPM,
) -> Fraction:
    """Return the worst price a liquidation order may fill at (``GetFillablePrice``).

    Notes
    -----
    ``(PNNV - ABR * SMMR * PMMR) / PS`` with ``ABR = clamp(BA * (1 - TNC/TMMR), 0, 1)``, in quote
    per base unit (before conversion to subticks).

    Raises
    ------
    InputError
        An amount that is not a finite number, ``position_size == 0``, ``tmmr <= 0``, a bankruptcy
        adjustment below 1e6 ppm or a spread ratio of 0 (``x/clob/types/liquidations_config.go``
        ``Validate``; both are uint32).
    """
    for value, field in ((pnnv, "pnnv"), (position_size, "position_size"), (tnc, "tnc"), (tmmr, "tmmr")):
        finite(value, field)
    finite(pmmr, "pmmr")
    bankruptcy_adjustment_ppm = _ppm(bankruptcy_adjustment_ppm, "bankruptcy_adjustment_ppm", ONE_MILLION, _UINT32 - 1)
    spread_to_mmr_ppm = _ppm(spread_to_mmr_ppm, "spread_to_mmr_ppm", 1, _UINT32 - 1)
    if position_size == 0:
        raise InputError("position_size must be non-zero, was 0")
    if tmmr <= 0:
        raise InputError(f"tmmr must be > 0, was {tmmr!r}")
    ba = Fraction(bankruptcy_adjustment_ppm, ONE_MILLION)
    abr = ba * (1 - Fraction(tnc) / Fraction(tmmr))
    abr = min(max(abr, Fraction(0)), Fraction(1))
    smmr = Fraction(spread_to_mmr_ppm, ONE_MILLION)
    return (Fraction(pnnv) - abr * smmr * Fraction(pmmr)) / Fraction(position_size)


def insurance_fund_delta(
    quote_received: int, bankruptcy_quote: int, max_liquidation_fee_ppm: int = MAX_LIQUIDATION_FEE_PPM
) -> int:
    """Return the insurance fund's change from a liquidation fill (``[DYDX_INSURANCE_DELTA]``).

    Notes
    -----
    ``d = quote received - bankruptcy quote``; if ``d <= 0`` the fund pays ``-d`` (returns
    ``d``); otherwise the fund receives ``min(maxLiquidationFeePpm * |quote received|, d)``,
    the fee rounded down (``x/clob/keeper/liquidations.go``, ``GetLiquidationInsuranceFundDelta``),
    so a positive delta is at most the surplus ``d``.

    Raises
    ------
    InputError
        A quote that is not an integer (quantums), or a fee not an integer in [1, 1e6] ppm
        (``LiquidationsConfig.Validate``: ``MaxLiquidationFeePpm == 0 || > 1e6`` is invalid; a
        negative fee, which made the fund pay a trader whose close left a surplus, cannot be set).
    """
    quote_received = _quantums(quote_received, "quote_received")
    d = quote_received - _quantums(bankruptcy_quote, "bankruptcy_quote")
    max_liquidation_fee_ppm = _ppm(max_liquidation_fee_ppm, "max_liquidation_fee_ppm", 1)
    if d <= 0:
        return d
    fee = (abs(quote_received) * max_liquidation_fee_ppm) // ONE_MILLION
    return min(fee, d)


def _tier_for(position: Position) -> LiquidityTier:
    name = position.params.get("liquidity_tier_index")
    tiers = list(LIQUIDITY_TIERS.values())
    if name is not None:
        return tiers[whole_number(name, f"{position.symbol}.liquidity_tier_index", 0, len(tiers) - 1)]
    key = DEFAULT_TIER_BY_MARKET.get(position.symbol.upper().replace("-", "").replace("/", "").split(":")[0])
    if key is None:
        raise InputError(
            f"{position.symbol}: no dYdX liquidity tier known for this market; pass "
            f"liquidity_tier (one of {', '.join(t.name for t in tiers)}) or imr and mmr"
        )
    return LIQUIDITY_TIERS[key]


def dydx_rates(position: Position) -> Rates:
    """Initial (open-interest scaled) and maintenance fractions of a dYdX position.

    Both from the market's liquidity tier (:func:`dydx_rates_for_tier`) unless given: a
    position's ``imr`` and its ``mmr`` param are user overrides, each alone or together; the one
    not given comes from the tier.

    Raises
    ------
    InputError
        No tier known for the market and not both rates given, or a maintenance rate above the
        initial rate in use.

    Notes
    -----
    dYdX v4's maintenance fraction is at most 1 (``x/perpetuals/types/liquidity_tier.go``,
    ``LiquidityTier.Validate``: ``MaxMaintenanceFractionPpm``), so ``MMF = IMF x fraction <= IMF``;
    the protocol panics where it finds otherwise ("maintenance margin fraction should never be
    larger than initial margin fraction", ``GetMaxAbsFundingClampPpm``).  An override above the
    initial rate (``mmr`` 3 % with Large-Cap's 2 %) describes no dYdX market and is refused.
    """
    given_mmr = position.params.get("mmr")
    if position.imr is not None and given_mmr is not None:
        rates = Rates(imr=position.imr, mmr=given_mmr, source=SOURCE)
    else:
        # One rate given (or none): the other from the market's liquidity tier.
        tier = dydx_rates_for_tier(_tier_for(position), position.params.get("open_interest", 0.0))
        imr = position.imr if position.imr is not None else tier.imr
        rates = Rates(imr=imr, mmr=given_mmr if given_mmr is not None else tier.mmr, source=SOURCE)
    if rates.mmr > rates.imr:
        raise InputError(
            f"{position.symbol}.mmr must be at most the initial margin rate {rates.imr!r} on dYdX (its maintenance "
            f"fraction is at most 1), was {rates.mmr!r}"
        )
    return rates


def dydx_rates_for_tier(tier: LiquidityTier, open_interest: float) -> Rates:
    """Initial (open-interest scaled) and maintenance fractions of a liquidity tier."""
    base = tier.initial_margin_ppm
    # Margin path: MMR = IMR(base IMF) x maintenance fraction (lib.go), i.e. the product of the
    # two fractions (the protocol's ceilings are sub-quantum and dropped in the float model).
    mmr = (base / ONE_MILLION) * (tier.maintenance_fraction_ppm / ONE_MILLION)
    imf = scaled_initial_margin_ppm(base, open_interest, tier.open_interest_lower_cap, tier.open_interest_upper_cap)
    return Rates(imr=imf / ONE_MILLION, mmr=mmr, source=SOURCE)


def tier_index(name: str) -> int:
    """Return the position of a liquidity tier name (case-insensitive) or raise InputError."""
    keys = list(LIQUIDITY_TIERS)
    key = name.strip().lower() if isinstance(name, str) else None
    if key not in LIQUIDITY_TIERS:
        raise InputError(
            f"liquidity_tier must be one of {', '.join(t.name for t in LIQUIDITY_TIERS.values())}, was {show(name)}"
        )
    return keys.index(key)


LIQUIDATION = LiquidationRule(
    kind="book",
    fee_rate=MAX_LIQUIDATION_FEE_PPM / ONE_MILLION,
    fee_cap="share",
    source=(
        "github.com/dydxprotocol/v4-chain x/clob/keeper/liquidations.go (insurance fund delta); "
        "dydxopsdao/networks dydx-mainnet-1/genesis.json (liquidations_config); "
        "dydx-documentation-six.vercel.app/concepts/trading/contract-loss-mechanism"
    ),
    keeps=(
        "the remainder at the fill less the insurance-fund fee min(1.5 % x |quote|, d), d = TNC x MM / TMMR at the "
        "fill (the position's share of the account's equity; the remainder when isolated); 0 below bankruptcy"
    ),
    modelled=(
        "the whole position at the fill: mainnet closes at most 10 % of a position (at least 1,000 USDC) a "
        "block, about a second, so over a bar the position goes while the account stays liquidatable; the "
        "fillable-price bound and the per-block slices are not modelled in the backtester"
    ),
)
"""dYdX v4: closed at the fill, the insurance fund takes at most 1.5 % of the quote, capped at the bankruptcy
quote's remainder (the position's share of the account's equity)."""

DYDX = VenueModel(
    name="dydx-v4",
    title="dYdX v4 perpetuals",
    kind=ContractKind.LINEAR,
    settlement="USDC",
    source=SOURCE,
    rate_based=True,
    strict_trigger=True,
    positive_mm_trigger=True,
    rates=dydx_rates,
    liquidation=LIQUIDATION,
    min_qty=BaseAssetTable((("BTC", 0.0001),)),
    min_qty_source=(
        "dYdX indexer GET /v4/perpetualMarkets: BTC-USD stepSize 0.0001 (answer quoted in ccxt 4.5.90 dydx.py); "
        "sizes are whole steps (dydxprotocol/v4-documentation); read 2026-12-03"
    ),
    funding_interval_hours=1.0,  # x/epochs: the "funding-tick" epoch lasts 3,600 s, on the hour
    inverse_refusal="dYdX v4 lists USDC-margined perpetuals only",
    settlements=("USDC",),
)
