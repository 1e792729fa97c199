"""``invoice-gateway export``, run as a real process over the running sandbox, compared with what
the gateway's own API answers (docs/operations.md, "Export")."""

from __future__ import annotations

import csv
import io
import json
import os
import pty
import re
import signal
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from emulators.registry import PROVIDERS
from gateway.export.formats import CSV_COLUMNS
from gateway.migration.options import ids_listed as read_ids
from gateway.sandbox.serve import Sandbox, config_yaml
from tests.e2e.exporting import (
    SCRIPT,
    Run,
    api,
    api_list,
    emulator_config,
    emulator_faults,
    run_export,
)
from tests.e2e.processes import wait_at_a_named_pipe
from tests.e2e.sandbox import sandbox_in_thread

DECIMAL = re.compile(r"-?[0-9]+(\.[0-9]+)?")
DOCS = Path(__file__).resolve().parents[2] / "docs" / "operations.md"
TOTALS = ("subtotal", "discount", "tax", "shipping", "adjustment", "total", "paid", "due")
LINE_AMOUNTS = ("subtotal", "discount_amount", "net_amount", "tax_amount", "total")


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with sandbox_in_thread(seed_invoices=56) as running:
        yield running


@pytest.fixture(scope="module")
def config(sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sandbox's configuration as ``serve --sandbox --write-config`` writes it."""
    path = tmp_path_factory.mktemp("export") / "sandbox.yaml"
    path.write_text(config_yaml(sandbox), encoding="utf-8")
    return path


def _no_float(text: str) -> Any:
    raise AssertionError(f"a JSON number with a fraction was written: {text}")


def _records(text: str) -> list[dict[str, Any]]:
    """JSON lines, refusing any number with a fraction (amounts must be decimal strings)."""
    return [json.loads(line, parse_float=_no_float) for line in text.splitlines()]


def _documented_columns() -> list[str]:
    """The CSV columns as docs/operations.md lists them, in order."""
    section = DOCS.read_text(encoding="utf-8").split("\n## Export\n", 1)[1].split("\n## ", 1)[0]
    table = section.split("| column | holds |\n|---|---|\n", 1)[1].split("\n\n", 1)[0]
    return [row.split("|")[1].strip().strip("`") for row in table.splitlines()]


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    assert isinstance(value, str), f"{value!r} is not a string in the API's answer"
    return value


def _expected_rows(invoice: dict[str, Any]) -> list[dict[str, str]]:
    """The CSV rows docs/operations.md describes for one invoice as the API answers it."""
    customer = invoice["customer"] or {}
    discount = invoice["discount"] or {}
    totals = invoice["totals"] or {}
    check = invoice["totals_check"] or {}
    head = {
        "connection": invoice["connection"],
        "provider": invoice["provider"],
        "id": invoice["id"],
        "number": _text(invoice["number"]),
        "document_type": invoice["document_type"],
        "credited_invoice_id": _text(invoice["credited_invoice_id"]),
        "status": _text(invoice["status"]),
        "payment_status": _text(invoice["payment_status"]),
        "overdue": _text(invoice["overdue"]),
        "customer_id": _text(customer.get("id")),
        "customer_name": _text(customer.get("name")),
        "issue_date": _text(invoice["issue_date"]),
        "due_date": _text(invoice["due_date"]),
        "currency": invoice["currency"],
        "exchange_rate": _text(invoice["exchange_rate"]),
        "tax_mode": invoice["tax_mode"],
        "discount_type": _text(discount.get("type")),
        "discount_value": _text(discount.get("value")),
        "reference": _text(invoice["reference"]),
        "order_id": _text(invoice["order_id"]),
        "tags": ";".join(invoice["tags"]),
        "adjustment_description": _text((invoice["adjustment"] or {}).get("description")),
        **{f"totals_{name}": _text(totals.get(name)) for name in TOTALS},
        "totals_paid_source": _text(totals.get("paid_source")),
        "totals_consistent": _text(check.get("consistent")),
        "created_at": _text(invoice["created_at"]),
        "updated_at": _text(invoice["updated_at"]),
        "public_url": _text(invoice["public_url"]),
        "version": _text(invoice["version"]),
    }
    line_columns = [c for c in _documented_columns() if c.startswith("line_")]
    if not invoice["lines"]:
        return [{**head, **dict.fromkeys(line_columns, "")}]
    rows = []
    for index, line in enumerate(invoice["lines"]):
        line_discount = line["discount"] or {}
        rows.append(
            {
                **head,
                "line_index": str(index),
                "line_id": _text(line["id"]),
                "line_kind": line["kind"],
                "line_item_id": _text(line["item_id"]),
                "line_name": _text(line["name"]),
                "line_description": _text(line["description"]),
                "line_quantity": _text(line["quantity"]),
                "line_unit": _text(line["unit"]),
                "line_unit_price": _text(line["unit_price"]),
                "line_discount_type": _text(line_discount.get("type")),
                "line_discount_value": _text(line_discount.get("value")),
                "line_taxes": ";".join(tax["rate"] for tax in line["taxes"]),
                **{f"line_{name}": _text(line[name]) for name in LINE_AMOUNTS},
            }
        )
    return rows


# -- JSONL -------------------------------------------------------------------------------------


@pytest.mark.parametrize("connection", PROVIDERS)
def test_jsonl_is_every_invoice_exactly_as_the_api_reads_it(
    sandbox: Sandbox, config: Path, connection: str
) -> None:
    run = run_export(config, "--connection", connection)
    assert run.returncode == 0, run.stderr
    records = _records(run.stdout)
    listed = api_list(sandbox, connection)
    assert len(listed) == 56
    assert [r["id"] for r in records] == [i["id"] for i in listed]
    for record in records:
        assert record == api(sandbox, f"/v1/connections/{connection}/invoices/{record['id']}")
        assert record["connection"] == connection
        for name in TOTALS:
            assert DECIMAL.fullmatch(record["totals"][name]), (name, record["totals"])
        for line in record["lines"]:
            for name in ("quantity", "unit_price", *LINE_AMOUNTS):
                if line["kind"] == "item":  # a section is a heading: no amounts
                    assert DECIMAL.fullmatch(line[name]), (name, line)
    # Exact to the cent: the totals add up as decimals, not as floats would.
    for record in records:
        totals = {name: Decimal(record["totals"][name]) for name in TOTALS}
        assert totals["due"] == totals["total"] - totals["paid"], record["id"]
    summary = run.summary()
    assert (summary["exported"], summary["failed"], summary["stopped"]) == (56, 0, False)
    assert summary["connection"] == connection and summary["output"] == "-"


def test_output_file_holds_what_stdout_would(
    sandbox: Sandbox, config: Path, tmp_path: Path
) -> None:
    target = tmp_path / "out.jsonl"
    run = run_export(config, "--connection", "bill_crm", "--output", str(target))
    assert run.returncode == 0, run.stderr
    assert run.stdout == ""  # progress and summary go to stderr, the data to the file
    records = _records(target.read_text(encoding="utf-8"))
    assert [r["id"] for r in records] == [i["id"] for i in api_list(sandbox, "bill_crm")]
    assert run.summary()["output"] == str(target)


# -- CSV ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("connection", PROVIDERS)
def test_csv_is_one_row_per_line_with_the_documented_columns(
    sandbox: Sandbox, config: Path, connection: str
) -> None:
    run = run_export(config, "--connection", connection, "--format", "csv")
    assert run.returncode == 0, run.stderr
    reader = csv.reader(io.StringIO(run.stdout, newline=""))
    header, *rows = list(reader)
    columns = _documented_columns()
    assert header == columns
    assert len(columns) == len(set(columns)) == 53
    invoices = api_list(sandbox, connection)
    assert len(rows) == sum(max(1, len(i["lines"])) for i in invoices)
    got = [dict(zip(header, row, strict=True)) for row in rows]
    expected = [row for invoice in invoices for row in _expected_rows(invoice)]
    for want, have in zip(expected, got, strict=True):
        assert have == want
    # An invoice's columns are the same on each of its rows; the totals are exact decimals.
    by_invoice: dict[str, list[dict[str, str]]] = {}
    for row in got:
        by_invoice.setdefault(row["id"], []).append(row)
    invoice_columns = [c for c in columns if not c.startswith("line_")]
    several = [rs for rs in by_invoice.values() if len(rs) > 1]
    assert several, "the sandbox should have invoices with several lines"
    for invoice_rows in several:
        for column in invoice_columns:
            assert len({row[column] for row in invoice_rows}) == 1, column
    for row in got:
        for name in TOTALS:
            assert DECIMAL.fullmatch(row[f"totals_{name}"]), (name, row)


def test_csv_rows_cover_sections_lineless_invoices_and_several_taxes(config: Path) -> None:
    """The sandbox holds the cases the format has rules for: this checks they are exported."""
    kinds: Counter[str] = Counter()
    for connection in ("crm_v1", "bill_crm", "item_envelope"):
        run = run_export(config, "--connection", connection, "--format", "csv")
        assert run.returncode == 0, run.stderr
        for row in csv.DictReader(io.StringIO(run.stdout, newline="")):
            if row["line_index"] == "":
                kinds["no lines"] += 1
                assert row["line_kind"] == row["line_total"] == ""
                assert row["totals_total"] != ""
            elif row["line_kind"] == "section":
                kinds["section"] += 1
                assert row["line_quantity"] == row["line_unit_price"] == row["line_taxes"] == ""
            elif ";" in row["line_taxes"]:
                kinds["two taxes"] += 1
                assert all(DECIMAL.fullmatch(rate) for rate in row["line_taxes"].split(";"))
    assert kinds["no lines"] and kinds["section"] and kinds["two taxes"], kinds


# -- filters and --ids -------------------------------------------------------------------------


def _filter_cases(sandbox: Sandbox) -> list[tuple[str, dict[str, str]]]:
    """Filters over values the sandbox holds (each a proper, non-empty subset), applied by the
    provider or, where it cannot, by the gateway."""
    cases: list[tuple[str, dict[str, str]]] = [
        ("crm_v1", {"status": "paid"}),  # crm_v1 filters status itself
        ("draft_publish", {"status": "open"}),  # draft_publish cannot: filtered locally
        ("item_envelope", {"status": "draft"}),
    ]
    for connection in ("bill_crm", "draft_publish"):
        customers = Counter((i["customer"] or {}).get("id") for i in api_list(sandbox, connection))
        customer, _ = customers.most_common(1)[0]
        cases.append((connection, {"customer_id": customer}))
    for connection in ("crm_v1", "order_linked", "item_envelope"):
        dates = sorted(i["issue_date"] for i in api_list(sandbox, connection))
        cases.append((connection, {"issued_from": dates[10], "issued_to": dates[30]}))
    return cases


_OPTIONS = {
    "status": "--status",
    "customer_id": "--customer",
    "issued_from": "--issued-from",
    "issued_to": "--issued-to",
}


def test_filters_select_exactly_what_the_list_api_selects(sandbox: Sandbox, config: Path) -> None:
    for connection, filters in _filter_cases(sandbox):
        expected = [i["id"] for i in api_list(sandbox, connection, **filters)]
        assert 0 < len(expected) < 56, (connection, filters)
        options = [part for name, value in filters.items() for part in (_OPTIONS[name], value)]
        run = run_export(config, "--connection", connection, *options)
        assert run.returncode == 0, run.stderr
        records = _records(run.stdout)
        assert [r["id"] for r in records] == expected, (connection, filters)
        if "issued_from" in filters:  # both bounds are inclusive
            dates = [r["issue_date"] for r in records]
            assert filters["issued_from"] in dates and filters["issued_to"] in dates
            assert all(filters["issued_from"] <= d <= filters["issued_to"] for d in dates)


def test_ids_exports_just_those_in_the_files_order(
    sandbox: Sandbox, config: Path, tmp_path: Path
) -> None:
    listed = [i["id"] for i in api_list(sandbox, "order_linked")]
    wanted = [listed[40], listed[3], listed[17]]
    ids = tmp_path / "ids.txt"
    # An id listed again is exported once, where it first came.
    ids.write_text(
        f"{wanted[0]}\n\n{wanted[1]}\n{wanted[0]}\n{wanted[2]}\n{wanted[1]}\n", encoding="utf-8"
    )
    run = run_export(config, "--connection", "order_linked", "--ids", str(ids))
    assert run.returncode == 0, run.stderr
    records = _records(run.stdout)
    assert [r["id"] for r in records] == wanted
    for record in records:
        assert record == api(sandbox, f"/v1/connections/order_linked/invoices/{record['id']}")
    assert run.summary()["exported"] == 3


@pytest.mark.parametrize("connection", ["crm_v1", "bill_crm"])
def test_an_invoice_named_again_in_another_form_is_exported_once(
    sandbox: Sandbox, config: Path, tmp_path: Path, connection: str
) -> None:
    """crm_v1 and bill_crm read ``7`` and ``007`` as one invoice: it is written once. A byte
    order mark before the first id (a spreadsheet's "CSV UTF-8") is no part of it."""
    ids = tmp_path / "ids.txt"
    ids.write_text("\ufeff1\n001\n01\n2\n", encoding="utf-8")
    run = run_export(config, "--connection", connection, "--ids", str(ids))
    assert run.returncode == 0, run.stderr
    assert [r["id"] for r in _records(run.stdout)] == ["1", "2"]
    assert run.summary()["exported"] == 2


def test_an_ids_file_whose_lines_end_with_a_carriage_return_alone_is_read_line_by_line(
    sandbox: Sandbox, config: Path, tmp_path: Path
) -> None:
    """A spreadsheet's "CSV (Macintosh)" ends lines with a carriage return alone: the file was
    read as one id (``1\\r2\\r3``, refused for its control characters) and, past 4,096
    characters, as a line too long. Lines end as ``migrate --ids`` ends them: LF, CR or both,
    mixed in one file too."""
    listed = [i["id"] for i in api_list(sandbox, "crm_v1")]
    wanted = listed[:3]
    ids = tmp_path / "ids.txt"
    filler = " \r" * 5_000  # blank lines, well past 4,096 characters in all
    ids.write_bytes(f"{wanted[0]}\r{filler}{wanted[1]}\r\n\r{wanted[2]}\n".encode())
    run = run_export(config, "--connection", "crm_v1", "--ids", str(ids))
    assert run.returncode == 0, run.stderr
    assert [r["id"] for r in _records(run.stdout)] == wanted
    assert run.summary()["exported"] == 3
    assert read_ids(ids) == tuple(wanted)  # as migrate --ids reads the same file


def test_an_ids_files_lines_are_counted_as_they_end_across_its_reads(
    sandbox: Sandbox, config: Path, tmp_path: Path
) -> None:
    """A CR and its LF that fall in two reads of the file (64 KiB each) end one line, not two:
    the line a bad byte is on is named as an editor numbers it."""
    listed = [i["id"] for i in api_list(sandbox, "crm_v1")]
    head = f"{listed[0]}\r\n".encode()
    filler = b" \r\n" * ((65_535 - len(head)) // 3)
    straddled = head + filler + b" " * ((65_535 - len(head)) % 3) + b"\r\n"
    assert straddled[65_535:65_537] == b"\r\n"  # the file's first read ends between them
    lines = straddled.count(b"\n")
    ids = tmp_path / "ids.txt"
    ids.write_bytes(straddled + f"{listed[1]}\r".encode() + b"7\xff\r")
    run = run_export(config, "--connection", "crm_v1", "--ids", str(ids))
    assert run.returncode == 1, run.stderr
    assert [r["id"] for r in _records(run.stdout)] == listed[:2]
    assert run.failure()["error"] == (
        f"--ids {ids}: is not UTF-8 text: byte 0xff at line {lines + 2}, column 2 "
        "(save the file as UTF-8)"
    )


def test_an_ids_file_with_a_line_longer_than_any_id_stops_the_export_naming_the_line(
    sandbox: Sandbox, config: Path, tmp_path: Path
) -> None:
    """The ids are read line by line as the export goes; a line of megabytes (a binary file
    given by mistake, ``/dev/zero``) is not read to its end: the export stops there, saying
    which line, with what was exported before it kept."""
    listed = [i["id"] for i in api_list(sandbox, "crm_v1")]
    ids = tmp_path / "ids.txt"
    ids.write_text(f"{listed[0]}\n{'7' * 3_000_000}\n{listed[1]}\n", encoding="utf-8")
    run = run_export(config, "--connection", "crm_v1", "--ids", str(ids))
    assert run.returncode == 1, run.stderr
    assert [r["id"] for r in _records(run.stdout)] == [listed[0]]
    stopped = run.failure()
    assert stopped["error"] == (
        f"--ids {ids}: line 2 is longer than 4,096 characters, longer than any invoice id "
        "(is it the right file?)"
    )
    assert run.summary()["exported"] == 1

    endless = run_export(config, "--connection", "crm_v1", "--ids", "/dev/zero", timeout=30)
    assert endless.returncode == 1, endless.stderr
    assert endless.stdout == ""
    stopped = endless.failure()
    assert "--ids /dev/zero: line 1 is longer than 4,096 characters" in stopped["error"]
    assert "Traceback" not in endless.stderr


def test_an_ids_file_that_is_not_utf8_stops_the_export_naming_the_byte(
    sandbox: Sandbox, config: Path, tmp_path: Path
) -> None:
    """A line that is not UTF-8 (a file saved as Latin-1) was read with U+FFFD in place of its
    bytes, and the id so guessed at was asked of the provider ("crm_v1 has no invoice
    '\ufffd\ufffd2'"). The export stops there, naming the line, the column and the byte, as
    ``migrate --ids`` refuses such a file, with the ids before it exported."""
    listed = [i["id"] for i in api_list(sandbox, "crm_v1")]
    ids = tmp_path / "ids.txt"
    ids.write_bytes(f"\ufeff{listed[0]}\n".encode() + b"7\xe9\xff2\n" + f"{listed[1]}\n".encode())
    run = run_export(config, "--connection", "crm_v1", "--ids", str(ids))
    assert run.returncode == 1, run.stderr
    assert [r["id"] for r in _records(run.stdout)] == [listed[0]]
    stopped = run.failure()
    assert stopped["error"] == (
        f"--ids {ids}: is not UTF-8 text: byte 0xe9 at line 2, column 2 (save the file as UTF-8)"
    )
    assert "invoice_id" not in stopped and stopped["stopped"] is True
    summary = run.summary()
    assert (summary["exported"], summary["failed"], summary["stopped"]) == (1, 0, True)


def test_an_ids_file_whose_read_fails_is_named_not_the_output(
    sandbox: Sandbox, config: Path, tmp_path: Path
) -> None:
    """A read of the ``--ids`` file that failed (a failing disk, a mount gone; reading
    ``/proc/self/mem`` at its start fails so) was said as the output's: "cannot write …"."""
    earlier = tmp_path / "out.jsonl"
    earlier.write_text('{"earlier": "export"}\n', encoding="utf-8")
    run = run_export(
        config, "--connection", "crm_v1", "--ids", "/proc/self/mem", "--output", str(earlier)
    )
    assert run.returncode == 1, run.stderr
    stopped = run.failure()
    assert stopped["error"] == "--ids /proc/self/mem: cannot be read (Input/output error)"
    assert earlier.read_text(encoding="utf-8") == '{"earlier": "export"}\n'
    assert run.summary()["stopped"] is True


def test_an_id_that_cannot_be_read_is_listed_and_the_rest_exported(
    sandbox: Sandbox, config: Path, tmp_path: Path
) -> None:
    listed = [i["id"] for i in api_list(sandbox, "crm_v1")]
    ids = tmp_path / "ids.txt"
    ids.write_text(f"{listed[0]}\n987654\n{listed[1]}\n", encoding="utf-8")
    run = run_export(config, "--connection", "crm_v1", "--ids", str(ids), "--format", "csv")
    assert run.returncode == 1, run.stderr
    rows = list(csv.DictReader(io.StringIO(run.stdout, newline="")))
    assert {row["id"] for row in rows} == {listed[0], listed[1]}
    failed = run.failure()
    assert failed["invoice_id"] == "987654" and failed["error"]
    summary = run.summary()
    assert (summary["exported"], summary["failed"]) == (2, 1)
    assert "Traceback" not in run.stderr


@pytest.mark.parametrize("unreadable", [1, 3], ids=["one-of-three", "every-one"])
def test_an_ids_export_replaces_an_earlier_export_unless_it_read_nothing(
    sandbox: Sandbox, config: Path, tmp_path: Path, unreadable: int
) -> None:
    """An invoice of --ids that cannot be read is listed and the export goes on: what it read
    replaces last night's file (one gone for good must not keep the file from ever being
    written again). One that read nothing leaves last night's, with nothing beside it."""
    listed = [i["id"] for i in api_list(sandbox, "crm_v1")]
    target = tmp_path / "chosen.jsonl"
    target.write_text("last night\n", encoding="utf-8")
    wanted = ["987651", "987652", "987653"] if unreadable == 3 else [listed[0], "987654", listed[1]]
    ids = tmp_path / "ids.txt"
    ids.write_text("".join(f"{i}\n" for i in wanted), encoding="utf-8")
    run = run_export(config, "--connection", "crm_v1", "--ids", str(ids), "--output", str(target))
    assert run.returncode == 1, run.stderr
    summary = run.summary()
    assert (summary["failed"], summary["stopped"]) == (unreadable, False)
    assert "partial" not in summary
    assert sorted(p.name for p in tmp_path.iterdir()) == ["chosen.jsonl", "ids.txt"]
    if unreadable == 3:
        assert target.read_text(encoding="utf-8") == "last night\n"
    else:
        written = [r["id"] for r in _records(target.read_text(encoding="utf-8"))]
        assert written == [listed[0], listed[1]]


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_an_export_matching_nothing_replaces_an_earlier_export(
    config: Path, tmp_path: Path, fmt: str
) -> None:
    """An export that ended whole with no invoice matching exited 0 and left last night's
    file, whose invoices match nothing that was asked: a script trusting the exit status took
    them for the answer. The file is the empty export (a CSV's header alone)."""
    target = tmp_path / f"chosen.{fmt}"
    target.write_text("last night\n", encoding="utf-8")
    run = run_export(
        config,
        "--connection",
        "crm_v1",
        "--issued-from",
        "2999-01-01",
        "--format",
        fmt,
        "--output",
        str(target),
    )
    assert run.returncode == 0, run.stderr
    summary = run.summary()
    assert (summary["exported"], summary["failed"], summary["stopped"]) == (0, 0, False)
    written = target.read_text(encoding="utf-8")
    if fmt == "jsonl":
        assert written == ""
    else:
        assert written.splitlines() == [",".join(CSV_COLUMNS)]
    assert sorted(p.name for p in tmp_path.iterdir()) == [target.name]


def test_an_export_to_a_file_with_attributes_keeps_them(config: Path, tmp_path: Path) -> None:
    """An access control list is an extended attribute: a file renamed over one holding it
    would drop it, and the reader it let in would be shut out. Written in place, it stays."""
    target = tmp_path / "out.jsonl"
    target.write_text("last night\n", encoding="utf-8")
    try:
        os.setxattr(target, "user.reader", b"reporting")
    except OSError as exc:  # a file system without user attributes: nothing to keep
        pytest.skip(f"no extended attributes here ({exc.strerror})")
    run = run_export(config, "--connection", "bill_crm", "--output", str(target))
    assert run.returncode == 0, run.stderr
    assert os.getxattr(target, "user.reader") == b"reporting"
    assert len(_records(target.read_text(encoding="utf-8"))) == run.summary()["exported"] > 0


def test_an_export_to_a_file_with_another_name_updates_both_names(
    config: Path, tmp_path: Path
) -> None:
    """A hard link is a second name of one file: written in place, both read the new export
    (a file renamed over one name would leave the other with the earlier one)."""
    target = tmp_path / "out.jsonl"
    target.write_text("last night\n", encoding="utf-8")
    published = tmp_path / "published.jsonl"
    os.link(target, published)
    run = run_export(config, "--connection", "bill_crm", "--output", str(target))
    assert run.returncode == 0, run.stderr
    assert published.read_text(encoding="utf-8") == target.read_text(encoding="utf-8")
    assert len(_records(published.read_text(encoding="utf-8"))) == run.summary()["exported"] > 0


# -- errors ------------------------------------------------------------------------------------


def test_an_output_that_takes_nothing_counts_nothing_exported_and_says_so(
    sandbox: Sandbox, config: Path
) -> None:
    run = run_export(config, "--connection", "crm_v1", "--output", "/dev/full")  # always full
    assert run.returncode == 1, run.stderr
    assert "Traceback" not in run.stderr
    failed = [e for e in run.events() if e.get("event") == "failed"]
    assert failed == [
        {
            "event": "failed",
            "connection": "crm_v1",
            "error": "cannot write /dev/full: No space left on device",
            "stopped": True,
        }
    ]
    summary = run.summary()
    assert (summary["exported"], summary["stopped"]) == (0, True)


def test_a_csv_header_its_stdout_cannot_take_is_said_not_a_traceback(
    sandbox: Sandbox, config: Path
) -> None:
    """A CSV's header is written before the first invoice: with stdout unbuffered
    (``PYTHONUNBUFFERED``, as container images set it) and full, it raised out of the export
    as a traceback, with no summary, where a later write is said and summed up."""
    with open("/dev/full", "w", encoding="utf-8") as full:
        ran = run_export(
            config,
            *("--connection", "crm_v1", "--format", "csv"),
            stdout=full,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    assert ran.returncode == 1, ran.stderr
    assert "Traceback" not in ran.stderr
    assert ran.failure()["error"] == "cannot write stdout: No space left on device"
    assert ran.events()[-1] == ran.summary()  # summed up last
    assert (ran.summary()["stopped"], ran.summary()["exported"]) == (True, 0)


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--connection", "nope"], ["'nope'", "crm_v1", "order_linked"]),
        (
            ["--connection", "crm_v1", "--issued-from", "2025-02-30"],
            ["--issued-from", "2025-02-30"],
        ),
        (
            ["--connection", "crm_v1", "--issued-from", "2025-03-01", "--issued-to", "2025-01-01"],
            ["--issued-from 2025-03-01 is after --issued-to 2025-01-01"],
        ),
        (["--connection", "crm_v1", "--status", "sent"], ["--status", "'sent'"]),
        (["--connection", "crm_v1", "--page-size", "0"], ["--page-size must be 1 or more"]),
        (["--connection", "crm_v1", "--format", "xml"], ["--format", "'xml'"]),
        (
            ["--connection", "crm_v1", "--ids", "/nonexistent/ids.txt"],
            ["--ids /nonexistent/ids.txt"],
        ),
        (
            ["--connection", "crm_v1", "--ids", "{ids}", "--status", "paid"],
            ["--ids", "--status"],
        ),
        (["--connection", "crm_v1", "--output", "/nonexistent/out.csv"], ["/nonexistent/out.csv"]),
    ],
)
def test_usage_errors_exit_2_naming_what_is_wrong(
    config: Path, tmp_path: Path, args: list[str], said: list[str]
) -> None:
    ids = tmp_path / "ids.txt"
    ids.write_text("1\n", encoding="utf-8")
    run = run_export(config, *[a.replace("{ids}", str(ids)) for a in args])
    assert run.returncode == 2, run.stderr
    for text in said:
        assert text in run.stderr
    assert run.stdout == ""
    assert "Traceback" not in run.stderr
    assert not Path("/nonexistent/out.csv").exists()


def test_an_unreadable_configuration_exits_2_naming_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "missing.yaml"
    run = run_export(missing, "--connection", "crm_v1")
    assert (run.returncode, run.stdout) == (2, "")
    assert str(missing) in run.stderr and "cannot be read" in run.stderr
    broken = tmp_path / "broken.yaml"
    broken.write_text("connections:\n  - name: crm\n    provider: nope\n", encoding="utf-8")
    run = run_export(broken, "--connection", "crm")
    assert run.returncode == 2
    assert "connections[0]" in run.stderr and "Traceback" not in run.stderr


def _export_past(sandbox: Sandbox, config: Path, broken: str, target: Path) -> Run:
    """crm_v1 exported to ``target`` ten a page while its invoice ``broken`` always fails
    (503, through every retry): the walk stops at the page that holds it."""
    faults = {"error_rate": 1, "error_status": 503, "methods": ["GET"]}
    emulator_faults(sandbox, "crm_v1", {**faults, "path_regex": f"^/v1/invoices/{broken}$"})
    try:
        return run_export(
            config, "--connection", "crm_v1", "--page-size", "10", "--output", str(target)
        )
    finally:
        emulator_faults(sandbox, "crm_v1", None)


def test_a_provider_failing_mid_walk_exits_1_keeping_what_was_read(
    sandbox: Sandbox, config: Path, tmp_path: Path
) -> None:
    """crm_v1 reads each invoice of a page on its own: one that always fails (503, through
    every retry) makes the third page of ten unreadable, after two pages were written."""
    listed = [i["id"] for i in api_list(sandbox, "crm_v1")]
    broken = listed[25]
    target = tmp_path / "partial.jsonl"
    run = _export_past(sandbox, config, broken, target)
    assert run.returncode == 1, run.stderr
    assert "Traceback" not in run.stderr
    records = _records(target.read_text(encoding="utf-8"))
    assert [r["id"] for r in records] == listed[:20]
    assert records[19] == api(sandbox, f"/v1/connections/crm_v1/invoices/{listed[19]}")
    failed = run.failure()
    assert failed["stopped"] is True and "503" in failed["error"]
    summary = run.summary()
    assert (summary["exported"], summary["failed"], summary["stopped"]) == (20, 0, True)


def test_an_export_that_stops_leaves_an_earlier_export_in_its_place(
    sandbox: Sandbox, config: Path, tmp_path: Path
) -> None:
    """A nightly export to the same file: the night the provider fails, last night's whole
    export is not replaced by the first pages of tonight's, which are kept beside it."""
    listed = [i["id"] for i in api_list(sandbox, "crm_v1")]
    target = tmp_path / "nightly.jsonl"
    first = run_export(config, "--connection", "crm_v1", "--output", str(target))
    assert first.returncode == 0, first.stderr
    last_night = target.read_text(encoding="utf-8")
    target.chmod(0o600)  # kept private: the new export must stay so
    failed = _export_past(sandbox, config, listed[25], target)
    assert failed.returncode == 1, failed.stderr
    assert target.read_text(encoding="utf-8") == last_night
    summary = failed.summary()
    assert (summary["stopped"], summary["exported"]) == (True, 20)
    partial = Path(summary["partial"])  # named for the one who reads the summary
    assert partial.parent == tmp_path and partial.name.startswith(".nightly.jsonl.")
    assert [r["id"] for r in _records(partial.read_text(encoding="utf-8"))] == listed[:20]
    assert partial.stat().st_mode & 0o777 == 0o600
    partial.unlink()

    again = run_export(config, "--connection", "crm_v1", "--output", str(target))
    assert again.returncode == 0, again.stderr
    assert "partial" not in again.summary()
    assert [r["id"] for r in _records(target.read_text(encoding="utf-8"))] == listed
    assert sorted(p.name for p in tmp_path.iterdir()) == ["nightly.jsonl"]  # put in its place
    assert target.stat().st_mode & 0o777 == 0o600


def test_an_export_replacing_a_file_touches_nothing_else_and_keeps_its_owner(
    config: Path, tmp_path: Path
) -> None:
    """The file written first is made new beside the earlier one: a link someone left there
    under a name the export might use leads nowhere it writes; and the earlier file's owner
    keeps it (an export run by root for a service's account)."""
    shared = tmp_path / "shared"
    shared.mkdir()
    target = shared / "out.jsonl"
    target.write_text("last night\n", encoding="utf-8")
    victim = tmp_path / "victim.txt"
    victim.write_text("precious", encoding="utf-8")
    victim.chmod(0o600)
    (shared / "out.jsonl.partial").symlink_to(victim)
    owner = (65534, 65534) if os.geteuid() == 0 else (os.getuid(), os.getgid())
    if os.geteuid() == 0:
        os.chown(target, *owner)
    run = run_export(config, "--connection", "bill_crm", "--output", str(target))
    assert run.returncode == 0, run.stderr
    assert victim.read_text(encoding="utf-8") == "precious"
    assert victim.stat().st_mode & 0o777 == 0o600
    assert sorted(p.name for p in shared.iterdir()) == ["out.jsonl", "out.jsonl.partial"]
    assert not target.is_symlink()
    assert (target.stat().st_uid, target.stat().st_gid) == owner
    assert len(_records(target.read_text(encoding="utf-8"))) == run.summary()["exported"] > 0


def test_an_export_through_a_link_replaces_the_file_it_names_and_keeps_the_link(
    config: Path, tmp_path: Path
) -> None:
    real = tmp_path / "exports" / "bill.jsonl"
    real.parent.mkdir()
    real.write_text("yesterday\n", encoding="utf-8")
    link = tmp_path / "latest.jsonl"
    link.symlink_to(real)
    run = run_export(config, "--connection", "bill_crm", "--output", str(link))
    assert run.returncode == 0, run.stderr
    assert link.is_symlink() and link.resolve() == real
    assert "yesterday" not in real.read_text(encoding="utf-8")
    assert len(_records(real.read_text(encoding="utf-8"))) == run.summary()["exported"] > 0


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_an_export_interrupted_says_it_stopped_with_what_it_wrote(
    sandbox: Sandbox, config: Path, tmp_path: Path, sig: int
) -> None:
    """Ctrl-C or SIGTERM mid-export: the last summary says ``stopped`` with the invoices
    written so far (what the output holds), never a whole export, and the exit status is the
    signal's (128 + its number)."""
    emulator_faults(sandbox, "crm_v1", {"latency_ms": 100, "methods": ["GET"]})
    target = tmp_path / "cut.jsonl"
    try:
        with tempfile.TemporaryFile("w+") as err:
            process = subprocess.Popen(
                [
                    SCRIPT,
                    "export",
                    "--config",
                    str(config),
                    "--connection",
                    "crm_v1",
                    "--page-size",
                    "5",
                    "--output",
                    str(target),
                ],
                stdout=subprocess.DEVNULL,
                stderr=err,
            )
            deadline = time.monotonic() + 30
            while not (target.exists() and target.read_text(encoding="utf-8").count("\n") >= 5):
                assert process.poll() is None and time.monotonic() < deadline, "no invoice written"
                time.sleep(0.02)
            process.send_signal(sig)
            code = process.wait(30)
            err.seek(0)
            said = err.read()
    finally:
        emulator_faults(sandbox, "crm_v1", None)
    assert code == 128 + sig, said
    assert "Traceback" not in said
    [summary] = [
        json.loads(line) for line in said.splitlines() if line.startswith('{"event": "summary"')
    ]
    written = _records(target.read_text(encoding="utf-8"))
    assert summary["stopped"] is True
    assert summary["exported"] == len(written) < len(api_list(sandbox, "crm_v1"))


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
@pytest.mark.parametrize("given", ["--output", "--ids"])
def test_an_export_waiting_for_a_named_pipes_other_end_stops_on_a_signal(
    config: Path, tmp_path: Path, sig: int, given: str
) -> None:
    """A named pipe as ``--output`` (a loader not started yet) or ``--ids``: opening it waits
    for its other end, and that wait held the event loop, so Ctrl-C and SIGTERM were not
    heard (only SIGKILL ended it)."""
    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    command = [SCRIPT, "export", "--config", str(config), "--connection", "crm_v1"]
    with tempfile.TemporaryFile("w+") as err:
        process = subprocess.Popen(
            [*command, given, str(pipe)], stdout=subprocess.DEVNULL, stderr=err
        )
        try:
            wait_at_a_named_pipe(process)
            process.send_signal(sig)
            code = process.wait(10)
        finally:
            process.kill()
        err.seek(0)
        said = err.read()
    assert code == 128 + sig, said
    assert "Traceback" not in said
    # operations.md: 130 or 143, "the summary saying stopped", also before anything was read
    # (only the command's last line was said).
    [summary] = [
        json.loads(line) for line in said.splitlines() if line.startswith('{"event": "summary"')
    ]
    assert (summary["stopped"], summary["exported"]) == (True, 0)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_an_export_waiting_for_its_next_id_from_a_pipe_stops_on_a_signal(
    sandbox: Sandbox, config: Path, tmp_path: Path, sig: int
) -> None:
    """``--ids`` a named pipe a script feeds: its next line was waited for on the event loop,
    so a stop was not heard until the script closed the pipe, and the export then took the
    pipe's end for the list's, replaced the earlier export with the two invoices read and said
    ``"stopped": false``. It stops at once, the earlier file kept."""
    listed = [i["id"] for i in api_list(sandbox, "crm_v1")]
    earlier = tmp_path / "out.jsonl"
    earlier.write_text('{"earlier": "export"}\n', encoding="utf-8")
    pipe = tmp_path / "ids"
    os.mkfifo(pipe)
    command = [SCRIPT, "export", "--config", str(config), "--connection", "crm_v1"]
    with tempfile.TemporaryFile("w+") as err:
        process = subprocess.Popen(
            [*command, "--ids", str(pipe), "--output", str(earlier)],
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
        try:
            with pipe.open("w", encoding="utf-8") as feed:  # held open: more ids may come
                feed.write(f"{listed[0]}\n{listed[1]}\n")
                feed.flush()
                deadline = time.monotonic() + 30
                while not any(p.name.endswith(".partial") for p in tmp_path.iterdir()):
                    assert time.monotonic() < deadline, "the export did not start"
                    time.sleep(0.05)
                time.sleep(1)  # the two read, and the next awaited
                process.send_signal(sig)
                code = process.wait(10)  # with the pipe still open
        finally:
            process.kill()
        err.seek(0)
        said = err.read()
    assert code == 128 + sig, said
    assert earlier.read_text(encoding="utf-8") == '{"earlier": "export"}\n'
    [summary] = [
        json.loads(line) for line in said.splitlines() if line.startswith('{"event": "summary"')
    ]
    assert (summary["stopped"], summary["exported"]) == (True, 2), summary
    partial = Path(summary["partial"])
    assert [r["id"] for r in _records(partial.read_text(encoding="utf-8"))] == listed[:2]


@pytest.mark.parametrize(
    "command",
    [["export", "--connection", "crm_v1"], ["check-config"]],
    ids=["export", "check-config"],
)
def test_ctrl_c_while_the_configuration_loads_is_one_line_not_a_traceback(
    tmp_path: Path, command: list[str]
) -> None:
    """Ctrl-C before a command's own handling begins (here: its configuration, a named pipe,
    still loading) printed a Python traceback of 30 to 50 lines and ended with -2."""
    pipe = tmp_path / "config.yaml"
    os.mkfifo(pipe)
    with tempfile.TemporaryFile("w+") as err:
        process = subprocess.Popen(
            [SCRIPT, *command, "--config", str(pipe)], stdout=subprocess.DEVNULL, stderr=err
        )
        try:
            wait_at_a_named_pipe(process)
            process.send_signal(signal.SIGINT)
            code = process.wait(10)
        finally:
            process.kill()
        err.seek(0)
        said = err.read()
    assert code == 128 + signal.SIGINT, said
    assert said.strip().splitlines()[-1].endswith("interrupted"), said
    assert "Traceback" not in said


def test_an_export_to_a_named_pipe_is_written_once_its_reader_opens_it(
    sandbox: Sandbox, config: Path, tmp_path: Path
) -> None:
    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    command = [SCRIPT, "export", "--config", str(config), "--connection", "crm_v1"]
    process = subprocess.Popen(
        [*command, "--output", str(pipe)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        time.sleep(1)  # the export waits for its reader
        with pipe.open(encoding="utf-8") as reader:
            records = _records(reader.read())
        assert process.wait(30) == 0
    finally:
        process.kill()
    assert [r["id"] for r in records] == [i["id"] for i in api_list(sandbox, "crm_v1")]


# -- progress ----------------------------------------------------------------------------------


def test_on_a_terminal_progress_is_a_rich_line_and_a_last_summary(
    config: Path, tmp_path: Path
) -> None:
    target = tmp_path / "out.csv"
    command = [SCRIPT, "export", "--config", str(config), "--connection", "draft_publish"]
    controller, terminal = pty.openpty()
    try:
        process = subprocess.Popen(
            [*command, "--format", "csv", "--output", str(target)],
            stderr=terminal,
            stdout=subprocess.DEVNULL,
        )
        os.close(terminal)  # the export holds the terminal's other end now
        shown = b""
        while True:  # read as it comes, so a full terminal buffer never blocks the export
            try:
                chunk = os.read(controller, 65536)
            except OSError:  # EIO: the export closed its end, all was read
                break
            if not chunk:
                break
            shown += chunk
        process.wait(60)
    finally:
        os.close(controller)
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", shown.decode("utf-8", "replace"))
    assert process.returncode == 0, text
    assert "export draft_publish" in text and "56/56 invoice(s)" in text and "/s" in text
    assert "exported 56 invoice(s) from draft_publish to " in text and "0 failed" in text
    assert '"event"' not in text  # no JSON lines on a terminal
    assert len(list(csv.DictReader(io.StringIO(target.read_text("utf-8"), newline="")))) > 56


# -- memory ------------------------------------------------------------------------------------


def test_memory_stays_flat_from_300_to_3000_invoices(tmp_path: Path) -> None:
    """The export's peak RSS with 3,000 invoices is that of 300 (one page in memory at a time);
    holding the invoices (tens of MB as objects, 7 MB even as JSON text) would show."""
    peaks: dict[tuple[str, int], int] = {}
    for count in (300, 3000):
        with emulator_config("draft_publish", count, tmp_path) as one:
            for kind in ("jsonl", "csv"):
                target = tmp_path / f"{count}.{kind}"
                options = ["--format", kind, "--output", str(target)]
                run = run_export(one, "--connection", "draft_publish", *options)
                assert run.returncode == 0, run.stderr
                assert run.summary()["exported"] == count
                if kind == "jsonl":
                    assert sum(1 for _ in target.open(encoding="utf-8")) == count
                    # every 100 invoices one progress line, on stderr
                    progress = [e["exported"] for e in run.events() if e["event"] == "progress"]
                    assert progress == list(range(100, count + 1, 100))
                peaks[kind, count] = run.peak_rss_kb
    report = {f"{f} {n}": f"{kb / 1024:.1f} MB" for (f, n), kb in peaks.items()}
    for kind in ("jsonl", "csv"):
        small, large = peaks[kind, 300], peaks[kind, 3000]
        assert small > 10_000, report  # the reading is real (a Python process is tens of MB)
        assert large - small < 3 * 1024, report
