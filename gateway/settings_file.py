"""Reading ``config.yaml``: variables, JSON Schema, cross-checks, typed settings.

Every problem is reported at once, each as ``path: what is wrong`` (``connections[2].provider:
'crm' is not one of [...]``), so ``invoice-gateway check-config`` can say exactly what to fix.
Beyond the schema, each connection is checked for what its provider's adapter will use
(``adapters/needs.py``). Every command (``serve`` included) loads its settings here, so what
``check-config`` refuses nothing starts with. Secrets are never part of a message.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
from collections.abc import Mapping
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pydantic
import yaml
from yarl import URL

from adapters.needs import connection_problems
from gateway.canonical.errors import dotted_path
from gateway.config import Settings, StoreSettings
from gateway.json_schema import SchemaValidator
from gateway.settings_secrets import (
    key_problems,
    published_token,
    unusable_secret,
    unusable_token,
    variable_named,
)
from gateway.store import url_problems
from gateway.store.urls import mask_url, password_of
from gateway.text_file import UnreadableText, read_text
from gateway.yaml_strict import SECRET_KEYS, OwnProblem, load_yaml

# ${NAME}, or ${NAME:-default} when the variable is unset or empty
_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
# $NAME alone, which is meant as a reference far more often than as a value
_BARE_VARIABLE = re.compile(r"\$[A-Z_][A-Z0-9_]*")


class ConfigError(ValueError):
    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__("\n".join(f"{source}: {problem}" for problem in problems))


# A configuration of hundreds of connections is tens of KB; a file far past that is another
# file, and reading it as YAML could hold the process for minutes.
MAX_CONFIG_BYTES = 1024 * 1024


def load_settings(path: Path, environ: Mapping[str, str] | None = None) -> Settings:
    source = str(path)
    try:
        text = read_text(path, max_bytes=MAX_CONFIG_BYTES)
    except UnreadableText as exc:
        reason = exc.reason
        if not path.exists() and not path.is_symlink():
            reason += (
                " (give the configuration file with --config FILE; `invoice-gateway serve "
                "--sandbox --write-config FILE` writes one for the sandbox)"
            )
        raise ConfigError(source, [reason]) from None
    return parse_settings(
        text, source, os.environ if environ is None else environ, folder=path.parent
    )


def _store_beside(
    data: dict[str, Any], folder: Path, problems: list[str]
) -> tuple[dict[str, Any], list[str]]:
    """The settings with their store URL read from ``folder``, and the problems with what the
    store would find there (a folder that does not exist) said beside the others."""
    store = data.get("store", {})
    if not isinstance(store, dict):
        return data, problems  # its own problem is said already
    url = store.get("url", StoreSettings.model_fields["url"].default)
    if not isinstance(url, str) or any(p.startswith("store.url") for p in problems):
        return data, problems
    url = store_url_beside(url, folder)
    return {**data, "store": {**store, "url": url}}, [*problems, *url_problems(url)]


# What the YAML reader's message quotes of the file.
# (Python's repr: single quotes, or double where the text holds one; a backslash escapes.)
_QUOTED = re.compile(r"'(?:[^'\\]|\\.)*'" + r'|"(?:[^"\\]|\\.)*"')


def _unquoted(problem: str) -> str:
    """The YAML reader's ``problem`` without what it quotes of the file: a secret written
    unquoted that starts with ``!`` or ``*`` is read as a tag or an alias, and the message
    quotes the name (the secret). Which value an error is in cannot be told from a file the
    reader could not read (a quoted key, the value on the next line, a flow mapping over
    several lines), so no name is shown; the line and column say where."""
    hidden = _QUOTED.sub(_hidden, problem)
    if hidden == problem:
        return problem
    return (
        f"{hidden}; a configuration's values are not shown in its errors, as it holds "
        "secrets: a value that starts with !, *, &, @, ` or another YAML sign is written in "
        "quotes"
    )


def _hidden(quoted: re.Match[str]) -> str:
    """A piece of the file the message quotes, as ``(not shown)``; the reader's own names for
    what it met (``'<block end>'``) and a character alone (``'@'``) are no secret's."""
    inner = quoted.group()[1:-1]
    if len(inner) <= 2 or (inner.startswith("<") and inner.endswith(">")):
        return quoted.group()
    return "(not shown)"


