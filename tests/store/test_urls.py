"""Store URLs: the backend each picks, and messages that never show a password."""

from __future__ import annotations

import pytest

from gateway.store import StoreError, mask_url, open_store
from gateway.store.postgres import PostgresStore
from gateway.store.sqlite import SqliteStore
from gateway.store.urls import password_of, postgres_target, sqlite_path


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("sqlite:///invoice-gateway.db", "invoice-gateway.db"),
        ("sqlite:///./data/gw.db", "./data/gw.db"),
        ("sqlite:////var/lib/gw/store.db", "/var/lib/gw/store.db"),
        ("SQLite:///x.db", "x.db"),
    ],
)
def test_sqlite_urls_name_a_file(url: str, path: str) -> None:
    assert isinstance(open_store(url), SqliteStore)
    assert sqlite_path(url) == path


@pytest.mark.parametrize("url", ["sqlite://x.db", "sqlite:///", "sqlite:///dir/"])
def test_sqlite_urls_without_a_file_are_refused(url: str) -> None:
    with pytest.raises(StoreError, match="sqlite:///"):
        open_store(url)


@pytest.mark.parametrize(
    ("url", "said"), [("sqlite:///./store.db?mode=ro", "'?mode=ro'"), ("sqlite:///s.db#x", "'#x'")]
)
def test_sqlite_urls_with_parameters_are_refused_not_made_part_of_the_name(
    url: str, said: str
) -> None:
    # Taken into the file's name, "?mode=ro" made a store of its own, store.db?mode=ro.
    with pytest.raises(StoreError, match="takes no parameters") as caught:
        open_store(url)
    assert said in str(caught.value)


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://gw:Sup3r-secret@db:5432",
        "postgresql://gw@db/",
        "postgres://db?sslmode=require",
    ],
)
def test_postgres_urls_without_a_database_are_refused(url: str) -> None:
    # The driver's default, the database named as the user, put the tables into "postgres".
    with pytest.raises(StoreError, match="names no database") as caught:
        open_store(url)
    assert "Sup3r-secret" not in str(caught.value)


@pytest.mark.parametrize(
    ("url", "dsn"),
    [
        ("postgresql://gw@db?dbname=invoices", "postgresql://gw@db?dbname=invoices"),
        ("postgresql://gw@db/?dbname=invoices", "postgresql://gw@db?dbname=invoices"),
        ("postgresql://gw@db:5432/?database=invoices", "postgresql://gw@db:5432?database=invoices"),
    ],
)
def test_a_database_given_as_a_parameter_is_the_one_connected_to(url: str, dsn: str) -> None:
    # The driver reads a bare "/" as an empty database name and passes the parameter over.
    target = postgres_target(url)
    assert target.where.endswith("/invoices")
    assert target.dsn == dsn


@pytest.mark.parametrize(
    "url", ["postgresql://gw@db.internal/invoices", "postgres://gw:pw@db.internal:6432/invoices"]
)
def test_postgres_urls_pick_postgres(url: str) -> None:
    store = open_store(url)
    assert isinstance(store, PostgresStore)
    assert store.url_scheme == "postgresql"


def test_the_schema_parameter_is_ours_not_the_servers() -> None:
    target = postgres_target(
        "postgresql://gw:pw@db.internal:6432/invoices?sslmode=require&schema=run_1&pool_max=4"
    )

    assert (target.schema, target.pool_max) == ("run_1", 4)
    assert target.dsn == "postgresql://gw:pw@db.internal:6432/invoices?sslmode=require"
    assert target.where == "db.internal:6432/invoices"
    assert target.password == "pw"


@pytest.mark.parametrize("pool_max", ["0", "-1", "ten", "1001", ""])
def test_a_pool_max_out_of_range_is_refused(pool_max: str) -> None:
    with pytest.raises(StoreError, match="pool_max"):
        open_store(f"postgresql://gw:hidden@db/invoices?pool_max={pool_max}")


@pytest.mark.parametrize("port", ["99999", "0", "x", "5432,", "-1", ""])
def test_a_port_parameter_that_is_no_port_is_refused_before_serve_starts(port: str) -> None:
    """libpq's ``?port=`` goes to the driver, which raised a bare OverflowError at serve's
    start (a traceback) for a URL check-config had called OK."""
    with pytest.raises(StoreError) as info:
        open_store(f"postgresql:///db?host=127.0.0.1&port={port}&password=hidden")
    assert f"port {port!r} must be a number from 1 to 65535" in str(info.value)
    assert "hidden" not in str(info.value)


