"""``aioresponses`` for narrow unit tests of the upstream client, on aiohttp 3.14.

aiohttp 3.14 gave ``ClientResponse`` a required ``stream_writer`` argument that aioresponses
0.7.9 does not pass (pnuckowski/aioresponses#289); aiohttp only reads its ``output_size``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from types import SimpleNamespace
from typing import Any, TypeVar

import aiohttp
import pytest
from aioresponses import CallbackResult, aioresponses

from gateway.write_calls import WriteCalls, write_calls_var

_E = TypeVar("_E", bound=BaseException)


class _Response(aiohttp.ClientResponse):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("stream_writer", SimpleNamespace(output_size=0))
        super().__init__(*args, **kwargs)


class mocked_network(aioresponses):
    def add(self, *args: Any, response_class: Any = None, **kwargs: Any) -> None:
        super().add(*args, response_class=response_class or _Response, **kwargs)


def answer(status: int = 200, payload: Any = None) -> CallbackResult:
    """A callback's response (callbacks build theirs apart from ``add``)."""
    return CallbackResult(status=status, payload=payload, response_class=_Response)


async def raised_by(
    call: Callable[[], Awaitable[Any]],
    expected: type[_E],
    *answers: tuple[str, Any, int, Any],
) -> tuple[_E, WriteCalls]:
    """What ``call`` raises (of ``expected``) while the network answers ``answers`` (method,
    URL or pattern, status, JSON body), with the write calls it counted."""
    calls = WriteCalls()
    token = write_calls_var.set(calls)
    try:
        with mocked_network() as mock:
            for method, url, status, payload in answers:
                mock.add(url, method, status=status, payload=payload)
            with pytest.raises(expected) as info:
                await call()
    finally:
        write_calls_var.reset(token)
    return info.value, calls
