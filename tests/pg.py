"""A throwaway PostgreSQL server for tests and benches: Debian's `postgresql` binaries, a data directory in a temp
dir, a free port on 127.0.0.1, trust authentication, no fsync. Never touches a system service.

    server = PostgresServer.start()     # or None when PostgreSQL is not installed
    url = server.new_database()         # a fresh, empty database per test
    server.stop()

As root (CI containers), the server runs as `nobody`: initdb refuses to run as root.
"""
from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path


def postgres_bindir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(Path(p).parts[-3]))
    if found:
        return Path(found[-1]).parent
    which = shutil.which("pg_ctl")
    return Path(which).parent if which else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class PostgresServer:
    base: Path
    bindir: Path
    port: int
    as_user: list[str]

    @classmethod
    def start(cls) -> "PostgresServer | None":
        bindir = postgres_bindir()
        if bindir is None:
            return None
        base = Path(tempfile.mkdtemp(prefix="headstart-pg-"))
        as_user: list[str] = []
        if os.geteuid() == 0:
            shutil.chown(base, "nobody", "nogroup")
            as_user = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"]
        server = cls(base, bindir, _free_port(), as_user)
        server._run("initdb", "-D", str(base / "data"), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
        server._start()
        return server

    def _start(self) -> None:
        self._run("pg_ctl", "-D", str(self.base / "data"), "-l", str(self.base / "server.log"), "-w", "-t", "60", "-o",
                  f"-p {self.port} -k {self.base} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200",
                  "start")

    def halt(self) -> None:
        """An outage: the server stops at once (every connection drops), keeping its data for `resume`."""
        self._run("pg_ctl", "-D", str(self.base / "data"), "-m", "immediate", "-w", "stop")

    def resume(self) -> None:
        """The server back on the same port with the same data (after crash recovery)."""
        self._start()

    def _run(self, tool: str, *args: str) -> None:
        out = subprocess.run([*self.as_user, str(self.bindir / tool), *args], capture_output=True, text=True, timeout=120,
                             cwd=self.base)
        if out.returncode != 0:
            log = (self.base / "server.log").read_text() if (self.base / "server.log").exists() else ""
            raise RuntimeError(f"{tool} failed ({out.returncode}): {out.stderr.strip()} {log[-2000:]}")

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def new_database(self) -> str:
        import psycopg

        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres", autocommit=True) as c:
            c.execute(f'CREATE DATABASE "{name}"')
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"

    def stop(self) -> None:
        try:
            self._run("pg_ctl", "-D", str(self.base / "data"), "-m", "immediate", "stop")
        finally:
            shutil.rmtree(self.base, ignore_errors=True)


def start_or_skip() -> PostgresServer:
    """A server of the caller's own, or skip the test where PostgreSQL is not installed — an error instead where
    HEADSTART_REQUIRE_POSTGRES=1 (CI), so a missing package never passes for a green run."""
    import pytest

    server = PostgresServer.start()
    if server is None:
        if os.environ.get("HEADSTART_REQUIRE_POSTGRES") == "1":
            raise RuntimeError("PostgreSQL is not installed (Debian: apt-get install postgresql)")
        pytest.skip("PostgreSQL is not installed (Debian: apt-get install postgresql)")
    return server
