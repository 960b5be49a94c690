"""Migrations, the ``ews keys`` and ``ews audit`` commands and the model holder."""

from __future__ import annotations

import re
import threading

import pytest
import typer
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect
from typer.testing import CliRunner

from serving.db import Database, downgrade, upgrade
from serving.models import ApiKey, ApiKeySchool, Base, School, utcnow
from serving.modelstore import LoadedModel, ModelHolder
from tests.serving.helpers import FakeRiskModel, FakeSource


def test_migrations_match_the_models_and_go_down_and_up(db_url: str) -> None:
    engine = create_engine(db_url)
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert diff == []
    downgrade(db_url, "base")
    assert set(inspect(create_engine(db_url)).get_table_names()) <= {"alembic_version"}
    upgrade(db_url)
    tables = set(inspect(create_engine(db_url)).get_table_names())
    assert {t.name for t in Base.metadata.sorted_tables} <= tables
    engine.dispose()


def test_the_migration_to_scoped_keys_drops_scopes_of_unknown_schools(db_url: str) -> None:
    downgrade(db_url, "0001")
    engine = create_engine(db_url)
    with engine.begin() as connection:
        connection.execute(
            School.__table__.insert(), [{"urn": 123456, "name": "A", "phase": "primary",
                                         "data_version": 0, "created_at": utcnow()}]
        )  # fmt: skip
        connection.execute(
            ApiKey.__table__.insert(),
            [{"id": 1, "name": "k", "prefix": "ews_x", "key_hash": "h", "role": "practitioner",
              "created_at": utcnow()}],
        )  # fmt: skip
        connection.execute(
            ApiKeySchool.__table__.insert(),
            [{"key_id": 1, "school_urn": 123456}, {"key_id": 1, "school_urn": 999999}],
        )
    upgrade(db_url)
    with engine.connect() as connection:
        scopes = connection.execute(ApiKeySchool.__table__.select()).all()
    assert [(r.key_id, r.school_urn) for r in scopes] == [(1, 123456)]
    foreign = inspect(engine).get_foreign_keys("api_key_schools")
    assert {"schools", "api_keys"} == {f["referred_table"] for f in foreign}
    engine.dispose()


