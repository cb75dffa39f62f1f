"""Array and time aliases shared by every layer."""

from __future__ import annotations

from typing import TypeAlias

import numpy as np
import numpy.typing as npt

Float64Array: TypeAlias = npt.NDArray[np.float64]
Float64Array1D: TypeAlias = npt.NDArray[np.float64]
Float64Array2D: TypeAlias = npt.NDArray[np.float64]
Int64Array1D: TypeAlias = npt.NDArray[np.int64]
BoolArray1D: TypeAlias = npt.NDArray[np.bool_]
TsNs: TypeAlias = int
"""Nanoseconds since the Unix epoch, UTC."""
