from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from gateway.migration.references import MapError, parse_map
from gateway.settings_file import ConfigError, load_settings, parse_settings
from gateway.yaml_strict import load_yaml

REPO = Path(__file__).parents[2]
GOOD = """
server: {port: 9000}
clients:
  - name: sync
    key_sha256: "%s"
    connections: ["crm"]
    scopes: [invoices:read]
connections:
  - name: crm
    provider: crm_v1
    base_url: https://crm.example.com
    auth: {type: bearer, token: "${CRM_TOKEN}"}
    taxes: [{id: "5", name: "VAT 5%%", rate: "5"}]
    currencies: {USD: 1}
""" % ("a" * 64)


def problems(text: str, environ: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_settings(text, "config.yaml", environ or {})
    return info.value.problems


def test_a_good_file_becomes_typed_settings_with_variables_expanded() -> None:
    settings = parse_settings(GOOD, "config.yaml", {"CRM_TOKEN": "crm-token-1"})
    assert settings.server.port == 9000
    assert settings.server.host == "127.0.0.1"
    crm = settings.connection("crm")
    assert crm is not None and crm.auth.secret() == "crm-token-1"
    assert str(crm.taxes[0].rate) == "5"
    assert settings.clients[0].may_use("crm") and not settings.clients[0].may_use("other")


def test_every_problem_is_reported_with_its_path() -> None:
    text = """
server: {port: 70000}
connections:
  - name: crm
    provider: crm
    base_url: crm.example.com
    auth: {type: bearer, token: x, token_env: Y}
    surprise: 1
"""
    assert problems(text) == [
        # Every variable not set, said with the rest, not once the rest is mended.
        "connections[0].auth.token_env: environment variable Y is not set",
        "connections[0]: unknown key(s) ('surprise' was unexpected)",
        "connections[0].auth: give exactly one of token or token_env",
        "connections[0].base_url: must be an http:// or https:// URL with a host (the value is "
        "not shown)",
        "connections[0].provider: 'crm' is not one of ['crm_v1', 'draft_publish', 'bill_crm', 'item_envelope', 'order_linked']",
        "server.port: 70000 is greater than the maximum of 65535",
    ]


def test_an_unset_variable_is_named_without_leaking_anything() -> None:
    assert problems(GOOD) == [
        "connections[0].auth.token: environment variable CRM_TOKEN is not set"
    ]


def test_cross_references_are_checked() -> None:
    text = (
        GOOD.replace('connections: ["crm"]', 'connections: ["crm", "billing"]')
        + """
  - name: crm
    provider: bill_crm
    base_url: https://b.example.com
    auth: {type: api_key, token_env: BILL_TOKEN}
    currency: USD
"""
    )
    assert problems(text, {"CRM_TOKEN": "crm-token"}) == [
        "connections[1].auth.token_env: environment variable BILL_TOKEN is not set",
        "connections[1].name: 'crm' is used twice",
        "clients[0].connections[1]: no connection named 'billing' (known: crm)",
    ]


def test_a_float_rate_is_refused_so_rates_stay_exact() -> None:
    assert problems(GOOD.replace('rate: "5"', "rate: 5.5"), {"CRM_TOKEN": "crm-token"}) == [
        'connections[0].taxes[0].rate: write the rate as a string ("5.5") so it is read exactly'
    ]


def test_yaml_syntax_errors_say_where() -> None:
    [problem] = problems("connections: [\n  {name: x\n")
    assert problem.startswith("line 3, column 1: not valid YAML")


def test_the_example_config_loads_as_it_is_and_takes_overrides() -> None:
    plain = load_settings(REPO / "config.yaml", {})
    crm = plain.connection("crm")
    assert crm is not None and crm.auth.secret() == "sandbox-crm_v1"
    assert crm.base_url == "http://127.0.0.1:8081"
    own_key = hashlib.sha256(b"a key of the operator's own, 32+").hexdigest()
    real = load_settings(
        REPO / "config.yaml",
        {
            "CRM_URL": "https://crm.example.com",
            "CRM_TOKEN": "crm-token",
            "GATEWAY_KEY_SHA256": own_key,
        },
    )
    assert real.clients[0].key_sha256 == own_key
    crm = real.connection("crm")
    assert crm is not None and (crm.base_url, crm.auth.secret()) == (
        "https://crm.example.com",
        "crm-token",
    )


@pytest.mark.parametrize("token", ["t", "k-1", "Zq7pK3x"])
def test_a_provider_token_too_short_to_keep_out_of_answers_is_refused(token: str) -> None:
    """A provider's error may echo the request's headers; a token of under 8 characters could
    not be told from ordinary text there, so it could not be blanked and would reach the
    caller. It is refused, by length, never shown; a variable's value alike."""
    long = f"{len(token)} character{'' if len(token) == 1 else 's'} long"
    said = (
        f"{long}; a provider token needs at least 8, or it could not be told from ordinary "
        "text and kept out of an answer that repeats it (the value is not shown)"
    )
    assert problems(GOOD, {"CRM_TOKEN": token}) == [f"connections[0].auth.token: {said}"]
    from_env = GOOD.replace('token: "${CRM_TOKEN}"', "token_env: CRM_TOKEN")
    assert problems(from_env, {"CRM_TOKEN": token}) == [
        f"connections[0].auth.token_env: environment variable CRM_TOKEN: {said}"
    ]
    assert parse_settings(GOOD, "config.yaml", {"CRM_TOKEN": "8-chars!"}).connections


def test_check_config_command_exit_codes(tmp_path: Path) -> None:
    script = str(Path(sys.executable).with_name("invoice-gateway"))
    bad = tmp_path / "bad.yaml"
    bad.write_text("connections: 3\n")
    result = subprocess.run(
        [script, "check-config", "--config", str(bad)], capture_output=True, text=True
    )
    assert result.returncode == 2
    assert "connections: 3 is not of type 'array'" in result.stderr
    good = tmp_path / "good.yaml"
    good.write_text(GOOD.replace("${CRM_TOKEN}", "literal-token"))
    result = subprocess.run(
        [script, "check-config", "--config", str(good)], capture_output=True, text=True
    )
    assert (result.returncode, result.stdout.strip()) == (
        0,
        f"{good}: OK (1 connection(s), 1 client(s))",
    )


def test_a_relative_sqlite_store_lives_beside_the_configuration(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "etc"
    folder.mkdir()
    (folder / "config.yaml").write_text(
        GOOD + 'store: {url: "sqlite:///./data/gateway.db"}\n', encoding="utf-8"
    )
    monkeypatch.chdir(tmp_path)  # started from elsewhere
    with pytest.raises(ConfigError) as info:  # its folder is looked for beside the file too
        load_settings(folder / "config.yaml", {"CRM_TOKEN": "crm-token"})
    data = folder.resolve() / "data"
    assert info.value.problems == [  # as the store says it when it opens, before that
        f"store.url: SQLite store {data / 'gateway.db'}: the directory {str(data)!r} does not "
        "exist; create it first (the store creates its file, not directories)"
    ]
    (folder / "data").mkdir()
    settings = load_settings(folder / "config.yaml", {"CRM_TOKEN": "crm-token"})
    assert settings.store.url == f"sqlite:///{folder.resolve()}/data/gateway.db"
    absolute = GOOD + f'store: {{url: "sqlite:///{tmp_path}/x.db"}}\n'
    (folder / "abs.yaml").write_text(absolute, encoding="utf-8")
    assert load_settings(folder / "abs.yaml", {"CRM_TOKEN": "crm-token"}).store.url == (
        f"sqlite:///{tmp_path}/x.db"
    )


def test_a_store_folder_that_does_not_exist_is_said_beside_the_other_problems(
    tmp_path: Path,
) -> None:
    """It was said only once every other problem was fixed: a second round trip for a
    check-config that promises every problem at once."""
    (tmp_path / "config.yaml").write_text(
        GOOD.replace("server: {port: 9000}", "server: {port: 99999}")
        + 'store: {url: "sqlite:///./data/gateway.db"}\n',
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as info:
        load_settings(tmp_path / "config.yaml", {"CRM_TOKEN": "crm-token"})
    data = tmp_path.resolve() / "data"
    assert info.value.problems == [
        "server.port: 99999 is greater than the maximum of 65535",
        f"store.url: SQLite store {data / 'gateway.db'}: the directory {str(data)!r} does not "
        "exist; create it first (the store creates its file, not directories)",
    ]


def test_cursor_secret_settings_are_checked_without_showing_the_secret() -> None:
    short = GOOD.replace("server: {port: 9000}", 'server: {cursor_secret: "hunter2-short"}')
    found = problems(short, {"CRM_TOKEN": "crm-token"})
    assert found == [
        "server.cursor_secret: must be at least 32 characters (the value is not shown)"
    ]
    assert "hunter2" not in "".join(found)
    both = GOOD.replace(
        "server: {port: 9000}",
        'server: {cursor_secret: "%s", cursor_secret_env: SECRET}' % ("s" * 32),
    )
    assert problems(both, {"CRM_TOKEN": "crm-token", "SECRET": "s" * 40})
    from_env = GOOD.replace("server: {port: 9000}", "server: {cursor_secret_env: CURSOR_SECRET}")
    assert problems(from_env, {"CRM_TOKEN": "crm-token", "CURSOR_SECRET": "too-short"}) == [
        "server.cursor_secret_env: environment variable CURSOR_SECRET must hold at least 32 "
        "characters"
    ]
    environ = {"CRM_TOKEN": "crm-token", "CURSOR_SECRET": "c" * 32}
    settings = parse_settings(from_env, "config.yaml", environ)
    assert settings.server.cursor_secret_env == "CURSOR_SECRET"


# -- what each provider's adapter needs of its connection (adapters/needs.py) --------------------


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("mysql://app:hunter2-pw@db/invoices", "'mysql://app:***@db/invoices'"),
        ("postgres+asyncpg://app:hunter2-pw@db/x", "'postgres+asyncpg://app:***@db/x'"),
        ("mysql://app:hunter2'p\\w@db/x", "'mysql://app:***@db/x'"),  # escaped in the message
        # a URL typed without its scheme: "app:" is a user, not a scheme
        ("app:hunter2-pw@127.0.0.1:5432/db", "'app:***@127.0.0.1:5432/db'"),
        # a connection string of another form given in a URL's place
        (
            "host=127.0.0.1 user=app password=hunter2-pw dbname=x",
            "'host=127.0.0.1 user=app password=*** dbname=x'",
        ),
        ("Server=db;User Id=app;Password=hunter2-pw;", "'Server=db;User Id=app;Password=***;'"),
    ],
)
def test_a_store_url_refused_by_its_pattern_is_named_without_its_password(
    url: str, shown: str
) -> None:
    found = problems(GOOD + yaml.safe_dump({"store": {"url": url}}), {"CRM_TOKEN": "crm-token"})
    assert len(found) == 1, found
    assert "hunter2" not in found[0]
    assert found[0] == (
        f"store.url: {shown} is not a store URL: sqlite:///<file> or postgresql://<host>/<database>"
    ), found


@pytest.mark.parametrize(
    ("where", "value", "said"),
    [
        (
            ("connections", 0, "taxes", 0, "rate"),
            "5%",
            "connections[0].taxes[0].rate: '5%' is not a rate in percent: digits with at most 4 "
            'decimals and no sign ("20", "7.25")',
        ),
        (
            ("connections", 0, "currency"),
            "usd",
            "connections[0].currency: 'usd' is not a currency's three-letter ISO 4217 code in "
            "capitals (USD)",
        ),
        (
            ("connections", 0, "name"),
            "CRM",
            "connections[0].name: 'CRM' is not a connection's name: a lower-case letter or a "
            "digit, then lower-case letters, digits, _ or -, 63 at most",
        ),
        (
            ("clients", 0, "name"),
            "-sync",
            "clients[0].name: '-sync' is not a client's name: a letter or a digit, then "
            "letters, digits, _, . or -, 64 at most",
        ),
    ],
)
def test_a_value_refused_by_its_pattern_is_told_what_is_expected_in_words(
    where: tuple[str | int, ...], value: str, said: str
) -> None:
    # Not the schema's regular expression ('^\\d+(\\.\\d{1,4})?$'), which asks the reader
    # to decode it, backslashes doubled.
    data = yaml.safe_load(GOOD)
    node = data
    for step in where[:-1]:
        node = node[step]
    node[where[-1]] = value
    found = problems(yaml.safe_dump(data), {"CRM_TOKEN": "crm-token"})
    assert said in found, found
    assert not any("does not match" in problem for problem in found), found


def test_every_pattern_of_the_schema_says_in_words_what_it_asks_for() -> None:
    # A pattern added without its words would be told as the regular expression again.
    schema = json.loads((REPO / "gateway" / "config_schema.json").read_text(encoding="utf-8"))
    found: list[dict[str, object]] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if "pattern" in node:
                found.append(node)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema)
    assert len(found) == 11
    assert [node["pattern"] for node in found if not node.get("x-expected")] == []


