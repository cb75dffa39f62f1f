"""L0: numba hot loops. Arrays and scalars in, arrays out; no domain objects, no exceptions."""
