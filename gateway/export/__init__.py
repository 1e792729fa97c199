"""``invoice-gateway export``: one connection's canonical invoices streamed out as JSONL or CSV.

``run.py`` is the use case (the command line only parses arguments and calls ``export``),
``formats.py`` the two output formats and the CSV columns, ``progress.py`` what stderr shows.
"""

from gateway.export.formats import CSV_COLUMNS, FORMATS, Format
from gateway.export.run import (
    EXIT_OK,
    EXIT_SOME_FAILED,
    EXIT_USAGE,
    ExportOptions,
    export,
    quiet_stdout,
)
from gateway.selection import UsageError

__all__ = [
    "CSV_COLUMNS",
    "EXIT_OK",
    "EXIT_SOME_FAILED",
    "EXIT_USAGE",
    "FORMATS",
    "ExportOptions",
    "Format",
    "UsageError",
    "export",
    "quiet_stdout",
]