def store_url_beside(url: str, folder: Path) -> str:
    """A relative SQLite store path is read from the configuration file's folder, so the
    gateway finds the same store whatever directory it is started from."""
    prefix = "sqlite:///"
    relative = url[len(prefix) :]
    if not url.startswith(prefix) or relative.startswith("/") or relative == ":memory:":
        return url
    return f"{prefix}{(folder / relative).resolve()}"


def parse_settings(
    text: str, source: str, environ: Mapping[str, str], *, folder: Path | None = None
) -> Settings:
    """The settings of a configuration file's ``text``, or every problem with them at once.
    With the file's ``folder``, a relative SQLite store path is read from there, and the store
    URL is checked as the store would open it (a folder that does not exist) beside the rest."""
    try:
        data = load_yaml(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = str(getattr(exc, "problem", exc))
        if not isinstance(exc, OwnProblem):
            problem = _unquoted(problem)
        raise ConfigError(source, [f"{where}not valid YAML ({problem})"]) from None
    if data is None:
        data = {}
    problems: list[str] = []
    written = data
    try:
        data = _expand(data, environ, "", problems)
    except RecursionError:  # the reader refuses what is deeper; this is a last guard
        raise ConfigError(source, ["values nested more deeply than can be read"]) from None
    problems += _unset_variables(data, environ)
    unset = {problem.split(": ", 1)[0] for problem in problems}
    mistakes: list[str] = []  # against the schema
    validator = SchemaValidator(_schema())
    for error in sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path)):
        where = dotted_path(error.absolute_path)
        if error.validator in ("oneOf", "not") and not isinstance(error.instance, dict):
            continue  # not a mapping at all: its type error says so
        if where in unset:  # the empty value left by an unset variable says nothing new
            continue
        if error.validator == "required" and isinstance(error.instance, dict):
            # Named at the key that is missing (a misspelt one is also an unknown key).
            for key in error.validator_value:
                if key not in error.instance:
                    within = where if error.absolute_path else ""  # not "(top level).x"
                    mistakes.append(f"{_join(within, key)}: is required")
            continue
        mistakes.append(f"{where}: {_said(error, written)}")
    mistakes = list(dict.fromkeys(mistakes))  # one "required" error a key missing, each naming all
    # Said with the variables not set, not after them: nothing at or under a place those left
    # empty is cross-checked (``_cross_checked``), as nothing under a schema mistake is.
    problems += mistakes + _cross_checked(data, environ, [*problems, *mistakes])
    if folder is not None and isinstance(data, dict):
        data, problems = _store_beside(data, folder, problems)
    if problems:
        raise ConfigError(source, problems)
    try:
        return Settings.model_validate(data)
    except pydantic.ValidationError as exc:
        # What the schema lets through and the typed settings do not: said the same way.
        raise ConfigError(
            source, [f"{dotted_path(e['loc'])}: {e['msg']}" for e in exc.errors()]
        ) from None


