"""``invoice-gateway``: argument parsing, then a call into the package. Exit codes: 0, 1, 2."""

from __future__ import annotations

import argparse
import signal
import socket
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from gateway.cli_data import (
    EXIT_USAGE,
    add_export_parser,
    add_migrate_parser,
    export_command,
    migrate_command,
)

if TYPE_CHECKING:
    from gateway.config import Settings
    from gateway.settings_file import ConfigError
    from gateway.workers import StopSignals

# What `serve` says when there is no config.yaml here and no --config: it still starts.
_NO_CONFIG = (
    "invoice-gateway serve: no configuration (no --config, and no config.yaml in this "
    "directory): serving POST /v1/invoices/calculate alone, with no connections and no API "
    "keys.\n"
    "  To try every provider: invoice-gateway serve --sandbox (five emulated providers; "
    "--write-config sandbox.yaml also writes their configuration for --config).\n"
    "  For real providers: write config.yaml (the repository's example, docs/operations.md), "
    "check it with invoice-gateway check-config, and run serve --config config.yaml."
)


def _int_in(low: int, high: int, what: str) -> Callable[[str], int]:
    """An argparse type: a whole number from ``low`` to ``high``, else a usage error (exit 2)
    that says so, rather than a traceback or a settings model's name."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{what} from {low} to {high}, not {text!r}")
        return value

    return parse


def _credential(text: str) -> str:
    """An argparse type: a credential that is not blank (an unset variable's ``--token ""``
    fell back to the published default, accepted by anyone)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("is empty; give a credential")
    return text


def _host(text: str) -> str:
    """An argparse type: a listen address, an IPv6 one as a URL writes it (``[::1]``) or bare."""
    from gateway.config import unbracketed

    return unbracketed(text)


PORT = _int_in(0, 65535, "a port number")
SEED_INVOICES = _int_in(0, 1_000_000, "a number of invoices")


def _parser() -> argparse.ArgumentParser:
    from emulators.registry import PROVIDERS

    parser = argparse.ArgumentParser(
        prog="invoice-gateway", description="One invoice API over five invoice providers."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the gateway")
    serve.add_argument("--config", metavar="FILE", help="configuration file (default config.yaml)")
    serve.add_argument(
        "--host", type=_host, help="listen address (default: the config's, else 127.0.0.1)"
    )
    serve.add_argument("--port", type=PORT, help="listen port (default: the config's, else 8080)")
    serve.add_argument(
        "--workers",
        type=_int_in(1, 64, "a number of processes"),
        metavar="N",
        help="processes answering on the port, sharing the store (default: the config's, else 1)",
    )
    serve.add_argument("--sandbox", action="store_true", help="with the five emulated providers")
    serve.add_argument(
        "--seed-invoices",
        type=SEED_INVOICES,
        metavar="N",
        help="with --sandbox: invoices each emulator starts with (default 56)",
    )
    serve.add_argument("--api-key", help="with --sandbox: its API key (default sk_sandbox)")
    serve.add_argument("--write-config", metavar="FILE", help="write the sandbox configuration")

    check = commands.add_parser(
        "check-config",
        help="validate a configuration file",
        description="Check a configuration as serve will use it: the schema, then what each "
        "provider's adapter needs of its connection. --probe also reads one invoice from each "
        "connection. Exit 0: all good; 1: a probe failed; 2: the configuration is refused.",
    )
    check.add_argument(
        "--config",
        default="config.yaml",
        metavar="FILE",
        help="configuration file (default config.yaml)",
    )
    check.add_argument(
        "--probe",
        action="store_true",
        help="also list one invoice from each connection (reads only) and name what fails",
    )

    add_migrate_parser(commands)

    emulate = commands.add_parser("emulate", help="run one provider emulator alone")
    emulate.add_argument("provider", choices=PROVIDERS)
    emulate.add_argument(
        "--host", type=_host, default="127.0.0.1", help="address to listen on (default 127.0.0.1)"
    )
    emulate.add_argument(
        "--port",
        type=PORT,
        default=8081,
        help="port to listen on (default 8081, for every provider: give each emulator its own)",
    )
    emulate.add_argument(
        "--token",
        type=_credential,
        help="credential the emulator accepts (default sandbox-<provider>)",
    )
    emulate.add_argument("--seed", type=int, default=0, help="seed of the generated data")
    emulate.add_argument(
        "--seed-invoices",
        type=SEED_INVOICES,
        default=56,
        metavar="N",
        help="invoices the emulator starts with (default 56)",
    )

    add_export_parser(commands)
    for command in commands.choices.values():
        # A usage error found after parsing (an unknown option, a migrate step) is said with
        # its command's usage line, as argparse says its own errors of that command.
        command.set_defaults(usage_error=command.error)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args, unknown = _parser().parse_known_args(argv)
        if unknown:
            args.usage_error(f"unrecognized arguments: {' '.join(unknown)}")
        return _command(args)
    except KeyboardInterrupt:
        # Ctrl-C before a command's own handling begins (its modules or configuration still
        # loading): nothing was done, said in one line rather than a traceback.
        print("invoice-gateway: interrupted", file=sys.stderr)
        return 128 + signal.SIGINT


def entry() -> None:
    """The ``invoice-gateway`` command: ``main``'s exit status, kept. A Ctrl-C or SIGTERM in
    the moments after the command has ended (its summary printed, the interpreter shutting
    down, which puts Python's handlers back to the default) killed the process, saying
    nothing, its work done and its status lost: once the command has ended, they are ignored
    (SIGKILL still ends a process that would not)."""
    code = main()
    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, signal.SIG_IGN)
    sys.exit(code)


def _command(args: argparse.Namespace) -> int:
    if args.command == "serve":
        return _serve(args)
    if args.command == "emulate":
        return _emulate(args)
    if args.command == "check-config":
        return _check_config(args)
    if args.command == "export":
        return export_command(args)
    if args.command == "migrate":
        return migrate_command(args)
    return EXIT_USAGE


def _check_config(args: argparse.Namespace) -> int:
    from pathlib import Path

    from gateway.settings_file import ConfigError, load_settings

    try:
        settings = load_settings(Path(args.config))
    except ConfigError as exc:
        _print_config_error(exc)
        return EXIT_USAGE
    print(
        f"{args.config}: OK ({len(settings.connections)} connection(s), "
        f"{len(settings.clients)} client(s))",
        flush=True,
    )
    if not args.probe:
        return 0
    import asyncio

    from gateway.probe import probe

    results = asyncio.run(probe(settings))
    for result in results:
        print(f"  probe {result.line()}", file=sys.stdout if result.ok else sys.stderr, flush=True)
    failed = sum(not result.ok for result in results)
    print(f"probe: {len(results) - failed} of {len(results)} connection(s) OK", flush=True)
    return 1 if failed else 0


def _print_config_error(exc: ConfigError) -> None:
    """A refused configuration, as check-config and serve both say it: each problem, one line."""
    print(f"{exc.source}: {len(exc.problems)} problem(s)", file=sys.stderr)
    for problem in exc.problems:
        print(f"  {problem}", file=sys.stderr)


class StopsBeforeStart:
    """``serve``'s stop signals recorded from its first step, before the modules it runs on are
    loaded (half a second, in which a SIGTERM's default killed it, status 143, nothing said):
    handed to ``workers.early_stops``, which records them from then on."""

    def __init__(self) -> None:
        self.signalled = False
        # Held back while the handlers go in, so that none lands between two of them (a SIGHUP
        # just after SIGTERM's handler was in still killed it): one arriving meanwhile is
        # delivered, to its handler, once they are all in.
        stops = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
        held = signal.pthread_sigmask(signal.SIG_BLOCK, stops)
        try:
            for signum in stops:
                signal.signal(signum, self._record)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, held)

    def _record(self, signum: int, frame: object) -> None:
        self.signalled = True


def _serve(args: argparse.Namespace) -> int:
    # The sandbox handles its own (``sandbox.serve``); a configured gateway records them now.
    before = None if args.sandbox else StopsBeforeStart()
    from pathlib import Path

    from gateway.config import LoggingSettings
    from gateway.logging_setup import configure_logging
    from gateway.workers import early_stops

    # Options of the other form are refused rather than passed over: a caller who gave them
    # believes they took effect.
    other = (
        [("--config", args.config), ("--workers", args.workers)]
        if args.sandbox
        else [
            ("--write-config", args.write_config),
            ("--seed-invoices", args.seed_invoices),
            ("--api-key", args.api_key),
        ]
    )
    misplaced = [name for name, value in other if value is not None]
    if misplaced:
        print(
            f"invoice-gateway serve: {', '.join(misplaced)} "
            + (
                "cannot be given with --sandbox, which runs its own configuration in one "
                "process (write it with --write-config FILE, then serve --config FILE)"
                if args.sandbox
                else f"only go{'es' if len(misplaced) == 1 else ''} with --sandbox"
            ),
            file=sys.stderr,
        )
        return EXIT_USAGE
    if args.sandbox:
        configure_logging(LoggingSettings(), buffered=True)
        from gateway.sandbox.serve import serve_sandbox

        write = Path(args.write_config) if args.write_config else None
        host, port = args.host or "127.0.0.1", 8080 if args.port is None else args.port
        if port > 65535 - 5:
            print(
                f"invoice-gateway serve: --port {port}: the sandbox listens on it and the five "
                "ports after it (its emulators), so at most 65530 (or 0: any free ports)",
                file=sys.stderr,
            )
            return EXIT_USAGE
        if args.api_key is not None and not args.api_key.strip():
            print("invoice-gateway serve: --api-key is empty; give a key", file=sys.stderr)
            return EXIT_USAGE
        if args.api_key is not None and not _presentable(args.api_key):
            # HTTP takes the spaces off a header's ends: no request could present such a key.
            print(
                "invoice-gateway serve: --api-key has a space or a control character at an end "
                "or within; no request could present it (give it without)",
                file=sys.stderr,
            )
            return EXIT_USAGE
        seeded = 56 if args.seed_invoices is None else args.seed_invoices
        key = "sk_sandbox" if args.api_key is None else args.api_key
        if not _temporary_directory_writable():  # the sandbox keeps its store in one
            return EXIT_USAGE
        return serve_sandbox(host, port, seeded, key, write)
    # From here a stop signal is recorded, and acted on once the gateway has started.
    stops = early_stops(signalled=before is not None and before.signalled)
    try:
        return _serve_configured(args, stops)
    finally:
        stops.done()


def _serve_configured(args: argparse.Namespace, stops: StopSignals) -> int:
    """``serve`` with a configuration (or none): ``_serve`` once its stop signals are taken."""
    from pathlib import Path

    from gateway.config import ServerSettings, Settings, StoreSettings, http_origin
    from gateway.logging_setup import configure_logging
    from gateway.settings_file import ConfigError, load_settings
    from gateway.store.urls import MEMORY
    from gateway.workers import serve

    path = Path(args.config or "config.yaml")
    if args.config is None and not path.exists():
        # Nothing configured: the calculation endpoint alone, which keeps nothing, so no store
        # file is made wherever it was started (nor needed: a read-only directory serves too).
        settings = Settings(store=StoreSettings(url=f"sqlite:///{MEMORY}"))
        print(_NO_CONFIG, file=sys.stderr, flush=True)
    else:
        try:
            settings = load_settings(path)
        except ConfigError as exc:
            _print_config_error(exc)  # exactly what check-config says of it
            return EXIT_USAGE
    given = {"host": args.host, "port": args.port, "workers": args.workers}
    try:
        server = ServerSettings.model_validate(
            {**dict(settings.server), **{k: v for k, v in given.items() if v is not None}}
        )
        settings.server.cursor_key()  # an unset cursor_secret_env is a usage error, said now
    except (ValueError, LookupError) as exc:
        print(f"invoice-gateway serve: {_first_line(exc)}", file=sys.stderr)
        return EXIT_USAGE
    settings = settings.model_copy(update={"server": server})
    configure_logging(settings.logging, buffered=True)
    # One process listens before it says so (a client told the port must not be refused);
    # a supervisor only reserves the port for its workers.
    alone = server.workers <= 1
    # Workers keep their metrics in a temporary directory of their supervisor's.
    if not alone and not _temporary_directory_writable():
        return EXIT_USAGE
    sock = _bound("serve", server.host, server.port, listen=alone, shared=not alone)
    if sock is None:
        return EXIT_USAGE
    if stops.signalled:  # while its modules loaded or its configuration was read
        sock.close()
        print("invoice-gateway serve: stopped while it was starting", file=sys.stderr)
        return 0
    problem = _store_problem(settings, stops)
    if problem is _STOPPED:
        sock.close()
        print("invoice-gateway serve: stopped while it waited for its store", file=sys.stderr)
        return 0
    if problem is not None:
        sock.close()
        print(f"invoice-gateway serve: {problem}", file=sys.stderr)
        return EXIT_USAGE
    port = sock.getsockname()[1]
    workers = f" ({server.workers} workers)" if server.workers > 1 else ""

    def listening() -> None:
        print(f"invoice-gateway listening on {http_origin(server.host, port)}{workers}", flush=True)

    return serve(settings, sock, server.workers, listening, stops)


def _temporary_directory_writable() -> bool:
    """Whether a temporary directory can be made; when not (a container run ``--read-only``
    without one), says so in one line."""
    import tempfile

    try:
        tempfile.gettempdir()  # the first of TMPDIR, /tmp, /var/tmp, /usr/tmp, . that is writable
    except FileNotFoundError:
        print(
            "invoice-gateway serve: no directory for temporary files can be written (TMPDIR, "
            "/tmp, /var/tmp, /usr/tmp, the working directory): set TMPDIR to a writable "
            "directory, or give a container one (docker run --tmpfs /tmp)",
            file=sys.stderr,
        )
        return False
    return True


# ``_store_problem``'s answer when a stop signal cut its wait short.
_STOPPED = "stopped"


def _store_problem(settings: Settings, stops: StopSignals) -> str | None:
    """Why the store cannot be opened (down, unwritable, a schema from a newer gateway), in one
    line, before the gateway says it listens: not a worker's traceback after it, nor workers
    started again and again. None when it opens; ``_STOPPED`` when a stop signal came while it
    waited (a store that does not answer, another instance's migration holding its lock for
    up to an hour): Ctrl-C and SIGTERM end the wait, as they end a gateway serving."""
    import asyncio

    from gateway.store import StoreError, open_store

    async def opens() -> None:
        task = asyncio.current_task()
        assert task is not None
        loop = asyncio.get_running_loop()

        def cancel() -> None:
            stops.on_signal = None  # once: a second cancel cut into the store's own clean-up
            loop.call_soon_threadsafe(task.cancel)

        stops.on_signal = cancel
        try:
            if stops.signalled:
                raise asyncio.CancelledError
            store = open_store(settings.store.url)
            await store.open()
            await store.close()
        finally:
            stops.on_signal = None

    try:
        asyncio.run(opens())
    except StoreError as exc:
        return str(exc)
    except asyncio.CancelledError:
        return _STOPPED
    return None


def _bound(
    command: str, host: str, port: int, *, listen: bool, shared: bool
) -> socket.socket | None:
    """``workers.bound_socket``, or None once a port in use (or not to be had) is said in one
    line, the command's usage error."""
    from gateway.workers import bound_socket

    try:
        return bound_socket(host, port, listen=listen, shared=shared)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        print(
            f"invoice-gateway {command}: cannot listen on {host}:{port}: {reason}", file=sys.stderr
        )
        return None


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _emulate(args: argparse.Namespace) -> int:
    from emulators.registry import create_app, default_token
    from gateway.config import http_origin

    token = args.token or default_token(args.provider)
    app = create_app(args.provider, token=token, seed=args.seed, seed_invoices=args.seed_invoices)
    # Bound before it says where it listens, as serve does.
    sock = _bound("emulate", args.host, args.port, listen=True, shared=False)
    if sock is None:
        return EXIT_USAGE
    port = sock.getsockname()[1]
    print(
        f"{args.provider} emulator on {http_origin(args.host, port)} (credential: {token})",
        flush=True,
    )
    from aiohttp import web

    web.run_app(app, sock=sock, print=None)
    return 0


if __name__ == "__main__":
    sys.exit(main())


def _presentable(key: str) -> bool:
    """Whether a request can send ``key`` as ``Authorization: Bearer <key>``: ASCII without a
    space or a control character (a header's value loses the spaces at its ends, a line break
    ends it, and the key is the one word after ``Bearer``)."""
    from gateway.text_file import padded_or_controlled

    return key.isascii() and " " not in key and not padded_or_controlled(key)