def test_a_base_url_with_its_scheme_in_capitals_is_told_to_write_it_in_lower_case() -> None:
    data = yaml.safe_load(GOOD)
    data["connections"][0]["base_url"] = "HTTPS://crm.example.com"
    found = problems(yaml.safe_dump(data), {"CRM_TOKEN": "crm-token"})
    assert found == [
        "connections[0].base_url: must be an http:// or https:// URL with a host, its scheme "
        "written in lower case (the value is not shown)"
    ]


def sandbox_connection_data(provider: str, **changes: object) -> dict[str, object]:
    """The sandbox's connection for ``provider`` (gateway/sandbox/<provider>.yaml), changed."""
    text = (REPO / "gateway" / "sandbox" / f"{provider}.yaml").read_text(encoding="utf-8")
    data: dict[str, object] = yaml.safe_load(text)
    auth = {**data.pop("auth", {"type": "bearer"}), "token": "crm-token"}  # type: ignore[dict-item]
    connection = {"name": provider.replace("_", "-"), "provider": provider}
    connection |= {"base_url": "https://provider.example.com", "auth": auth, **data}
    for key, value in changes.items():
        if value is None:
            connection.pop(key, None)
        else:
            connection[key] = value
    return connection


def config_of(*connections: dict[str, object]) -> str:
    return yaml.safe_dump({"connections": list(connections)}, sort_keys=False)


@pytest.mark.parametrize(
    "provider", ["crm_v1", "draft_publish", "bill_crm", "item_envelope", "order_linked"]
)
def test_every_sandbox_connection_passes_the_provider_checks(provider: str) -> None:
    settings = parse_settings(config_of(sandbox_connection_data(provider)), "c.yaml", {})
    assert settings.connections[0].provider == provider


def test_crm_v1_needs_its_currency_table_of_integer_ids() -> None:
    missing = sandbox_connection_data("crm_v1", currencies=None)
    assert problems(config_of(missing)) == [
        "connections[0].currencies: crm_v1 names an invoice's currency by its org_currency_id "
        "(an integer) only, so no invoice can be read (every list page would fail) without this "
        "table; add each currency code with its crm_v1 id"
    ]
    wrong = sandbox_connection_data("crm_v1", currencies={"USD": 1, "EUR": "2", "GBP": 1.5})
    assert problems(config_of(wrong)) == [  # both at once: the file is mended in one go
        "connections[0].currencies.GBP: 1.5 is not of type 'integer', 'string'",
        "connections[0].currencies.EUR: must be crm_v1's org_currency_id (an integer), not '2'",
    ]
    wrong = sandbox_connection_data("crm_v1", currencies={"USD": 1, "EUR": "2"})
    assert problems(config_of(wrong)) == [
        "connections[0].currencies.EUR: must be crm_v1's org_currency_id (an integer), not '2'"
    ]


def test_a_currency_id_used_twice_or_an_unknown_code_is_refused() -> None:
    twice = sandbox_connection_data("crm_v1", currencies={"USD": 1, "EUR": 2, "GBP": 1})
    assert problems(config_of(twice)) == [
        "connections[0].currencies.GBP: id 1 is also USD's; each currency needs an id of its own "
        "(invoices in it would be read as the other)"
    ]
    unknown = sandbox_connection_data("crm_v1", currencies={"USD": 1, "XTS": 9})
    assert problems(config_of(unknown)) == [
        "connections[0].currencies.XTS: not an ISO 4217 currency code the gateway knows"
    ]


def test_order_linked_needs_its_currency_table_of_uuids() -> None:
    missing = sandbox_connection_data("order_linked", currencies=None)
    assert problems(config_of(sandbox_connection_data("crm_v1"), missing)) == [
        "connections[1].currencies: order_linked names an invoice's currency by its currency "
        "uuid only, so no invoice can be read (every list page would fail) without this table; "
        "add each currency code with its order_linked id"
    ]
    wrong = sandbox_connection_data(
        "order_linked",
        currencies={"AUD": "87368b94-ee71-52af-a848-5be102c21770", "EUR": 2, "USD": "usd"},
    )
    assert problems(config_of(wrong)) == [
        "connections[0].currencies.EUR: must be order_linked's currency uuid "
        "(8-4-4-4-12 hexadecimal digits), not 2",
        "connections[0].currencies.USD: must be order_linked's currency uuid "
        "(8-4-4-4-12 hexadecimal digits), not 'usd'",
    ]


def test_bill_crm_needs_the_accounts_currency() -> None:
    assert problems(config_of(sandbox_connection_data("bill_crm", currency=None))) == [
        "connections[0].currency: is required for bill_crm: its invoices carry no currency, so "
        "none can be read without the account's (currency: USD, say)"
    ]
    assert problems(config_of(sandbox_connection_data("bill_crm", currency="XTS"))) == [
        "connections[0].currency: 'XTS' is not an ISO 4217 currency code the gateway knows"
    ]


