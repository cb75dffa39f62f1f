"""Public DeFi lending API: exact contract-unit engines and the friendly human-unit layer.

Submodules (see docs/defi.md)::

    levguard.defi.aave       Aave v3 (3.0-3.3): get_user_account_data, liquidation_call, validate_borrow, ...
    levguard.defi.morpho     Morpho Blue: liquidation_incentive_factor, is_healthy, liquidate, borrow, repay, ...
    levguard.defi.compound   Compound III (Comet): is_liquidatable, absorb, quote_collateral, buy_collateral, ...
    levguard.defi.positions  position specs in human units (YAML/JSON) -> contract units, exactly
    levguard.defi.analytics  health factor, liquidation prices, repay/supply to a target HF, max safe borrow
    levguard.defi.loops      leverage loops: leverage, HF, liquidation price, swap and unwinding cost
    levguard.defi.fast       float64 health factors and liquidation prices of millions of positions
    levguard.defi.rates      interest-rate models: Aave rate strategies and indexes, Morpho AdaptiveCurveIrm, APYs
    levguard.defi.risk       P(HF < 1) over horizons; levguard.defi.stress: depeg and crash scenarios
    levguard.defi.oracles    oracle rules: feed checks, Aave/Morpho read policies, sequencer, CAPO, valuation
"""

from levguard.defi import aave, analytics, compound, fast, loops, morpho, oracles, positions, rates

__all__ = ["aave", "analytics", "compound", "fast", "loops", "morpho", "oracles", "positions", "rates"]
