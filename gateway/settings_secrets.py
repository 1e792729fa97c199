"""The configuration's secrets checked: API keys, provider tokens, the cursor secret.

Part of ``settings_file.py``'s cross-checks: a secret that could never be sent or matched (a
space or a newline kept at an end), one short enough to guess or too short to blank out of a
provider's answer, one API key shared by two clients, and the sandbox's published key left on a
client that reaches a provider off this machine. No message shows a secret.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Mapping
from typing import Any

from yarl import URL

from gateway.config import MIN_TOKEN_CHARS
from gateway.keyring import client_digest, key_digest
from gateway.text_file import padded_or_controlled

# The key ``serve --sandbox`` prints and the shipped config.yaml's client takes: anyone who
# has read the README knows it.
SANDBOX_KEY = "sk_sandbox"
_LOCAL_NAMES = frozenset({"localhost", "ip6-localhost", "ip6-loopback"})


def key_problems(
    clients: list[dict[str, Any]],
    connections: list[dict[str, Any]],
    environ: Mapping[str, str],
) -> list[str]:
    """What is wrong with the clients' API keys (each client's other fields are checked by
    the caller)."""
    problems: list[str] = []
    for i, client in enumerate(clients):
        variable = client.get("key_env")  # unset: ``_unset_variables``
        if variable:
            where = f"clients[{i}].key_env: {variable_named(variable)}"
            problems += unusable_key(where, environ.get(variable))
        problems += _empty_key_digest(i, client.get("key_sha256"))
        problems += _published_key(i, client, connections, environ)
    problems += _shared_keys(clients, environ)
    return problems


# What ``printf %s "$KEY" | sha256sum`` and ``echo "$KEY" | sha256sum`` print when the
# variable is unset: the digests of nothing and of a lone newline.
_NO_KEY_DIGESTS = frozenset({key_digest(""), key_digest("\n")})


def _empty_key_digest(i: int, digest: Any) -> list[str]:
    """``key_sha256`` of no key at all, or of a lone newline: what ``sha256sum`` of an unset
    variable prints. No request can present either key, so the client could never be let in."""
    if not isinstance(digest, str) or digest.strip().lower() not in _NO_KEY_DIGESTS:
        return []
    return [
        f"clients[{i}].key_sha256: is the SHA-256 of an empty key or of a lone newline (what "
        "hashing an unset variable gives), which no request can present; give the SHA-256 of "
        "the client's key"
    ]


def _published_key(
    i: int,
    client: dict[str, Any],
    connections: list[dict[str, Any]],
    environ: Mapping[str, str],
) -> list[str]:
    """The sandbox's key on a client that reaches a provider off this machine: whoever can
    reach the gateway could then read and write that provider's invoices (and, with the
    shipped config.yaml's scopes, administer the gateway)."""
    digest = client_digest(client.get("key_sha256"), client.get("key_env"), environ)
    if digest != key_digest(SANDBOX_KEY):
        return []
    reached = set(client["connections"])
    for connection in connections:
        if "*" not in reached and connection["name"] not in reached:
            continue
        if not _on_this_machine(connection["base_url"]):
            where = "key_env" if client.get("key_env") else "key_sha256"
            return [
                f"clients[{i}].{where}: the sandbox's published key ({SANDBOX_KEY}) on a "
                f"client that reaches connection {connection['name']!r}, which is not on this "
                "machine; give the client a key of its own: key_env naming a variable that "
                "holds one made with python3 -c 'import secrets; "
                "print(secrets.token_urlsafe(32))', or key_sha256 of it"
            ]
    return []


def published_token(where: str, connection: dict[str, Any], token: str | None) -> list[str]:
    """The sandbox's token for the provider (``sandbox-<provider>``, which the README prints)
    sent over https to a host off this machine, a real provider: the shipped config.yaml falls
    back to it when its token variable is not set. Emulators speak plain http, on this machine
    or another (a container, a sandbox on a LAN address), and keep their token."""
    provider = connection.get("provider")
    base_url = connection.get("base_url")
    if token != f"sandbox-{provider}" or _on_this_machine(base_url):
        return []
    if not (isinstance(base_url, str) and base_url.lower().startswith("https://")):
        return []
    return [
        f"{where}: is the sandbox's published token for {provider}, and connection "
        f"{connection['name']!r} is a provider off this machine (https): give it the "
        "provider's own token (the shipped config.yaml reads crm_v1's from CRM_TOKEN)"
    ]


