"""How many row reads one list call may have in flight: from the connection's own limits."""

from __future__ import annotations

from typing import Any

import pytest

from adapters.read_limits import reads_at_once
from gateway.config import Connection
from gateway.sandbox import sandbox_connection


@pytest.mark.parametrize(
    ("limits", "expected"),
    [
        ({}, 50),  # the default pool of 100: half of it
        ({"max_connections": 9}, 4),
        ({"max_connections": 1}, 1),  # never none
        ({"rate_limit": {"per_second": 10}}, 10),  # the bucket holds per_second, rounded up
        ({"rate_limit": {"per_second": 2.5}}, 3),
        ({"rate_limit": {"per_second": 0.2}}, 1),
        ({"rate_limit": {"per_second": 10, "burst": 30}}, 30),
        ({"max_connections": 20, "rate_limit": {"per_second": 100, "burst": 200}}, 10),
    ],
)
def test_half_the_pool_and_no_more_than_the_rate_limit_lets_out(
    limits: dict[str, Any], expected: int
) -> None:
    settings = dict(sandbox_connection("crm_v1", "http://127.0.0.1:1"))
    connection = Connection.model_validate({**settings, **limits})
    assert reads_at_once(connection) == expected
