"""``escapes_hide``: which provider answers must be walked for a credential their JSON escapes
hide from the blanking of the raw bytes. Only the strings written with an escape can hide it,
so the check must find it in every one of those (or the credential travels on decoded) and in
no other (or every answer naming a "Rheinmöbel" is walked, 1.5 ms a list of 25)."""

from __future__ import annotations

import base64
import json
import re
from typing import Any
from urllib.parse import quote, quote_plus

import aiohttp
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway import credential_blanking
from gateway import upstream as upstream_module
from gateway.config import Connection
from gateway.credential_forms import escapes_hide, without_secret, without_text
from gateway.upstream import UpstreamClient
from tests.unit.mock_upstream import mocked_network

SECRET = "sk+live/0123456789abcdef"


def _escaped_all(text: str) -> str:
    return "".join(f"\\u{ord(c):04x}" for c in text)


def test_a_credential_written_with_escapes_is_found_where_it_is_written() -> None:
    partly = SECRET.replace("+", "\\u002B")  # as .NET's encoder writes a "+"
    found = {
        "in a value": f'{{"message": "you sent {partly}"}}',
        "every character escaped": f'{{"message": "{_escaped_all(SECRET)}"}}',
        "in a key": f'{{"{partly}": 1}}',
        "after an escaped quote": f'{{"a": "say \\"{partly}\\" again"}}',
        "after a string without escapes": f'{{"name": "plain", "b": ["x", "{partly}"]}}',
    }
    for where, text in found.items():
        assert escapes_hide(text, SECRET), where


def test_answers_whose_escapes_hide_no_credential_are_not_walked() -> None:
    clean = {
        "a customer's name": '{"account_name": "Rheinm\\u00f6bel GmbH", "id": "7"}',
        "the credential split over two strings": json.dumps([SECRET[:5], SECRET[5:] + "\u00e9"]),
        "an escaped slash": '{"url": "https:\\/\\/example.test\\/x"}',
        "the credential without escapes": json.dumps({"a": SECRET, "b": "caf\u00e9"}),
    }
    for what, text in clean.items():
        assert not escapes_hide(text, SECRET), what


# Strings of pieces: plain and escaped characters, the credential whole.
_texts = st.lists(st.sampled_from([*'ab"\\/+\n', "\u00e9", SECRET]), max_size=6).map("".join)
_json = st.recursive(
    st.none() | st.integers() | _texts,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_texts, inner, max_size=4),
    max_leaves=12,
)


def _strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [s for item in value for s in _strings(item)]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in [k, *_strings(v)]]
    return []


@settings(max_examples=500)
@given(body=_json, ascii_only=st.booleans())
def test_the_check_agrees_with_the_walk_on_any_json(body: object, ascii_only: bool) -> None:
    """True exactly where a string holding the credential is written with an escape: the
    strings the byte-level blanking cannot see it in."""
    text = json.dumps(body, ensure_ascii=ascii_only)
    hidden = [
        s for s in _strings(body) if SECRET in s and "\\" in json.dumps(s, ensure_ascii=ascii_only)
    ]
    assert escapes_hide(text, SECRET) == bool(hidden)
    if not escapes_hide(text, SECRET):
        # Nothing is left for the walk: what holds the credential is written plainly.
        # the raw text blanked as the upstream client blanks it holds no credential decoded
        blanked = json.loads(text.replace(SECRET, "[redacted]"))
        assert not any(SECRET in s for s in _strings(blanked))
    else:
        walked = without_text(json.loads(text), SECRET, "[redacted]")
        assert not any(SECRET in s for s in _strings(walked))


BASE = "https://provider.example"


# A token with what encoders change: "+", "/", "=", "%", "~".
ECHOED = "Tok+en/w=th%41~chars_123"


def _client(session: aiohttp.ClientSession, token: str = SECRET) -> UpstreamClient:
    connection = Connection.model_validate(
        {
            "name": "crm",
            "provider": "crm_v1",
            "base_url": BASE,
            "auth": {"type": "bearer", "token": token},
        }
    )
    return UpstreamClient(session, connection)


async def _echoed(message: str) -> str:
    """The ``message`` a provider's answer carries, as the client (its credential ``ECHOED``)
    reads it."""
    said: str = (await _answered(json.dumps({"success": False, "message": message})))["message"]
    return said


async def _answered(echo: str | bytes) -> Any:
    """A provider's JSON answer ``echo`` as the client (its credential ``ECHOED``) reads it."""
    async with aiohttp.ClientSession() as session:
        client = _client(session, ECHOED)
        with mocked_network() as mock:
            mock.get(f"{BASE}/echo", status=200, body=echo, content_type="application/json")
            answer = await client.request("GET", "/echo")
    return answer.body


