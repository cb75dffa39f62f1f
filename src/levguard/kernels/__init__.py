"""L0: numba hot loops. Arrays and scalars in, arrays out; no domain objects, no exceptions."""

from levguard.kernels._jit import NUMBA_DISABLED, load_numba, readonly

__all__ = ["NUMBA_DISABLED", "load_numba", "readonly"]
