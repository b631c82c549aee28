"""Small real servers on 127.0.0.1 for the security tests."""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from contextlib import contextmanager


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def listener(*, banner: bytes | None = None):
    """Listen on a free port; accept connections and never answer.

    With ``banner`` each connection is sent those bytes first (as a server
    of another kind would), then held open without another word.
    """
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def serve() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            held.append(conn)
            if banner:
                with contextlib.suppress(OSError):
                    conn.sendall(banner)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1]
    finally:
        stop.set()
        thread.join(2)
        for conn in held:
            conn.close()
        server.close()


def closed_port() -> int:
    """Return a port on 127.0.0.1 that nothing listens on."""
    return free_port()


def _recv_exact(conn: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    return data


def _message(kind: bytes, body: bytes) -> bytes:
    return kind + struct.pack("!I", len(body) + 4) + body


def _pg_handshake(conn: socket.socket) -> None:
    """Play a PostgreSQL server up to "ready for query", then stop talking."""
    while True:
        (length,) = struct.unpack("!I", _recv_exact(conn, 4))
        body = _recv_exact(conn, length - 4)
        (code,) = struct.unpack("!I", body[:4])
        if code in (80877103, 80877104):  # SSL or GSS encryption request
            conn.sendall(b"N")
            continue
        break  # the startup message
    reply = _message(b"R", struct.pack("!I", 0))  # authentication ok
    for name, value in (
        ("server_version", "16.0"),
        ("client_encoding", "UTF8"),
        ("server_encoding", "UTF8"),
        ("standard_conforming_strings", "on"),
        ("DateStyle", "ISO, MDY"),
        ("integer_datetimes", "on"),
        ("TimeZone", "UTC"),
    ):
        reply += _message(b"S", f"{name}\0{value}\0".encode())
    reply += _message(b"K", struct.pack("!II", 4242, 99))
    reply += _message(b"Z", b"I")
    conn.sendall(reply)


@contextmanager
def silent_postgres():
    """A server that completes PostgreSQL's handshake, then never answers again."""
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def serve() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            held.append(conn)
            conn.settimeout(5)
            with contextlib.suppress(OSError, ConnectionError, struct.error):
                _pg_handshake(conn)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1]
    finally:
        stop.set()
        thread.join(2)
        for conn in held:
            conn.close()
        server.close()
