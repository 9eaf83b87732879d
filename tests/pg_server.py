"""A throw-away PostgreSQL server for tests: Debian's ``postgresql`` (``scripts/test.sh`` installs it).

``CNN_EXPLORER_TEST_PG`` (a ``postgresql+psycopg://`` URL) uses a server you already run; otherwise a
temporary cluster is made with ``initdb`` and started with ``pg_ctl`` on a Unix socket in a temp
folder, no TCP port. PostgreSQL refuses to run as root: as root the cluster is made and run as the
``postgres`` user (``runuser``), which the Debian package creates. ``pg_virtualenv pytest ...`` works
too: it exports ``PGHOST``/``PGPORT``/``PGUSER``/``PGPASSWORD``, which are used when set.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path


def _bin(name: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else shutil.which(name)


def available() -> bool:
    return bool(os.environ.get("CNN_EXPLORER_TEST_PG") or os.environ.get("PGHOST") or (_bin("initdb") and _bin("pg_ctl")))


@contextlib.contextmanager
def server():
    """Yields a function ``new_database() -> url`` (each call: a fresh empty database)."""
    given = os.environ.get("CNN_EXPLORER_TEST_PG")
    if given or os.environ.get("PGHOST"):
        base = given or "postgresql+psycopg://{u}:{p}@{h}:{port}/postgres".format(
            u=os.environ.get("PGUSER", "postgres"), p=os.environ.get("PGPASSWORD", ""),
            h=os.environ["PGHOST"], port=os.environ.get("PGPORT", "5432"))
        yield lambda: _create(base)
        return
    folder = Path(tempfile.mkdtemp(prefix="cnn_explorer_pg_"))
    data = folder / "data"
    as_user: list[str] = []
    if os.geteuid() == 0:
        as_user = ["runuser", "-u", "postgres", "--"]
        shutil.chown(folder, "postgres")
        folder.chmod(0o755)
    port = "5" + str(4000 + os.getpid() % 900)
    run = lambda *cmd: subprocess.run([*as_user, *cmd], check=True, capture_output=True, text=True)  # noqa: E731
    run(_bin("initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync")
    run(_bin("pg_ctl"), "-D", str(data), "-w", "-l", str(folder / "log"), "-o",
        f"-k {folder} -p {port} -c listen_addresses='' -c fsync=off -c max_connections=200", "start")
    base = f"postgresql+psycopg://postgres@/postgres?host={folder}&port={port}"
    try:
        yield lambda: _create(base)
    finally:
        subprocess.run([*as_user, _bin("pg_ctl"), "-D", str(data), "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)


def _create(base: str) -> str:
    from sqlalchemy import create_engine

    name = "class_" + uuid.uuid4().hex[:12]
    engine = create_engine(base, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.exec_driver_sql(f"CREATE DATABASE {name}")  # a test database, not the store's SQL
    engine.dispose()
    head, _, query = base.partition("?")
    return head.rsplit("/", 1)[0] + "/" + name + ("?" + query if query else "")