def _on_this_machine(base_url: Any) -> bool:
    """A loopback or unspecified address, however written (``127.1``, ``0x7f.0.0.1``,
    ``[::ffff:127.0.0.1]``, ``0.0.0.0``), ``localhost`` or a name under it (RFC 6761); a URL
    that does not parse is another check's. Other names are not resolved while a file is
    checked: they count as off the machine."""
    try:
        host = URL(base_url).host if isinstance(base_url, str) else None
    except ValueError:
        return True
    if host is None:
        return True
    name = host.lower().rstrip(".")
    if name in _LOCAL_NAMES or name.endswith(".localhost"):
        return True
    address = _address(name.strip("[]"))
    if address is None:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback or address.is_unspecified


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """``text`` as an IP address, the shorthand IPv4 forms an HTTP client connects to
    included (``127.1``, ``0x7f.0.0.1``, ``2130706433``); None for a name."""
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        pass
    try:
        return ipaddress.IPv4Address(socket.inet_aton(text))
    except OSError:
        return None


# How an environment variable's name is written (``PROVIDER_TOKEN``): a value of a ``*_env``
# key that is not is most likely the secret itself, pasted where its variable's name belongs.
_VARIABLE_NAME = re.compile(r"[A-Z_][A-Z0-9_]{0,127}")


def variable_named(name: str) -> str:
    """The variable, named in a message only when its name looks like one."""
    if _VARIABLE_NAME.fullmatch(name):
        return f"environment variable {name}"
    return (
        "the environment variable it names (the name is not shown: it is not written as "
        "variables are, like PROVIDER_TOKEN; is it the secret itself?)"
    )


def _shared_keys(clients: list[dict[str, Any]], environ: Mapping[str, str]) -> list[str]:
    """Two clients with one API key: a request with it could be only one of them (and which
    one, with its scopes, would depend on their order), so it is refused, naming both."""
    problems: list[str] = []
    first: dict[str, int] = {}
    for i, client in enumerate(clients):
        digest = client_digest(client.get("key_sha256"), client.get("key_env"), environ)
        if digest is None:
            continue
        earlier = first.setdefault(digest, i)
        if earlier != i:
            problems.append(
                f"clients[{i}]: the same API key as clients[{earlier}] "
                f"({clients[earlier]['name']!r}); give each client its own key"
            )
    return problems


def unusable_secret(where: str, value: Any) -> list[str]:
    """A secret with space at an end or a control character (a newline kept from the file it
    was read from, most often): it could never be sent in a header, or never match a caller's
    key, so it is refused here rather than fail every call. The value is not shown."""
    if not isinstance(value, str) or not value:
        return []
    if padded_or_controlled(value):
        return [
            f"{where} holds a space or a newline at its start or end, or a control character: "
            "remove it (the value is not shown)"
        ]
    return []


# An API key shorter than this is guessed (the failure throttle slows guessing, no more).
MIN_API_KEY_CHARS = 16


def unusable_key(where: str, value: Any) -> list[str]:
    """An API key that could not match a caller's, or one short enough to guess."""
    return _too_short(
        where,
        value,
        MIN_API_KEY_CHARS,
        "an API key",
        "it could be guessed: make one with "
        "python3 -c 'import secrets; print(secrets.token_urlsafe(32))'",
    )


def unusable_token(where: str, value: Any) -> list[str]:
    """A provider token that could not be sent, or one too short to be blanked out of a
    provider's answer that echoes the request: it would reach the caller."""
    return _too_short(
        where,
        value,
        MIN_TOKEN_CHARS,
        "a provider token",
        "it could not be told from ordinary text and kept out of an answer that repeats it",
    )


def _too_short(where: str, value: Any, least: int, what: str, why: str) -> list[str]:
    """``unusable_secret``'s problems, else one for a secret under ``least`` characters (the
    value is not shown)."""
    problems = unusable_secret(where, value)
    if not problems and isinstance(value, str) and 0 < len(value) < least:
        problems.append(
            f"{where}: {len(value)} character{'' if len(value) == 1 else 's'} long; {what} "
            f"needs at least {least}, or {why} (the value is not shown)"
        )
    return problems