def test_tax_ids_are_of_the_type_the_provider_takes() -> None:
    bill = sandbox_connection_data("bill_crm", taxes=[{"id": "vat-20", "rate": "20"}])
    items = sandbox_connection_data(
        "item_envelope", taxes=[{"id": "0", "rate": "5"}, {"id": 7, "rate": "19"}]
    )
    assert problems(config_of(bill, items)) == [
        "connections[0].taxes[0].id: bill_crm tax rate ids are whole numbers, not 'vat-20'",
        "connections[1].taxes[0].id: item_envelope tax ids are positive integers, not '0'",
    ]
    # A numeric id may be written as a number: it is the same id as its text.
    settings = parse_settings(config_of(items | {"taxes": [{"id": 7, "rate": "19"}]}), "c", {})
    assert settings.connections[0].tax_by_id("7") is not None


def test_every_configured_tax_can_be_chosen() -> None:
    taxes = [
        {"id": "5", "name": "GST", "rate": "5"},
        {"id": "6", "name": "PST", "rate": "5"},  # same rate, its own name: chosen by name
        {"id": "7", "name": "GST", "rate": "5.0"},
        {"id": "5", "name": "Reduced", "rate": "7"},
        {"id": "8", "rate": "9"},
        {"id": "9", "rate": "9"},
    ]
    assert problems(config_of(sandbox_connection_data("crm_v1", taxes=taxes))) == [
        "connections[0].taxes[2]: taxes[0] has the same rate (5.0) and the same name ('GST'); a "
        "tax is found by its rate, and by its name where rates repeat, so this one could never "
        "be chosen: give each its own name, or remove one",
        "connections[0].taxes[3].id: '5' is also the id of taxes[0]",
        "connections[0].taxes[5]: taxes[4] has the same rate (9) and no name either; a tax is "
        "found by its rate, and by its name where rates repeat, so this one could never be "
        "chosen: give each its own name, or remove one",
    ]
    shared_rate = sandbox_connection_data("crm_v1", taxes=taxes[:2])
    connection = parse_settings(config_of(shared_rate), "c.yaml", {}).connections[0]
    assert connection.tax_for_rate(Decimal(5), "PST").id == "6"  # type: ignore[union-attr]


def test_defaults_are_provider_fields_of_their_type() -> None:
    crm = sandbox_connection_data(
        "crm_v1", defaults={"template_id": "abc", "colour": "red", "tag_ids": [1, "vip"]}
    )
    items = sandbox_connection_data("item_envelope", defaults={"store_id": True, "col_3": "x"})
    bill = sandbox_connection_data(
        "bill_crm", defaults={"bill_categoryid": 1, "bill_tax_type": "both"}
    )
    orders = sandbox_connection_data(
        "order_linked", defaults={"custom_attributes": [{"name": "", "value": 3}]}
    )
    drafts = sandbox_connection_data("draft_publish", defaults={"template_id": "abc"})
    assert problems(config_of(crm, items, bill, orders, drafts)) == [
        "connections[0].defaults.template_id: must be of type integer for crm_v1, not 'abc'",
        "connections[0].defaults.colour: not a crm_v1 provider field (known: assigned_to, "
        "deal_id, tag_ids, template_id)",
        "connections[0].defaults.tag_ids[1]: must be a crm_v1 tag id (an integer), not 'vip'",
        "connections[1].defaults.store_id: must be of type integer for item_envelope, not True",
        "connections[1].defaults.col_3: a per-line item_envelope field; defaults are the "
        "invoice's, so it would never be sent (set it in each line's provider_fields)",
        "connections[2].defaults.bill_tax_type: must be summary or inline, not 'both'",
        "connections[3].defaults.custom_attributes[0].name: is required: a non-empty string",
        "connections[3].defaults.custom_attributes[0].value: must be a string or null",
        # draft_publish's templates are uuids: "abc" failed every create that sent it
        "connections[4].defaults.template_id: must be a uuid for draft_publish, not 'abc'",
    ]