def _expand(value: Any, environ: Mapping[str, str], path: str, problems: list[str]) -> Any:
    if isinstance(value, str):

        def lookup(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            if default is not None and "${" in default:
                # ``${A:-${B}}``: read to the first "}", the default was the text "${B" and a
                # "}" was left over; the provider was sent "${B}" as its token.
                problems.append(
                    f"{path or '(top level)'}: ${{{name}:-…}} holds another reference as its "
                    "default: a default is plain text (one reference, or give the value in "
                    f"{name})"
                )
                return ""
            if default is not None and not environ.get(name):
                return default
            if name not in environ:
                # Named as a variable only when written as one: a secret pasted inside ``${…}``
                # is not shown back (as for a ``*_env`` key).
                problems.append(f"{path or '(top level)'}: {variable_named(name)} is not set")
                return ""
            return environ[name]

        expanded = _VARIABLE.sub(lookup, value)
        leftover = _VARIABLE.sub("", value)
        if "${" in leftover or _BARE_VARIABLE.fullmatch(value):
            problems.append(
                f"{path or '(top level)'}: holds a reference that is not ${{NAME}} or "
                "${NAME:-default} (NAME of letters, digits and _; the value is not shown)"
            )
        return expanded
    if isinstance(value, dict):
        return {k: _expand(v, environ, _join(path, k), problems) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand(v, environ, f"{path}[{i}]", problems) for i, v in enumerate(value)]
    return value


def _unset_variables(data: Any, environ: Mapping[str, str]) -> list[str]:
    """Each ``*_env`` key naming a variable that is not set (or is empty), read before the
    schema is checked, whatever else is wrong, so that every missing variable is said at once
    with the ``${NAME}`` ones: they were said only once everything else was right."""
    named: list[tuple[str, Any]] = []
    sections = data if isinstance(data, dict) else {}
    for key, field, auth in (("connections", "token_env", True), ("clients", "key_env", False)):
        items = sections.get(key)
        for i, item in enumerate(items if isinstance(items, list) else []):
            holder = item.get("auth") if auth and isinstance(item, dict) else item
            if isinstance(holder, dict):
                where = f"{key}[{i}].{'auth.' if auth else ''}{field}"
                named.append((where, holder.get(field)))
    server = sections.get("server")
    if isinstance(server, dict):
        named.append(("server.cursor_secret_env", server.get("cursor_secret_env")))
    return [
        f"{where}: {variable_named(name)} is not set"
        for where, name in named
        if isinstance(name, str) and name and not environ.get(name)
    ]


# A host name to listen on: labels of letters, digits and hyphens, separated by dots.
_HOST_NAME = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)(?:\.(?!-)[A-Za-z0-9-]{1,63}(?<!-))*\.?")


def _listen_host_problem(host: Any) -> str | None:
    """``server.host`` that no socket could listen on (``serve`` would stop at once)."""
    if not isinstance(host, str):
        return None  # the schema says so
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        if len(host) > 253 or _HOST_NAME.fullmatch(host) is None:
            shown = host if len(host) <= 60 else host[:57] + "..."
            return (
                f"server.host: {shown!r} is not an address or a host name to listen on "
                "(127.0.0.1, 0.0.0.0, ::1, localhost…)"
            )
    return None


def _cross_checked(
    data: dict[str, Any], environ: Mapping[str, str], mistakes: list[str]
) -> list[str]:
    """The cross-checks' problems, also beside the ``mistakes`` already found (the schema's, a
    variable not set: a file is fixed in one go, not one problem a run), but not at or under a
    place a mistake names (its value is not what the cross-checks read). They read the
    schema's shapes: where a mistake broke one they cannot read, only the mistakes are said."""
    if not mistakes:
        return _cross_checks(data, environ)
    try:
        crossed = _cross_checks(data, environ)
    except (LookupError, TypeError, AttributeError, ValueError, ArithmeticError):
        return []
    wrong = {mistake.split(": ", 1)[0] for mistake in mistakes}
    return [p for p in crossed if not _at_or_under(p.split(": ", 1)[0], wrong)]


def _at_or_under(place: str, places: set[str]) -> bool:
    return any(place == other or place.startswith((f"{other}.", f"{other}[")) for other in places)


