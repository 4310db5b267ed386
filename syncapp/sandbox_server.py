"""Serve a sandbox's WSGI app over a real socket, in a thread or in the foreground.

Sandboxes are plain WSGI callables with in-memory state, so tests can start them on
an ephemeral port and reach into their state, and the demo can run them as a process.
"""
from __future__ import annotations

import threading
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        return None


class RunningSandbox:
    """A server running in a background thread; `url` is its base address."""

    def __init__(self, app, host: str = "127.0.0.1", port: int = 0) -> None:
        self.server = make_server(host, port, app, _ThreadingWSGIServer, _QuietHandler)
        self.url = f"http://{host}:{self.server.server_port}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> RunningSandbox:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def serve_in_thread(app, host: str = "127.0.0.1", port: int = 0) -> RunningSandbox:
    return RunningSandbox(app, host, port).start()


def serve_forever(app, host: str, port: int) -> None:
    server = make_server(host, port, app, _ThreadingWSGIServer, _QuietHandler)
    server.serve_forever()