def test_serve_refuses_what_check_config_refuses_with_the_same_messages(tmp_path: Path) -> None:
    script = str(Path(sys.executable).with_name("invoice-gateway"))
    bad = tmp_path / "bad.yaml"
    crm = sandbox_connection_data("crm_v1", defaults={"template_id": "abc"})
    bad.write_text(config_of(crm, sandbox_connection_data("bill_crm", currency=None)))
    checked = subprocess.run(
        [script, "check-config", "--config", str(bad)], capture_output=True, text=True
    )
    served = subprocess.run(
        [script, "serve", "--config", str(bad), "--port", "0"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert checked.returncode == served.returncode == 2
    assert checked.stderr == served.stderr
    assert checked.stderr.splitlines() == [
        f"{bad}: 2 problem(s)",
        "  connections[0].defaults.template_id: must be of type integer for crm_v1, not 'abc'",
        "  connections[1].currency: is required for bill_crm: its invoices carry no currency, so "
        "none can be read without the account's (currency: USD, say)",
    ]
    assert served.stdout == ""  # it never said it was listening


def test_serve_says_in_one_line_why_the_store_cannot_be_opened_before_it_listens(
    tmp_path: Path,
) -> None:
    """A PostgreSQL store that is not there: exit 2 and the store's own message, never a
    "listening" followed by a worker's traceback (nor workers started again and again)."""
    script = str(Path(sys.executable).with_name("invoice-gateway"))
    down = tmp_path / "down.yaml"
    data = yaml.safe_load(config_of(sandbox_connection_data("crm_v1")))
    data["store"] = {"url": "postgresql://app:hunter2-pw@127.0.0.1:9/test"}  # port 9: discard
    down.write_text(yaml.safe_dump(data), encoding="utf-8")
    for workers in ("1", "2"):
        served = subprocess.run(
            [script, "serve", "--config", str(down), "--port", "0", "--workers", workers],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert served.returncode == 2, served.stderr
        assert served.stdout == ""  # it never said it was listening
        [line] = served.stderr.splitlines()
        assert line.startswith("invoice-gateway serve: PostgreSQL store at 127.0.0.1:9/test: "), (
            line
        )
        assert "Traceback" not in served.stderr and "hunter2" not in served.stderr


def test_a_plain_key_in_key_sha256_is_refused_without_being_shown() -> None:
    key = "sk_admin_SUPERSECRET_abcdef0123456789"
    text = GOOD.replace('key_sha256: "%s"' % ("a" * 64), 'key_sha256: "${ADMIN_KEY}"')
    found = problems(text, {"CRM_TOKEN": "crm-token", "ADMIN_KEY": key})
    assert found == [
        "clients[0].key_sha256: must be the SHA-256 of the key, 64 lower-case hex characters "
        "(the value is not shown: to give the key itself, name its variable in key_env instead)"
    ]


def test_a_key_sha256_read_with_its_line_end_is_refused() -> None:
    """A variable made from a file keeps its line end: the pattern's "$" matched before it,
    check-config said OK, and no API key ever matched the hash with a line break."""
    digest = hashlib.sha256(b"sk_sync_0123456789abcdef").hexdigest()
    text = GOOD.replace('key_sha256: "%s"' % ("a" * 64), 'key_sha256: "${SYNC_SHA}"')
    found = problems(text, {"CRM_TOKEN": "crm-token", "SYNC_SHA": digest + "\n"})
    assert found == [
        "clients[0].key_sha256: must be the SHA-256 of the key, 64 lower-case hex characters "
        "(the value is not shown: to give the key itself, name its variable in key_env instead)"
    ]
    settings = parse_settings(text, "config.yaml", {"CRM_TOKEN": "crm-token", "SYNC_SHA": digest})
    assert settings.clients[0].key_sha256 == digest


def test_a_default_holding_another_reference_is_refused_not_read_as_text() -> None:
    """``${A:-${B}}`` was read to the first "}": the default was the text "${B", a "}" was left
    over, and the provider was sent "${B}" as its token."""
    text = GOOD.replace('"${CRM_TOKEN}"', '"${CRM_TOKEN_OVERRIDE:-${CRM_TOKEN}}"')
    found = problems(text, {"CRM_TOKEN": "crm-token-1"})
    assert found == [
        "connections[0].auth.token: ${CRM_TOKEN_OVERRIDE:-…} holds another reference as its "
        "default: a default is plain text (one reference, or give the value in "
        "CRM_TOKEN_OVERRIDE)"
    ]


@pytest.mark.parametrize("hashed", [b"", b"\n"])
def test_a_key_sha256_of_no_key_at_all_is_refused(hashed: bytes) -> None:
    """``sha256sum`` of an unset variable gives the digest of nothing (``printf``) or of a
    lone newline (``echo``): a client no request can ever authenticate as, which check-config
    said was fine."""
    empty = hashlib.sha256(hashed).hexdigest()
    text = GOOD.replace('key_sha256: "%s"' % ("a" * 64), f'key_sha256: "{empty}"')
    found = problems(text, {"CRM_TOKEN": "crm-token"})
    assert found == [
        "clients[0].key_sha256: is the SHA-256 of an empty key or of a lone newline (what "
        "hashing an unset variable gives), which no request can present; give the SHA-256 of "
        "the client's key"
    ]


@pytest.mark.parametrize("bad", ["t-1\n", " t-1", "t-1 ", "t\x00-1", "t-1\r\n"])
def test_a_secret_with_a_newline_or_a_space_at_an_end_is_refused_by_name(bad: str) -> None:
    """A token read from a file keeps its newline: aiohttp would refuse the header on every
    call (a 500), and a key would match no caller. Refused at the start, never shown."""
    found = problems(GOOD, {"CRM_TOKEN": bad})
    assert found == [
        "connections[0].auth.token holds a space or a newline at its start or end, or a "
        "control character: remove it (the value is not shown)"
    ]
    from_env = GOOD.replace('token: "${CRM_TOKEN}"', "token_env: CRM_TOKEN")
    assert problems(from_env, {"CRM_TOKEN": bad}) == [
        "connections[0].auth.token_env: environment variable CRM_TOKEN holds a space or a "
        "newline at its start or end, or a control character: remove it (the value is not shown)"
    ]
    key = GOOD.replace('key_sha256: "%s"' % ("a" * 64), "key_env: SYNC_KEY")
    assert problems(key, {"CRM_TOKEN": "crm-token-1", "SYNC_KEY": bad.replace("t", "sk_t", 1)}) == [
        "clients[0].key_env: environment variable SYNC_KEY holds a space or a newline at its "
        "start or end, or a control character: remove it (the value is not shown)"
    ]


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        (
            "postgresql://app:hunter2-pw@db:notaport/x",
            "store.url: store URL 'postgresql://app:***@db:notaport/x' cannot be parsed: give "
            "postgresql://user:password@host:port/database, its port a number, and any '/', "
            "'?', '#' or '@' in the password percent-encoded (%2F, %3F, %23, %40)",
        ),
        (
            "postgresql://db/x?schema=bad-name!",
            "store.url: store URL 'postgresql://db/x?schema=bad-name!': schema 'bad-name!' must "
            "be letters, digits and underscores, not starting with a digit, at most 63 characters",
        ),
        (  # misspelt: it went to PostgreSQL as a setting, and serve stopped at start
            "postgresql://gw@db/x?poolmax=5",
            "store.url: store URL 'postgresql://gw@db/x?poolmax=5': 'poolmax' is not a "
            "parameter the gateway reads; 'pool_max' is (any other parameter goes to "
            "PostgreSQL as a setting)",
        ),
        (  # the driver refused it only when serve connected
            "postgresql://gw@db/x?sslmode=bogus",
            "store.url: store URL 'postgresql://gw@db/x?sslmode=bogus': sslmode 'bogus' must be "
            "one of disable, allow, prefer, require, verify-ca, verify-full",
        ),
        (  # asyncpg takes a password as a query parameter too
            "postgresql://gw@db/x?password=hunter2-pw&pool_max=x",
            "store.url: store URL 'postgresql://gw@db/x?password=***&pool_max=x': pool_max 'x' "
            "must be a number from 1 to 1000",
        ),
        (
            "sqlite:///{tmp}",
            "store.url: SQLite store {tmp}: is a directory; name the store's file in it "
            "(sqlite:///var/lib/invoice-gateway/store.db, say)",
        ),
        (  # it opens, and keeps no key past a restart, nor across workers
            "sqlite:///:memory:",
            "store.url: a store in memory forgets every Idempotency-Key when the gateway stops, "
            "and each worker would hold its own: a retried write could be made twice; name a "
            "file (sqlite:///./invoice-gateway.db)",
        ),
    ],
)
def test_a_store_url_serve_could_not_open_is_refused_by_check_config(
    tmp_path: Path, url: str, problem: str
) -> None:
    url, problem = url.replace("{tmp}", str(tmp_path)), problem.replace("{tmp}", str(tmp_path))
    (tmp_path / "config.yaml").write_text(GOOD + f'store: {{url: "{url}"}}\n', encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_settings(tmp_path / "config.yaml", {"CRM_TOKEN": "crm-token"})
    assert info.value.problems == [problem]
    assert "hunter2" not in str(info.value)


@pytest.mark.parametrize(
    "token", ["${NOPE", "${CRM-TOKEN}", "${ CRM_TOKEN }", "${CRM_TOKEN:x}", "$CRM_TOKEN", "${}"]
)
def test_a_reference_that_is_not_one_is_refused_not_sent_as_the_credential(token: str) -> None:
    text = GOOD.replace('"${CRM_TOKEN}"', f"'{token}'")
    found = problems(text, {"CRM_TOKEN": "crm-token-1"})
    assert found == [
        "connections[0].auth.token: holds a reference that is not ${NAME} or ${NAME:-default} "
        "(NAME of letters, digits and _; the value is not shown)"
    ]
    assert not any(token in p for p in found)


def test_a_key_given_twice_in_a_mapping_is_refused_saying_where() -> None:
    text = GOOD + "server: {host: 0.0.0.0}\n"
    assert problems(text, {"CRM_TOKEN": "crm-token-1"}) == [
        "line 15, column 1: not valid YAML ('server' is given twice in one mapping (first on "
        "line 2): keep one)"
    ]


def test_an_alias_that_holds_itself_is_one_problem_not_a_traceback() -> None:
    """In the configuration and in a migration's map alike (one YAML reader), saying where."""
    said = (
        "line 1, column 9: not valid YAML (an alias (*name) refers to the value that holds "
        "it: it never ends)"
    )
    assert problems("server: &a [*a]\n") == [said]
    with pytest.raises(MapError) as info:
        parse_map("customers: &a {x: [*a]}\n", "map.yaml")
    assert info.value.problems == [said.replace("column 9", "column 12")]


def test_values_nested_too_deeply_are_one_problem_not_a_traceback() -> None:
    deep = "a: " + "[" * 3000 + "]" * 3000 + "\n"
    said = "not valid YAML (values nested more deeply than can be read (a few hundred levels))"
    assert problems(deep) == [said]
    with pytest.raises(MapError) as info:
        parse_map(deep, "map.yaml")
    assert info.value.problems == [said]


def test_two_clients_with_one_key_are_refused_naming_both() -> None:
    twice = GOOD.replace(
        "clients:\n",
        'clients:\n  - name: other\n    key_sha256: "%s"\n    connections: ["*"]\n'
        "    scopes: [admin]\n" % ("a" * 64),
    )
    assert problems(twice, {"CRM_TOKEN": "crm-token-1"}) == [
        "clients[1]: the same API key as clients[0] ('other'); give each client its own key"
    ]


@pytest.mark.parametrize(
    ("header", "said"),
    [
        ("X-API-Key\\r\\nX-Evil: 1", "is not a header name"),
        ("X Bad:", "is not a header name"),
        ("Host", "Host cannot carry the credential (the HTTP client sets it)"),
        ("content-length", "content-length cannot carry the credential"),
        # The gateway's own headers on every call: the credential would be overwritten, or
        # taken for the write's key.
        ("X-Request-ID", "X-Request-ID cannot carry the credential (the gateway sends its own:"),
        ("idempotency-key", "idempotency-key cannot carry the credential (the gateway sends"),
    ],
)
def test_a_credential_header_that_cannot_be_sent_is_refused(header: str, said: str) -> None:
    text = GOOD.replace(
        'auth: {type: bearer, token: "${CRM_TOKEN}"}',
        f'auth: {{type: api_key, header: "{header}", token: "${{CRM_TOKEN}}"}}',
    )
    [found] = problems(text, {"CRM_TOKEN": "crm-token-1"})
    assert found.startswith("connections[0].auth.header: ") and said in found


def test_a_header_given_to_a_bearer_credential_is_refused_not_ignored() -> None:
    """A bearer token is sent as ``Authorization: Bearer``: a ``header`` beside it was
    silently never used (check-config passed), so a provider wanting the token in a header
    of its own got it elsewhere. The sandbox's written configuration gave every connection one."""
    text = GOOD.replace(
        'auth: {type: bearer, token: "${CRM_TOKEN}"}',
        'auth: {type: bearer, header: X-Api-Token, token: "${CRM_TOKEN}"}',
    )
    [found] = problems(text, {"CRM_TOKEN": "crm-token-1"})
    assert found.startswith("connections[0].auth.header: is for type api_key; a bearer token")
    assert "set type: api_key" in found


@pytest.mark.parametrize("url", ["https://crm.example.com/?token=x", "https://crm.example.com/#a"])
def test_a_base_url_with_a_query_or_a_fragment_is_refused_without_showing_it(url: str) -> None:
    text = GOOD.replace("https://crm.example.com", url)
    assert problems(text, {"CRM_TOKEN": "crm-token-1"}) == [
        "connections[0].base_url: must not have a query (?…) or a fragment (#…): each "
        "request's path is added to it (the URL is not shown)"
    ]


def test_yaml_merge_keys_are_taken_and_a_mappings_own_keys_override_them() -> None:
    """``<<: *anchor`` brings an anchored mapping's keys in, the mapping's own override them:
    a key given twice is refused only where the author wrote it twice."""
    text = (
        GOOD.replace(
            "connections:\n  - name: crm\n",
            "connections:\n  - &crm\n    name: crm\n",
        )
        + "  - <<: *crm\n    name: crm2\n    base_url: https://crm2.example.com\n"
    )
    settings = parse_settings(text, "config.yaml", {"CRM_TOKEN": "crm-token-1"})
    assert [(c.name, c.base_url) for c in settings.connections] == [
        ("crm", "https://crm.example.com"),
        ("crm2", "https://crm2.example.com"),
    ]
    assert settings.connections[1].provider == "crm_v1"


def test_aliases_that_blow_a_document_up_are_refused_at_once_saying_so() -> None:
    """Nine lists of nine, each made of the one before: 28 nodes written that stand for 490
    million values, which the schema's walk would never finish. The configuration and the
    map (one YAML reader) refuse it before anything walks it."""
    lines = ["a: &a [" + ", ".join(["x"] * 9) + "]"]
    for name, before in zip("bcdefghi", "abcdefgh", strict=True):
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{before}"] * 9) + "]")
    bomb = "\n".join(lines) + "\n"
    said = (
        "line 1, column 1: not valid YAML (its aliases (*name) make 28 values written stand "
        "for 490,329,064, more than the 100,000 taken: write the values out instead)"
    )
    assert problems(bomb) == [said]
    with pytest.raises(MapError) as info:
        parse_map(bomb, "map.yaml")
    assert info.value.problems == [said]


def test_aliases_used_as_written_are_taken() -> None:
    """A document read no larger than ten times what it writes is taken, however it reuses."""
    taxes = ", ".join(f'{{id: "{n}", name: "VAT {n}%", rate: "{n}"}}' for n in range(1, 30))
    text = GOOD.replace(
        '    taxes: [{id: "5", name: "VAT 5%%", rate: "5"}]'.replace("%%", "%"),
        f"    taxes: &taxes [{taxes}]",
    )
    text += "  - name: crm2\n    provider: crm_v1\n    base_url: https://crm2.example.com\n"
    text += '    auth: {type: bearer, token: "${CRM_TOKEN}"}\n    taxes: *taxes\n'
    text += "    currencies: {USD: 1}\n"
    settings = parse_settings(text, "config.yaml", {"CRM_TOKEN": "crm-token-1"})
    assert [len(c.taxes) for c in settings.connections] == [29, 29]


@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("http://127.0.0.1:99999", "is not a URL the gateway can call: Port out of range 0-65535"),
        ("http://:80/x", "is not a URL the gateway can call: Invalid URL: host is required"),
        ("http://[::1/x", "is not a URL the gateway can call: Invalid IPv6 URL"),
        ("http://crm.example.com:0/", "port 0 is no port to call: give 1 to 65535, or none"),
    ],
)
def test_a_base_url_the_gateway_could_not_call_is_refused_without_showing_it(
    url: str, said: str
) -> None:
    """``serve`` would say it listens, then fail building the connection's client with a
    traceback: check-config (and so ``serve``, before it listens) refuses it by name."""
    [problem] = problems(GOOD.replace("https://crm.example.com", url), {"CRM_TOKEN": "crm-token"})
    assert problem.startswith(f"connections[0].base_url: {said}")
    assert problem.endswith("(the URL is not shown)") and url not in problem


