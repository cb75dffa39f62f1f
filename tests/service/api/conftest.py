"""Fixtures of the API tests: the paper demo service (guardian running every 50 ms) and tokens."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from service_helpers import Service, _service


@pytest.fixture
def service() -> Iterator[Service]:
    yield from _service()


@pytest.fixture
def limited_service() -> Iterator[Service]:
    yield from _service(write_rate_per_minute=3)
