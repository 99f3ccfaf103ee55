"""A TCP forwarder that a test can cut, freeze and restore: a store outage without touching
the store.

``cut`` drops every connection and refuses new ones (a vanished database); ``freeze`` keeps
every connection open and accepts new ones but passes no byte either way (a hung database or a
network that drops packets) until ``restore``, which lets the held bytes through.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager


class Forwarder:
    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self.up = True
        self._flowing = threading.Event()
        self._flowing.set()
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if not self.up:
                client.close()  # refused while cut
                continue
            try:
                upstream = socket.create_connection(self.target, 2)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                self._flowing.wait()
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def cut(self) -> None:
        """Drop every open connection and refuse new ones."""
        self.up = False
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for s in sockets:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def freeze(self) -> None:
        """Accept and keep connections, but pass nothing on until ``restore``."""
        self._flowing.clear()

    def restore(self) -> None:
        self.up = True
        self._flowing.set()

    def close(self) -> None:
        self.cut()
        self._flowing.set()
        self.listener.close()


@contextmanager
def forwarder(host: str, port: int) -> Iterator[Forwarder]:
    proxy = Forwarder((host, port))
    try:
        yield proxy
    finally:
        proxy.close()