def test_a_port_for_each_host_is_taken() -> None:
    target = postgres_target("postgresql:///db?host=a,b&port=5432,5433")
    assert target.dsn.endswith("db?host=a%2Cb&port=5432%2C5433")


def test_without_our_parameters_the_defaults_hold() -> None:
    target = postgres_target("postgres://gw@db/invoices")
    assert (target.schema, target.pool_max, target.password) == (None, None, None)
    assert target.dsn == "postgres://gw@db/invoices"


@pytest.mark.parametrize("schema", ["1abc", "a-b", "x;drop", 'a"b', "a" * 64, ""])
def test_a_schema_that_is_not_a_plain_identifier_is_refused(schema: str) -> None:
    with pytest.raises(StoreError, match="schema"):
        open_store(f"postgresql://gw:hidden@db/invoices?schema={schema}")


@pytest.mark.parametrize(
    ("url", "scheme"),
    [
        ("mysql://gw:Sup3r-secret@db/invoices", "'mysql'"),
        ("./invoice-gateway.db", "no scheme"),
        ("redis://:Sup3r-secret@cache:6379/0", "'redis'"),
    ],
)
def test_other_schemes_are_refused_with_what_is_accepted(url: str, scheme: str) -> None:
    with pytest.raises(StoreError) as caught:
        open_store(url)

    message = str(caught.value)
    assert scheme in message
    assert "sqlite:///" in message
    assert "postgresql://" in message
    assert "Sup3r-secret" not in message


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("postgresql://gw:pw@db/x", "postgresql://gw:***@db/x"),
        ("postgresql://gw:p@ss/w?rd@db:5432/x?a=b", "postgresql://gw:***@db:5432/x?a=b"),
        ("postgresql://:only-password@db/x", "postgresql://:***@db/x"),
        ("postgresql://gw@db/x", "postgresql://gw@db/x"),
        ("postgresql://db:5432/x", "postgresql://db:5432/x"),
        ("sqlite:////var/lib/x.db", "sqlite:////var/lib/x.db"),
        # asyncpg takes these as query parameters too
        ("postgresql://gw@db/x?password=pw&a=b", "postgresql://gw@db/x?password=***&a=b"),
        ("postgresql://gw@db/x?sslpassword=k3y", "postgresql://gw@db/x?sslpassword=***"),
        ("postgresql://gw:a@db/x?a=1&PASSWORD=b#f", "postgresql://gw:***@db/x?a=1&PASSWORD=***"),
        # a password typed raw with "&" or "#": masked whole, not up to it
        (
            "postgresql://gw@db/x?password=ab&S3cret&sslmode=require",
            "postgresql://gw@db/x?password=***&sslmode=require",
        ),
        ("postgresql://gw@db/x?password=ab#S3cret", "postgresql://gw@db/x?password=***"),
        # a name percent-encoded is the driver's password all the same
        (
            "postgresql://gw@db/x?pool_max=a&pass%77ord=pw",
            "postgresql://gw@db/x?pool_max=a&pass%77ord=***",
        ),
        ("postgresql://gw@db/x?ssl%70assword=k3y", "postgresql://gw@db/x?ssl%70assword=***"),
        # an "@" in a later parameter's value
        (
            "postgresql://gw@db/x?password=pw&application_name=gw@prod",
            "postgresql://gw@db/x?password=***&application_name=gw@prod",
        ),
        (
            "postgresql://db/x?user=gw&password=pw&application_name=a@b&sslmode=bogus",
            "postgresql://db/x?user=gw&password=***&application_name=a@b&sslmode=bogus",
        ),
    ],
)
def test_mask_url_hides_the_whole_password(url: str, masked: str) -> None:
    assert mask_url(url) == masked


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://gw:Hunter2/Tail@127.0.0.1/x",  # the part before "/" read as host:port
        "postgresql://gw:Hunter2?Tail@127.0.0.1/x",
        "postgresql://gw:Hunter2#Tail@127.0.0.1/x",
        "postgresql://gw:pw@Hunter2:Tail@127.0.0.1/x",  # the driver splits at the first "@"
    ],
)
def test_a_password_typed_raw_with_a_splitting_character_is_refused_unshown(url: str) -> None:
    """The parser's error quoted the piece before a raw '/', '?' or '#' as a port ("Port could
    not be cast to integer value as 'Hunter2'"); a raw '@' passed, and the driver's connection
    error named the password's end as its host."""
    with pytest.raises(StoreError) as info:
        postgres_target(url)
    said = str(info.value)
    assert "Hunter2" not in said and "Tail" not in said, said
    assert "percent-encode" in said and "%40" in said


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("postgresql:/gw:Hunter2Tail@db/x", "postgresql:/gw:***@db/x"),
        ("postgresql//gw:Hunter2Tail@db/x", "postgresql//gw:***@db/x"),
        ("postgres:gw:Hunter2Tail@db/x", "postgres:gw:***@db/x"),
    ],
)
def test_a_url_whose_scheme_lost_a_slash_is_masked_all_the_same(url: str, masked: str) -> None:
    """Without "://" nothing was masked, and the schema's error quoted the URL whole."""
    assert mask_url(url) == masked
    assert password_of(url) == "Hunter2Tail"


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("gw:Hunter2Tail@db:5432/x", "gw:***@db:5432/x"),
        ("gw:Hunter2Tail@db", "gw:***@db"),
        ("host=db user=gw password=Hunter2Tail dbname=x", "host=db user=gw password=*** dbname=x"),
        ("host=db PASSWORD = Hunter2Tail", "host=db PASSWORD = ***"),
        ("host=db password='Hunter2Tail' dbname=x", "host=db password=*** dbname=x"),
        ("Server=db;Password=Hunter2Tail;Database=x", "Server=db;Password=***;Database=x"),
        ("host=db sslpassword=Hunter2Tail", "host=db sslpassword=***"),
        # ADO's and ODBC's: double-quoted ("" within), and its other names
        ('Host=db;Password="Hunter2Tail";Database=x', "Host=db;Password=***;Database=x"),
        ('Host=db;Password="Hunter2 T""a;il";x=1', "Host=db;Password=***;x=1"),
        ("Host=db;Pwd=Hunter2Tail;", "Host=db;Pwd=***;"),
        ("Server=db;PSW=Hunter2Tail", "Server=db;PSW=***"),
        # ADO's value runs to its ";", spaces and all; ODBC's braces; a doubled quote within
        ("Host=db;Password=my Hunter2Tail;Database=x", "Host=db;Password=***;Database=x"),
        ("Server=db;Pwd={Hunter2;Tail};Database=x", "Server=db;Pwd=***;Database=x"),
        ("Server=db;Password='Hunter2''Tail';Database=x", "Server=db;Password=***;Database=x"),
        # the environment's, YAML's, and a line of .pgpass
        ("PGPASSWORD=Hunter2Tail", "PGPASSWORD=***"),
        ("password: Hunter2Tail", "password: ***"),
        ("db.internal:5432:invoices:gw:Hunter2Tail", "db.internal:5432:invoices:gw:***"),
        # the host lost: the password read as a port that is no number
        ("postgresql://gw:Hunter2Tail/invoices", "postgresql://gw:***"),
        ("postgresql://gw:Hunter2/Tail/invoices", "postgresql://gw:***"),  # a raw "/" in it
        ("postgresql://gw:Hunter2Tail#x", "postgresql://gw:***"),
    ],
)
def test_a_connection_string_given_in_place_of_a_url_is_masked(url: str, masked: str) -> None:
    """Typed without its scheme, ``gw:`` was read as one and nothing was masked; libpq's
    keyword form and ``…;Password=…;`` have no ``?`` to find a parameter by. check-config and
    serve quoted such a value whole, password and all."""
    assert mask_url(url) == masked
    assert "Hunter2" in (password_of(url) or "")