def test_keys_commands_create_list_and_revoke(tmp_path, monkeypatch) -> None:
    from serving.cli import register

    monkeypatch.setenv("EWS_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("EWS_DATABASE_URL", raising=False)
    app = typer.Typer()
    register(app)
    runner = CliRunner()
    unknown = runner.invoke(app, ["keys", "create", "--role", "school", "--school", "123456"])
    assert unknown.exit_code == 2
    assert "school 123456 is not registered with the service" in unknown.output
    db = Database(f"sqlite:///{tmp_path / 'ews.db'}")
    with db.write() as session:
        session.add_all(
            [
                School(urn=123456, name="A", phase="primary"),
                School(urn=654321, name="B", phase="primary"),
            ]
        )
    db.dispose()
    created = runner.invoke(app, ["keys", "create", "--role", "practitioner", "--school", "123456",
                                  "--school", "654321", "--name", "Sam (charity)"])  # fmt: skip
    assert created.exit_code == 0, created.output
    key = re.search(r"ews_\S+", created.output).group(0)
    refused = runner.invoke(app, ["keys", "create", "--role", "school"])
    assert refused.exit_code == 2 and "exactly one school" in refused.output
    listed = runner.invoke(app, ["keys", "list"])
    assert "practitioner" in listed.output and "123456,654321" in listed.output
    assert key not in listed.output
    assert runner.invoke(app, ["keys", "revoke", "1"]).exit_code == 0
    assert runner.invoke(app, ["keys", "revoke", "99"]).exit_code == 1
    db = Database(f"sqlite:///{tmp_path / 'ews.db'}")
    from serving.auth import authenticate

    with db.read_session() as session:
        assert authenticate(session, key) is None  # revoked
    db.dispose()


def test_the_audit_command_shows_who_read_whose_data(tmp_path, monkeypatch) -> None:
    from serving import audit
    from serving.auth import Principal, Role
    from serving.cli import register

    monkeypatch.setenv("EWS_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("EWS_DATABASE_URL", raising=False)
    url = f"sqlite:///{tmp_path / 'ews.db'}"
    upgrade(url)
    db = Database(url)
    school = Principal(key_id=7, name="school", role=Role.SCHOOL, schools=frozenset({123456}))
    audit.record(db, school, "risk_list.read", school_urn=123456, records=50)
    audit.record(db, school, "pupil.read", school_urn=123456, upn="A123456789012", records=1)
    db.dispose()
    app = typer.Typer()
    register(app)
    runner = CliRunner()
    everything = runner.invoke(app, ["audit"])
    assert everything.exit_code == 0, everything.output
    lines = everything.output.splitlines()
    assert len(lines) == 3 and "pupil.read" in lines[1] and "risk_list.read" in lines[2]
    pupil = runner.invoke(app, ["audit", "--upn", "A123456789012"])
    assert pupil.exit_code == 0
    [row] = pupil.output.splitlines()[1:]
    assert "pupil.read" in row and "123456" in row and "school" in row
    assert runner.invoke(app, ["audit", "--key", "8"]).output.splitlines()[1:] == []


class FlakySource(FakeSource):
    def __init__(self) -> None:
        super().__init__("1")
        self.fail = False

    def resolve(self) -> str | None:
        if self.fail:
            raise ConnectionError("registry down")
        return super().resolve()


def test_registry_outage_keeps_the_current_model() -> None:
    source = FlakySource()
    holder = ModelHolder(source, poll_seconds=0)
    assert holder.refresh() is True
    source.fail = True
    source.version = "2"
    assert holder.refresh() is False
    assert holder.current is not None and holder.current.version == "1"


def test_background_check_follows_the_alias_and_loads_each_version_once() -> None:
    class CountingSource(FakeSource):
        """Counts the alias checks, so the test waits for checks rather than for time."""

        def __init__(self, version: str) -> None:
            super().__init__(version)
            self.checks = 0
            self.checked = threading.Condition()

        def resolve(self) -> str | None:
            with self.checked:
                self.checks += 1
                self.checked.notify_all()
            return super().resolve()

        def wait_for_checks(self, n: int) -> None:
            with self.checked:
                target = self.checks + n
                assert self.checked.wait_for(lambda: self.checks >= target, timeout=10)

    source = CountingSource("1")
    swaps: list[str] = []
    swapped = threading.Condition()

    def on_swap(model: LoadedModel) -> None:
        with swapped:
            swaps.append(model.version)
            swapped.notify_all()

    def wait_for(n: int) -> None:
        with swapped:
            assert swapped.wait_for(lambda: len(swaps) >= n, timeout=10), swaps

    holder = ModelHolder(source, poll_seconds=0.02, on_swap=on_swap)
    holder.refresh()
    holder.start()
    try:
        source.version = "2"
        wait_for(2)
        assert holder.current.version == "2"
        source.wait_for_checks(10)  # ten more checks with the alias where it is
        assert source.loads == 2  # nothing was loaded again
        source.version = "3"
        wait_for(3)
        assert holder.current.version == "3"
    finally:
        holder.stop()
    assert swaps == ["1", "2", "3"]
    assert source.loads == 3
    assert isinstance(holder.current.model, FakeRiskModel)


def test_a_version_that_fails_to_load_keeps_the_current_model() -> None:
    class BrokenSource(FakeSource):
        def load(self, version: str) -> LoadedModel:
            if version == "2":
                raise OSError("artifact missing")
            return super().load(version)

    source = BrokenSource("1")
    holder = ModelHolder(source, poll_seconds=0)
    assert holder.refresh() is True
    source.version = "2"
    assert holder.refresh() is False
    assert holder.current.version == "1"


def test_no_registered_model_is_explained() -> None:
    holder = ModelHolder(FakeSource(None), poll_seconds=0)
    assert holder.refresh() is False
    assert holder.current is None
    assert "ews train" in holder.reason and "ews promote" in holder.reason


@pytest.mark.parametrize(
    ("name", "expected"),
    [("../../etc/passwd.csv", "passwd.csv"), ("C:\\Users\\office\\w1.csv", "w1.csv"),
     ("..", "upload.csv"), ("w1\x00.csv", "w1.csv"), (None, "upload.csv")],
)  # fmt: skip
def test_file_names_lose_their_path(name, expected) -> None:
    from serving.uploads import safe_filename

    assert safe_filename(name) == expected
