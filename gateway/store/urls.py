"""Store URLs: which backend a URL names, where it points, and how to show it without secrets.

Kept apart from the backends so that ``open_store`` can refuse a bad URL before anything is
imported or connected, and so that every message about a store masks its password the same way.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote_plus, urlencode, urlsplit, urlunsplit

from gateway.store.base import StoreError

ACCEPTED = (
    "sqlite:///relative/path.db, sqlite:////absolute/path.db, "
    "postgresql://user@host:port/database[?schema=NAME&pool_max=N] (or postgres://)"
)
MEMORY = ":memory:"
# A PostgreSQL identifier we can quote without escaping: it is spliced into CREATE SCHEMA and
# search_path, where parameters cannot go.
_SCHEMA_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")


def mask_url(url: str) -> str:
    """``url`` with any password replaced by ``***``, for messages and logs: the one before the
    host, and those given as query parameters (``?password=…``, ``sslpassword=…``, which
    asyncpg takes too)."""
    for start, end in reversed(_password_spans(url)):
        url = f"{url[:start]}***{url[end:]}"
    return url


def password_of(url: str) -> str | None:
    """The password in ``url`` (what ``mask_url`` hides), to scrub it from driver errors."""
    found = [url[start:end] for start, end in _password_spans(url) if end > start]
    return found[0] if found else None


# A scheme and its separator, however many slashes were typed (``postgresql:/``, ``postgres:``).
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:/*")


def _password_spans(url: str) -> list[tuple[int, int]]:
    """Where passwords lie, in order, spans that overlap made one: from the first ``:`` after
    the scheme to the last ``@``, and each ``password=`` (``sslpassword=``) parameter's value,
    to the next parameter.

    The first is found by hand, not with ``urlsplit``: a password typed raw may hold ``/``,
    ``?`` or ``@``, which a parser would split in the wrong place, leaking part of it. Masking
    too much (an ``@`` in a query) is harmless; masking too little is not.
    """
    start = _after_scheme(url)
    at = url.rfind("@", start)
    colon = url.find(":", start, at) if at >= 0 else -1
    spans = [] if colon < 0 else [(colon + 1, at)] if at >= 0 else []
    if at < 0 and (port := _port_that_is_no_number(url, start)) is not None:
        spans.append(port)
    # Looked for from the scheme on, not from that last ``@``: one in a later parameter's
    # value (``application_name=gw@prod``) would put a ``password=`` before it out of sight.
    for found in _QUERY_PARAMETER.finditer(url, start):
        # Its name as the driver reads it: ``pass%77ord`` is a password too.
        if unquote_plus(found.group(1)).lower() in _PASSWORD_PARAMETERS:
            spans.append(found.span(2))
    # Not a URL at all, but a connection string of another form given in its place: libpq's
    # keywords (``host=db password=secret``), ``…;Password=secret;``, a line of .pgpass.
    keyword = _KEYWORD_PASSWORD_TO_SEMICOLON if ";" in url else _KEYWORD_PASSWORD
    spans += [found.span(1) for found in keyword.finditer(url)]
    if pgpass := _PGPASS_LINE.match(url):
        spans.append(pgpass.span(1))
    return _merged(spans)


def _port_that_is_no_number(url: str, start: int) -> tuple[int, int] | None:
    """Where a "port" lies that is no number, in a URL with no ``@``: ``user:password/db``,
    its host lost, reads the password as the port (and the parser's error quoted it). A
    SQLite URL names a file, whose name may hold a colon."""
    if url.lower().startswith("sqlite:") or "://" not in url:
        return None
    end = len(url)
    for stop in "/?#":
        found = url.find(stop, start)
        if found >= 0:
            end = min(end, found)
    authority = url[start:end]
    bracket = authority.rfind("]")  # an IPv6 address's colons are its own
    colon = authority.find(":", bracket + 1)
    port = authority[colon + 1 :].strip()
    if colon < 0 or not port or re.fullmatch(r"\d+(,.*)?", port):  # a port; several hosts
        return None
    return start + colon + 1, len(url)  # to the end: the password may hold "/", "?" or "#"


def _after_scheme(url: str) -> int:
    """Where the part after the scheme begins: after ``postgresql://``, after ``postgres:`` (a
    slash lost), but at 0 for ``user:password@host``, a URL typed without its scheme (``user:``
    followed by no slash is a user name, not a scheme)."""
    scheme = _SCHEME.match(url)
    if scheme is None:
        return 0
    name = scheme.group().rstrip("/").removesuffix(":").lower()
    if scheme.group().endswith("/") or name.startswith(_STORE_SCHEMES):
        return scheme.end()
    return 0


def _merged(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The spans in order, those that overlap made one (a parameter inside what was taken for
    the part before the host is masked with it, once)."""
    merged: list[tuple[int, int]] = []
    for begin, end in sorted(spans):
        if merged and begin <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((begin, end))
    return merged


