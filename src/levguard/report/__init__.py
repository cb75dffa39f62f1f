"""L3: presentation of results: HTML reports (plotly) and terminal tables."""
