"""levguard's exact engines on a position read from a chain: the on-chain guardian's assessor.

:func:`assess` turns an :class:`~levguard.venues.onchain_read.AaveRead` or
:class:`~levguard.venues.onchain_read.MorphoRead` (contract units, one block) into the position
records of :mod:`levguard.defi.positions` (:func:`position_of`) and returns what the guardian
decides on (:class:`levguard.live.onchain.LendingAssessment`): the health factor, each
collateral's liquidation price (the others fixed) and, per token, the least repayment or supply
that restores the target, all from :mod:`levguard.defi.analytics`, exact to the contract unit.
The composition roots (``levguard guard``) pass it to
:class:`~levguard.live.onchain.OnchainAccountSetup` as ``assess``.

Notes
-----
Aave v3: ``GenericLogic.calculateUserAccountData`` (aave-v3-core
``contracts/protocol/libraries/logic/GenericLogic.sol``) through
:func:`levguard.core.defi.aave.get_user_account_data`; the balances read are the tokens'
``balanceOf`` at the block (scaled balance times the index), as the contract reads them, so the
health factor equals ``Pool.getUserAccountData`` of that block to the wei.  Morpho Blue:
``wDivDown(maxBorrow, borrowed)`` on the market accrued to the block (morpho-org/sdks
``MarketUtils.getHealthFactor``; ``Morpho._isHealthy``).
"""

from __future__ import annotations

from levguard.defi import analytics
from levguard.defi.positions import AavePosition, DefiPosition, MorphoPosition
from levguard.errors import InputError
from levguard.live.onchain import AssetFigures, LendingAssessment
from levguard.venues.onchain_read import AaveRead, LendingRead, MorphoRead

__all__ = ["assess", "position_of"]


def position_of(read: LendingRead) -> DefiPosition:
    """The read as levguard's position record (contract units kept as they are)."""
    if isinstance(read, AaveRead):
        return AavePosition(reserves=read.reserves, emode_category=read.emode, version=read.version, name=read.wallet)
    if isinstance(read, MorphoRead):
        return MorphoPosition(
            market=read.market,
            position=read.position,
            lltv=read.lltv,
            oracle_price=read.oracle_price,
            collateral_decimals=read.collateral_decimals,
            loan_decimals=read.loan_decimals,
            collateral_symbol=read.collateral_symbol,
            loan_symbol=read.loan_symbol,
            name=read.wallet,
            market_given=True,
        )
    raise InputError(f"read must be an AaveRead or a MorphoRead, was {type(read).__name__}")


def assess(read: LendingRead, target_hf: float) -> LendingAssessment:
    """Return levguard's health factor, liquidation prices and amounts to ``target_hf`` for ``read``.

    Parameters
    ----------
    read : AaveRead or MorphoRead
    target_hf : float
        The health factor an action restores (> 0).

    Returns
    -------
    LendingAssessment
        Values in USD (Aave's base currency) or in loan tokens (Morpho).

    Raises
    ------
    InputError
        A read the engines refuse (a bad row, a target that is not a positive number).
    """
    pos = position_of(read)
    report = analytics.position_report(pos, target_hf=str(target_hf))
    repay = {t.symbol: t.amount for t in report.repay}
    supply = {t.symbol: t.amount for t in report.supply}
    figures: list[AssetFigures] = []
    if isinstance(pos, AavePosition):
        for r, line in zip(pos.reserves, report.assets, strict=True):
            counted = r.collateral if (r.collateral_enabled and r.lt > 0) else 0
            lp = line.liquidation
            figures.append(
                AssetFigures(
                    symbol=r.symbol,
                    price=line.price,
                    decimals=r.decimals,
                    collateral=counted,
                    debt=r.debt,
                    liquidation_price=lp.value if lp is not None else None,
                    repay_to_target=repay.get(r.symbol),
                    supply_to_target=supply.get(r.symbol),
                    note=lp.reason if lp is not None else "",
                )
            )
    else:
        coll_line, loan_line = report.assets
        lp = coll_line.liquidation
        figures = [
            AssetFigures(
                symbol=pos.collateral_symbol,
                price=coll_line.price,
                decimals=pos.collateral_decimals,
                collateral=pos.position.collateral,
                debt=0,
                liquidation_price=lp.value if lp is not None else None,
                repay_to_target=None,
                supply_to_target=supply.get(pos.collateral_symbol),
                note=lp.reason if lp is not None else "",
            ),
            AssetFigures(
                symbol=pos.loan_symbol,
                price=loan_line.price,
                decimals=pos.loan_decimals,
                collateral=0,
                debt=int(report.exact["borrowed"]),
                liquidation_price=None,
                repay_to_target=repay.get(pos.loan_symbol),
                supply_to_target=None,
            ),
        ]
    return LendingAssessment(
        health_factor_wad=report.health_factor_wad,
        target_hf=float(target_hf),
        value_unit=report.value_unit,
        collateral_value=float(report.collateral_value),
        debt_value=float(report.debt_value),
        assets=tuple(figures),
    )
