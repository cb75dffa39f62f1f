"""Fuzz the API against its own OpenAPI schema (schemathesis) with every check it has: no 5xx,
documented status codes, content types and headers, responses matching their schemas, invalid
input rejected, valid input accepted, undeclared methods answered 405 with ``Allow``, auth not
ignored.

Valid by schema is not valid by engine on one route: the calculator's body is any JSON object
(the engine decides which specs are complete and answers 400 with its message), so a 400 counts
as a correct answer to schema-valid input there.

The app runs without the guardian loop (``run_guardian=False``) after one cycle, so the fuzzer
meets a populated store and reports; the event stream (endless) is left out.  The schema is
served to a read token only (``docs="token"``, the default): the loader sends the admin token.
"""

from __future__ import annotations

import asyncio
from typing import Any

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import CHECKS, load_all_checks
from schemathesis.config import SchemathesisConfig
from schemathesis.core.parameters import ParameterLocation

from levguard.service.app import create_app
from levguard.service.auth import ensure_admin_token
from levguard.service.runtime import paper_demo_runtime

_rt = paper_demo_runtime("sqlite://", interval_s=0.05)
_TOKEN = ensure_admin_token(_rt.store)
asyncio.run(_rt.run_cycle())
_rt.guardian.flush()
app = create_app(_rt, run_guardian=False, write_rate_per_minute=100_000, compute_rate_per_minute=100_000)
HEADERS = {"Authorization": f"Bearer {_TOKEN}"}

load_all_checks()
ALL_CHECKS = list(CHECKS.get_all())

CONFIG = SchemathesisConfig.from_dict(
    {
        "operations": [
            {
                "include-path": "/api/calculate",
                "checks": {"positive_data_acceptance": {"expected-statuses": [200, 400, 401, 403, 429]}},
            }
        ]
    }
)
schema = schemathesis.openapi.from_asgi("/openapi.json", app, config=CONFIG, headers=HEADERS).exclude(
    path="/api/events"
)


def test_every_check_is_run() -> None:
    names = {c.__name__ for c in ALL_CHECKS}
    for name in (
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_headers_conformance",
        "response_schema_conformance",
        "negative_data_rejection",
        "positive_data_acceptance",
        "unsupported_method",
        "ignored_auth",
    ):
        assert name in names, name


@schema.parametrize()
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_api_conforms_to_its_schema(case: Any) -> None:
    # A case whose headers were generated invalid (e.g. the bearer token left out) is sent as
    # generated: adding the token back would turn it into a valid request the check then
    # expects to be refused.
    negative_headers = case.meta is not None and case.meta.is_negative_at(ParameterLocation.HEADER)
    case.call_and_validate(headers=None if negative_headers else HEADERS, checks=ALL_CHECKS)