def _cross_checks(data: dict[str, Any], environ: Mapping[str, str]) -> list[str]:
    problems: list[str] = []
    host = _listen_host_problem(data.get("server", {}).get("host"))
    if host is not None:
        problems.append(host)
    connections = data.get("connections", [])
    names = [c["name"] for c in connections]
    for i, connection in enumerate(connections):
        if names.index(connection["name"]) != i:
            problems.append(f"connections[{i}].name: {connection['name']!r} is used twice")
        problem = _base_url_problem(connection["base_url"])
        if problem is not None:
            problems.append(f"connections[{i}].base_url: {problem}")
        header = connection["auth"].get("header")
        if header is not None and connection["auth"].get("type", "bearer") == "bearer":
            problems.append(
                f"connections[{i}].auth.header: is for type api_key; a bearer token is sent as "
                "Authorization: Bearer <token>, never in this header (remove it, or set "
                "type: api_key if the provider takes the key in a header of its own)"
            )
        elif isinstance(header, str):
            problems += _header_problems(f"connections[{i}].auth.header", header)
        variable = connection["auth"].get("token_env")  # unset: ``_unset_variables``
        token = connection["auth"].get("token")
        problems += unusable_token(f"connections[{i}].auth.token", token)
        problems += published_token(f"connections[{i}].auth.token", connection, token)
        if variable:
            where = f"connections[{i}].auth.token_env: {variable_named(variable)}"
            problems += unusable_token(where, environ.get(variable))
            problems += published_token(where, connection, environ.get(variable))
        retries = connection.get("retries", {})
        base, most = retries.get("backoff_base_s", 0.2), retries.get("backoff_max_s", 5.0)
        if base > most:
            problems.append(
                f"connections[{i}].retries.backoff_base_s: {base} is more than backoff_max_s "
                f"{most}: the first wait would be longer than the longest one"
            )
        for j, tax in enumerate(connection.get("taxes", [])):
            if isinstance(tax["rate"], float):
                problems.append(
                    f"connections[{i}].taxes[{j}].rate: write the rate as a string "
                    f'("{tax["rate"]}") so it is read exactly'
                )
        # What the provider's adapter will use: ids of the right type, the reference data it
        # cannot work without, defaults it can send (adapters/needs.py).
        problems += connection_problems(f"connections[{i}]", connection)
    variable = data.get("server", {}).get("cursor_secret_env")
    if variable and len(environ.get(variable, "")) < 32:
        problems.append(
            f"server.cursor_secret_env: {variable_named(variable)} must hold at least 32 characters"
        )
    elif variable:
        where = f"server.cursor_secret_env: {variable_named(variable)}"
        problems += unusable_secret(where, environ.get(variable))
    problems += unusable_secret("server.cursor_secret", data.get("server", {}).get("cursor_secret"))
    clients = data.get("clients", [])
    client_names = [c["name"] for c in clients]
    for i, client in enumerate(clients):
        if client_names.index(client["name"]) != i:
            problems.append(f"clients[{i}].name: {client['name']!r} is used twice")
        for j, name in enumerate(client["connections"]):
            if name != "*" and name not in names:
                known = ", ".join(dict.fromkeys(names)) or "none"
                problems.append(
                    f"clients[{i}].connections[{j}]: no connection named {name!r} (known: {known})"
                )
    problems += key_problems(clients, connections, environ)
    return problems


def _base_url_problem(base_url: str) -> str | None:
    """What stops the gateway calling ``base_url``, said without the URL (it may hold a
    credential): a URL that does not parse (a port out of range, no host), one that carries
    ``user:password@`` (the HTTP client will not send both it and the connection's own
    credential, and a URL is shown in places a credential must never be), or one with a query
    or a fragment, which each request's path would be added after."""
    if any(ord(c) < 0x21 or ord(c) == 0x7F for c in base_url):
        # A URL holds no space or control character (RFC 3986): one in the host made every
        # request a 500, as it cannot go into the Host header.
        return (
            "holds a space or a control character, which no URL does (percent-encode it in "
            "a path; the URL is not shown)"
        )
    try:
        url = URL(base_url)
        port = url.port
    except (ValueError, TypeError) as exc:
        return f"is not a URL the gateway can call: {exc} (the URL is not shown)"
    if not url.raw_host:
        return "has no host (the URL is not shown)"
    if port == 0:
        return "port 0 is no port to call: give 1 to 65535, or none (the URL is not shown)"
    if url.user is not None or url.password is not None:
        return (
            "must not hold a user or password (the credential goes in auth, which sends it as "
            "the provider expects; the URL is not shown)"
        )
    if url.raw_query_string or url.raw_fragment or "?" in base_url:
        return (
            "must not have a query (?…) or a fragment (#…): each request's path is added to it "
            "(the URL is not shown)"
        )
    return None


# RFC 9110's token: what a header's name may be made of.
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
# Headers the HTTP client writes itself, or that say how the message is framed: a credential
# sent in one would break every request or go nowhere.
_RESERVED_HEADERS = frozenset(
    {"host", "content-length", "content-type", "transfer-encoding", "connection", "accept"}
)
# Sent by the gateway on the calls it makes (``gateway.upstream``).
_GATEWAYS_HEADERS = frozenset({"x-request-id", "idempotency-key"})