async def test_the_client_walks_only_an_answer_whose_escapes_hide_the_credential(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    walked: list[Any] = []

    def walk(value: Any, text: str, blank: str) -> Any:
        walked.append(value)
        return without_text(value, text, blank)

    monkeypatch.setattr(credential_blanking, "without_text", walk)
    named = '{"data": [{"account_name": "Rheinm\\u00f6bel GmbH", "note": "a \\"b\\""}]}'
    hidden = _escaped_all(SECRET)
    hiding = '{"data": [{"account_name": "Rheinm\\u00f6bel GmbH", "note": "' + hidden + '"}]}'
    async with aiohttp.ClientSession() as session:
        client = _client(session)
        with mocked_network() as mock:
            mock.get(f"{BASE}/named", status=200, body=named, content_type="application/json")
            mock.get(f"{BASE}/hiding", status=200, body=hiding, content_type="application/json")
            plain = await client.request("GET", "/named")
            assert walked == []  # escapes, but none hides the credential: not walked
            assert plain.body["data"][0]["account_name"] == "Rheinm\u00f6bel GmbH"
            blanked = await client.request("GET", "/hiding")
    assert len(walked) == 1
    assert blanked.body["data"][0] == {
        "account_name": "Rheinm\u00f6bel GmbH",
        "note": "[redacted]",
    }


def _lower_hex(text: str) -> str:
    return re.sub("%[0-9A-F]{2}", lambda escape: escape.group(0).lower(), text)


@pytest.mark.parametrize(
    "form",
    [
        quote(ECHOED, safe=""),
        _lower_hex(quote(ECHOED, safe="")),
        quote(ECHOED),
        _lower_hex(quote(ECHOED)),
        quote_plus(ECHOED),
        base64.b64encode(ECHOED.encode()).decode(),
        base64.urlsafe_b64encode(ECHOED.encode()).decode().rstrip("="),
    ],
    ids=[
        "pct",
        "pct-lower",
        "pct-keeping-slash",
        "pct-keeping-slash-lower",
        "plus",
        "b64",
        "b64url",
    ],
)
async def test_a_credential_echoed_encoded_is_blanked(form: str) -> None:
    """A provider that echoes the credential percent-encoded (either hex case, ``/`` kept or
    not) or in base64: blanked in the body the gateway reads, as the credential as sent is."""
    assert await _echoed(f"bad token {form} given") == "bad token [redacted] given"


@pytest.mark.parametrize(
    "echoed",
    [
        f"Bearer {ECHOED}",  # the Authorization header's value
        f"Authorization: Bearer {ECHOED}",
        json.dumps({"Accept": "application/json", "Authorization": f"Bearer {ECHOED}"}),
    ],
    ids=["header-value", "header-line", "headers-as-json"],
)
@pytest.mark.parametrize("encode", [base64.b64encode, base64.urlsafe_b64encode], ids=["b64", "url"])
async def test_a_credential_within_what_an_answer_echoes_in_base64_is_blanked(
    echoed: str, encode: Any
) -> None:
    """A debug page that echoes the whole ``Authorization`` header (or every header) in base64:
    the credential, seven bytes in, is encoded unlike itself alone, and went on into the 502's
    detail, check-config --probe, a migration's report and the store."""
    form = encode(echoed.encode()).decode()
    message = await _echoed(f"you sent {form}")
    assert message.count("[redacted]") == 1, message
    # What is left around the blank is the text around the credential and the two or three
    # characters its first and last bytes share with it, no more.
    left = message.removeprefix("you sent ").replace("[redacted]", "")
    assert len(left) <= len(form) - len(ECHOED) * 4 // 3 + 6, (message, form)


def _php_json(message: str) -> bytes:
    """``message`` in a JSON answer as PHP's ``json_encode`` writes it: ``/`` as ``\\/``."""
    return json.dumps({"success": False, "message": message}).replace("/", "\\/").encode()


@pytest.mark.parametrize("offset", range(0, 80, 3))
@pytest.mark.parametrize(
    "line_end", ["\n", "\r\n", "\r", "\n    "], ids=["lf", "crlf", "cr", "indented"]
)
async def test_a_credential_within_base64_written_in_lines_is_blanked(
    offset: int, line_end: str
) -> None:
    """A dump of the request's headers in MIME's base64 (76 characters a line: Python's
    ``encodebytes``, PHP's ``chunk_split``): a line break inside the credential's base64 hid
    it, and the 502's detail carried it, one decode away. At every place the break can fall,
    the run is blanked, and nothing of the credential can be decoded from what is left."""
    headers = json.dumps({"Host": "x" * offset, "Authorization": f"Bearer {ECHOED}"})
    wrapped = base64.encodebytes(headers.encode()).decode().replace("\n", line_end)
    message = await _echoed(f"you sent {wrapped}")
    assert "[redacted]" in message, message
    runs = re.findall(r"[A-Za-z0-9+/=\r\n]{8,}", message)
    for run in runs:
        joined = re.sub(r"\s", "", run)
        decoded = base64.b64decode(joined[: len(joined) // 4 * 4])
        assert ECHOED.encode()[2:-2] not in decoded, (message, decoded)


async def test_base64_in_lines_without_the_credential_is_kept() -> None:
    """An attachment's base64, in lines too, that holds no credential is passed on whole; so
    is one of 48 KB on one line that a line break ends, which the first search for lines of
    base64 read again from each of its characters (minutes of the event loop, every request
    stalled behind it)."""
    wrapped = base64.encodebytes(b"an attachment, not the credential " * 8).decode()
    assert await _echoed(f"file: {wrapped}") == f"file: {wrapped}"
    one_line = base64.b64encode(bytes(range(256)) * 140).decode() + "\n"  # 48 KB
    assert await _echoed(one_line) == one_line
    # As PHP writes it ("/" as "\\/", which the second search took for escapes ending it).
    assert (await _answered(_php_json(one_line)))["message"] == one_line


@pytest.mark.parametrize("offset", range(0, 80, 3))
async def test_a_credential_within_base64_in_lines_as_php_writes_json_is_blanked(
    offset: int,
) -> None:
    """PHP's json_encode writes ``/`` as ``\\/`` and a line as ``\\r\\n``: the base64's
    ``/`` within the credential's hid it from the search."""
    headers = json.dumps({"Host": "x" * offset, "Authorization": f"Bearer {ECHOED}"})
    wrapped = base64.encodebytes(headers.encode()).decode().replace("\n", "\r\n")
    said = (await _answered(_php_json(f"you sent {wrapped}")))["message"]
    assert "[redacted]" in said, said


@pytest.mark.parametrize("charset", ["utf-16", "utf-16-be", "utf-32", "cp500"])
@pytest.mark.parametrize("status", [200, 400])
async def test_a_credential_echoed_in_another_charset_is_blanked(charset: str, status: int) -> None:
    """An answer labelled with a charset whose bytes for the credential are not its UTF-8
    bytes (UTF-16, UTF-32, EBCDIC): the blanking of the raw bytes could not see it, and the
    decoding gave it back whole, into an error's detail, a log line or the store."""
    echo = json.dumps({"success": False, "message": f"you sent Bearer {SECRET} here"})
    async with aiohttp.ClientSession() as session:
        client = _client(session)
        with mocked_network() as mock:
            mock.get(
                f"{BASE}/echo",
                status=status,
                body=echo.encode(charset),
                content_type=f"application/json; charset={charset}",
            )
            answer = await client.request("GET", "/echo")
    assert answer.body == {"success": False, "message": "you sent Bearer [redacted] here"}
    assert SECRET not in answer.text


async def test_json_that_is_not_the_charset_it_is_labelled_with_is_refused_as_before() -> None:
    broken = json.dumps({"message": "x"}).encode("utf-16-le") + b"\x00"  # an odd byte
    async with aiohttp.ClientSession() as session:
        client = _client(session)
        with mocked_network() as mock:
            mock.get(
                f"{BASE}/broken",
                status=200,
                body=broken,
                content_type="application/json; charset=utf-16-le",
            )
            with pytest.raises(upstream_module.UnusableAnswer) as info:
                await client.request("GET", "/broken")
    assert "it is not utf-16-le text" in info.value.message


@pytest.mark.parametrize(
    "written",
    [
        SECRET_FOR_TEXT := "tok/en+Value_9876543210",
        quote(SECRET_FOR_TEXT, safe=""),
        re.sub("%[0-9A-F]{2}", lambda hex_digits: hex_digits[0].lower(), quote(SECRET_FOR_TEXT)),
        quote_plus(SECRET_FOR_TEXT),
        SECRET_FOR_TEXT.replace("/", "\\/"),
        base64.b64encode(SECRET_FOR_TEXT.encode()).decode(),
    ],
    ids=["plain", "percent", "percent-lower", "plus", "json-slash", "base64"],
)
def test_text_is_blanked_of_every_form_of_the_credential(written: str) -> None:
    """``without_secret``: one blanking of decoded text for every place that shows it (the
    provider's quoted words, an answer's labels, ``check-config --probe``'s messages, which
    blanked the credential only as configured)."""
    said = f"bad token {written}, try again"
    assert without_secret(said, SECRET_FOR_TEXT) == "bad token [redacted], try again"
    assert without_secret(said, SECRET_FOR_TEXT, "***") == "bad token ***, try again"
    assert without_secret(said, "short") == said  # under MIN_TOKEN_CHARS: never looked for