@pytest.mark.parametrize(
    "url",
    [
        "sqlite:///a:b.db",
        "sqlite:////var/lib/10:30.db",
        "postgresql://db:5432/x",
        "postgresql://[::1]:5432/x",
        "postgresql://[::1]/x",
        "postgresql://gw@db/x",
        "postgresql://db1:5432,db2:5432/invoices",  # several hosts
        "postgresql://db.internal:5432 /invoices",  # a stray space
    ],
)
def test_a_url_without_a_password_is_shown_as_it_is(url: str) -> None:
    assert mask_url(url) == url
    assert password_of(url) is None


@pytest.mark.parametrize(
    "url",
    [
        "sqlite:///./store.db\n",  # a variable made from a file keeps its line end
        "sqlite:///./store.db\r\n",
        "sqlite:///./store.db ",
        " sqlite:///./store.db",
        "sqlite:///./sto\tre.db",
        "postgresql://gw:hunter2@db/test\n",
    ],
)
def test_a_store_url_with_a_line_end_or_a_space_at_an_end_is_refused(url: str) -> None:
    """Taken as it was, "store.db\\n" made a SQLite file of its own: processes configured
    without the line end used another store, their keys and crosswalk apart."""
    with pytest.raises(StoreError) as caught:
        open_store(url)
    said = str(caught.value)
    assert said.endswith(
        "holds a line break, a tab or another control character, or a space at an end (kept "
        "from a file or an environment variable?): remove it"
    )
    assert "hunter2" not in said