def _header_problems(where: str, header: str) -> list[str]:
    if _TOKEN.fullmatch(header) is None:
        return [
            f"{where}: {header!r} is not a header name (letters, digits and !#$%&'*+.^_`|~- "
            "only: no space, colon or line break)"
        ]
    if header.lower() in _RESERVED_HEADERS:
        return [f"{where}: {header} cannot carry the credential (the HTTP client sets it)"]
    if header.lower() in _GATEWAYS_HEADERS:
        return [
            f"{where}: {header} cannot carry the credential (the gateway sends its own: the "
            "request's id, a write's Idempotency-Key)"
        ]
    return []


def _kinds_object(error: jsonschema.ValidationError) -> bool:
    """Whether a type error's place asks for a mapping (a section)."""
    return "object" in str(error.validator_value)


def _message(error: jsonschema.ValidationError) -> str:
    if error.absolute_path and error.absolute_path[-1] in SECRET_KEYS:
        # The value is a secret (a key's hash that is not one is likely the key itself): say
        # what is expected, never what was given.
        if error.absolute_path[-1] == "key_sha256":
            return (
                "must be the SHA-256 of the key, 64 lower-case hex characters (the value is "
                "not shown: to give the key itself, name its variable in key_env instead)"
            )
        if error.validator == "minLength":
            return f"must be at least {error.validator_value} characters (the value is not shown)"
        return f"is not valid: {error.validator} {error.validator_value} (the value is not shown)"
    if _names_a_variable(error) and not isinstance(error.instance, dict | list):
        # A ``*_env`` value that is no variable's name may be the secret itself, pasted in its
        # place (an all-digit key reads as a number): what is expected, never what was given.
        kind = _KINDS.get(_kind_of(error.instance), "this")
        schema = error.schema if isinstance(error.schema, dict) else {}
        meaning = schema.get("x-expected") if error.validator == "pattern" else None
        wanted = meaning or "an environment variable's name, as text"
        return (
            f"must be {wanted}, not {kind} (the value is not shown: is it the secret "
            "itself? Put the secret in a variable and name the variable here)"
        )
    if error.validator == "enum" and isinstance(error.instance, str) and len(error.instance) > 24:
        # No choice is this long: likely a token pasted in the wrong place (auth.type).
        listed: list[Any] = list(error.validator_value)  # type: ignore[arg-type]
        choices = ", ".join(str(choice) for choice in listed)
        return f"must be one of {choices} (the value is not shown)"
    if error.validator == "oneOf" and isinstance(error.instance, dict):
        alternatives: list[dict[str, Any]] = list(error.validator_value)  # type: ignore[arg-type]
        options = [sorted(option.get("required", [])) for option in alternatives]
        names = " or ".join(o[0] for o in options if o)
        return f"give exactly one of {names}"
    if error.validator == "additionalProperties":
        return error.message.replace("Additional properties are not allowed", "unknown key(s)")
    if error.validator == "not" and isinstance(error.instance, dict):
        both = (
            error.validator_value.get("required", [])
            if isinstance(error.validator_value, dict)
            else []
        )
        return (
            f"give {' or '.join(both)}, not both" if both else "holds keys that cannot go together"
        )
    if error.validator == "type" and error.instance is None and _kinds_object(error):
        # A section whose keys were all left out or commented out reads as null.
        return (
            f"is empty: must be {_kinds(error.validator_value)} (write its settings under it, "
            "or leave the key out for its defaults)"
        )
    if error.validator == "type" and isinstance(error.instance, str) and _kinds_object(error):
        # Text where a section belongs (a key or a token written in its place): not shown.
        return f"must be {_kinds(error.validator_value)}, not text (the value is not shown)"
    number = isinstance(error.instance, bool | int | float)
    if error.validator == "type" and number and _kinds_object(error):
        # A number or a boolean where a section belongs (``server: 8080``, a port meant for
        # under it; an all-digit key): said by its kind, in the file's words, not shown.
        written = "true or false" if isinstance(error.instance, bool) else "a number"
        return (
            f"must be {_kinds(error.validator_value)} of settings written under it, not "
            f"{written} (the value is not shown)"
        )
    if error.absolute_path and error.absolute_path[-1] == "base_url":
        # A URL may carry a credential in its query (an api_key=…): not shown.
        if (
            isinstance(error.instance, str)
            and _ANY_CASE_SCHEME.match(error.instance)
            and not error.instance.startswith(("http://", "https://"))
        ):
            return (
                "must be an http:// or https:// URL with a host, its scheme written in lower "
                "case (the value is not shown)"
            )
        return "must be an http:// or https:// URL with a host (the value is not shown)"
    if error.validator == "minItems" and isinstance(error.instance, list):
        least, given = error.validator_value, len(error.instance)
        return f"must hold at least {least} item{'' if least == 1 else 's'}, not {given}"
    if error.validator == "uniqueItems" and isinstance(error.instance, list):
        return "holds the same item twice: give each once (the items are not shown)"
    if isinstance(error.instance, dict | list):
        # A section written in the wrong shape may hold a token: said by its kind, never shown.
        kind = "a mapping" if isinstance(error.instance, dict) else "a list"
        if error.validator == "type":
            return f"must be {_kinds(error.validator_value)}, not {kind} (the value is not shown)"
        return f"is not valid here ({error.validator}): {kind}, not shown"
    # Each pattern of config_schema.json says what it asks for in words beside it
    # ("x-expected"): the message says that, not the regular expression.
    meaning = error.schema.get("x-expected") if isinstance(error.schema, dict) else None
    if error.validator == "pattern" and meaning is not None:
        # What is expected in words, not as the schema's regular expression.
        return _without_password(f"{error.instance!r} is not {meaning}", error.instance)
    message = error.message
    if isinstance(error.instance, bool) or error.instance is None:
        # As the file spells it (true, false, null), not as Python does (True, None).
        python = repr(error.instance)
        if message.startswith(python):
            message = json.dumps(error.instance) + message[len(python) :]
    return _without_password(message, error.instance)


