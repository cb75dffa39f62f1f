"""Public options API: Black-76 prices and Greeks, implied volatility, volatility surfaces.

The math lives in :mod:`levguard.core.options`; this module re-exports it on first use.

Examples
--------
A 30-day BTC call struck at 65,000 on a 60,000 forward at 55% vol, USD-settled (Greeks per
coin of underlying: delta dV/dF, vega per 1.00 of vol, theta per year):

>>> from levguard.options import implied_vol, price_greeks
>>> r = price_greeks("call", 60_000.0, 65_000.0, 30 / 365, 0.55)
>>> round(float(r.price), 4), round(float(r.delta), 4), round(float(r.vega), 3)
(1921.5931, 0.334, 6259.666)

The same option settled in coin (Deribit): price in BTC, and F * delta is the premium-adjusted
delta (Black delta minus the premium in coin):

>>> c = price_greeks("call", 60_000.0, 65_000.0, 30 / 365, 0.55, settlement="coin")
>>> round(float(c.price), 6), round(float(60_000.0 * c.delta), 4)
(0.032027, 0.302)
>>> round(float(implied_vol(c.price, "call", 60_000.0, 65_000.0, 30 / 365, settlement="coin")), 10)
0.55
"""

from __future__ import annotations

from levguard.lazy import lazy_getattr

_BLACK76 = "levguard.core.options.black76"
_IV = "levguard.core.options.iv"
_SVI = "levguard.core.options.svi"
_SURFACE = "levguard.core.options.surface"

_EXPORTS: dict[str, str] = {
    "Black76Result": _BLACK76,
    "black76": _BLACK76,
    "black76_price": _BLACK76,
    "premium_adjusted_delta": _BLACK76,
    "price_greeks": _BLACK76,
    "theta_per_day": _BLACK76,
    "vega_per_point": _BLACK76,
    "ImpliedVolResult": _IV,
    "implied_vol": _IV,
    "implied_vol_array": _IV,
    "ButterflyCheck": _SVI,
    "CalendarCheck": _SVI,
    "SVIFit": _SVI,
    "SVIParams": _SVI,
    "check_butterfly": _SVI,
    "check_calendar": _SVI,
    "durrleman_g": _SVI,
    "fit_svi": _SVI,
    "fit_svi_from_prices": _SVI,
    "SVISlice": _SURFACE,
    "SmileQuotes": _SURFACE,
    "SurfaceArbitrageReport": _SURFACE,
    "VolShock": _SURFACE,
    "VolSurface": _SURFACE,
    "fit_surface": _SURFACE,
}

__all__ = sorted(_EXPORTS)


__getattr__ = lazy_getattr("levguard.options", _EXPORTS, globals())
