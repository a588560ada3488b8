"""A real PostgreSQL server for tests and benchmarks, thrown away after: not a fake.

`ThrowawayPostgres` runs `initdb` in a temporary folder and starts the server on 127.0.0.1 at a free port,
with its socket and log in that folder and durability off for speed (fsync, synchronous_commit and
full_page_writes). Stopping it kills the server (`pg_ctl stop -m immediate`) and deletes the folder.

The programs come from PATH, else from Debian's `/usr/lib/postgresql/<version>/bin` (the newest version).
PostgreSQL refuses to run as root, so as root every program runs as the `postgres` user (`runuser`),
which owns the folder.

    with ThrowawayPostgres() as server:
        url = server.create_database("contracts")  # postgresql://postgres@127.0.0.1:PORT/contracts
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType
from urllib.parse import quote

import psycopg
from psycopg import sql

POSTGRESQL_LIB = Path("/usr/lib/postgresql")  # Debian's versioned installs: <version>/bin
PROGRAMS = ("initdb", "pg_ctl", "postgres")
INITDB_OPTIONS = ("-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync")
SETTINGS = {
    "listen_addresses": "'127.0.0.1'",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
}
START_ATTEMPTS = 3  # each on a new free port, in case another process took the last one first
LOG_TAIL_LINES = 30


def bin_dir() -> Path | None:
    """The folder holding initdb, pg_ctl and postgres: initdb's on PATH, else Debian's newest; None if none."""
    on_path = shutil.which("initdb")
    candidates = [Path(on_path).resolve().parent] if on_path else []
    versions = [path.parent for path in POSTGRESQL_LIB.glob("*/bin/initdb")]
    candidates += sorted(versions, key=_version, reverse=True)
    for folder in candidates:
        if all(os.access(folder / program, os.X_OK) for program in PROGRAMS):
            return folder
    return None


def postgres_unavailable() -> str | None:
    """Why a `ThrowawayPostgres` cannot run here, in one line; None when it can."""
    if bin_dir() is None:
        return f"PostgreSQL not found: no initdb, pg_ctl and postgres on PATH or in {POSTGRESQL_LIB}/*/bin"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root, and there is no 'postgres' user to run PostgreSQL as"
        if _runuser() is None:
            return "running as root, and there is no runuser to run PostgreSQL as the 'postgres' user"
    return None


class ThrowawayPostgres:
    """A PostgreSQL server in a temporary folder on 127.0.0.1; `url` is its `postgres` database."""

    def __init__(self, *, max_connections: int = 200) -> None:
        self.max_connections = max_connections  # several bot processes, each with a pool
        self.folder: Path | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return self.database_url("postgres")

    @property
    def log(self) -> Path:
        """The server's log file."""
        return self._folder / "server.log"

    def database_url(self, name: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{quote(name, safe='')}"

    def start(self) -> None:
        """Create the cluster and start the server; on failure, raise with the tail of its log."""
        if self.folder is not None:
            raise RuntimeError("the server is already started")
        bin_folder = bin_dir()
        reason = postgres_unavailable()
        if bin_folder is None or reason is not None:
            raise RuntimeError(reason)
        self._bin = bin_folder
        self.folder = Path(tempfile.mkdtemp(prefix="cutout-postgres-"))
        try:
            if os.geteuid() == 0:
                shutil.chown(self.folder, user="postgres")
            self._run("initdb", "-D", "data", *INITDB_OPTIONS)
            with open(self._folder / "data" / "postgresql.conf", "a", encoding="utf-8") as conf:
                settings = {**SETTINGS, "max_connections": str(self.max_connections)}
                settings["unix_socket_directories"] = f"'{self._folder}'"
                conf.writelines(f"{name} = {value}\n" for name, value in settings.items())
            self._start_on_a_free_port()
        except BaseException:
            self.stop()
            raise

    def create_database(self, name: str) -> str:
        """A new empty database; returns its URL."""
        with psycopg.connect(self.url, autocommit=True) as connection:
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.database_url(name)

    def drop_database(self, name: str) -> None:
        """Drop a database, ending any connection still open to it."""
        drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        with psycopg.connect(self.url, autocommit=True) as connection:
            connection.execute(drop)

    def stop(self) -> None:
        """Kill the server and delete its folder; safe to call twice."""
        if self.folder is None:
            return
        if (self._folder / "data" / "postmaster.pid").exists():
            self._run("pg_ctl", "stop", "-D", "data", "-m", "immediate", check=False)
        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder = None

    def __enter__(self) -> ThrowawayPostgres:
        self.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def _folder(self) -> Path:
        if self.folder is None:
            raise RuntimeError("the server is not started")
        return self.folder

    def _start_on_a_free_port(self) -> None:
        for _ in range(START_ATTEMPTS):
            self.port = _free_port()
            self.log.unlink(missing_ok=True)
            started = self._run(
                "pg_ctl", "start", "-w", "-t", "30", "-D", "data", "-l", str(self.log), "-o", f"-p {self.port}",
                check=False,
            )  # fmt: skip
            if started.returncode == 0:
                return
            log = self.log.read_text(encoding="utf-8", errors="replace") if self.log.exists() else ""
            if "could not bind" not in log:
                break
        tail = "\n".join(log.splitlines()[-LOG_TAIL_LINES:])
        raise RuntimeError(f"PostgreSQL did not start: {started.stdout}{started.stderr}\n{self.log}:\n{tail}")

    def _run(self, program: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run one of PostgreSQL's programs in the folder, as the `postgres` user when we are root."""
        command = [str(self._bin / program), *args]
        if os.geteuid() == 0:
            command = [str(_runuser()), "-u", "postgres", "--", *command]
        done = subprocess.run(command, cwd=self.folder, capture_output=True, text=True, check=False)  # noqa: S603
        if check and done.returncode != 0:
            raise RuntimeError(f"{program} failed ({done.returncode}): {done.stdout}{done.stderr}")
        return done


def _runuser() -> str | None:
    return shutil.which("runuser") or shutil.which("runuser", path="/usr/sbin:/sbin")


def _version(folder: Path) -> tuple[int, ...]:
    """`15` from `/usr/lib/postgresql/15/bin`, as a number to sort by."""
    return tuple(int(part) for part in folder.parent.name.split(".") if part.isdigit())


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
