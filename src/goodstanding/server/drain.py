"""A worker's connections on a rolling restart (``serve --workers N``, SIGHUP): drained, not cut.

uvicorn's graceful shutdown closes every connection that has no request in progress at once.
That includes a connection accepted a moment ago whose request is still in the socket's buffer,
unread: closing it with unread data resets it, and its request fails although nothing was
wrong. Here such a connection gets ``IDLE_GRACE_S`` for a request to arrive; one that does is
answered with ``connection: close`` (so the client opens its next connection to a new worker);
then the connection is closed. A request in progress is finished as uvicorn does it, with
``connection: close``. Only the shutdown path changes: nothing per request.
"""

from __future__ import annotations

from typing import Any

IDLE_GRACE_S = 1.0


class Draining:
    """Mixed in before the gateway's protocol class in worker processes (runner.serve_on)."""

    cycle: Any
    app: Any
    loop: Any
    transport: Any

    def shutdown(self) -> None:
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            cycle.keep_alive = False  # answered, then closed
            return
        app = self.app

        def closing(scope: Any, receive: Any, send: Any) -> Any:
            # the request that arrives during the grace: answered with connection: close
            if self.cycle is not None:
                self.cycle.keep_alive = False
            return app(scope, receive, send)

        self.app = closing
        self.loop.call_later(IDLE_GRACE_S, self._close_if_idle)

    def _close_if_idle(self) -> None:
        if self.transport.is_closing():
            return
        cycle = self.cycle
        if cycle is None or cycle.response_complete:
            self.transport.close()
        else:
            cycle.keep_alive = False  # closed once its answer is sent


def draining(protocol: type) -> type:
    return type(f"Draining{protocol.__name__}", (Draining, protocol), {})
