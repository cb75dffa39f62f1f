"""L5: the guardian's web service: a REST API (FastAPI), live updates (Server-Sent Events),
bearer-token security, Prometheus metrics and the dashboard.  See docs/service.md."""
