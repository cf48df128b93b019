"""Loopback servers that misbehave on purpose, and helpers to point DATA_HUB at them.

Every server listens on 127.0.0.1 only and stops when its `with` block ends.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.server
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import d2lhelpers as d2l


def register(monkeypatch, name: str, url: str, payload: bytes | None = None, algo="sha1"):
    """Point DATA_HUB[name] at `url`, with the checksum of `payload` (None: no checksum)."""
    digest = getattr(hashlib, algo)(payload).hexdigest() if payload is not None else None
    monkeypatch.setitem(d2l.DATA_HUB, name, (url, digest))
    return digest


def leftovers(folder: Path) -> list[str]:
    """The temporary files a download left in `folder`."""
    return sorted(p.name for p in folder.iterdir() if p.name.endswith((".part", ".extract")))


def headers(length: int) -> bytes:
    """A 200 response's status line and headers, announcing `length` bytes."""
    return f"HTTP/1.0 200 OK\r\nContent-Length: {length}\r\n\r\n".encode()


# A self-signed certificate for 127.0.0.1 (valid until 2126) and its key, for TLS tests only.
TLS_PEM = Path(__file__).with_name("loopback_tls.pem")


@contextlib.contextmanager
def raw_server(
    respond: Callable[[socket.socket, threading.Event], None], tls: bool = False
) -> Iterator[str]:
    """Serve `respond(conn, stop)` on 127.0.0.1 for every connection; yield the base URL.

    `stop` is an Event set when the test is done, so a stalling handler can end. With
    `tls`, the server speaks HTTPS with the certificate in `TLS_PEM` (clients trust it
    through `SSL_CERT_FILE`).
    """
    context = None
    if tls:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(TLS_PEM)
    stop = threading.Event()
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.1)
    threads = []

    def handle(conn):
        with conn, contextlib.suppress(OSError):
            if context is not None:
                conn.settimeout(5)
                conn = context.wrap_socket(conn, server_side=True)
            conn.recv(65536)  # the request
            respond(conn, stop)

    def accept():
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            thread = threading.Thread(target=handle, args=(conn,), daemon=True)
            thread.start()
            threads.append(thread)

    acceptor = threading.Thread(target=accept, daemon=True)
    acceptor.start()
    try:
        yield f"{'https' if tls else 'http'}://127.0.0.1:{listener.getsockname()[1]}/"
    finally:
        stop.set()
        acceptor.join(5)
        for thread in threads:
            thread.join(5)
        listener.close()


@contextlib.contextmanager
def redirect_server(hops: int, delay: float, payload: bytes) -> Iterator[str]:
    """Redirect `/0` to `/1` ... to `/hops`, waiting `delay` s per hop; `/hops` serves `payload`.

    Yields the URL of the first hop.
    """

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hop = int(self.path.strip("/").split("/")[0])
            threading.Event().wait(delay)
            if hop < hops:
                self.send_response(302)
                self.send_header("Location", f"/{hop + 1}/f.dat")
                self.send_header("Content-Length", "0")
                self.end_headers()
            else:
                self.send_response(200)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/0/f.dat"
    finally:
        server.shutdown()
        server.server_close()
