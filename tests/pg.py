"""A real, throwaway PostgreSQL server for the test session.

``start_postgres()`` runs ``initdb`` into a fresh temporary directory and starts the server
with ``pg_ctl`` on 127.0.0.1 at a free TCP port (its unix socket lives in the same directory),
with durability switched off for speed and ``trust`` authentication. ``PgServer.stop()``
kills it (``pg_ctl -m immediate stop``) and removes the directory.

The binaries come from Debian's packages (``/usr/lib/postgresql/<version>/bin``, newest
version wins); ``bash tests/system-deps.sh`` installs them. As root, the server runs as the
``postgres`` OS user those packages create, since PostgreSQL refuses to run as root.

URLs are SQLAlchemy style, ``postgresql+psycopg://USER@127.0.0.1:PORT/DBNAME``;
``libpq_url()`` turns one into a URL that ``psycopg.connect()`` accepts.

A session killed outright (SIGKILL, or SIGTERM, which pytest does not catch) cannot stop its
server; the next ``start_postgres()`` in the same temp directory stops and removes it.
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from psycopg import sql

SUPERUSER = "postgres"
"""Name of the bootstrap superuser; every database in the server is reachable as it."""
DEFAULT_DB = "test"
"""Database created at start-up (``PgServer.url`` points at it)."""
HOST = "127.0.0.1"
PREFIX = "pytest-pg-"
"""Name prefix of the servers' directories; each holds an ``owner`` file with the owning pid."""

INSTALL_HINT = "run `bash tests/system-deps.sh` to install the PostgreSQL server"
SETTINGS = {
    # Reachable on loopback TCP only, and through a socket in our own directory (never in
    # /var/run/postgresql, where a system cluster may live).
    "listen_addresses": f"'{HOST}'",
    # Durability is worthless for a throwaway server; these make it start and write fast.
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "200",
    "shared_buffers": "32MB",
}


class PostgresUnavailable(RuntimeError):
    """The PostgreSQL server could not be found or started."""


def find_bindir() -> Path:
    """Directory of the newest installed PostgreSQL server binaries."""
    found = []
    for initdb in glob.glob("/usr/lib/postgresql/*/bin/initdb"):
        bindir = Path(initdb).parent
        version = bindir.parent.name
        if (bindir / "pg_ctl").is_file() and re.fullmatch(r"\d+(\.\d+)*", version):
            found.append((tuple(int(part) for part in version.split(".")), bindir))
    if not found:
        raise PostgresUnavailable(
            f"no PostgreSQL server binaries in /usr/lib/postgresql/*/bin; {INSTALL_HINT}"
        )
    return max(found)[1]


def libpq_url(url: str) -> str:
    """The same URL without SQLAlchemy's driver suffix, for ``psycopg.connect()``."""
    return re.sub(r"^postgresql\+\w+://", "postgresql://", url)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class _Tools:
    """Runs the server's programs: in its directory, as ``postgres`` when we are root."""

    bindir: Path
    base_dir: Path
    run_as: tuple[str, ...]

    def run(self, program: str, *args: str) -> subprocess.CompletedProcess[str]:
        env = dict(os.environ, LC_ALL="C", LANG="C")
        for key in ("PGDATA", "PGHOST", "PGPORT", "PGUSER", "PGDATABASE", "PGOPTIONS"):
            env.pop(key, None)
        command = [*self.run_as, str(self.bindir / program), *args]
        return subprocess.run(
            command, cwd=self.base_dir, env=env, capture_output=True, text=True, check=False
        )

    def check(self, program: str, *args: str) -> None:
        result = self.run(program, *args)
        if result.returncode != 0:
            log = self.base_dir / "server.log"
            tail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
            raise PostgresUnavailable(
                f"`{program} {' '.join(args)}` failed with exit code {result.returncode}:\n"
                f"{result.stdout}{result.stderr}{tail}"
            )

    def kill(self, data_dir: Path) -> None:
        """Immediate stop (no checkpoint), if the server is running."""
        if (data_dir / "postmaster.pid").exists():
            self.run("pg_ctl", "-D", str(data_dir), "-m", "immediate", "-w", "stop")


def default_tmp_dir() -> Path:
    """RAM-backed ``/dev/shm`` if it has room, else the system temp directory.

    On tmpfs, ``initdb`` and ``CREATE DATABASE`` are several times faster than on a disk,
    even with ``fsync`` off. Docker's default 64 MB ``/dev/shm`` is too small and skipped.
    """
    shm = Path("/dev/shm")
    with contextlib.suppress(OSError):
        stat = os.statvfs(shm)
        if os.access(shm, os.W_OK | os.X_OK) and stat.f_bavail * stat.f_frsize >= 1 << 30:
            return shm
    return Path(tempfile.gettempdir())


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _reap_orphans(parent: Path, tools_for: Callable[[Path], _Tools]) -> None:
    """Stop and remove servers whose owning process is gone (it was killed before ``stop()``)."""
    for owner_file in parent.glob(f"{PREFIX}*/owner"):
        with contextlib.suppress(OSError, ValueError):
            if _alive(int(owner_file.read_text())):
                continue
            base = owner_file.parent
            tools_for(base).kill(base / "data")
            shutil.rmtree(base)


