"""The ``migrate`` and ``export`` commands of ``invoice-gateway``: their options, and how they
run, stop on a signal and exit (0, 1, 2). ``gateway.cli`` parses and dispatches to them."""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import asyncio

EXIT_USAGE = 2
MIGRATE_STEPS = ("run", "verify", "revert")


def add_export_parser(commands: Any) -> None:
    export = commands.add_parser(
        "export",
        help="stream a connection's canonical invoices out as JSONL or CSV",
        description="Stream one connection's canonical invoices, page by page, as JSON lines "
        "or CSV (one row per line item; columns in docs/operations.md). Exit 0: all exported; "
        "1: some failed (listed on stderr); 2: usage or configuration error.",
    )
    export.add_argument("--connection", required=True, metavar="NAME", help="connection to read")
    export.add_argument("--format", choices=("jsonl", "csv"), default="jsonl")
    export.add_argument(
        "--config",
        default="config.yaml",
        metavar="FILE",
        help="configuration file (default config.yaml)",
    )
    export.add_argument("--output", metavar="FILE", help="write here (default: stdout)")
    export.add_argument("--status", choices=("draft", "open", "paid", "void", "unknown"))
    export.add_argument("--customer", metavar="ID", help="the customer's id at the provider")
    export.add_argument("--document-type", choices=("invoice", "credit_note", "unknown"))
    export.add_argument("--issued-from", metavar="YYYY-MM-DD", help="issued on or after")
    export.add_argument("--issued-to", metavar="YYYY-MM-DD", help="issued on or before")
    export.add_argument("--ids", metavar="FILE", help="export just these ids (one per line)")
    export.add_argument(
        "--page-size", type=int, metavar="N", help="provider page size (default: largest)"
    )


def add_migrate_parser(commands: Any) -> None:
    migrate = commands.add_parser(
        "migrate",
        help="copy invoices between connections (docs/migration.md)",
        description="Copy invoices from one connection to another, once each, verified. "
        "'migrate verify --run NAME' checks a finished run again; 'migrate revert --run NAME' "
        "deletes (or voids) what it copied.",
    )
    # The step's choices are checked once the options are parsed (``migrate_command``): checked
    # by argparse, the value of an option migrate does not take (``--page-size 10``) was read as
    # the step, and the error named the step ("invalid choice: '10'") instead of the option.
    migrate.add_argument("step", nargs="?", default="run", metavar=f"{{{','.join(MIGRATE_STEPS)}}}")
    migrate.add_argument(
        "--config",
        default="config.yaml",
        metavar="FILE",
        help="configuration file (default config.yaml)",
    )
    migrate.add_argument(
        "--run", metavar="NAME", help="name of the run (default: made and printed)"
    )
    migrate.add_argument("--report", metavar="FILE", help="one JSON line per source invoice")
    # A run's own options: verify and revert take the run's from the store, and refuse these.
    run = migrate.add_argument_group("a run's options (not for verify or revert)")
    run_only = [
        run.add_argument("--from", dest="source", metavar="CONNECTION"),
        run.add_argument("--to", dest="target", metavar="CONNECTION"),
        run.add_argument("--status", choices=["draft", "open", "paid", "void", "unknown"]),
        run.add_argument("--customer", metavar="ID", help="the source's customer id"),
        run.add_argument("--issued-from", metavar="YYYY-MM-DD"),
        run.add_argument("--issued-to", metavar="YYYY-MM-DD"),
        run.add_argument("--ids", metavar="FILE", help="source invoice ids, one per line"),
        run.add_argument("--map", metavar="FILE", help="customers, items, taxes: source → target"),
        run.add_argument("--dry-run", action="store_true", help="read and check; write nothing"),
        run.add_argument("--lenient", action="store_true", help="leave out what the target lacks"),
        run.add_argument("--concurrency", type=int, default=4, metavar="N"),
        run.add_argument("--sample", type=int, metavar="N", help="copy the first N, then stop"),
    ]
    migrate.set_defaults(run_only=tuple((a.option_strings[0], a.dest, a.default) for a in run_only))


def _run_only(args: argparse.Namespace) -> list[str]:
    """The options of a run given to ``verify`` or ``revert``, which would pass them over."""
    return [name for name, dest, default in args.run_only if getattr(args, dest) != default]


