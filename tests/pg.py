"""A throwaway PostgreSQL server (Debian's postgresql package) on a Unix socket, for the PostgreSQL option."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

PORT = 5499


def pg_bin() -> Path | None:
    """The newest installed PostgreSQL server binaries, if any."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"), key=lambda p: int(p.split("/")[4]))
    return Path(found[-1]).parent if found else None


def _run(cmd: list[str], as_postgres: bool) -> None:
    if as_postgres:
        cmd = ["runuser", "-u", "postgres", "--", *cmd]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {done.stdout}\n{done.stderr}")


@contextmanager
def postgres_server(base: Path) -> Iterator[str]:
    """Start a server in ``base``; yields a SQLAlchemy URL template with ``{db}`` for the database."""
    bindir = pg_bin()
    if bindir is None:
        raise RuntimeError("PostgreSQL is not installed (apt-get install postgresql)")
    as_postgres = os.geteuid() == 0  # the server refuses to run as root
    data, sock = base / "data", base / "sock"
    data.mkdir(parents=True)
    sock.mkdir()
    if as_postgres:
        shutil.chown(base, "postgres")
        for p in (data, sock):
            shutil.chown(p, "postgres")
    _run(
        [str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8"], as_postgres
    )
    opts = f"-k {sock} -p {PORT} -c listen_addresses='' -c fsync=off"
    _run(
        [str(bindir / "pg_ctl"), "-D", str(data), "-o", opts, "-w", "-l", str(base / "log"), "start"],
        as_postgres,
    )
    try:
        yield f"postgresql+psycopg://postgres@/{{db}}?host={sock}&port={PORT}"
    finally:
        _run([str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"], as_postgres)


def new_database(template: str) -> str:
    """Create an empty database on the server and return its URL."""
    from sqlalchemy import create_engine, text

    name = f"hs_{uuid.uuid4().hex[:12]}"
    engine = create_engine(template.format(db="postgres"), isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    engine.dispose()
    return template.format(db=name)