# A parameter's value runs to the next "&name=" (one followed by another "=" starts the next
# parameter): a password typed raw with an "&" or a "#" is masked whole, not up to it.
_QUERY_PARAMETER = re.compile(r"[?&]([^=&#]*)=((?:[^&]|&(?![^=&#]*=))*)")
_PASSWORD_PARAMETERS = frozenset({"password", "sslpassword"})
# The schemes a store URL may be meant to have, a driver's suffix too (``postgresql+asyncpg``).
_STORE_SCHEMES = ("postgres", "sqlite", "jdbc")
# A password given by a keyword after a space, a ";" or the start: libpq's ``password=``
# (its value single-quoted or not), ADO's and ODBC's ``Password=``, ``Pwd=``, ``PSW=`` (quoted
# with a doubled quote within, in ODBC's braces, or not), the environment's ``PGPASSWORD=``,
# YAML's ``password: ``. A value not quoted runs to the next ";" where the string has one
# (ADO's, spaces and all), else to the next space (libpq's).
_PASSWORD_KEY = r"(?i)(?:^|[\s;])\s*(?:ssl|pg)?(?:password|pwd|psw)\s*[=:]\s*"
_QUOTED_VALUE = r"'(?:[^'\\]|\\.|'')*'?|\"(?:[^\"]|\"\")*\"?|\{(?:[^}]|\}\})*\}?"
_KEYWORD_PASSWORD = re.compile(_PASSWORD_KEY + r"(" + _QUOTED_VALUE + r"|[^\s;]*)")
_KEYWORD_PASSWORD_TO_SEMICOLON = re.compile(_PASSWORD_KEY + r"(" + _QUOTED_VALUE + r"|[^;]*)")
# A line of a .pgpass file (host:port:database:user:password): the password is its last field.
_PGPASS_LINE = re.compile(r"^[^:@/\s]*:[^:@/\s]*:[^:@/\s]*:[^:@/\s]*:(.+)$")


def scheme_of(url: str) -> str:
    return url.split("://", 1)[0].lower() if "://" in url else ""


def sqlite_path(url: str) -> str:
    """The file of a ``sqlite:///`` URL: ``sqlite:///a/b.db`` → ``a/b.db`` (relative to the
    working directory), ``sqlite:////a/b.db`` → ``/a/b.db``, ``sqlite:///:memory:`` → memory."""
    prefix = "sqlite:///"
    if not url.lower().startswith(prefix):
        raise StoreError(
            f"store URL {mask_url(url)!r}: a SQLite URL starts with three slashes: {ACCEPTED}"
        )
    path = url[len(prefix) :]
    if not path or path.endswith("/"):
        raise StoreError(f"store URL {mask_url(url)!r} names no SQLite file: {ACCEPTED}")
    if "?" in path or "#" in path:
        # Taken as part of the file's name, ``?mode=ro`` made another file (``store.db?mode=ro``)
        # than the one meant, and processes sharing a store apart.
        mark = "?" if "?" in path else "#"
        raise StoreError(
            f"store URL {mask_url(url)!r}: a SQLite URL takes no parameters and names its file "
            f"alone ({mark!r} found); name the file without {path[path.index(mark) :]!r}"
        )
    return path


@dataclass(frozen=True)
class PostgresTarget:
    """A PostgreSQL URL taken apart: what asyncpg gets, the schema, and what messages show."""

    dsn: str  # the URL without our own parameters (asyncpg would send them to the server)
    schema: str | None
    pool_max: int | None  # the most connections this store object opens; None: the default
    where: str  # "host:port/database", for messages
    password: str | None  # only to scrub it from driver messages; never shown


