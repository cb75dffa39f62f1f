"""Fuzz the API against its own OpenAPI schema (schemathesis): no 500s, responses match the schema.

The app runs without the guardian loop (``run_guardian=False``) after one cycle, so the fuzzer
meets a populated store and reports; the event stream (endless) is left out.
"""

from __future__ import annotations

import asyncio
from typing import Any

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from levguard.service.app import create_app
from levguard.service.auth import ensure_admin_token
from levguard.service.runtime import paper_demo_runtime

_rt = paper_demo_runtime("sqlite://", interval_s=0.05)
_TOKEN = ensure_admin_token(_rt.store)
asyncio.run(_rt.run_cycle())
_rt.guardian.flush()
app = create_app(_rt, run_guardian=False, write_rate_per_minute=100_000)

schema = schemathesis.openapi.from_asgi("/openapi.json", app).exclude(path="/api/events")


@schema.parametrize()
@settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_api_has_no_server_errors(case: Any) -> None:
    case.call_and_validate(
        headers={"Authorization": f"Bearer {_TOKEN}"}, checks=[not_a_server_error, response_schema_conformance]
    )
