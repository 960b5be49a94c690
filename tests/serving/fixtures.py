"""Fixtures of the service tests and the whole-system tests: both databases, the app with one
key per role (with and without a model), a small fictional school, an audit table that refuses
inserts.

Every test that touches the store runs against SQLite AND PostgreSQL (``db_url`` is
parametrised). PostgreSQL tests create their own database (unique name per test session) on the
server in ``EWS_TEST_POSTGRES_URL`` and drop it at the end; they are skipped only when CI is
unset and the server cannot be reached. The conftest files of ``tests/serving`` and
``tests/system`` register these fixtures; the helpers they use are in
:mod:`tests.serving.helpers`.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from serving.app import create_app
from serving.db import Database, upgrade
from tests.serving.helpers import (
    POSTGRES_URL,
    FakeSource,
    SchoolData,
    Service,
    add_keys,
    emptied,
    make_school,
    make_settings,
    postgres_reachable,
)


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[str]:
    """A migrated PostgreSQL database for this test session (dropped afterwards)."""
    if not postgres_reachable():
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"PostgreSQL is not reachable at {POSTGRES_URL} and CI is set")
        pytest.skip("PostgreSQL not reachable (set EWS_TEST_POSTGRES_URL); CI runs these")
    name = f"ews_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    upgrade(url)
    try:
        yield url
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied for each test (migrating once keeps tests fast)."""
    path = tmp_path_factory.mktemp("template") / "ews.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, migrated database of each kind."""
    if request.param == "sqlite":
        template = request.getfixturevalue("sqlite_template")
        path = tmp_path / "ews.db"
        shutil.copy(template, path)
        yield f"sqlite:///{path}"
        return
    yield emptied(request.getfixturevalue("postgres_template"))


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    database = Database(db_url, busy_timeout_ms=2000)
    try:
        yield database
    finally:
        database.dispose()


@pytest.fixture
def school() -> SchoolData:
    return make_school()


@pytest.fixture
def service(db: Database, tmp_path: Path) -> Iterator[Service]:
    source = FakeSource("1")
    app = create_app(make_settings(tmp_path), db=db, model_source=source)
    keys = add_keys(db)
    with TestClient(app) as client:
        yield Service(client, db, source, keys)


@pytest.fixture
def no_model_service(db: Database, tmp_path: Path) -> Iterator[Service]:
    source = FakeSource(None)
    app = create_app(make_settings(tmp_path), db=db, model_source=source)
    keys = add_keys(db)
    with TestClient(app) as client:
        yield Service(client, db, source, keys)


@pytest.fixture
def broken_audit(service: Service) -> Iterator[None]:
    """The audit table refuses every insert (a full disk, a revoked grant…) until the end."""
    with service.db.engine.begin() as connection:
        if service.db.is_sqlite:
            connection.exec_driver_sql(
                "CREATE TRIGGER audit_full BEFORE INSERT ON audit_events "
                "BEGIN SELECT RAISE(ABORT, 'audit store full'); END"
            )
        else:
            connection.execute(
                text(
                    "CREATE OR REPLACE FUNCTION audit_full() RETURNS trigger AS $$ "
                    "BEGIN RAISE EXCEPTION 'audit store full'; END $$ LANGUAGE plpgsql"
                )
            )
            connection.execute(
                text(
                    "CREATE TRIGGER audit_full BEFORE INSERT ON audit_events "
                    "FOR EACH ROW EXECUTE FUNCTION audit_full()"
                )
            )
    try:
        yield
    finally:
        with service.db.engine.begin() as connection:
            connection.exec_driver_sql(
                "DROP TRIGGER IF EXISTS audit_full"
                + ("" if service.db.is_sqlite else " ON audit_events")
            )
            if not service.db.is_sqlite:
                connection.exec_driver_sql("DROP FUNCTION IF EXISTS audit_full()")