@pytest.mark.parametrize(("references", "taken"), [(998, True), (999, False)])
def test_the_limit_on_what_aliases_stand_for_is_100000_values(references: int, taken: bool) -> None:
    """A list of 99 values referred to ``references`` times: 104 nodes written, standing for
    104 + 100 × references values (each reference the list and its 99)."""
    text = "x: &x [" + ", ".join(["1"] * 99) + "]\ny: [" + ", ".join(["*x"] * references) + "]\n"
    if taken:
        assert len(load_yaml(text)["y"]) == references
    else:
        with pytest.raises(yaml.YAMLError, match="104 values written stand for 100,004, more"):
            load_yaml(text)


def test_a_boolean_or_null_is_named_as_the_file_spells_it() -> None:
    text = GOOD.replace(
        "    currencies: {USD: 1}\n", "    currencies: {USD: 1}\n    max_connections: true\n"
    )
    text = text.replace("auth: {type: bearer,", "timeout_s: null\n    auth: {type: bearer,")
    found = problems(text, {"CRM_TOKEN": "crm-token-1"})
    assert "connections[0].max_connections: true is not of type 'integer'" in found
    assert any(p.startswith("connections[0].timeout_s: null is not of type") for p in found), found


def test_a_reference_where_a_number_belongs_says_it_gives_text() -> None:
    text = GOOD.replace(
        "    currencies: {USD: 1}\n", "    currencies: {USD: 1}\n    max_connections: ${MC:-5}\n"
    )
    found = problems(text, {"CRM_TOKEN": "crm-token-1"})
    assert found == [
        "connections[0].max_connections: the value of the reference (not shown) is not of type "
        "'integer' (a ${NAME} reference gives text, never a number or a boolean: write the value "
        "here)"
    ]


@pytest.mark.parametrize(
    ("text", "said"),
    [
        (
            "server: {cursor_secret: TopSecretCursorKeyValue_1234567890ab, cursor_secret_env: X}",
            "server: give cursor_secret or cursor_secret_env, not both",
        ),
        (
            "connections:\n  crm: {provider: crm_v1, auth: {type: bearer, token: TopSecretTok1}}",
            "connections: must be a list, not a mapping (the value is not shown)",
        ),
        (
            "clients: [TopSecretApiKey_1234]",
            "clients[0]: must be a mapping, not text (the value is not shown)",
        ),
        (
            "connections:\n  - {name: c, provider: crm_v1, auth: {type: bearer, token: abcdefghij},\n"
            "     base_url: 'ftp://h/?api_key=TopSecretInQuery'}",
            "connections[0].base_url: must be an http:// or https:// URL with a host (the value is "
            "not shown)",
        ),
        (
            "connections:\n  - {name: c, provider: crm_v1, base_url: 'https://h', auth: '${TOKEN}'}",
            "connections[0].auth: must be a mapping, not text (the value is not shown)",
        ),
        (
            "server: 8080",
            "server: must be a mapping of settings written under it, not a number (the value "
            "is not shown)",
        ),
        (
            "connections:\n  - {name: c, provider: crm_v1, base_url: 'https://h', auth: 1234567890}",
            "connections[0].auth: must be a mapping of settings written under it, not a number "
            "(the value is not shown)",
        ),
        (
            "store: true",
            "store: must be a mapping of settings written under it, not true or false (the value "
            "is not shown)",
        ),
    ],
    ids=[
        "both-secrets",
        "section-as-mapping",
        "key-as-client",
        "url-query",
        "auth-from-variable",
        "port-as-section",
        "digits-as-auth",
        "boolean-as-section",
    ],
)
def test_a_value_in_the_wrong_shape_is_said_without_showing_it(text: str, said: str) -> None:
    """What was written in the wrong place may be a secret: a section, a client or an auth
    written as a bare value, a URL, what a variable gave. Said by its kind, never shown."""
    found = problems(text, {"TOKEN": "TopSecretFromTheEnvironment"})
    assert said in found, found
    assert "TopSecret" not in "\n".join(found)


def test_a_number_too_long_to_read_is_a_located_problem_not_a_traceback() -> None:
    assert problems("server: {port: " + "9" * 5000 + "}") == [
        "line 1, column 16: not valid YAML (a number too long to read (over 4,300 digits))"
    ]


@pytest.mark.parametrize(
    "setting",
    [
        "retries: {backoff_base_s: .inf}",
        "retries: {backoff_max_s: .inf}",
        "rate_limit: {per_second: .inf}",
    ],
)
def test_an_endless_wait_or_rate_is_refused(setting: str) -> None:
    """An infinite backoff would hold a request for ever whatever timeout_s says: ``.inf`` is
    no number a setting is written as, refused where it is written; a huge one by the schema."""
    refused = ((".inf", ".inf is not a decimal number"), ("1e400", "1e400 is too large a number"))
    for written, said in refused:
        text = GOOD.replace(
            "    currencies: {USD: 1}\n",
            f"    currencies: {{USD: 1}}\n    {setting.replace('.inf', written)}\n",
        )
        found = problems(text, {"CRM_TOKEN": "crm-token-1"})
        assert len(found) == 1 and said in found[0], found


