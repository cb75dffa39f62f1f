"""The one price format of the text and HTML outputs (``levguard.cli._output.price`` uses it)."""

from __future__ import annotations

import math

__all__ = ["fmt_price"]


def fmt_price(x: float | None) -> str:
    """A price with thousands separators: 2 decimals from 100 up, 4 from 1, and below 1 at least 6
    decimals and at least 6 significant digits (at most 12 decimals, then scientific notation);
    None or non-finite as a dash.

    Six fixed decimals printed a SHIB-like 20x long's liquidation (1.17437e-05) and bankruptcy
    (1.1685e-05) prices both as "0.000012", and 4.8e-7 as "0.000000": they read "0.0000117437",
    "0.0000116850" and "0.000000480000".  Prices of 0.1 and up print as before (0.500000, 1.2345,
    60,000.00).  The digits are counted after rounding (0.0999999999 reads "0.100000").
    """
    if x is None or not math.isfinite(x):
        return "—"
    size = abs(x)
    if size >= 100:
        return f"{x:,.2f}"
    if size >= 1:
        return f"{x:,.4f}"
    if x == 0.0:
        return "0.000000"
    exponent = int(f"{x:.5e}".split("e")[1])  # of x rounded to 6 significant digits
    decimals = max(6, 5 - exponent)
    return f"{x:.6g}" if decimals > 12 else f"{x:.{decimals}f}"
