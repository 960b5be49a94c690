"""``ews demo`` loads the service over HTTP, each school with its own key, the way schools do
(a small simulated authority and the fake model; the real ones are the same code)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import func, select

from ews.demo import run_demo_service
from serving.db import Database
from serving.models import ApiKey, AuditEvent, ScoreRun, Trajectory, Upload
from serving.settings import ServingSettings
from simulator import SimulationConfig, simulate_authority, write_authority
from tests.serving.helpers import FakeSource, free_port


@pytest.fixture(scope="module")
def authority(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("demo") / "authority"
    simulated = simulate_authority(
        SimulationConfig(pupils=300, schools=3, years=("2023/24", "2024/25"), seed=3)
    )
    write_authority(simulated, directory, register_files=True)
    return directory


def test_the_demo_uploads_over_http_with_each_schools_key(
    authority: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = ServingSettings(data_dir=tmp_path, model_poll_seconds=0)
    port = free_port()
    keys = run_demo_service(
        settings,
        authority,
        lambda message: print(message),
        host="127.0.0.1",
        port=port,
        serve=False,
        model_source=FakeSource("1"),
    )
    printed = capsys.readouterr().out
    assert set(keys) == {"school", "practitioner", "analyst", "admin"}
    urn = int(keys["school"][1].split()[-1])
    assert f"http://127.0.0.1:{port}/schools/{urn}" in printed  # the web page of the list
    assert f"http://127.0.0.1:{port}/login" in printed
    assert keys["school"][0] in printed and "risk list of" in printed

    db = Database(settings.resolved_database_url)
    try:
        with db.read_session() as session:
            names = dict(session.execute(select(ApiKey.id, ApiKey.name)).all())
            uploads = session.execute(select(Upload.school_urn, Upload.key_id, Upload.kind)).all()
            schools = {u for u, _, _ in uploads}
            assert len(schools) == 3
            # Every file came in over HTTP with the key of the school it belongs to.
            assert all(names[key] == f"demo: upload {school}" for school, key, _ in uploads)
            audited = session.scalar(
                select(func.count())
                .select_from(AuditEvent)
                .where(AuditEvent.action.in_(["roster.upload", "registers.upload"]))
            )
            assert audited == len(uploads)
            for school in schools:
                # Last year is stored as history, unscored; this year's last six weeks scored.
                assert session.get(Trajectory, (school, "2023/24")) is not None
                runs = session.scalars(
                    select(ScoreRun).where(ScoreRun.school_urn == school).order_by(ScoreRun.as_of)
                ).all()
                assert [r.academic_year for r in runs] == ["2024/25"] * 6
                assert runs[-1].as_of == dt.date(2024, 12, 20)  # the end of the autumn term
                assert {r.model_version for r in runs} == {"1"}
                assert [r.week for r in runs] == list(range(runs[0].week, runs[0].week + 6))
        first_uploads = len(uploads)
    finally:
        db.dispose()

    # A second run sends only what is new (here: nothing but the rosters, which change
    # nothing) and revokes the keys printed by the first.
    again = run_demo_service(
        settings,
        authority,
        lambda message: None,
        host="127.0.0.1",
        port=free_port(),
        serve=False,
        model_source=FakeSource("1"),
    )
    db = Database(settings.resolved_database_url)
    try:
        with db.read_session() as session:
            new = session.execute(
                select(Upload.kind, Upload.outcome).where(Upload.id > first_uploads)
            ).all()
            revoked = session.scalar(
                select(ApiKey.revoked_at).where(ApiKey.name == "demo: analyst").order_by(ApiKey.id)
            )
    finally:
        db.dispose()
    assert new == [("roster", "unchanged")] * 3
    assert revoked is not None and again["analyst"][0] != keys["analyst"][0]
