"""The command line's number options hold the bounds the settings they feed hold."""

from __future__ import annotations

import annotated_types
import pytest

from gateway.cli import _parser
from gateway.config import ServerSettings


def _bounds(field: str) -> tuple[int, int]:
    low = high = None
    for rule in ServerSettings.model_fields[field].metadata:
        if isinstance(rule, annotated_types.Ge):
            low = rule.ge
        if isinstance(rule, annotated_types.Le):
            high = rule.le
    assert isinstance(low, int) and isinstance(high, int)
    return low, high


@pytest.mark.parametrize("option", ["port", "workers"])
def test_serves_number_options_take_what_the_server_settings_take(option: str) -> None:
    """``--workers`` is checked by the command line before the settings: its range repeated
    there must not drift from ``ServerSettings``' (a number one took and the other refused)."""
    low, high = _bounds(option)
    serve = _parser().parse_args
    for good in (low, high):
        assert getattr(serve(["serve", f"--{option}", str(good)]), option) == good
    for bad in (low - 1, high + 1):
        with pytest.raises(SystemExit):
            serve(["serve", f"--{option}", str(bad)])


def test_a_bad_number_says_its_range_and_what_was_given(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        _parser().parse_args(["serve", "--workers", "many"])
    assert "argument --workers: a number of processes from 1 to 64, not 'many'" in (
        capsys.readouterr().err
    )


@pytest.mark.parametrize(
    ("given", "said"),
    [
        # An option migrate does not take (export's), with its value: the option is named,
        # not its value as a bad step.
        (["--page-size", "10"], "unrecognized arguments: --page-size"),
        (["--document-type", "credit_note"], "unrecognized arguments: --document-type"),
        (
            ["verfy"],
            "argument step: invalid choice: 'verfy' (choose from 'run', 'verify', 'revert')",
        ),
    ],
)
def test_migrate_names_the_argument_it_does_not_take(
    capsys: pytest.CaptureFixture[str], given: list[str], said: str
) -> None:
    from gateway.cli import main

    with pytest.raises(SystemExit) as info:
        main(["migrate", "--config", "missing.yaml", "--from", "a", "--to", "b", *given])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert said in err
    assert "invalid choice: '10'" not in err and "invalid choice: 'credit_note'" not in err


@pytest.mark.parametrize(
    "given",
    [
        ["serve", "--bogus"],
        ["check-config", "--bogus"],
        ["emulate", "crm_v1", "--bogus"],
        ["export", "--connection", "crm_v1", "--bogus"],
        ["migrate", "--from", "a", "--to", "b", "--bogus"],
    ],
)
def test_an_unknown_option_is_said_with_its_commands_usage(
    capsys: pytest.CaptureFixture[str], given: list[str]
) -> None:
    """It was said with the top level's usage (``invoice-gateway [-h] COMMAND ...``), which
    does not show the options the command takes."""
    from gateway.cli import main

    with pytest.raises(SystemExit) as info:
        main(given)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert f"usage: invoice-gateway {given[0]} " in err
    assert f"invoice-gateway {given[0]}: error: unrecognized arguments: --bogus" in err


@pytest.mark.parametrize("token", ["", "  "])
def test_emulate_refuses_an_empty_token_rather_than_take_the_published_one(
    capsys: pytest.CaptureFixture[str], token: str
) -> None:
    """An unset variable (``--token "$TOKEN"``) fell back to ``sandbox-<provider>``, which the
    docs publish: an emulator anyone could call, started without a word."""
    with pytest.raises(SystemExit) as info:
        _parser().parse_args(["emulate", "crm_v1", "--token", token])
    assert info.value.code == 2
    assert "argument --token: is empty; give a credential" in capsys.readouterr().err