def test_a_file_far_larger_than_a_configuration_is_refused_before_it_is_read(
    tmp_path: Path,
) -> None:
    """Read as YAML, 5 MB of keys held the process for 18 s and 500 MB: refused by its size."""
    path = tmp_path / "config.yaml"
    path.write_text("server: {port: 9000}\n" + "# padding\n" * 120_000, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_settings(path, {})
    assert info.value.problems == [
        "is larger than 1,048,576 bytes, more than a file of this kind holds (is it the right file?)"
    ]


@pytest.mark.parametrize(
    ("written", "read_as"),
    [("010", "8"), ("0x10", "16"), ("1:30", "90"), ("1_000", "1000")],
)
def test_a_number_yaml_would_read_in_another_base_is_refused_where_it_is(
    written: str, read_as: str
) -> None:
    """YAML 1.1 reads ``EUR: 010`` as currency id 8, and check-config said OK."""
    text = GOOD.replace("currencies: {USD: 1}", f"currencies: {{USD: 1, EUR: {written}}}")
    [problem] = problems(text, {"CRM_TOKEN": "crm-token-1"})
    assert problem.startswith("line 14, column ")
    assert f"{written} is not a decimal number: YAML would read it as {read_as}" in problem
    assert f'quote it ("{written}") if it is text' in problem  # the value written, quoted


@pytest.mark.parametrize(
    ("key", "pasted"),
    [
        ("token_env", "00042424242"),  # octal to YAML 1.1
        ("token", "0x1F2E3D4C5B"),  # hexadecimal
        ("token", "12:34:56"),  # base 60
        ("token_env", "1_234.5678"),  # a float with _
        ("token", "8675309123456789e+999"),  # a float too large to hold
    ],
)
def test_a_secret_in_a_number_form_yaml_refuses_is_not_shown(key: str, pasted: str) -> None:
    """A numeric key pasted in token or token_env, in a form YAML 1.1 reads in another base,
    was refused before the schema's checks, its value and its reading printed in full."""
    text = GOOD.replace('token: "${CRM_TOKEN}"', f"{key}: {pasted}")
    [problem] = problems(text, {"CRM_TOKEN": "crm-token-1"})
    assert problem.startswith("line 12, column ")  # the auth line
    assert "this value (not shown: it may be a secret) is " in problem
    assert pasted not in problem
    digits = [part for part in pasted.replace(":", " ").replace("_", " ").split() if part]
    assert not any(part in problem for part in digits if len(part) > 3)


@pytest.mark.parametrize(
    "tagged",
    [
        "!!float sk_live_Hunter2Tail",
        "!!bool sk_live_Hunter2Tail",
        "!!int sk_live_Hunter2Tail",
        '!!int ""',
        "!!timestamp 2020-99-99",
        "!!set sk_live_Hunter2Tail",
        "!!map sk_live_Hunter2Tail",
        "[!!float sk_live_Hunter2Tail]",
    ],
)
def test_a_value_with_a_tag_it_cannot_be_read_as_is_a_problem_not_a_traceback(
    tagged: str,
) -> None:
    """An explicit tag asking for what the text is not (``token: !!float sk_live_…``) ended
    check-config and serve in a traceback (exit 1) that quoted the value: a token among them."""
    text = GOOD.replace('token: "${CRM_TOKEN}"', f"token: {tagged}")
    [problem] = problems(text, {"CRM_TOKEN": "crm-token-1"})
    assert problem.startswith("line 12, column ") and "not valid YAML" in problem, problem
    assert "Hunter2" not in problem and "2020-99-99" not in problem, problem


@pytest.mark.parametrize(
    ("key", "written"),
    [
        ("token", "!Hunter2Tail9pQ2vLr7"),  # read as a tag
        ("token", "*Hunter2Tail9pQ2vLr7"),  # read as an alias
        ("token_env", "!Hunter2Tail9pQ2vLr7"),
        ("token", "!!Hunter2Tail9pQ2vLr7"),
        ("token", "!x!Hunter2Tail9pQ2vLr7"),  # a tag handle never declared
        ("token", "!Summer'24_Hunter2Tail"),  # quoted by the reader in double quotes
        ("token", "!<sk'live_Hunter2Tail'x>"),  # a verbatim tag
    ],
)
def test_a_secret_the_yaml_reader_takes_for_a_tag_or_an_alias_is_not_shown(
    key: str, written: str
) -> None:
    """A secret written unquoted that starts with ``!`` or ``*`` is not a value to the reader:
    its message ("could not determine a constructor for the tag '!…'", "found undefined alias
    '…'") quoted it, and check-config and serve printed it. Nothing the message quotes of the
    file is shown, wherever the secret is written (a quoted key, the value on the next line,
    a flow mapping over several lines: which value an error is in cannot be told from a file
    the reader could not read); the line and column remain, and how to write it."""
    for auth in (
        f"auth:\n      type: bearer\n      {key}: {written}",
        f"auth: {{{key}: {written}, type: bearer}}",
        f'auth: {{"type": bearer, "{key}": {written}}}',  # a quoted key
        f"auth:\n      type: bearer\n      {key}:\n        {written}",  # on the next line
        f"auth: {{type: bearer,\n      {key}:\n        {written}}}",  # a flow over lines
        f"auth:\n      ? {key}\n      : {written}",  # a complex key
    ):
        text = GOOD.replace('auth: {type: bearer, token: "${CRM_TOKEN}"}', auth)
        [problem] = problems(text, {"CRM_TOKEN": "crm-token-1"})
        assert problem.startswith("line 1") and "not valid YAML" in problem, problem
        assert "Hunter2" not in problem, problem


def test_the_yaml_readers_own_words_and_single_characters_are_still_shown() -> None:
    [tagged] = problems(GOOD.replace("provider: crm_v1", "provider: !crm_v1"))
    assert tagged.startswith("line 10, column 15: not valid YAML (could not determine a ")
    assert "'!crm_v1'" not in tagged and "is written in quotes" in tagged, tagged
    [odd] = problems(GOOD.replace("provider: crm_v1", "provider: @crm_v1"))
    assert "found character '@' that cannot start any token" in odd, odd


@pytest.mark.parametrize("written", ["[0x7F3A9C11]", "{value: 0x7F3A9C11}", "[-73519e400]"])
def test_a_number_form_within_a_list_or_mapping_under_a_secret_key_is_not_shown(
    written: str,
) -> None:
    text = GOOD.replace('token: "${CRM_TOKEN}"', f"token: {written}")
    [problem] = problems(text, {"CRM_TOKEN": "crm-token-1"})
    assert "this value (not shown: it may be a secret)" in problem, problem
    assert "7F3A9C11" not in problem and "73519" not in problem


def test_numbers_written_in_decimal_and_quoted_text_are_taken() -> None:
    assert load_yaml('a: 10\nb: -0\nc: 1.5\nd: "010"\ne: 1e3\nf: 2.5e-1') == {
        "a": 10,
        "b": 0,
        "c": 1.5,
        "d": "010",
        "e": 1000.0,
        "f": 0.25,
    }


@pytest.mark.parametrize("field", ["token_env", "type", "reference"])
def test_a_secret_written_where_a_name_belongs_is_not_shown(field: str) -> None:
    """A token pasted in token_env ("environment variable sk_live_… is not set") or in
    auth.type was printed by check-config and by serve, into the journal."""
    pasted = "sk_live_9f8e7d6c5b4a3921aa"
    auth = {
        "token_env": f"auth: {{type: bearer, token_env: {pasted}}}",
        "type": f"auth: {{type: {pasted}, token: crm-token-1}}",
        # Inside ``${…}``, where a variable's name belongs: shown back as a name was.
        "reference": f'auth: {{type: bearer, token: "${{{pasted}}}"}}',
    }[field]
    text = GOOD.replace('auth: {type: bearer, token: "${CRM_TOKEN}"}', auth)
    found = problems(text, {})
    assert found and pasted not in "\n".join(found)
    hidden = (
        "the environment variable it names (the name is not shown: it is not written as "
        "variables are, like PROVIDER_TOKEN; is it the secret itself?) is not set"
    )
    said = {
        "token_env": f"connections[0].auth.token_env: {hidden}",
        "type": "connections[0].auth.type: must be one of ",
        "reference": f"connections[0].auth.token: {hidden}",
    }[field]
    assert any(p.startswith(said) for p in found), found


@pytest.mark.parametrize(
    ("where", "written"),
    [
        ("connections[0].auth.token_env", "auth: {type: bearer, token_env: 98765432109876543}"),
        ("clients[0].key_env", "key_env: 1234567890123456789"),
        ("server.cursor_secret_env", "cursor_secret_env: 55555555555555555555"),
        ("connections[0].auth.token_env", "auth: {type: bearer, token_env: 0.98765432109}"),
    ],
)
def test_a_secret_of_digits_written_where_a_name_belongs_is_not_shown(
    where: str, written: str
) -> None:
    """An all-digit key pasted in a ``*_env`` key reads as a number, and check-config and
    serve printed it in full ("98765432109876543 is not of type 'string'")."""
    text = GOOD.replace(
        "server: {port: 9000}", "server: {port: 9000, cursor_secret: %s}" % ("c" * 40)
    )
    if where.startswith("connections"):
        text = text.replace('auth: {type: bearer, token: "${CRM_TOKEN}"}', written)
    elif where.startswith("clients"):
        text = text.replace('key_sha256: "%s"' % ("a" * 64), written)
    else:
        text = text.replace("cursor_secret: " + "c" * 40, written)
    found = problems(text, {"CRM_TOKEN": "crm-token-1"})
    secret = written.split(": ")[-1].rstrip("}")
    assert found and secret not in "\n".join(found)
    [problem] = [p for p in found if p.startswith(where + ":")]
    assert "must be an environment variable's name, as text, not " in problem
    assert "(the value is not shown: is it the secret itself?" in problem


def test_every_variable_not_set_is_said_at_once() -> None:
    """They were said in stages: the ${NAME} ones, then, once those were set, the *_env ones."""
    text = GOOD.replace("server: {port: 9000}", "server: {cursor_secret_env: CURSOR_SECRET}")
    text = text.replace('key_sha256: "%s"' % ("a" * 64), "key_env: SYNC_KEY")
    assert problems(text, {}) == [
        "connections[0].auth.token: environment variable CRM_TOKEN is not set",
        "clients[0].key_env: environment variable SYNC_KEY is not set",
        "server.cursor_secret_env: environment variable CURSOR_SECRET is not set",
    ]


@pytest.mark.parametrize(
    ("drop", "said"),
    [
        ("    base_url: https://crm.example.com\n", "connections[0].base_url: is required"),
        ("    provider: crm_v1\n", "connections[0].provider: is required"),
        ("    scopes: [invoices:read]\n", "clients[0].scopes: is required"),
    ],
)
def test_a_missing_key_is_named_where_it_belongs(drop: str, said: str) -> None:
    """It was "connections[0]: is not valid here (required): a mapping, not shown"."""
    assert said in problems(GOOD.replace(drop, ""), {"CRM_TOKEN": "crm-token-1"})


def test_a_missing_top_level_key_is_named_at_its_own_path() -> None:
    """It was "(top level).connections: is required"."""
    assert problems("server: {port: 8080}\n", {}) == ["connections: is required"]


def test_a_list_too_short_or_with_an_item_twice_is_said_so() -> None:
    empty = GOOD.replace("scopes: [invoices:read]", "scopes: []")
    assert "clients[0].scopes: must hold at least 1 item, not 0" in problems(
        empty, {"CRM_TOKEN": "crm-token-1"}
    )
    twice = GOOD.replace("scopes: [invoices:read]", "scopes: [invoices:read, invoices:read]")
    assert (
        "clients[0].scopes: holds the same item twice: give each once (the items are not shown)"
        in problems(twice, {"CRM_TOKEN": "crm-token-1"})
    )


@pytest.mark.parametrize("host", ["crm\\x00.example.com", "crm\\x01.example.com", "crm\\x7f.x"])
def test_a_base_url_with_a_control_character_or_a_space_is_refused(host: str) -> None:
    """A NUL in the host passed check-config, and every request was then a 500."""
    text = GOOD.replace("base_url: https://crm.example.com", f'base_url: "https://{host}"')
    [problem] = problems(text, {"CRM_TOKEN": "crm-token-1"})
    assert problem == (
        "connections[0].base_url: holds a space or a control character, which no URL does "
        "(percent-encode it in a path; the URL is not shown)"
    )


def test_a_configuration_that_says_no_size_is_read_only_to_the_limit(tmp_path: Path) -> None:
    """``--config /dev/zero`` read until memory ran out; a pipe passed the size check."""
    with pytest.raises(ConfigError) as info:
        load_settings(Path("/dev/zero"), {})
    assert info.value.problems == [
        "is larger than 1,048,576 bytes, more than a file of this kind holds (is it the right file?)"
    ]


def test_a_first_backoff_longer_than_the_longest_is_refused() -> None:
    text = GOOD.replace(
        "    currencies: {USD: 1}\n",
        "    currencies: {USD: 1}\n    retries: {backoff_base_s: 10, backoff_max_s: 2}\n",
    )
    assert problems(text, {"CRM_TOKEN": "crm-token-1"}) == [
        "connections[0].retries.backoff_base_s: 10 is more than backoff_max_s 2: the first wait "
        "would be longer than the longest one"
    ]


@pytest.mark.parametrize("rate", ["1e-300", "0.0001"])
def test_a_rate_limit_so_slow_it_would_hold_calls_for_ever_is_refused(rate: str) -> None:
    """``per_second: 1e-300`` held every call to the provider for ever (and a stopping gateway
    with it): a connection's own limit is at least one call in 1,000 s."""
    text = GOOD.replace(
        "    currencies: {USD: 1}\n",
        f"    currencies: {{USD: 1}}\n    rate_limit: {{per_second: {rate}}}\n",
    )
    [found] = problems(text, {"CRM_TOKEN": "crm-token-1"})
    assert found.startswith("connections[0].rate_limit.per_second: "), found
    assert "0.001" in found, found


@pytest.mark.parametrize("value", ["a", "sk_live_1234567"])
def test_an_api_key_short_enough_to_guess_is_refused_without_showing_it(value: str) -> None:
    text = GOOD.replace('key_sha256: "%s"' % ("a" * 64), "key_env: SYNC_KEY")
    [found] = problems(text, {"CRM_TOKEN": "crm-token-1", "SYNC_KEY": value})
    assert found.startswith("clients[0].key_env: environment variable SYNC_KEY: "), found
    assert f"{len(value)} character" in found and "at least 16" in found
    assert len(value) == 1 or value not in found
    settings = parse_settings(
        text, "config.yaml", {"CRM_TOKEN": "crm-token-1", "SYNC_KEY": "k" * 16}
    )
    assert settings.clients[0].key_env == "SYNC_KEY"


@pytest.mark.parametrize("host", ["not a host!", "-bad.example", "a..b"])
def test_a_server_host_no_socket_could_listen_on_is_refused(host: str) -> None:
    """check-config said OK, then serve stopped at once."""
    text = GOOD.replace("server: {port: 9000}", f"server: {{port: 9000, host: {host!r}}}")
    assert text != GOOD
    [found] = problems(text, {"CRM_TOKEN": "crm-token-1"})
    assert found.startswith(f"server.host: {host!r} is not an address or a host name"), found


@pytest.mark.parametrize("host", ["0.0.0.0", "::1", "[::1]", "localhost", "gw.internal.example"])
def test_a_server_host_that_is_an_address_or_a_name_is_taken(host: str) -> None:
    """An IPv6 address in a URL's brackets is the address: ``serve`` could not listen on
    ``[::1]`` as written."""
    text = GOOD.replace("server: {port: 9000}", f"server: {{port: 9000, host: {host!r}}}")
    taken = parse_settings(text, "config.yaml", {"CRM_TOKEN": "crm-token-1"}).server.host
    assert taken == host.removeprefix("[").removesuffix("]")


KEY = "a" * 64  # GOOD's client key
SANDBOX_KEY_SHA256 = hashlib.sha256(b"sk_sandbox").hexdigest()
_PUBLISHED = (
    "the sandbox's published key (sk_sandbox) on a client that reaches connection 'crm', which "
    "is not on this machine; give the client a key of its own"
)


@pytest.mark.parametrize(
    "url",
    [
        "https://crm.example.com",
        "http://10.0.0.7:8081",
        "http://[2001:db8::1]/api",
        "http://127.example.com",
        "http://localhost.example.com",
    ],
)
def test_the_shipped_config_pointed_at_a_real_provider_refuses_the_published_sandbox_key(
    url: str,
) -> None:
    """config.yaml keeps sk_sandbox (every scope, admin included) so that it works against
    the emulators as it stands; pointed at a real provider with its client's key left as it
    is, anyone who has read the README could read and write that provider's invoices."""
    environ = {"CRM_URL": url, "CRM_TOKEN": "crm-token"}
    with pytest.raises(ConfigError) as info:
        load_settings(REPO / "config.yaml", environ)
    assert len(info.value.problems) == 1
    assert info.value.problems[0].startswith(f"clients[0].key_sha256: {_PUBLISHED}")


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8081",
        "http://localhost:8081",
        "http://[::1]:8081",
        "http://127.9.9.9",
        # Forms an HTTP client connects to the loopback interface with: refused at first.
        "http://127.1:8081",
        "http://0x7f.0.0.1:8081",
        "http://2130706433:8081",
        "http://127.0.0.1.:8081",
        "http://[::ffff:127.0.0.1]:8081",
        "http://LOCALHOST.:8081",
        "http://crm.localhost:8081",
        "http://0.0.0.0:8081",
    ],
)
def test_the_sandbox_key_is_taken_for_providers_on_this_machine(url: str) -> None:
    settings = load_settings(REPO / "config.yaml", {"CRM_URL": url})
    assert settings.clients[0].key_sha256 == SANDBOX_KEY_SHA256


