from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from gateway.settings_file import ConfigError, load_settings, parse_settings

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
""" % ("a" * 64)


def problems(text: str, environ: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_settings(text, "config.yaml", environ or {})
    return info.value.problems


def test_a_good_file_becomes_typed_settings_with_variables_expanded() -> None:
    settings = parse_settings(GOOD, "config.yaml", {"CRM_TOKEN": "t-1"})
    assert settings.server.port == 9000
    assert settings.server.host == "127.0.0.1"
    crm = settings.connection("crm")
    assert crm is not None and crm.auth.secret() == "t-1"
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
        "connections[0]: unknown key(s) ('surprise' was unexpected)",
        "connections[0].auth: give exactly one of token or token_env",
        "connections[0].base_url: 'crm.example.com' does not match '^https?://[^\\\\s/]+(/\\\\S*)?$'",
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
"""
    )
    assert problems(text, {"CRM_TOKEN": "t"}) == [
        "connections[1].name: 'crm' is used twice",
        "connections[1].auth.token_env: environment variable BILL_TOKEN is not set",
        "clients[0].connections[1]: no connection named 'billing' (known: crm, crm)",
    ]


def test_a_float_rate_is_refused_so_rates_stay_exact() -> None:
    assert problems(GOOD.replace('rate: "5"', "rate: 5.5"), {"CRM_TOKEN": "t"}) == [
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
    real = load_settings(
        REPO / "config.yaml", {"CRM_URL": "https://crm.example.com", "CRM_TOKEN": "t"}
    )
    crm = real.connection("crm")
    assert crm is not None and (crm.base_url, crm.auth.secret()) == ("https://crm.example.com", "t")


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
    good.write_text(GOOD.replace("${CRM_TOKEN}", "literal"))
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
    settings = load_settings(folder / "config.yaml", {"CRM_TOKEN": "t"})
    assert settings.store.url == f"sqlite:///{folder.resolve()}/data/gateway.db"
    absolute = GOOD + f'store: {{url: "sqlite:///{tmp_path}/x.db"}}\n'
    (folder / "abs.yaml").write_text(absolute, encoding="utf-8")
    assert load_settings(folder / "abs.yaml", {"CRM_TOKEN": "t"}).store.url == (
        f"sqlite:///{tmp_path}/x.db"
    )


def test_cursor_secret_settings_are_checked_without_showing_the_secret() -> None:
    short = GOOD.replace("server: {port: 9000}", 'server: {cursor_secret: "hunter2-short"}')
    found = problems(short, {"CRM_TOKEN": "t"})
    assert found == [
        "server.cursor_secret: must be at least 32 characters (the value is not shown)"
    ]
    assert "hunter2" not in "".join(found)
    both = GOOD.replace(
        "server: {port: 9000}",
        'server: {cursor_secret: "%s", cursor_secret_env: SECRET}' % ("s" * 32),
    )
    assert problems(both, {"CRM_TOKEN": "t", "SECRET": "s" * 40})
    from_env = GOOD.replace("server: {port: 9000}", "server: {cursor_secret_env: CURSOR_SECRET}")
    assert problems(from_env, {"CRM_TOKEN": "t", "CURSOR_SECRET": "too-short"}) == [
        "server.cursor_secret_env: environment variable CURSOR_SECRET must hold at least 32 "
        "characters"
    ]
    environ = {"CRM_TOKEN": "t", "CURSOR_SECRET": "c" * 32}
    settings = parse_settings(from_env, "config.yaml", environ)
    assert settings.server.cursor_secret_env == "CURSOR_SECRET"
