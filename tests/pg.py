"""A throwaway PostgreSQL cluster for the test run (TEST_ENGINE=postgresql).

One cluster per pytest process, in a temporary directory on a free port, started with Debian's
server binaries (scripts/install-postgresql.sh installs them): initdb + pg_ctl take ~2 s. The
schema is migrated once into a template database; each test gets its own database copied from
it (CREATE DATABASE … TEMPLATE, ~70 ms), so tests never see each other's rows.
"""

from __future__ import annotations

import atexit
import glob
import itertools
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ENGINE_VARIABLE = "TEST_ENGINE"
PREFIX = "callbridge-pg-"
TEMPLATE = "callbridge_template"


def engine() -> str:
    """The engine this test run stores in: sqlite (default) or postgresql."""
    return os.environ.get(ENGINE_VARIABLE, "sqlite")


def server_bin() -> Path | None:
    """The newest installed PostgreSQL server's bin directory (Debian: /usr/lib/postgresql/N/bin)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: int(Path(p).parent.parent.name))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


class Cluster:
    def __init__(self, durable: bool = False) -> None:
        """durable: commits survive a crash of the server (synchronous_commit on), for a test
        that crashes it; otherwise the syncs are skipped, for speed."""
        bindir = server_bin()
        if bindir is None:
            raise RuntimeError("no PostgreSQL server: run scripts/install-postgresql.sh")
        self.bindir = bindir
        _reap_abandoned(bindir)
        self.dir = Path(tempfile.mkdtemp(prefix=PREFIX))
        (self.dir / "owner.pid").write_text(str(os.getpid()))
        self.port = _free_port()
        self.host = "127.0.0.1"
        # initdb refuses to run as root: the cluster belongs to the postgres user then
        self.user = "postgres" if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name
        self._names = itertools.count(1)
        self.data = self.dir / "data"
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres")
        self._as_owner([str(bindir / "initdb"), "-D", str(self.data), "-U", self.user,
                        "--auth=trust", "--encoding=UTF8", "--locale=C.UTF-8", "-N"])
        # The shared cluster skips the syncs: a kill -9 of callbridge is under test, and then
        # PostgreSQL keeps every committed row however it syncs. A crash of the server itself is
        # not survived that way: with synchronous_commit off, the last ~0.6 s of commits are
        # lost in it (a webhook delivery recorded just before was then sent again after), so a
        # test that crashes the server asks for a durable one, as an operator's is.
        self._options = (f"-p {self.port} -c listen_addresses={self.host}"
                         f" -c unix_socket_directories={self.dir} -c max_connections=300")
        if not durable:
            self._options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        self.server("start")
        atexit.register(self.stop)
        self._psql(f"CREATE DATABASE {TEMPLATE}")
        # the schema, once: each test's database is a copy
        done = subprocess.run([sys.executable, "-m", "callbridge", "db", "init"],
                              capture_output=True, text=True,
                              env={**os.environ, "CALLBRIDGE_DATABASE": self.url(TEMPLATE)})
        if done.returncode:
            raise RuntimeError(f"migrating the template failed: {done.stderr}")

    def _as_owner(self, argv: list[str]) -> None:
        if os.geteuid() == 0:
            argv = ["runuser", "-u", "postgres", "--", *argv]
        subprocess.run(argv, check=True, capture_output=True, cwd=self.dir)

    def _psql(self, sql: str, database: str = "postgres") -> None:
        subprocess.run([str(self.bindir / "psql"), "-h", self.host, "-p", str(self.port),
                        "-U", self.user, "-d", database, "-v", "ON_ERROR_STOP=1", "-qc", sql],
                       check=True, capture_output=True)

    def url(self, database: str) -> str:
        return f"postgresql://{self.user}@{self.host}:{self.port}/{database}"

    def new_database(self) -> str:
        """A fresh database holding the migrated, empty schema; its URL."""
        name = f"t{os.getpid()}_{next(self._names)}"
        self._psql(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE}")
        return self.url(name)

    def server(self, action: str, mode: str = "immediate") -> None:
        """pg_ctl stop / start / restart of this cluster's server (-m immediate: as a crash)."""
        argv = [str(self.bindir / "pg_ctl"), "-D", str(self.data), "-w", "-l",
                str(self.dir / "server.log"), "-o", self._options, action]
        if action != "start":
            argv += ["-m", mode]
        self._as_owner(argv)

    def stop(self) -> None:
        if self.data.exists():
            try:
                self._as_owner([str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m",
                                "immediate", "stop"])
            except subprocess.CalledProcessError:
                pass  # already stopped
        shutil.rmtree(self.dir, ignore_errors=True)


def _reap_abandoned(bindir: Path) -> None:
    """Stops and removes the clusters of earlier test runs that were killed before their atexit
    (a SIGKILLed or timed-out pytest), so they don't pile up holding memory and ports."""
    for owner in Path(tempfile.gettempdir()).glob(PREFIX + "*/owner.pid"):
        try:
            os.kill(int(owner.read_text()), 0)
            continue  # its pytest still runs
        except ProcessLookupError:
            pass
        except (ValueError, OSError):
            continue  # not ours to judge (unreadable, another user's)
        data = owner.parent / "data"
        if (data / "postmaster.pid").exists():
            argv = [str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]
            if os.geteuid() == 0:
                argv = ["runuser", "-u", "postgres", "--", *argv]
            subprocess.run(argv, capture_output=True)
        shutil.rmtree(owner.parent, ignore_errors=True)


def _free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


_cluster: Cluster | None = None


def cluster() -> Cluster:
    global _cluster
    if _cluster is None:
        _cluster = Cluster()
    return _cluster


_databases: dict[str, str] = {}


def fresh_database(tmp_path: Path, name: str = "callbridge.db") -> str:
    """Where a test stores: the SQLite file tmp_path/name, or in a PostgreSQL run a database
    made for it on first use (the same one again for the same tmp_path and name: a test that
    restarts callbridge finds its data)."""
    path = str(tmp_path / name)
    if engine() != "postgresql":
        return path
    if path not in _databases:
        _databases[path] = cluster().new_database()
    return _databases[path]


def created_database(tmp_path: Path, name: str = "callbridge.db") -> str:
    """fresh_database, created as `callbridge db init` creates it (the CLI's data commands
    refuse a database that does not exist): the SQLite file migrated, PostgreSQL's copy of the
    migrated template as it is."""
    target = fresh_database(tmp_path, name)
    if engine() != "postgresql":
        from callbridge.db.migrate import migrate
        migrate(Path(target))
    return target


def query(target: str, sql: str) -> list[tuple]:
    """Rows of one read on a test's database (SQLite file or PostgreSQL URL), from a test that
    isn't running an event loop: what an operator's psql or sqlite3 would show."""
    if target.startswith("postgresql://"):
        import asyncio

        import asyncpg

        async def read() -> list[tuple]:
            conn = await asyncpg.connect(target)
            try:
                return [tuple(r) for r in await conn.fetch(sql)]
            finally:
                await conn.close()
        return asyncio.run(read())
    import sqlite3
    if not Path(target).exists():
        return []
    with sqlite3.connect(f"file:{target}?mode=ro", uri=True, timeout=10) as c:
        return c.execute(sql).fetchall()
