"""L2: exchange venues the guardian watches: the interface (:mod:`levguard.venues.base`), a ccxt
adapter for real exchanges and a paper venue for demos and tests.  See docs/guardian.md."""
