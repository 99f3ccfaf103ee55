"""``serve --workers N``: N gateway processes on one port, each with its own listening socket.

uvicorn's own supervisor hands every worker the same listening socket, and the worker that
wakes first accepts every connection that is waiting (the event loop drains the backlog). Kept-
alive clients open their connections in a burst — a load balancer's pool, a benchmark's
connections — so they all land on one worker and stay there while the others idle (measured:
16 of 16 connections on one of two workers). Here each worker listens on its own
``SO_REUSEPORT`` socket bound to the same address, and the kernel spreads new connections over
the sockets by a hash of their addresses (Linux; on other systems the port works but is not
balanced).

The port is first bound once without ``SO_REUSEPORT``, so a port already in use (a second
gateway included) is an error, not a silent split of its traffic. A worker that dies is
started again on its socket; one that fails to start stops the whole server.

SIGHUP is a rolling restart (as gunicorn's): a new worker is started on each socket, reading
the configuration anew; once every new one has started, the old ones are sent SIGTERM and
drain — they stop accepting, finish the requests they hold (up to ``DRAIN_S``) and exit. The
sockets stay open in this process throughout, so a connection waiting in a socket's backlog
is accepted by the new worker: no request is refused. If a new worker cannot start (a bad
configuration), the new ones are stopped and the old ones keep serving. "reload complete" is
logged once the old ones have exited; ``/metrics`` shows it too, as the upstream keys in use
(``goodstanding_upstream_key_in_use``: a swapped key's fingerprint is gone then).
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from multiprocessing.process import BaseProcess
from multiprocessing.synchronize import Event

from uvicorn.config import STARTUP_FAILURE

log = logging.getLogger("goodstanding.workers")

# how long a new generation of workers may take to start on SIGHUP
RELOAD_START_S = 60.0
# how long an old worker may take to finish its requests (a long stream) once told to stop
DRAIN_S = 30


def bind(host: str, port: int, *, reuse_port: bool) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    return sock


def listeners(host: str, port: int, n: int) -> list[socket.socket]:
    """n listening sockets on host:port, one per worker; OSError if the port is taken.

    Port 0: the kernel's free port, the same for every socket."""
    probe = bind(host, port, reuse_port=False)  # in use: fail here, as a single worker would
    port = probe.getsockname()[1]
    probe.close()
    sockets = [bind(host, port, reuse_port=True) for _ in range(n)]
    for sock in sockets:
        sock.listen(2048)
    return sockets


def _worker(sock: socket.socket, host: str, port: int, started: Event) -> None:  # child process
    from goodstanding.ops.logs import configure_from_env
    from goodstanding.runner import serve_on
    from goodstanding.server.app import app_from_env

    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # a reload is the supervisor's business
    configure_from_env()  # JSON lines or text, as the parent's `serve` (settings.logging)
    try:
        app = app_from_env()
    except Exception as exc:  # noqa: BLE001 - reported on one line, the server decides
        log.error("worker failed to start: %s", exc)
        sys.exit(STARTUP_FAILURE)
    serve_on(app, sock, host, port, on_started=started.set, drain=DRAIN_S)


class _Supervisor:
    def __init__(self, sockets: list[socket.socket], host: str, port: int) -> None:
        self.sockets = sockets
        self.host, self.port = host, port
        self.context = multiprocessing.get_context("spawn")
        self.draining: list[BaseProcess] = []
        # each worker's event, kept while it lives: a child opens it by name, so the parent
        # must not free it first
        self.events: dict[BaseProcess, Event] = {}

    def start(self, sock: socket.socket) -> tuple[BaseProcess, Event]:
        started = self.context.Event()
        proc = self.context.Process(target=_worker, args=(sock, self.host, self.port, started),
                                    name="goodstanding-worker")
        proc.start()
        self.events[proc] = started
        return proc, started

    def forget(self, proc: BaseProcess) -> None:
        proc.join()
        self.events.pop(proc, None)

    def generation(self) -> list[tuple[BaseProcess, Event]] | None:
        """A worker on every socket, once all have started; None if one could not start."""
        new = [self.start(sock) for sock in self.sockets]
        deadline = time.monotonic() + RELOAD_START_S
        while not all(started.is_set() for _, started in new):
            failed = time.monotonic() > deadline
            for i, (proc, started) in enumerate(new):
                if started.is_set() or proc.is_alive():
                    continue
                if proc.exitcode == STARTUP_FAILURE:
                    failed = True
                    break
                self.forget(proc)  # killed while starting: another takes its socket
                new[i] = self.start(self.sockets[i])
            if failed:
                for proc, _ in new:
                    proc.terminate()
                for proc, _ in new:
                    self.forget(proc)
                return None
            time.sleep(0.05)
        return new

    def retire(self, procs: list[BaseProcess]) -> None:
        """Old workers drain: SIGTERM, uvicorn stops accepting and finishes what it holds."""
        for proc in procs:
            proc.terminate()
        self.draining.extend(procs)

    def reap(self) -> None:
        gone = [p for p in self.draining if not p.is_alive()]
        for proc in gone:
            self.forget(proc)
            self.draining.remove(proc)
        if gone and not self.draining:  # from here on nothing sends with the old configuration
            log.info("reload complete: the old workers have drained and stopped")


def serve(sockets: list[socket.socket], host: str, port: int,
          on_started: Callable[[], None] | None = None) -> int:
    """Run a worker per socket until SIGINT or SIGTERM; 1 if the workers could not start.

    ``on_started`` is called once every worker has started; SIGHUP reloads (module doc)."""
    stop = threading.Event()
    reload = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    signal.signal(signal.SIGHUP, lambda *_: reload.set())
    supervisor = _Supervisor(sockets, host, port)
    first = supervisor.generation()
    if first is None:
        log.error("the workers could not start (see above)")
        return 1
    procs = [proc for proc, _ in first]
    failed = False
    if on_started is not None:
        on_started()
    while not stop.wait(0.2):
        supervisor.reap()
        if reload.is_set():
            reload.clear()
            log.info("SIGHUP: starting %d new workers with the configuration as it is now",
                     len(procs))
            new = supervisor.generation()
            if new is None:
                log.error("reload failed: the new workers did not start (see above); the "
                          "running ones keep serving")
                continue
            supervisor.retire(procs)
            procs = [proc for proc, _ in new]
            log.info("reloaded: %d new workers serve, the old ones drain", len(procs))
            continue
        for i, proc in enumerate(procs):
            if proc.is_alive():
                continue
            if proc.exitcode == STARTUP_FAILURE:
                log.error("a replacement worker could not start (see above); stopping")
                stop.set()
                failed = True
                break
            log.error("worker %s exited with %s; starting another", proc.pid, proc.exitcode)
            supervisor.forget(proc)
            procs[i], _ = supervisor.start(sockets[i])
    for proc in procs + supervisor.draining:
        proc.terminate()
    for proc in procs + supervisor.draining:
        proc.join()
    return 1 if failed else 0