@dataclass
class PgServer:
    """A running throwaway server; ``stop()`` it when done (it is also stopped at exit)."""

    url: str
    """URL of the database ``DEFAULT_DB``, created at start-up."""
    port: int
    data_dir: Path
    socket_dir: Path
    _tools: _Tools = field(repr=False)
    _stopped: bool = field(default=False, repr=False)

    def url_for(self, dbname: str) -> str:
        return f"postgresql+psycopg://{SUPERUSER}@{HOST}:{self.port}/{dbname}"

    def connect_admin(self) -> psycopg.Connection:
        """Autocommit superuser connection to the ``postgres`` maintenance database."""
        return psycopg.connect(
            host=HOST, port=self.port, user=SUPERUSER, dbname="postgres", autocommit=True
        )

    def new_database(self, name: str | None = None) -> str:
        """Create a fresh, empty database (random name unless given) and return its URL."""
        name = name or f"t_{uuid.uuid4().hex[:12]}"
        with self.connect_admin() as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.url_for(name)

    def drop_database(self, name_or_url: str) -> None:
        """Drop a database (by name or URL), disconnecting whoever is still connected."""
        name = name_or_url.rsplit("/", 1)[-1]
        query = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
        with self.connect_admin() as conn:
            conn.execute(query.format(sql.Identifier(name)))

    def stop(self) -> None:
        """Kill the server at once (no checkpoint) and remove its directory. Idempotent."""
        if self._stopped:
            return
        self._stopped = True
        self._tools.kill(self.data_dir)
        shutil.rmtree(self._tools.base_dir, ignore_errors=True)


def start_postgres(tmp_dir: str | os.PathLike[str] | None = None) -> PgServer:
    """Start a throwaway server in a new directory under ``tmp_dir``.

    ``tmp_dir`` defaults to ``default_tmp_dir()``. As root, it and its parents must be
    traversable by the ``postgres`` user (``/dev/shm`` and ``/tmp`` are; pytest's ``tmp_path``
    is not).
    """
    bindir = find_bindir()
    owner = None
    if os.geteuid() == 0:
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            raise PostgresUnavailable(
                f"running as root but there is no `postgres` OS user; {INSTALL_HINT}"
            ) from None

    def give_away(path: Path) -> None:
        if owner is not None:
            os.chown(path, owner.pw_uid, owner.pw_gid)

    run_as = ("runuser", "-u", "postgres", "--") if owner is not None else ()

    def tools_for(base: Path) -> _Tools:
        return _Tools(bindir=bindir, base_dir=base, run_as=run_as)

    parent = Path(tmp_dir) if tmp_dir is not None else default_tmp_dir()
    _reap_orphans(parent, tools_for)
    base = Path(tempfile.mkdtemp(prefix=PREFIX, dir=parent))
    (base / "owner").write_text(str(os.getpid()))
    data, sockets = base / "data", base / "s"
    sockets.mkdir()
    give_away(base)
    give_away(sockets)
    tools = tools_for(base)
    try:
        tools.check(
            "initdb", "-D", str(data), "-U", SUPERUSER, "--auth=trust", "--encoding=UTF8",
            "--locale=C", "--no-sync", "--no-instructions",
        )  # fmt: skip
        attempts = 3
        for attempt in range(attempts):
            # The free port may be taken by someone else before the server binds it: retry.
            port = _free_port()
            settings = {**SETTINGS, "port": port, "unix_socket_directories": f"'{sockets}'"}
            auto_conf = data / "postgresql.auto.conf"
            auto_conf.write_text("".join(f"{k} = {v}\n" for k, v in settings.items()))
            give_away(auto_conf)
            try:
                tools.check(
                    "pg_ctl", "-D", str(data), "-l", str(base / "server.log"), "-w", "start"
                )
                break
            except PostgresUnavailable:
                if attempt == attempts - 1:
                    raise
        server = PgServer(
            url=f"postgresql+psycopg://{SUPERUSER}@{HOST}:{port}/{DEFAULT_DB}",
            port=port,
            data_dir=data,
            socket_dir=sockets,
            _tools=tools,
        )
        server.new_database(DEFAULT_DB)
    except BaseException:
        tools.kill(data)
        shutil.rmtree(base, ignore_errors=True)
        raise
    atexit.register(server.stop)  # in case the caller never gets to stop() it
    return server