def test_the_published_key_is_refused_from_a_variable_and_only_where_its_client_reaches() -> None:
    """By ``key_env`` as by ``key_sha256``; a client limited to the connections on this
    machine keeps it (an emulator beside a real provider)."""
    remote_and_local = GOOD.replace(
        "connections:\n",
        "connections:\n  - {name: local, provider: crm_v1, base_url: 'http://127.0.0.1:8081',"
        " auth: {type: bearer, token: sandbox-crm_v1}, currencies: {USD: 1}}\n",
    )
    from_env = remote_and_local.replace(f'key_sha256: "{KEY}"', "key_env: SYNC_KEY")
    environ = {"CRM_TOKEN": "crm-token-1", "SYNC_KEY": "sk_sandbox"}
    assert problems(from_env, environ) == [
        "clients[0].key_env: environment variable SYNC_KEY: 10 characters long; an API key "
        "needs at least 16, or it could be guessed: make one with python3 -c 'import secrets; "
        "print(secrets.token_urlsafe(32))' (the value is not shown)",
        f"clients[0].key_env: {_PUBLISHED}: key_env naming a variable that holds one made with "
        "python3 -c 'import secrets; print(secrets.token_urlsafe(32))', or key_sha256 of it",
    ]
    only_local = remote_and_local.replace('connections: ["crm"]', 'connections: ["local"]')
    sandbox_key = only_local.replace(KEY, SANDBOX_KEY_SHA256)
    assert parse_settings(sandbox_key, "config.yaml", {"CRM_TOKEN": "crm-token-1"}).clients
    every = sandbox_key.replace('connections: ["local"]', 'connections: ["*"]')
    assert [p[:60] for p in problems(every, {"CRM_TOKEN": "crm-token-1"})] == [
        f"clients[0].key_sha256: {_PUBLISHED}"[:60]
    ]


