"""Database engine, sessions and migrations.

SQLite (the embedded default) and PostgreSQL are both first-class. On SQLite the file runs in
WAL mode (readers never wait for the writer) and every *write* transaction starts with
``BEGIN IMMEDIATE``: it takes the write lock up front, so two writers queue (up to the busy
timeout) instead of one failing half-way with "database is locked". On PostgreSQL an upload
locks its school's row (``SELECT … FOR UPDATE``) so uploads for one school are serialised
across processes too.
"""

from __future__ import annotations

import contextlib
import os
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
OWNER_ONLY_DIR = 0o700
OWNER_ONLY_FILE = 0o600
_WRITE_OPTION = "ews_write"
_NO_TRANSACTION_OPTION = "ews_no_transaction"


def ensure_sqlite_directory(url: str) -> None:
    """Create the directory of a SQLite file (the data directory on a fresh machine) and the
    file itself, readable by their owner only: the database holds pupils' personal data.

    Directories and a file that already exist keep their permissions (the data directory may
    be shared with other tools on purpose). SQLite gives its ``-wal`` and ``-shm`` files the
    database file's permissions."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return
    path = Path(parsed.database)
    # If this fails, connecting fails with SQLite's own "unable to open database file".
    with contextlib.suppress(OSError):
        missing = [d for d in (path.parent, *path.parent.parents) if not d.exists()]
        for directory in reversed(missing):  # outermost first; parents=True would ignore mode
            directory.mkdir(mode=OWNER_ONLY_DIR, exist_ok=True)
        if not path.exists():
            os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, OWNER_ONLY_FILE))


def make_engine(url: str, *, busy_timeout_ms: int = 15_000) -> Engine:
    """An engine for ``url`` with the SQLite settings described in the module docstring."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10)

    ensure_sqlite_directory(url)
    engine = create_engine(
        url,
        connect_args={"check_same_thread": False, "timeout": busy_timeout_ms / 1000},
        pool_size=20,
        max_overflow=10,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from the driver so BEGIN is ours to emit.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA cache_size=-65536")  # 64 MB of pages: a school-year of marks
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        options = connection.get_execution_options()
        if options.get(_NO_TRANSACTION_OPTION, False):
            return  # one statement, read in SQLite's autocommit mode (see Database.query)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if options.get(_WRITE_OPTION) else "BEGIN")

    return engine


class Database:
    """The engine plus two session factories: reads (plain ``BEGIN``) and writes."""

    def __init__(self, url: str, *, busy_timeout_ms: int = 15_000) -> None:
        self.url = url
        self.instance_id = uuid.uuid4().hex  # tells caches of different stores apart
        self.engine = make_engine(url, busy_timeout_ms=busy_timeout_ms)
        self.is_sqlite = self.engine.dialect.name == "sqlite"
        self._on_dispose: list[Callable[[], None]] = []
        self._read = sessionmaker(self.engine, expire_on_commit=False)
        self._write = sessionmaker(
            self.engine.execution_options(**{_WRITE_OPTION: True}), expire_on_commit=False
        )
        # SQLite has one writer at a time. Threads of this process queue on a Python lock (woken
        # the moment it is free) rather than in SQLite's busy handler, which sleeps in steps of
        # up to 100 ms and turns a queue of short audit writes into a long latency tail. The
        # busy timeout still covers writers in other processes.
        self._write_lock: Any = threading.RLock() if self.is_sqlite else contextlib.nullcontext()

    def read_session(self) -> Session:
        """A session for reading (SQLite: never blocks the writer, never waits for it)."""
        return self._read()

    @contextmanager
    def autocommit(self) -> Iterator[Any]:
        """A pooled connection for read-only statements outside any transaction (no ``BEGIN``
        round trip, no ORM session): for the small lookups every request makes (its key, a
        school's latest scoring). Each statement sees one consistent snapshot on both
        databases; use :meth:`read_session` when several statements must agree."""
        options = (
            {_NO_TRANSACTION_OPTION: True}
            if self.is_sqlite
            else {"isolation_level": "AUTOCOMMIT", _NO_TRANSACTION_OPTION: True}
        )
        with self.engine.connect().execution_options(**options) as connection:
            yield connection

    def query(self, statement: Any, parameters: dict[str, Any] | None = None) -> list[Any]:
        """The rows of one read-only statement (see :meth:`autocommit`)."""
        with self.autocommit() as connection:
            return list(connection.execute(statement, parameters).all())

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A write transaction: committed on success, rolled back entirely on any error."""
        with self._write_lock, self._write() as session, session.begin():
            yield session

    def ping(self) -> None:
        """Raise if the database cannot be reached."""
        with self.engine.connect() as connection:
            connection.exec_driver_sql("SELECT 1")

    def analyze(self, tables: list[str]) -> None:
        """Refresh PostgreSQL's planner statistics after a bulk load (autovacuum would, but a
        minute later; with stale statistics a 1,500-row join can pick a plan 50× slower)."""
        if self.engine.dialect.name != "postgresql":
            return
        with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            for table in tables:
                connection.exec_driver_sql(f'ANALYZE "{table}"')

    def on_dispose(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` when the database is disposed (e.g. stop a writer thread)."""
        self._on_dispose.append(callback)

    def dispose(self) -> None:
        """Stop helpers and close every pooled connection."""
        callbacks, self._on_dispose = self._on_dispose, []
        for callback in callbacks:
            callback()
        self.engine.dispose()


def alembic_config(url: str) -> Any:
    """An Alembic ``Config`` for this package's migrations and ``url`` (no ini file needed)."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # ConfigParser interpolation: a literal % in a password must be doubled.
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database at ``url`` to ``revision`` (the latest by default)."""
    from alembic import command

    ensure_sqlite_directory(url)
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str = "base") -> None:
    """Take the database at ``url`` back to ``revision``."""
    from alembic import command

    command.downgrade(alembic_config(url), revision)
