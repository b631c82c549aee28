"""A private PostgreSQL server for the tests that need server settings.

The shared server on 5432 has no ``pg_stat_statements`` loaded, and a test
may not restart it. This one is created with ``initdb`` in a temporary
folder, started with ``pg_ctl`` as the ``postgres`` OS user (PostgreSQL
refuses to run as root) on a port of the test range, and removed at the end.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg

# The test range of ports; PLUMBLINE_TEST_PG_PORT picks another start.
FIRST_PORT = int(os.environ.get("PLUMBLINE_TEST_PG_PORT", "18232"))
PORTS_TRIED = 8
SETTINGS = (
    "shared_preload_libraries=pg_stat_statements",
    "listen_addresses=127.0.0.1",
    "fsync=off",
    "synchronous_commit=off",
    "full_page_writes=off",
    "max_connections=40",
    "shared_buffers=32MB",
    "pg_stat_statements.track=all",
)


def find_binaries() -> Path | None:
    """Return the folder holding initdb and pg_ctl, or None when absent."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)
    if found:
        return Path(found[0]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _free_port() -> int:
    for port in range(FIRST_PORT, FIRST_PORT + PORTS_TRIED):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {FIRST_PORT}-{FIRST_PORT + PORTS_TRIED - 1}")


@dataclass
class PrivateServer:
    """A running private server: where it listens and how to reach it."""

    bin: Path
    folder: Path
    port: int

    @property
    def data(self) -> Path:
        return self.folder / "data"

    def url(self, database: str = "postgres", user: str = "postgres") -> str:
        return f"postgresql://{user}@127.0.0.1:{self.port}/{database}"

    def connect(self, database: str = "postgres") -> psycopg.Connection[tuple]:
        return psycopg.connect(
            f"host=127.0.0.1 port={self.port} user=postgres dbname={database}",
            autocommit=True,
            connect_timeout=5,
        )

    @contextlib.contextmanager
    def database(self, name: str) -> Iterator[str]:
        """Create database ``name``, yield its URL, drop it afterwards."""
        with self.connect() as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield self.url(name)
        finally:
            with self.connect() as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _as_postgres(args: list[str]) -> list[str]:
    """Return ``args`` run as the postgres OS user when we are root."""
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *args]
    return args


def _run(args: list[str]) -> None:
    done = subprocess.run(
        _as_postgres(args), capture_output=True, text=True, timeout=120, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args[:2])} failed: {done.stderr or done.stdout}")


@contextlib.contextmanager
def private_server(bin_folder: Path) -> Iterator[PrivateServer]:
    """Create, start, yield and finally remove a private server."""
    folder = Path(tempfile.mkdtemp(prefix="plumbline-pg-"))
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
    server = PrivateServer(bin_folder, folder, _free_port())
    options = " ".join(f"-c {s}" for s in SETTINGS)
    try:
        _run(
            [
                str(bin_folder / "initdb"),
                "-D",
                str(server.data),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
            ]
        )
        _run(
            [
                str(bin_folder / "pg_ctl"),
                "-D",
                str(server.data),
                "-l",
                str(folder / "server.log"),
                "-o",
                f"-p {server.port} -k {folder} {options}",
                "-w",
                "-t",
                "60",
                "start",
            ]
        )
        yield server
    finally:
        if (server.data / "postmaster.pid").exists():
            subprocess.run(
                _as_postgres(
                    [str(bin_folder / "pg_ctl"), "-D", str(server.data)]
                    + ["-m", "immediate", "-w", "stop"]
                ),
                capture_output=True,
                timeout=60,
                check=False,
            )
        shutil.rmtree(folder, ignore_errors=True)
