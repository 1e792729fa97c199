"""How many reads one call may have in flight on a connection, from the connection's own limits.

An adapter whose list rows are summaries reads each row's invoice (crm_v1); those reads run
concurrently, bounded by the connection's configuration rather than by a fixed number:

- half its pool (``max_connections``, gateway/provider_sessions.py), so that one list call
  never takes every socket the connection's other callers need;
- no more than its rate limit lets out at once (``rate_limit``: its ``burst``, else its
  ``per_second`` rounded up, as the token bucket holds it): reads beyond that would only wait
  for the pacer while holding a place;
- at least one.

With the defaults (100 connections, no rate limit) a page of up to 50 rows is read all at once;
a connection limited to 10 calls a second reads 10 at a time.
"""

from __future__ import annotations

import math

from gateway.config import Connection


def reads_at_once(connection: Connection) -> int:
    """The reads one call may have in flight on ``connection`` (rules above)."""
    limit = max(1, connection.max_connections // 2)
    rate = connection.rate_limit
    if rate is not None:
        limit = min(limit, rate.burst or max(1, math.ceil(rate.per_second)))
    return limit
