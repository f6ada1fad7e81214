"""A throwaway PostgreSQL server for tests, from the installed server binaries.

Started in a temporary directory, listening on 127.0.0.1 (and a socket in that directory) on a
free port, stopped by ``pg_ctl stop`` at the end. initdb refuses to run as root, so as root the
server runs as the unprivileged ``postgres`` user.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

INSTALL_HINT = (
    "PostgreSQL server binaries (initdb, pg_ctl) not found: install PostgreSQL "
    "(apt-get install postgresql) to run the PostgreSQL store tests"
)


def find_bindir() -> Path | None:
    """A directory holding initdb, pg_ctl and postgres, or None."""
    candidates = [os.environ.get("TICKETBOT_PG_BINDIR", "")]
    if found := shutil.which("initdb"):
        candidates.append(str(Path(found).parent))
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    for directory in filter(None, candidates):
        if all((Path(directory) / tool).exists() for tool in ("initdb", "pg_ctl", "postgres")):
            return Path(directory)
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class PgServer:
    """A running server; ``url(db)`` connects to one of its databases as the superuser."""

    port: int
    root: Path
    bindir: Path
    user: str | None

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://ticketbot@127.0.0.1:{self.port}/{database}"

    def _run(self, *args: str) -> None:
        subprocess.run(  # noqa: S603 (our own binaries and arguments)
            args, check=True, capture_output=True, user=self.user, cwd=self.root, timeout=60
        )

    def stop(self) -> None:
        with contextlib.suppress(subprocess.SubprocessError):
            self._run(
                str(self.bindir / "pg_ctl"),
                "-D",
                str(self.root / "data"),
                "-m",
                "fast",
                "-w",
                "stop",
            )


@contextlib.contextmanager
def running_server(bindir: Path) -> Iterator[PgServer]:
    """Start a server; stop it and remove its files on exit."""
    user = None
    root = Path(tempfile.mkdtemp(prefix="ticketbot-pg-"))
    if os.geteuid() == 0:
        user = "postgres"
        entry = pwd.getpwnam(user)  # KeyError: no unprivileged user to run the server as
        os.chown(root, entry.pw_uid, entry.pw_gid)
    server = PgServer(_free_port(), root, bindir, user)
    try:
        server._run(
            str(bindir / "initdb"),
            "-D",
            str(root / "data"),
            "-U",
            "ticketbot",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-sync",
        )
        options = (
            f"-c listen_addresses=127.0.0.1 -p {server.port} -k {root} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        server._run(
            str(bindir / "pg_ctl"),
            "-D",
            str(root / "data"),
            "-o",
            options,
            "-l",
            str(root / "server.log"),
            "-w",
            "-t",
            "60",
            "start",
        )
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)
