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
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
import socket
import sys
import threading

from uvicorn.config import STARTUP_FAILURE

log = logging.getLogger("goodstanding.workers")


def bind(host: str, port: int, *, reuse_port: bool) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    return sock


def listeners(host: str, port: int, n: int) -> list[socket.socket]:
    """n listening sockets on host:port, one per worker; OSError if the port is taken."""
    bind(host, port, reuse_port=False).close()  # in use: fail here, as a single worker would
    sockets = [bind(host, port, reuse_port=True) for _ in range(n)]
    for sock in sockets:
        sock.listen(2048)
    return sockets


def _worker(sock: socket.socket, host: str, port: int) -> None:  # runs in the child process
    from goodstanding.ops.logs import configure_from_env
    from goodstanding.server.app import app_from_env
    from goodstanding.server.runner import serve_on

    configure_from_env()  # JSON lines or text, as the parent's `serve` (settings.logging)
    try:
        app = app_from_env()
    except Exception:
        log.exception("worker failed to start")
        sys.exit(STARTUP_FAILURE)
    serve_on(app, sock, host, port)


def serve(host: str, port: int, n: int) -> int:
    """Run n workers until SIGINT or SIGTERM; 1 if a worker could not start."""
    try:
        sockets = listeners(host, port, n)
    except OSError as exc:
        log.error("cannot listen on %s:%d: %s", host, port, exc)
        return 1
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    context = multiprocessing.get_context("spawn")

    def start(sock: socket.socket) -> multiprocessing.process.BaseProcess:
        proc = context.Process(target=_worker, args=(sock, host, port), name="goodstanding-worker")
        proc.start()
        return proc

    procs = [start(sock) for sock in sockets]
    failed = False
    while not stop.wait(0.5):
        for i, proc in enumerate(procs):
            if proc.is_alive():
                continue
            if proc.exitcode == STARTUP_FAILURE:
                failed = True
                stop.set()
                break
            log.error("worker %s exited with %s; starting another", proc.pid, proc.exitcode)
            procs[i] = start(sockets[i])
    for proc in procs:
        proc.terminate()
    for proc in procs:
        proc.join()
    return 1 if failed else 0
