"""Aave v3's error codes (``Errors.sol``) and the error levguard raises with them."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

from levguard.errors import InputError

__all__ = ["CUSTOM_ERRORS", "ERRORS", "AaveError"]

ERRORS: Final[Mapping[str, str]] = MappingProxyType(
    {
        "INVALID_MINT_AMOUNT": "24",
        "INVALID_BURN_AMOUNT": "25",
        "INVALID_AMOUNT": "26",
        "NOT_ENOUGH_AVAILABLE_USER_BALANCE": "32",
        "COLLATERAL_BALANCE_IS_ZERO": "34",
        "HEALTH_FACTOR_LOWER_THAN_LIQUIDATION_THRESHOLD": "35",
        "COLLATERAL_CANNOT_COVER_NEW_BORROW": "36",
        "NO_DEBT_OF_SELECTED_TYPE": "39",
        "HEALTH_FACTOR_NOT_BELOW_THRESHOLD": "45",
        "COLLATERAL_CANNOT_BE_LIQUIDATED": "46",
        "SPECIFIED_CURRENCY_NOT_BORROWED_BY_USER": "47",
        "DEBT_CEILING_EXCEEDED": "53",
        "LTV_VALIDATION_FAILED": "57",
        "INCONSISTENT_EMODE_CATEGORY": "58",
        "ASSET_NOT_BORROWABLE_IN_ISOLATION": "60",
        "SILOED_BORROWING_VIOLATION": "89",
        "NOT_BORROWABLE_IN_EMODE": "100",
        "MUST_NOT_LEAVE_DUST": "103",
    }
)
"""The protocol's error names and string codes raised here (``Errors.sol``, same codes 3.0-3.3)."""

CUSTOM_ERRORS: Final[Mapping[str, str]] = MappingProxyType(
    {
        name: "".join(part.capitalize() for part in name.split("_")).replace("Emode", "EMode") + "()"
        for name in ERRORS
        if name != "COLLATERAL_BALANCE_IS_ZERO"  # removed in v3.4 (validateBorrow no longer checks it)
    }
)
"""From v3.4 ``Errors.sol`` declares custom errors instead of string codes: the signature each of
:data:`ERRORS` reverts with there (``MUST_NOT_LEAVE_DUST`` -> ``MustNotLeaveDust()``; the revert
data is the first four bytes of its keccak-256).  Checked against ``Errors.sol`` at v3.6.0."""


class AaveError(InputError):
    """A ``require`` of the Aave v3 contracts failed.

    Attributes
    ----------
    code : str
        The protocol's error code, e.g. ``"103"`` (``Errors.sol``).
    name : str
        The error's constant name, e.g. ``"MUST_NOT_LEAVE_DUST"``.
    custom_error : str
        The v3.4+ custom error's signature, e.g. ``"MustNotLeaveDust()"`` (:data:`CUSTOM_ERRORS`;
        ``""`` for an error v3.4 removed).
    """

    def __init__(self, name: str, detail: str = "") -> None:
        self.code = ERRORS[name]
        self.name = name
        self.custom_error = CUSTOM_ERRORS.get(name, "")
        super().__init__(f"{name} ({self.code})" + (f": {detail}" if detail else ""))
