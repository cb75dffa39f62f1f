"""Validators that raise :class:`~levguard.errors.InputError` naming the field and the value.

The public home of :mod:`levguard.core._validate` for the packages above ``core`` (data, sim,
risk, ...): one set of validators for the whole library.
"""

from __future__ import annotations

from levguard.core._validate import (
    NUMBER_MAX,
    NUMBER_MIN,
    SHOW_LIMIT,
    array_1d,
    as_amount,
    as_float,
    close,
    finite,
    finite_number,
    flag,
    integer_in,
    non_negative,
    non_negative_number,
    number,
    positive,
    positive_number,
    rate,
    show,
    side_sign,
)

__all__ = [
    "NUMBER_MAX",
    "NUMBER_MIN",
    "SHOW_LIMIT",
    "array_1d",
    "as_amount",
    "as_float",
    "close",
    "finite",
    "finite_number",
    "flag",
    "integer_in",
    "non_negative",
    "non_negative_number",
    "number",
    "positive",
    "positive_number",
    "rate",
    "show",
    "side_sign",
]
