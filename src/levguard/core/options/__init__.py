"""Option math (pure): Black-76 prices and Greeks (USD- and coin-settled), implied volatility,
SVI smiles and a volatility surface."""