def test_a_configuration_file_that_is_not_there_is_said_with_how_to_give_one(
    tmp_path: Path,
) -> None:
    """``export`` or ``migrate`` run with no --config in a folder without config.yaml said only
    that config.yaml could not be read, not how to name the file."""
    with pytest.raises(ConfigError) as info:
        load_settings(tmp_path / "config.yaml")
    [said] = info.value.problems
    assert said.startswith("cannot be read: No such file or directory (give the configuration")
    assert "--config FILE" in said and "--write-config FILE" in said
    folder = tmp_path / "a-folder.yaml"
    folder.mkdir()
    with pytest.raises(ConfigError) as info:
        load_settings(folder)
    assert "--config FILE" not in info.value.problems[0]  # it is there: another problem


@pytest.mark.parametrize(
    ("given", "where"),
    [
        ("token", "connections[0].auth.token"),
        ("token_env", "connections[0].auth.token_env: environment variable CRM_TOKEN"),
    ],
)
def test_the_sandboxs_token_for_a_provider_off_this_machine_is_refused(
    given: str, where: str
) -> None:
    """The shipped config.yaml falls back to ``sandbox-crm_v1`` when CRM_TOKEN is not set:
    with CRM_URL naming a real provider, check-config said OK and the sandbox's credential
    went to it."""
    text = GOOD
    if given == "token_env":
        text = GOOD.replace('token: "${CRM_TOKEN}"', "token_env: CRM_TOKEN")
    assert problems(text, {"CRM_TOKEN": "sandbox-crm_v1"}) == [
        f"{where}: is the sandbox's published token for crm_v1, and connection 'crm' is a "
        "provider off this machine (https): give it the provider's own token (the shipped "
        "config.yaml reads crm_v1's from CRM_TOKEN)"
    ]
    # An emulator: on this machine, or in a container or on a LAN address (plain http).
    for emulator in ("http://127.0.0.1:8081", "http://emulator:9001", "http://192.0.2.2:22021"):
        here = text.replace("https://crm.example.com", emulator)
        assert parse_settings(here, "config.yaml", {"CRM_TOKEN": "sandbox-crm_v1"}).connections


def test_the_cross_checks_are_said_beside_the_schemas_mistakes() -> None:
    """A base_url without its scheme (the schema's) hid the cross-checks: "1 problem(s)", and
    a name used twice, a client's unknown connection and bill_crm's missing currency only on
    the next run. Nothing is said twice of the place a mistake names."""
    text = (
        GOOD.replace('connections: ["crm"]', 'connections: ["crmm"]')
        + """
  - name: bill
    provider: bill_crm
    base_url: "127.0.0.1:9103"
    auth: {type: api_key, token: "bill-token-1"}
  - name: crm
    provider: crm_v1
    base_url: https://crm2.example.com
    auth: {type: bearer, token: "crm-token-2"}
    currencies: {USD: 1}
"""
    )
    assert problems(text, {"CRM_TOKEN": "crm-token-1"}) == [
        "connections[1].base_url: must be an http:// or https:// URL with a host (the value is "
        "not shown)",
        "connections[1].currency: is required for bill_crm: its invoices carry no currency, so "
        "none can be read without the account's (currency: USD, say)",
        "connections[2].name: 'crm' is used twice",
        "clients[0].connections[0]: no connection named 'crmm' (known: crm, bill)",
    ]


def test_a_mistake_the_cross_checks_cannot_read_past_leaves_the_schemas_word() -> None:
    text = GOOD.replace('taxes: [{id: "5", name: "VAT 5%", rate: "5"}]', "taxes: 7")
    assert "taxes: 7" in text
    assert problems(text, {"CRM_TOKEN": "crm-token-1"}) == [
        "connections[0].taxes: 7 is not of type 'array'"
    ]


def test_a_missing_key_is_said_once_however_many_are_missing() -> None:
    text = GOOD.replace('taxes: [{id: "5", name: "VAT 5%", rate: "5"}]', "taxes: [{name: x}]")
    assert problems(text, {"CRM_TOKEN": "crm-token-1"}) == [
        "connections[0].taxes[0].id: is required",
        "connections[0].taxes[0].rate: is required",
    ]


@pytest.mark.parametrize(
    ("written", "where"),
    [
        ('retries: {backoff_max_s: "${BACKOFF_MAX}"}', "connections[0].retries.backoff_max_s"),
        ("provider: ${PROVIDER}", "connections[0].provider"),
    ],
)
def test_a_value_left_to_an_unset_variable_is_said_not_a_traceback(
    written: str, where: str
) -> None:
    """The cross-checks read the empty value an unset variable leaves (a TypeError, a
    KeyError): check-config printed a traceback."""
    text = GOOD.replace("    provider: crm_v1\n", "    provider: crm_v1\n    " + written + "\n")
    if written.startswith("provider"):
        text = GOOD.replace("provider: crm_v1", written)
    variable = written.split("${", 1)[1].split("}", 1)[0]
    assert problems(text, {"CRM_TOKEN": "crm-token-1"}) == [
        f"{where}: environment variable {variable} is not set"
    ]


def test_a_map_key_not_allowed_is_named_at_its_own_line() -> None:
    """It was the line of the mapping it is in (line 2 for a typo on line 8)."""
    text = """# the map for the walkthrough
customers:
  "10": "1"
items:
  "12": "3"
due_days: 30

itmes:
  "9": "1"
"""
    with pytest.raises(MapError) as info:
        parse_map(text, "map.yaml")
    assert info.value.problems == [
        "line 8: (top level): Additional properties are not allowed ('itmes' was unexpected)"
    ]


@pytest.mark.parametrize(
    ("written", "said"),
    [
        ("server:\n  # host: 0.0.0.0\n", "server: is empty: must be a mapping"),
        ('server: "hunter2pass-oops"\n', "server: must be a mapping, not text"),
        ("server: [1, 2]\n", "server: must be a mapping, not a list"),
        ("server: 8080\n", "server: must be a mapping of settings written under it, not a num"),
    ],
)
def test_a_section_that_is_no_mapping_is_one_problem_and_its_value_stays_unshown(
    written: str, said: str
) -> None:
    """``server:`` left empty (its keys commented out) or given as text was told a second,
    false problem from the schema's inner rule against two cursor secrets, quoting the text
    the line before said was not shown."""
    text = GOOD.replace("server: {port: 9000}\n", written)
    assert text != GOOD
    [problem] = problems(text, {"CRM_TOKEN": "crm-token-1"})
    assert problem.startswith(said), problem
    assert "hunter2pass" not in problem
