"""Cascading-liquidation simulation: account populations, exogenous price paths, the cascade
engine and Monte Carlo over scenarios (issue 7)."""