async def _stoppable(
    step: Callable[[asyncio.Event], Coroutine[Any, Any, int]], *, graceful: bool = False
) -> int:
    """``step(stop)`` run so that SIGTERM (``kill``, systemd, a job's time limit) stops it as
    Ctrl-C does, and says what was done: Python's own answer to SIGTERM was to end the process
    on the spot, saying nothing. The loop's own handler, not a relay through SIGINT: a job
    started in the background by a shell ignores SIGINT, and would then ignore SIGTERM too.

    ``graceful`` (a migration): the first Ctrl-C or SIGTERM sets ``stop``, and the step
    finishes what is under way before it stops (a copy cut off in the middle could leave a
    create made but not recorded); a second one cancels the task, at once. Otherwise the first
    cancels it. SIGINT is taken only where it is not ignored (a background job's)."""
    import asyncio

    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None
    stop = asyncio.Event()

    def asked() -> None:
        if graceful and not stop.is_set():
            stop.set()
            print(
                "stopping: finishing what is under way (Ctrl-C again to stop at once)",
                file=sys.stderr,
                flush=True,
            )
            return
        task.cancel()

    signals = [signal.SIGTERM]
    if graceful and signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
        signals.append(signal.SIGINT)
    for number in signals:
        loop.add_signal_handler(number, asked)
    try:
        return await step(stop)
    finally:
        for number in signals:
            loop.remove_signal_handler(number)


def migrate_command(args: argparse.Namespace) -> int:
    import asyncio
    from pathlib import Path

    from gateway.errors import AdapterError
    from gateway.logging_setup import configure_logging
    from gateway.migration.commands import UsageError, migrate, revert, verify
    from gateway.migration.options import options_from
    from gateway.migration.references import MapError
    from gateway.settings_file import ConfigError, load_settings
    from gateway.store import StoreError

    if args.step not in MIGRATE_STEPS:
        choices = ", ".join(repr(step) for step in MIGRATE_STEPS)
        args.usage_error(f"argument step: invalid choice: {args.step!r} (choose from {choices})")
    try:
        settings = load_settings(Path(args.config))
        configure_logging(settings.logging, sys.stderr)  # stdout carries the summary
        if args.step == "run":
            options = options_from(args)
            print(f"run: {options.plan.run}", file=sys.stderr, flush=True)
            return asyncio.run(
                _stoppable(lambda stop: migrate(settings, options, stop=stop), graceful=True)
            )
        if not args.run:
            raise UsageError(f"migrate {args.step} needs --run NAME (the run to {args.step})")
        given = _run_only(args)
        if given:
            raise UsageError(
                f"migrate {args.step} takes --config, --run and --report; {', '.join(given)} "
                f"belong to a run (the run named by --run says what it copied)"
            )
        report = Path(args.report) if args.report else None
        step = verify if args.step == "verify" else revert
        return asyncio.run(
            _stoppable(lambda stop: step(settings, args.run, report, stop=stop), graceful=True)
        )
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
    except (UsageError, MapError) as exc:
        print(f"invoice-gateway migrate: {exc}", file=sys.stderr)
    except StoreError as exc:
        print(f"invoice-gateway migrate: the store failed: {exc}", file=sys.stderr)
    except AdapterError as exc:  # a connection that fails outside any one copy
        print(f"invoice-gateway migrate: {exc.message}", file=sys.stderr)
        return 1
    except (KeyboardInterrupt, asyncio.CancelledError):  # Ctrl-C, SIGTERM
        print("interrupted: run the same command again to resume", file=sys.stderr)
        return 1
    return EXIT_USAGE


def export_command(args: argparse.Namespace) -> int:
    import asyncio
    from pathlib import Path

    from adapters.base import ListQuery
    from gateway.export import ExportOptions, UsageError, export, quiet_stdout
    from gateway.logging_setup import configure_logging
    from gateway.selection import given_date
    from gateway.settings_file import ConfigError, load_settings

    try:
        settings = load_settings(Path(args.config))
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_USAGE
    configure_logging(settings.logging, sys.stderr)  # stdout carries the export
    try:
        query = ListQuery(
            status=args.status,
            customer_id=args.customer,
            issued_from=given_date("--issued-from", args.issued_from),
            issued_to=given_date("--issued-to", args.issued_to),
            document_type=args.document_type,
        )
        options = ExportOptions(
            connection=args.connection,
            format=args.format,
            query=query,
            ids=Path(args.ids) if args.ids else None,
            output=Path(args.output) if args.output else None,
            page_size=args.page_size,
        )
        return asyncio.run(_stoppable(lambda _: export(settings, options)))
    except UsageError as exc:
        print(f"invoice-gateway export: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("invoice-gateway export: interrupted", file=sys.stderr)
        return 128 + signal.SIGINT
    except asyncio.CancelledError:  # SIGTERM (``_stoppable``)
        print("invoice-gateway export: stopped (SIGTERM)", file=sys.stderr)
        return 128 + signal.SIGTERM
    finally:
        quiet_stdout()
