"""Risk math (pure): volatility estimators, VaR/ES and their backtests, probability of
liquidation, portfolio revaluation and stress scenarios.  No pandas, no I/O."""
