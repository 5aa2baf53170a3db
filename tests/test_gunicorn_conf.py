"""gunicorn.conf.py's hooks that can be checked without a master: a stopping worker still answers
connections it accepted before its listening socket closed."""

from __future__ import annotations

import runpy
import signal
import socket

from tests.conftest import ROOT

CONF = runpy.run_path(str(ROOT / "gunicorn.conf.py"))


class Worker:
    def __init__(self, sockets: list[socket.socket]):
        self.sockets = sockets
        self.handled: list[tuple[object, object]] = []
        self.wsgi = object()

    def handle_exit(self, sig: int, frame: object) -> None:
        pass

    def handle(self, listener: socket.socket, client: object, addr: object) -> None:
        self.handled.append((listener.getsockname(), client))


def test_a_connection_accepted_before_the_listener_closed_is_still_handled() -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    name = listener.getsockname()
    worker = Worker([listener])
    ours = signal.getsignal(signal.SIGTERM)
    try:
        CONF["post_worker_init"](worker)
    finally:
        signal.signal(signal.SIGTERM, ours)  # the hook's own is a worker's, not this process's
    listener.close()  # the worker is stopping; a connection it accepted waits for its greenlet
    worker.handle(listener, "client", ("127.0.0.1", 1))
    assert worker.handled == [(name, "client")]