def _names_a_variable(error: jsonschema.ValidationError) -> bool:
    last = error.absolute_path[-1] if error.absolute_path else None
    return isinstance(last, str) and last.endswith("_env")


def _kind_of(value: Any) -> str:
    """The schema's name for the type of a value the YAML file gave."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    return "string" if isinstance(value, str) else "null"


_ANY_CASE_SCHEME = re.compile(r"(?i:https?)://")

_KINDS = {
    "object": "a mapping",
    "array": "a list",
    "string": "text",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
    "null": "null",
}


def _kinds(expected: Any) -> str:
    names = expected if isinstance(expected, list) else [expected]
    return " or ".join(_KINDS.get(str(name), str(name)) for name in names)


def _said(error: jsonschema.ValidationError, written: Any) -> str:
    """The problem, without a value a ``${NAME}`` reference gave (an environment variable may
    hold a token: it is never shown), saying that a reference gives text where a number or a
    boolean was expected."""
    message = _message(error)
    if not (isinstance(error.instance, str) and _from_reference(error, written)):
        return message
    message = message.replace(repr(error.instance), "the value of the reference (not shown)")
    wanted = str(error.validator_value)
    if error.validator == "type" and any(k in wanted for k in ("integer", "number", "boolean")):
        message += (
            " (a ${NAME} reference gives text, never a number or a boolean: write the value here)"
        )
    return message


def _from_reference(error: jsonschema.ValidationError, written: Any) -> bool:
    """Whether the file wrote a ``${NAME}`` where the error's value stands."""
    value = written
    for key in error.absolute_path:
        try:
            value = value[key]
        except (LookupError, TypeError):
            return False
    return isinstance(value, str) and "${" in value


def _without_password(message: str, value: Any) -> str:
    """``message`` with a URL's password shown as ``***`` (a store URL that does not match its
    pattern is quoted whole in jsonschema's message); if it cannot be cut out, without the
    value at all."""
    password = password_of(value) if isinstance(value, str) else None
    if not password:
        return message
    masked = message.replace(repr(value), repr(mask_url(value)))
    if password in masked:
        return "is not valid (the value is not shown: it holds a password)"
    return masked


def _join(path: str, key: Any) -> str:
    return f"{path}.{key}" if path else str(key)


@cache
def _schema() -> dict[str, Any]:
    text = resources.files("gateway").joinpath("config_schema.json").read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema
