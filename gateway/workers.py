"""``serve --workers N``: N gateway processes answering on one port, sharing one store.

The parent reserves the port (a socket bound with ``SO_REUSEPORT`` that never listens), then
forks the workers; each binds its own listening socket to that port and runs its own event loop
and ``create_app``, and the kernel spreads new connections over the workers' sockets (one shared
socket would let whichever worker wakes first take them all).

Everything that must agree between workers lives outside them: idempotency keys in the store (a
SQLite file in WAL mode, or PostgreSQL), and the secret that signs list cursors (the configured
``server.cursor_secret``, else one made here before forking, so a cursor from one worker is good
at every other). The parent restarts a worker that dies, and stops them all on
SIGTERM, SIGINT or SIGHUP. A worker whose parent is gone (killed with SIGKILL, or by the OOM killer,
which no handler sees) stops itself within ``_ORPHAN_CHECK_S``: left running, it would serve an
old configuration (a revoked key still let in) and keep the port from a restarted gateway.

The workers' metrics are summed over all of them (``gateway.metrics.share_between_processes``):
each writes its values to files in a directory the supervisor makes before forking, private to
it and to this run (a gateway started again never reads an older run's files). The supervisor
marks each worker that exits as dead (its counts stay in the sums; its gauges leave them) and
removes the directory when it stops (killed outright, it leaves it behind, read by no one).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import os
import secrets
import select
import signal
import socket
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from types import FrameType

import structlog
from aiohttp import web
from prometheus_client.multiprocess import mark_process_dead

from gateway import heap
from gateway.background import alongside
from gateway.config import Settings
from gateway.log_buffer import flush_all
from gateway.metrics import share_between_processes
from gateway.store import StoreError

_log = structlog.get_logger("gateway.workers")

# A worker that dies sooner than this after starting is restarted only after a pause.
_QUICK_DEATH_S = 1.0
# How often a worker looks whether its supervisor is still there.
_ORPHAN_CHECK_S = 1.0
_BACKLOG = 1024
# How long the supervisor waits for a worker to say it has started before it looks for exits.
_READY_POLL_S = 0.1
# Workers that die before any could start: the gateway cannot start (the errors say why).
_GIVE_UP_AFTER = 3
_COULD_NOT_START = 2  # the exit status, as for a store that cannot be opened
# What stops the supervisor, and its workers with it (SIGHUP: the terminal closed).
_STOPS = frozenset({signal.SIGTERM, signal.SIGINT, signal.SIGHUP})
# What stops a worker (it ignores SIGHUP: its supervisor stops it).
_WORKER_STOPS = (signal.SIGTERM, signal.SIGINT)


def bound_socket(host: str, port: int, *, listen: bool, shared: bool) -> socket.socket:
    """A socket bound to ``host:port`` (port 0: any free port); ``shared``: the workers bind
    the port too (``SO_REUSEPORT``). Listening, or only holding the port for the workers.

    A single process does not share: a second gateway started on its port by mistake is told
    the address is in use rather than quietly taking half the connections. Nor does a second
    ``--workers`` gateway: ``SO_REUSEPORT`` would let it bind beside the first one's workers
    (same user), so the port a supervisor reserves (shared, not listening) is first bound
    without it, alone, and only then shared (its own workers bind it after that)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    if shared and not listen:
        with socket.socket(family, socket.SOCK_STREAM) as alone:
            alone.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            alone.bind((host, port))  # EADDRINUSE when anything listens there
            port = alone.getsockname()[1]
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if shared:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    if listen:
        sock.listen(_BACKLOG)
    return sock


def early_stops(*, signalled: bool = False) -> StopSignals:
    """Stop signals recorded from now on, for ``serve``: a gateway told to stop while it is
    still starting (reading its configuration, waiting for its store) finishes starting, then
    stops, status 0, where the signal's default killed it (status -15, nothing said).
    ``signalled``: one was recorded already, before this module was loaded
    (``cli.StopsBeforeStart``)."""
    stops = StopSignals(_STOPS, early=True)
    stops.signalled = stops.signalled or signalled
    return stops


def serve(
    settings: Settings,
    sock: socket.socket,
    workers: int,
    listening: Callable[[], None] = lambda: None,
    stops: StopSignals | None = None,
) -> int:
    """Run the gateway on the port of ``sock`` in ``workers`` processes (1: this one, on
    ``sock`` itself, which then listens); until stopped. ``listening()`` is called once the
    port takes connections and the app has started (its store open): a client told the port
    is never refused, and one process whose store fails to open says so in one line, exit 2,
    having said nothing of listening. ``stops``: ``early_stops()``, taken before."""
    stops = stops or early_stops()
    if workers <= 1:
        sock.listen(_BACKLOG)
        try:
            with contextlib.suppress(web.GracefulExit):
                _run_worker(
                    settings, sock, settings.server.cursor_key(), stops=stops, started=listening
                )
        except StoreError as exc:
            # Opened once already (``cli._store_problem``), it failed in between: a failover.
            print(f"invoice-gateway serve: {exc}", file=sys.stderr, flush=True)
            return _COULD_NOT_START
        return 0
    if stops.signalled:
        return 0  # told to stop before any worker was started
    secret = settings.server.cursor_key() or secrets.token_bytes(32)
    # Loaded before forking: a worker started later (in place of a dead one) runs the code its
    # siblings run, not whatever is on disk by then.
    importlib.import_module("gateway.http.app")
    # Made here (mode 0700), never taken from the environment: only this run's workers write it.
    with tempfile.TemporaryDirectory(prefix="invoice-gateway-metrics-") as files:
        return _Supervisor(settings, sock, workers, secret, files).run(listening, stops)


class StopSignals:
    """A serving process's stop signals: the first stops it gracefully (requests in flight
    finish, status 0); every later one is ignored until it has exited. SIGKILL cuts it short.

    - **Before the app has started** (``early``, a single gateway): the signal is only
      recorded. Raising from the handler would stop it wherever it happened to be: in an
      import (a half-made module, status 1) or half-way through opening the store (a run that
      never exited was seen, most likely a SQLite thread left running). A worker keeps the
      default until then: its supervisor, which sent the signal, is stopping too.
    - **Once it has started** (``start``, its last start-up step but the worker's word that it
      is ready), plain handlers: the first signal turns them all off (``_ignore``) and tells the
      loop to stop; a recorded one stops it once the start-up is done, undone by the app's
      clean-up.
    - **Why once.** A SIGTERM sent to the whole group (systemd's default; a terminal's Ctrl-C
      as SIGINT) reaches each worker twice, from its sender and again from the supervisor, at
      any moment of its stopping; a person may press Ctrl-C twice. aiohttp's handlers, and the
      loop's own (``add_signal_handler``), raised the second one in the middle of the stop (a
      request in flight cut off), or, once the clean-up had put the signals back to their
      defaults, let it kill the process before its waiting log lines were written. The loop's
      handlers cannot be given up without that default for a moment; these go straight to one
      that ignores them.
    - Any thread may take a signal: a byte on the wakeup socket (``signal.set_wakeup_fd``)
      wakes the loop, whose thread then runs the handler."""

    def __init__(self, signals: Iterable[signal.Signals], *, early: bool) -> None:
        self.signals = tuple(signals)
        self.signalled = False  # before the app had started
        # Called on a signal recorded before then (``cli._store_problem``: a wait for the
        # store cut short), from the signal's handler: it must only schedule work.
        self.on_signal: Callable[[], None] | None = None
        self.stopping = False
        self.exited = False  # GracefulExit raised: the loop is told to stop once
        self.loop: asyncio.AbstractEventLoop | None = None
        self.wakeup: tuple[socket.socket, socket.socket] | None = None  # held for the life
        if early:
            for signum in self.signals:
                signal.signal(signum, self._record)

    def _record(self, signum: int, frame: FrameType | None) -> None:
        self.signalled = True
        if self.on_signal is not None:
            self.on_signal()

    async def start(self, app: web.Application) -> None:
        self.loop = loop = asyncio.get_running_loop()
        self.wakeup = wake, woken = socket.socketpair()
        for end in self.wakeup:
            end.setblocking(False)
        loop.add_reader(woken.fileno(), _drain, woken)
        signal.set_wakeup_fd(wake.fileno(), warn_on_full_buffer=False)
        for signum in self.signals:
            signal.signal(signum, self._stop)
        if self.signalled:
            # Stopped from the loop, once the start-up is done: raised in it, run_app skips its
            # clean-up (the store and the provider sessions were left to the interpreter's
            # finalization, which logged their errors), as aiohttp sets up outside its try.
            # This start is the app's last start-up step that could wait (``_run_worker``): one
            # appended after it that awaits would let the exit land inside the start-up again.
            self._ignore()
            loop.call_soon(self._exit_once)

    def _stop(self, signum: int, frame: FrameType | None) -> None:
        if self.stopping or self.loop is None or self.loop.is_closed():
            return  # stopping already, or the loop is gone: the process is on its way out
        self._ignore()
        self.loop.call_soon_threadsafe(self._exit_once)

    def _exit_once(self) -> None:
        """GracefulExit, once. A second signal's handler can run inside the first's, before
        ``_ignore`` has turned the signals off, and schedule this again: raised twice, the second
        came out of aiohttp's clean-up as a traceback (seen once in a CI run, with a signal every
        5 ms). Callbacks run one after the other, so this check cannot race."""
        if self.exited:
            return
        self.exited = True
        self._ignore_for_good()
        raise web.GracefulExit()

    def _ignore(self) -> None:
        """Every later stop signal ignored, first by a handler that does nothing: one that has
        already arrived (the supervisor's SIGTERM behind a terminal's SIGINT) but whose Python
        handler has not run yet would find ``SIG_IGN`` there, and CPython writes it out as
        ``OSError: Signal 15 ignored due to race condition`` (a traceback per worker, on every
        Ctrl-C). Then, from the loop (``_exit_once``, once the handlers of every signal that
        had arrived have run), ``SIG_IGN`` itself: a Python handler is put back to the default
        as the interpreter finalizes, and a signal then would kill the process (status -15)."""
        self.stopping = True
        for signum in self.signals:
            signal.signal(signum, ignored)

    def _ignore_for_good(self) -> None:
        for signum in self.signals:
            signal.signal(signum, signal.SIG_IGN)

    def done(self) -> None:
        """The process is on its way out whatever comes: every later stop signal ignored.
        Python puts its handlers back to the default as the interpreter finalizes, and a
        second Ctrl-C then killed a gateway that had said why it stopped (status -2)."""
        self.on_signal = None
        self._ignore_for_good()


def ignored(signum: int, frame: FrameType | None) -> None:
    """A stop signal after the first: the process is stopping already."""


