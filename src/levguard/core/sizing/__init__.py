"""Leverage policies (pure): each decides a target leverage and says which constraint bound."""
