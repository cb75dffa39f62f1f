"""DeFi lending protocols mirrored exactly: integer paths in each protocol's own units and rounding."""
