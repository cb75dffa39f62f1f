"""Strategy kernels: sequential signal rules that cannot be vectorized (hysteresis)."""

from __future__ import annotations

import math

from levguard.kernels._jit import jit
from levguard.typing import Float64Array1D


def zscore_positions_py(z: Float64Array1D, entry: float, exit_: float, out: Float64Array1D) -> None:
    """Fill ``out`` with mean-reversion positions from a z-score path, with hysteresis.

    Flat until ``|z| >= entry``; then short when ``z >= entry`` (price rich) or long when
    ``z <= -entry``; hold until ``z`` crosses back through ``exit_`` towards zero (``z <= exit_``
    for a short, ``z >= -exit_`` for a long).  NaN z (warm-up) keeps the current position flat.
    """
    pos = 0.0
    for t in range(z.shape[0]):
        zt = z[t]
        if not math.isfinite(zt):
            pos = 0.0
        elif pos == 0.0:
            if zt >= entry:
                pos = -1.0
            elif zt <= -entry:
                pos = 1.0
        elif (pos < 0.0 and zt <= exit_) or (pos > 0.0 and zt >= -exit_):
            pos = 0.0
        out[t] = pos


zscore_positions_nb = jit(zscore_positions_py)


def clean_directions_py(d: Float64Array1D, out: Float64Array1D) -> int:
    """Copy directions ``d`` into ``out`` with NaN as 0; return the first index whose value is not
    in {-1, 0, 1} (or NaN), or -1 when all are valid (then ``out`` is complete).

    One pass instead of NumPy's several (``isnan``, three comparisons, ``where``): a sweep checks
    a thousand of these arrays.
    """
    for t in range(d.shape[0]):
        v = d[t]
        if v == 1.0 or v == -1.0 or v == 0.0:
            out[t] = v
        elif math.isnan(v):
            out[t] = 0.0
        else:
            return t
    return -1


clean_directions_nb = jit(clean_directions_py)
