"""The ``migrate`` command's arguments as typed options, each checked with a clear message."""

from __future__ import annotations

import argparse
from pathlib import Path

from gateway.migration.commands import MigrateOptions
from gateway.migration.plan import Filters, Plan, default_run_name, digest
from gateway.migration.references import ReferenceMap, load_map
from gateway.selection import UsageError, given_date, selection_problem
from gateway.text_file import MAX_ID_CHARS, UnreadableText, id_line_too_long, read_text


def options_from(args: argparse.Namespace) -> MigrateOptions:
    if not args.source or not args.target:
        raise UsageError("say where from and where to: --from CONNECTION --to CONNECTION")
    if args.source == args.target:
        raise UsageError("--from and --to name the same connection")
    if args.concurrency < 1 or args.concurrency > 64:
        raise UsageError("--concurrency must be from 1 to 64")
    if args.sample is not None and args.sample < 1:
        raise UsageError("--sample must be 1 or more")
    refs, map_digest = ReferenceMap(), ""
    if args.map:
        refs, text = load_map(Path(args.map))
        map_digest = digest(text)
    ids = ids_listed(Path(args.ids)) if args.ids else None
    filters = Filters(
        status=args.status,
        customer=args.customer,
        issued_from=given_date("--issued-from", args.issued_from),
        issued_to=given_date("--issued-to", args.issued_to),
    )
    problem = selection_problem(
        filters.query(),
        ids=ids is not None,
        does="copies",
        filters="--status, --customer, --issued-from or --issued-to",
    )
    if problem is not None:
        raise UsageError(problem)
    plan = Plan(
        run=args.run or default_run_name(args.source, args.target),
        source=args.source,
        target=args.target,
        filters=filters,
        ids=ids,
        handling="lenient" if args.lenient else "strict",
        map_digest=map_digest,
    )
    return MigrateOptions(
        plan=plan,
        refs=refs,
        dry_run=args.dry_run,
        concurrency=args.concurrency,
        report=Path(args.report) if args.report else None,
        sample=args.sample,
    )


# A million ids of 60 characters: more than any run is given, and a file that says no size
# (``/dev/zero``) is not read without end.
MAX_IDS_BYTES = 64 * 1024 * 1024


def ids_listed(path: Path) -> tuple[str, ...]:
    """The ids of a ``migrate --ids`` file: one a line, blank lines skipped, each once."""
    try:
        lines = read_text(path, max_bytes=MAX_IDS_BYTES).splitlines()
    except UnreadableText as exc:
        raise UsageError(f"--ids {path}: {exc.reason}") from None
    for number, line in enumerate(lines, start=1):
        if len(line) > MAX_ID_CHARS:
            raise UsageError(id_line_too_long(path, number))
    ids = tuple(dict.fromkeys(line.strip() for line in lines if line.strip()))
    if not ids:
        raise UsageError(f"--ids {path}: holds no invoice id")
    return ids