# What the driver takes for ``sslmode`` (libpq's values); another fails only when connecting.
_SSL_MODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")


def _check_driver_parameter(url: str, name: str, value: str) -> None:
    """A parameter the gateway does not read goes to the driver, and one the driver does not
    know to the server as a setting: a misspelt ``pool_max`` or a bad ``sslmode`` passed
    check-config and then stopped ``serve``. Those two are said here, before anything starts."""
    if name == "port" and not all(
        port.isdigit() and 1 <= int(port) <= 65535 for port in value.split(",")
    ):
        # The driver reads it (libpq's form, a port for each host) and raised a bare
        # OverflowError at serve's start, after check-config had said OK.
        raise StoreError(
            f"store URL {mask_url(url)!r}: port {value!r} must be a number from 1 to 65535 "
            "(or one for each host, separated by commas)"
        )
    if name == "sslmode" and value not in _SSL_MODES:
        raise StoreError(
            f"store URL {mask_url(url)!r}: sslmode {value!r} must be one of {', '.join(_SSL_MODES)}"
        )
    near = difflib.get_close_matches(name.lower(), ("schema", "pool_max"), n=1, cutoff=0.75)
    if near and near[0] != name:
        raise StoreError(
            f"store URL {mask_url(url)!r}: {name!r} is not a parameter the gateway reads; "
            f"{near[0]!r} is (any other parameter goes to PostgreSQL as a setting)"
        )


def postgres_target(url: str) -> PostgresTarget:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        # The parser's own words may quote a piece of a password typed raw with a '/', '?'
        # or '#' (the piece before it read as the port): not passed on.
        raise StoreError(
            f"store URL {mask_url(url)!r} cannot be parsed: give "
            "postgresql://user:password@host:port/database, its port a number, and any '/', "
            "'?', '#' or '@' in the password percent-encoded (%2F, %3F, %23, %40)"
        ) from None
    if "@" in f"{parts.username or ''}{parts.password or ''}":
        # Read here up to the last '@', by the driver up to the first: it would connect to a
        # host made of the password's end, and say that host in its error.
        raise StoreError(
            f"store URL {mask_url(url)!r}: the part before the host holds an '@' written as "
            "it is; percent-encode it in the password (%40) (the password is not shown)"
        )
    query = parse_qsl(parts.query, keep_blank_values=True)
    ours = {name: value for name, value in query if name in ("schema", "pool_max")}
    rest = [(name, value) for name, value in query if name not in ours]
    for name, value in rest:
        _check_driver_parameter(url, name, value)
    schema = ours.get("schema")
    pool_max = ours.get("pool_max")
    if pool_max is not None and not (pool_max.isdigit() and 1 <= int(pool_max) <= 1000):
        raise StoreError(
            f"store URL {mask_url(url)!r}: pool_max {pool_max!r} must be a number from 1 to 1000"
        )
    if schema is not None and not _SCHEMA_NAME.fullmatch(schema):
        raise StoreError(
            f"store URL {mask_url(url)!r}: schema {schema!r} must be letters, digits and "
            "underscores, not starting with a digit, at most 63 characters"
        )
    in_path = parts.path.lstrip("/")
    database = in_path or dict(rest).get("dbname") or dict(rest).get("database")
    if not database:
        # The driver's default is the database named as the user: the store's tables went
        # into ``postgres`` beside whatever else is kept there.
        raise StoreError(
            f"store URL {mask_url(url)!r} names no database: give "
            "postgresql://user:password@host:port/database"
        )
    if not in_path:
        # A bare "/" is read by the driver as an empty name (its default database), and the
        # parameter naming the database is then passed over.
        parts = parts._replace(path="")
    dsn = urlunsplit(parts._replace(query=urlencode(rest)))
    host = parts.hostname or dict(rest).get("host") or "localhost"
    where = f"{host}:{port or 5432}/{database}"
    return PostgresTarget(
        dsn=dsn,
        schema=schema,
        pool_max=None if pool_max is None else int(pool_max),
        where=where,
        password=password_of(url),
    )