def _drain(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while sock.recv(512):
            pass


def _run_worker(
    settings: Settings,
    sock: socket.socket,
    secret: bytes | None,
    parent: int | None = None,
    ready: int | None = None,
    stops: StopSignals | None = None,
    started: Callable[[], None] | None = None,
) -> None:
    """Serve on ``sock``; a supervisor's worker (``parent``) watches it, and writes its pid to
    ``ready`` once its app has started (store open, adapters built); a single gateway calls
    ``started()`` then. Its stop signals: ``stops`` (a single gateway's, set before it
    started), else a worker's (``StopSignals``)."""
    app = serving_app(settings, secret)
    if parent is not None:
        app.cleanup_ctx.append(_stop_when_orphaned(parent))
        app.cleanup_ctx.append(_gauges_written)
    stops = stops or StopSignals(_WORKER_STOPS, early=False)
    app.on_startup.append(stops.start)  # before it says so: a stop then finds the handlers
    if ready is not None:
        app.on_startup.append(_say_ready(ready))
    if started is not None:

        async def say_started(app: web.Application) -> None:
            started()  # awaits nothing: a stop cannot land inside the start-up (``start``)

        app.on_startup.append(say_started)
    web.run_app(
        app,
        sock=sock,
        print=None,
        handle_signals=False,
        # aiohttp's keep-alive timer runs from a connection's opening and from each answer,
        # and closes it if no whole request head came meanwhile: a slow or idle client.
        keepalive_timeout=settings.server.idle_timeout_s,
    )


def _say_ready(ready: int) -> Callable[[web.Application], Awaitable[None]]:
    async def say(app: web.Application) -> None:
        with contextlib.suppress(OSError):  # the supervisor stopped waiting
            os.write(ready, f"{os.getpid()}\n".encode())
        os.close(ready)

    return say


def serving_app(settings: Settings, secret: bytes | None) -> web.Application:
    """The app a serving process runs: ``create_app``'s, whose start-up then settles the
    collector (``heap.settle``) after the app's own, its sessions and store opened."""
    from gateway.http.app import create_app

    app = create_app(settings, cursor_secret=secret)
    app.on_startup.append(_settle)
    return app


def _stop_when_orphaned(parent: int) -> Callable[[web.Application], AsyncIterator[None]]:
    """A watch, for the app's life, that stops this worker as SIGTERM would (requests in
    flight finish) once ``parent``, its supervisor, is no longer its parent."""

    async def watch() -> None:
        # Polled: no event tells a process that its parent died (short of Linux's prctl).
        orphaned = False
        while not orphaned:
            await asyncio.sleep(_ORPHAN_CHECK_S)
            orphaned = os.getppid() != parent
        try:
            print(
                f"invoice-gateway worker {os.getpid()}: its supervisor {parent} is gone; stopping",
                file=sys.stderr,
                flush=True,
            )
            _log.warning("supervisor_gone", supervisor=parent)
        finally:
            # Stopped even where saying so fails: a stderr that was a pipe whose reader died
            # with the supervisor (``serve … 2>&1 | logger``) raises BrokenPipeError, and the
            # worker went on serving, holding the port, for good.
            os.kill(os.getpid(), signal.SIGTERM)

    async def watching(app: web.Application) -> AsyncIterator[None]:
        async with alongside(watch()):
            yield

    return watching


async def _gauges_written(app: web.Application) -> AsyncIterator[None]:
    """A worker's own gauges written now and then, for the scrapes other workers answer."""
    from gateway.http.keys import METRICS

    async with alongside(app[METRICS].keep_gauges_written()):
        yield


async def _settle(app: web.Application) -> None:
    heap.settle()


def _worker_socket(reserved: socket.socket) -> socket.socket:
    host, port = reserved.getsockname()[:2]
    return bound_socket(host, port, listen=True, shared=True)


class _Supervisor:
    def __init__(
        self, settings: Settings, sock: socket.socket, count: int, secret: bytes, files: str
    ):
        self.settings = settings
        self.sock = sock
        self.count = count
        self.secret = secret
        self.metric_files = files  # the directory the workers write their metrics in
        self.children: dict[int, float] = {}  # pid → when it started
        self.stopping = False
        # Until every worker has started: each writes its pid here once its app has.
        self.ready: tuple[int, int] | None = None
        self._said = b""  # what the workers wrote there, up to an unfinished line

    def run(self, listening: Callable[[], None], early: StopSignals) -> int:
        """Until every worker has exited: 0, or 2 when they could not start. Once stopping,
        every stop signal is ignored on the way out: Python puts its handlers back to the
        default as the interpreter finalizes, and a second Ctrl-C or SIGTERM close behind the
        first then killed the supervisor (status 130 or 143) after its workers had stopped."""
        try:
            return self._run(listening, early)
        finally:
            if self.stopping:
                for stop in _STOPS:
                    signal.signal(stop, signal.SIG_IGN)

    def _run(self, listening: Callable[[], None], early: StopSignals) -> int:
        for stop in _STOPS:
            signal.signal(stop, self._stop)
        if early.signalled:  # between ``serve``'s look and the handlers just set
            self._stop(signal.SIGTERM, None)
        self.ready = os.pipe()
        for _ in range(self.count):
            self._spawn()  # none once stopping: a stop signal may come between two forks
        started: set[int] = set()  # workers whose app has started
        unstarted_deaths = 0
        while self.children:
            if self.ready is not None:
                started |= self._started(self.ready[0])
                if started >= set(self.children):
                    self._close_ready()
                    if not self.stopping:
                        listening()
            try:
                pid, status = os.waitpid(-1, 0 if self.ready is None else os.WNOHANG)
            except ChildProcessError:
                break
            except InterruptedError:
                continue
            if pid == 0:
                continue  # still waiting for the workers to start; none exited
            began = self.children.pop(pid, None)
            mark_process_dead(pid, self.metric_files)  # type: ignore[no-untyped-call]
            if began is None or self.stopping:
                continue
            if self.ready is not None and pid not in started:
                unstarted_deaths += 1
                if unstarted_deaths >= _GIVE_UP_AFTER:
                    print(
                        f"invoice-gateway serve: {unstarted_deaths} workers exited before they "
                        "could serve (their errors above); stopping",
                        file=sys.stderr,
                        flush=True,
                    )
                    _log.error("workers_could_not_start", exited=unstarted_deaths)
                    self._stop(signal.SIGTERM, None)
                    self._reap_all()
                    self._close_ready()
                    return _COULD_NOT_START
            print(
                f"invoice-gateway worker {pid} exited ({_describe(status)}); starting another",
                file=sys.stderr,
                flush=True,
            )
            # And a line of the log, for what collects the log (the stderr line is a person's).
            _log.warning("worker_replaced", worker=pid, exit=_describe(status))
            if time.monotonic() - began < _QUICK_DEATH_S:
                time.sleep(_QUICK_DEATH_S)  # a worker that cannot start must not spin
            if not self.stopping:
                self._spawn()
        self._close_ready()
        return 0

    def _reap_all(self) -> None:
        for pid in list(self.children):
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
            mark_process_dead(pid, self.metric_files)  # type: ignore[no-untyped-call]
        self.children.clear()

    def _started(self, ready: int) -> set[int]:
        """The workers that said, within the next moment, that their app has started."""
        try:
            readable, _, _ = select.select([ready], [], [], _READY_POLL_S)
        except InterruptedError:
            return set()
        if not readable:
            return set()
        self._said += os.read(ready, 4096)
        lines, _, self._said = self._said.rpartition(b"\n")
        return {int(line) for line in lines.split()}

    def _close_ready(self) -> None:
        if self.ready is not None:
            for end in self.ready:
                os.close(end)
            self.ready = None

    def _spawn(self) -> None:
        # A stop signal arriving mid-fork must not reach the worker while it still has the
        # supervisor's handler (it would be swallowed): blocked until each side has its own.
        signal.pthread_sigmask(signal.SIG_BLOCK, _STOPS)
        if self.stopping:  # told to stop before this fork: no worker it would not stop
            signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOPS)
            return
        pid = os.fork()
        if pid == 0:  # the worker
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            # A hangup reaches the whole group: the supervisor stops the workers (SIGTERM, so
            # requests in flight finish); the worker itself does not die of it.
            signal.signal(signal.SIGHUP, signal.SIG_IGN)
            signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOPS)
            code = 0
            try:
                # Its parent now: the supervisor, which it watches.
                parent = os.getppid()
                share_between_processes(self.metric_files)
                ready = None
                if self.ready is not None:
                    os.close(self.ready[0])
                    ready = self.ready[1]
                sock = _worker_socket(self.sock)
                _run_worker(self.settings, sock, self.secret, parent, ready)
            except StoreError as exc:
                # One log line, as the gateway's logs are (a store down is said, not traced:
                # the supervisor starts another worker every second until it is back).
                _log.error("worker_could_not_start", error=str(exc))
                code = 1
            except BaseException:
                _log.exception("worker_failed")  # the traceback inside the line
                code = 1
            finally:
                flush_all()  # os._exit runs no atexit handler
                os._exit(code)
        self.children[pid] = time.monotonic()
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOPS)

    def _stop(self, signum: int, frame: FrameType | None) -> None:
        self.stopping = True
        for pid in list(self.children):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)


def _describe(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"signal {os.WTERMSIG(status)}"
    return f"status {os.WEXITSTATUS(status)}"
