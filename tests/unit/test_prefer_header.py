"""``Prefer: handling=…`` read as RFC 7240 writes it: the name in any case, the value bare or
quoted, among other preferences, in any of several ``Prefer`` headers; anything else is the
default, strict (never lenient by a guess)."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import make_mocked_request
from multidict import CIMultiDict

from gateway.http.views.common import handling


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ([], "strict"),
        ([("Prefer", "handling=lenient")], "lenient"),
        ([("Prefer", 'handling="lenient"')], "lenient"),
        ([("Prefer", "HANDLING=LENIENT")], "lenient"),
        ([("Prefer", "return=minimal, handling=lenient")], "lenient"),
        ([("Prefer", "respond-async; wait=5, Handling = lenient")], "lenient"),
        ([("Prefer", "return=minimal"), ("Prefer", "handling=lenient")], "lenient"),
        ([("Prefer", "handling=strict")], "strict"),
        ([("Prefer", "handling=lenientish")], "strict"),
        ([("Prefer", "xhandling=lenient")], "strict"),
        ([("Prefer", 'handling="lenient')], "strict"),
    ],
)
def test_the_handling_preference(headers: list[tuple[str, str]], expected: str) -> None:
    request = make_mocked_request("POST", "/", headers=CIMultiDict(headers))
    assert handling(request) == expected
