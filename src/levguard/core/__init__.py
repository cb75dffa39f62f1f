"""L1: the pure domain. Frozen dataclasses and pure functions; every formula exists once."""
