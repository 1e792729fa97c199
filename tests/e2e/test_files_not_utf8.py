"""A file the operator names (the configuration, a migration's map or ids) that is not UTF-8
text is one line naming the file, the byte and where it is, and exit 2: what a missing file
gets, never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from gateway.text_file import UnreadableText, read_text
from tests.unit.test_settings_file import config_of, sandbox_connection_data

SCRIPT = str(Path(sys.executable).with_name("invoice-gateway"))
LATIN_1 = "# Kunde Müller GmbH\n".encode("latin-1")  # 0xfc at line 1, column 10


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([SCRIPT, *args], capture_output=True, text=True, timeout=60)


def _good_config(folder: Path) -> Path:
    config = folder / "config.yaml"
    connections = (sandbox_connection_data(p) for p in ("bill_crm", "item_envelope"))
    config.write_text(config_of(*connections), encoding="utf-8")
    return config


def test_a_configuration_that_is_not_utf8_is_named_by_check_config_and_serve(
    tmp_path: Path,
) -> None:
    config = tmp_path / "config.yaml"
    config.write_bytes(LATIN_1 + _good_config(tmp_path).read_bytes())
    checked = _run("check-config", "--config", str(config))
    served = _run("serve", "--config", str(config), "--port", "0")
    said = (
        f"{config}: 1 problem(s)\n  is not UTF-8 text: byte 0xfc at line 1, column 10 "
        "(save the file as UTF-8)\n"
    )
    assert (checked.returncode, checked.stderr) == (2, said)
    assert (served.returncode, served.stderr, served.stdout) == (2, said, "")


def test_migrate_names_a_map_ids_or_configuration_that_is_not_utf8(tmp_path: Path) -> None:
    good = _good_config(tmp_path)
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"a: 1\n\xff\xfe\x00bad\n")
    where = "is not UTF-8 text: byte 0xff at line 2, column 1 (save the file as UTF-8)"
    pair = ("--from", "bill_crm", "--to", "item_envelope", "--dry-run")
    for args, said in (
        (("--config", str(good), "--map", str(binary)), f"{binary}: {where}"),
        (("--config", str(good), "--ids", str(binary)), f"--ids {binary}: {where}"),
        (("--config", str(binary)), f"{binary}: {where}"),
    ):
        ran = _run("migrate", *args, *pair)
        assert ran.returncode == 2, ran.stderr
        assert said in ran.stderr and "Traceback" not in ran.stderr, ran.stderr
        assert len(ran.stderr.strip().splitlines()) <= 2, ran.stderr


def test_a_byte_order_mark_is_no_part_of_the_first_id(tmp_path: Path) -> None:
    """Notepad and a spreadsheet's "CSV UTF-8" start the file with U+FEFF: read as text it
    would join the first id, which then names no invoice."""
    ids = tmp_path / "ids.txt"
    ids.write_bytes(b"\xef\xbb\xbf101\n102\n")
    assert read_text(ids).splitlines() == ["101", "102"]
    accented = tmp_path / "accented.yaml"
    accented.write_bytes("# éé ".encode() + b"\xfc\n")
    with pytest.raises(UnreadableText, match="byte 0xfc at line 1, column 6 "):
        read_text(accented)


@pytest.mark.parametrize(
    ("written", "said"),
    [
        (b"\xef\xbb\xbfRE\xe9F-1\n", "byte 0xe9 at line 1, column 3 "),
        (b"RE\xe9F-1\n", "byte 0xe9 at line 1, column 3 "),
        (b"\xef\xbb\xbf101\nRE\xe9F-1\n", "byte 0xe9 at line 2, column 3 "),
    ],
    ids=["after-a-mark", "no-mark", "second-line"],
)
def test_a_byte_that_is_not_utf8_after_a_byte_order_mark_is_named_where_it_is(
    tmp_path: Path, written: bytes, said: str
) -> None:
    """Decoded with the mark taken off, the error's position was counted from after it and
    read back in the bytes as written: the mark's own 0xbf at column 2 was named."""
    ids = tmp_path / "ids.txt"
    ids.write_bytes(written)
    with pytest.raises(UnreadableText, match=said):
        read_text(ids)
