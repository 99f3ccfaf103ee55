"""Run an ASGI app under uvicorn: in a background thread (tests, demo) or in the foreground (CLI).

Shared by the gateway's server, the simulated upstream and the tests, so it imports neither.

`serve_in_thread` binds the listening socket itself so that port 0 works: the kernel picks a free
port, we read it back from the socket, and uvicorn serves on that socket. A real server in a
thread, rather than an in-process transport, is what lets tests prove that streams stream.
"""

from __future__ import annotations

import gc
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn

STARTUP_TIMEOUT_S = 15.0
# In-flight requests get this long to finish on shutdown; a test that leaves a slow request
# behind must not hold up the whole suite.
GRACEFUL_SHUTDOWN_S = 2


def _loop() -> str:
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return "asyncio"
    return "uvloop"


def _protocol(app: Any, draining: bool = False) -> Any:
    """The app's own HTTP protocol class when it has one, else plain httptools.

    The gateway's app names its bounded protocol (``GatewayApp.http_protocol``), so that this
    runner, shared with the simulated upstream and the tests, knows nothing of the server.
    ``draining``: a worker's connections are drained, not cut, when it stops.
    """
    choose = getattr(app, "http_protocol", None)
    return "httptools" if choose is None else choose(draining)


def _config(app: Any, host: str, port: int, drain: int = GRACEFUL_SHUTDOWN_S) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        loop=_loop(),
        http=_protocol(app, draining=drain > GRACEFUL_SHUTDOWN_S),
        ws="none",
        lifespan="on",
        log_level="warning",
        # uvicorn's own lines ("Invalid HTTP request received.") go through the root logger,
        # i.e. our formatter: its default config wrote plain text into the JSON log stream
        log_config=None,
        access_log=False,
        # the gateway decides itself which peers' X-Forwarded-For to believe (TrustedProxies);
        # uvicorn's own proxy-header handling would trust 127.0.0.1 behind our back
        proxy_headers=False,
        timeout_graceful_shutdown=drain,
    )


class _Server(uvicorn.Server):
    """uvicorn's server that calls ``on_started`` once it is bound and its app has started."""

    def __init__(self, config: uvicorn.Config, on_started: Callable[[], None] | None) -> None:
        super().__init__(config)
        self.on_started = on_started

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if not self.started:
            return
        # What start-up made (the detectors' models and lexicons, settings, modules: nearly
        # nine in ten of the objects the collector tracks after thousands of calls) lives as
        # long as the process: out of the collector's full passes, which then walk only what
        # requests left. Only here, in a process of our own: a gateway served in a thread
        # (tests, the demo) or in library mode would freeze its host's objects too.
        gc.collect()
        gc.freeze()
        if self.on_started is not None:
            self.on_started()


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.setblocking(False)
    return sock


def _base_url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _wait_started(server: uvicorn.Server, thread: threading.Thread) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("the server stopped during start-up (see the log above)")
        if time.monotonic() > deadline:
            raise RuntimeError(f"the server did not start within {STARTUP_TIMEOUT_S:.0f} s")
        time.sleep(0.005)


@contextmanager
def serve_in_thread(app: Any, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Serve `app` in a daemon thread; yield its base URL once it accepts connections."""
    sock = _bind(host, port)
    server = uvicorn.Server(_config(app, host, port))
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="goodstanding-server", daemon=True
    )
    thread.start()
    try:
        _wait_started(server, thread)
        yield _base_url(host, sock.getsockname()[1])
    finally:
        server.should_exit = True
        thread.join(GRACEFUL_SHUTDOWN_S + 5)
        sock.close()


def serve_on(app: Any, sock: socket.socket, host: str, port: int,
             on_started: Callable[[], None] | None = None,
             drain: int = GRACEFUL_SHUTDOWN_S) -> None:
    """Serve `app` in the foreground on a listening socket made elsewhere (serve --workers);
    on SIGTERM, requests in flight get ``drain`` seconds to finish."""
    server = _Server(_config(app, host, port, drain), on_started)
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass


def listen(host: str, port: int) -> socket.socket:
    """A listening socket on host:port (port 0: any free port); OSError if it cannot be had."""
    return _bind(host, port)


def run_forever(app: Any, host: str = "127.0.0.1", port: int = 8700,
                sock: socket.socket | None = None,
                on_started: Callable[[], None] | None = None) -> None:
    """Serve `app` in the foreground until Ctrl-C or SIGTERM; exit without a traceback.

    With ``sock`` (from ``listen``) it serves on that socket; ``on_started`` is called once
    the socket accepts connections and the app has started (``serve`` prints its address then).
    """
    server = _Server(_config(app, host, port), on_started)
    try:
        server.run(sockets=[sock] if sock is not None else None)
    except KeyboardInterrupt:
        # uvicorn shuts down gracefully, then re-raises the captured SIGINT for the caller
        pass
