"""``ews export``: the service's data in the layout both feature engines read — every stored
mark, one roster row per pupil-year without names, audited per school; refused whole when the
input is wrong."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import typer
from sqlalchemy import select
from typer.testing import CliRunner

from serving.export import EXPORTED_PUPIL_COLUMNS, export_partitioned
from serving.models import AuditEvent, Mark
from tests.serving.helpers import OTHER_SCHOOL, SCHOOL, Service, load_weeks, make_school, upload

WEEKS = range(1, 7)


@pytest.fixture
def loaded(service: Service) -> Service:
    load_weeks(service, make_school(SCHOOL, n=30), WEEKS)
    other = make_school(OTHER_SCHOOL, n=20)
    files = [("roster", other.roster_csv(), "roster.csv")]
    files += [("registers", other.week_csv(week), f"w{week}.csv") for week in range(1, 4)]
    for kind, data, name in files:
        response = upload(service, kind, OTHER_SCHOOL, data, name, role="other_school")
        assert response.status_code == 200, response.text
    return service


def _stored_marks(service: Service) -> pd.DataFrame:
    with service.db.read_session() as session:
        rows = session.execute(
            select(Mark.school_urn, Mark.upn, Mark.date, Mark.session, Mark.code)
        ).all()
    frame = pd.DataFrame(rows, columns=["school_urn", "upn", "date", "session", "code"])
    frame["date"] = pd.to_datetime(frame["date"])
    return frame.astype({"school_urn": "int64"})


def _ordered(frame: pd.DataFrame) -> pd.DataFrame:
    keys = ["school_urn", "upn", "date", "session"]
    out = frame[[*keys, "code"]].astype({"upn": str, "session": str, "code": str})
    out["date"] = pd.to_datetime(out["date"]).astype("datetime64[ns]")
    return out.sort_values(keys).reset_index(drop=True)


def test_export_writes_every_stored_mark_in_both_layouts(loaded: Service, tmp_path: Path) -> None:
    from features.partitioned import read_partitioned_marks

    out = tmp_path / "exports" / "export"
    summary = export_partitioned(loaded.db, out)
    stored = _stored_marks(loaded)
    assert summary.marks == len(stored) == (30 * 6 + 20 * 3) * 10
    assert (summary.schools, summary.school_years, summary.years) == (2, 2, ["2024/25"])
    partitions = sorted(p.name for p in (out / "marks" / "academic_year=2024-25").iterdir())
    assert partitions == [f"school_urn={SCHOOL}", f"school_urn={OTHER_SCHOOL}"]
    expected = _ordered(stored)
    pd.testing.assert_frame_equal(_ordered(read_partitioned_marks(out)), expected)
    pd.testing.assert_frame_equal(_ordered(pd.read_parquet(out / "marks.parquet")), expected)
    schools = pd.read_csv(out / "schools.csv")
    assert schools["school_urn"].tolist() == [SCHOOL, OTHER_SCHOOL]
    assert [p.name for p in out.parent.iterdir()] == ["export"]  # no staging left behind


def test_export_roster_has_a_row_per_pupil_year_and_no_names(
    loaded: Service, tmp_path: Path
) -> None:
    out = tmp_path / "export"
    export_partitioned(loaded.db, out)
    pupils = pd.read_csv(out / "pupils.csv", dtype={"upn": str, "academic_year": str})
    assert list(pupils.columns) == EXPORTED_PUPIL_COLUMNS
    assert not {"forename", "surname"} & set(pupils.columns)
    assert len(pupils) == 50
    assert not pupils.duplicated(["academic_year", "school_urn", "upn"]).any()
    roster = make_school(SCHOOL, n=30).roster.set_index("upn")
    ours = pupils[pupils["school_urn"] == SCHOOL].set_index("upn")
    assert (ours["year_group"] == roster.loc[ours.index, "year_group"]).all()
    assert (ours["date_of_birth"] == roster.loc[ours.index, "date_of_birth"]).all()
    text = (out / "pupils.csv").read_text()
    assert "Amira" not in text and "Khan0" not in text


def test_export_is_audited_per_school_without_naming_pupils(
    loaded: Service, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO")
    export_partitioned(loaded.db, tmp_path / "export", schools=[SCHOOL])
    with loaded.db.read_session() as session:
        events = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "marks.export")
        ).all()
    assert [(e.school_urn, e.records, e.upn) for e in events] == [(SCHOOL, 30, None)]
    assert events[0].detail == {"marks": 30 * 6 * 10, "years": ["2024/25"]}
    upns = make_school(SCHOOL, n=30).upns
    assert not any(upn in caplog.text for upn in upns)


def test_export_features_equal_on_both_engines(spark, loaded: Service, tmp_path: Path) -> None:
    """The export is what ``ews features`` reads: the Spark engine on the partitioned marks
    gives exactly what the pandas engine gives on ``marks.parquet``."""
    from ews.cli import app
    from features.schema import SNAPSHOT_COLUMNS

    out = tmp_path / "export"
    export_partitioned(loaded.db, out)
    runner = CliRunner()
    args = ["features", "--data", str(out)]
    on_pandas = runner.invoke(app, [*args, "--out", str(tmp_path / "p.parquet")])
    assert on_pandas.exit_code == 0, on_pandas.output
    on_spark = runner.invoke(app, [*args, "--engine", "spark", "--out", str(tmp_path / "s")])
    assert on_spark.exit_code == 0, on_spark.output
    keys = ["academic_year", "school_urn", "upn", "week"]

    def normalised(frame: pd.DataFrame) -> pd.DataFrame:
        frame = frame[SNAPSHOT_COLUMNS].astype({"school_urn": "int64", "week": "int64"})
        frame = frame.astype({"upn": str, "academic_year": str})
        frame["as_of"] = pd.to_datetime(frame["as_of"]).astype("datetime64[ns]")
        return frame.sort_values(keys).reset_index(drop=True)

    expected = normalised(pd.read_parquet(tmp_path / "p.parquet"))
    assert len(expected) == 30 * 6 + 20 * 3
    assert expected["year_group"].notna().all()  # the roster reached the features
    pd.testing.assert_frame_equal(normalised(pd.read_parquet(tmp_path / "s")), expected)


def test_export_refuses_bad_input_and_writes_nothing(loaded: Service, tmp_path: Path) -> None:
    tmp_path = tmp_path / "exports"  # beside the service's database file
    tmp_path.mkdir()
    occupied = tmp_path / "occupied"
    occupied.mkdir()
    (occupied / "keep.txt").write_text("mine")
    with pytest.raises(ValueError, match="not an empty directory"):
        export_partitioned(loaded.db, occupied)
    assert [p.name for p in occupied.iterdir()] == ["keep.txt"]
    with pytest.raises(ValueError, match="no school with URN 999999"):
        export_partitioned(loaded.db, tmp_path / "a", schools=[SCHOOL, 999999])
    with pytest.raises(ValueError, match="not of the form YYYY/YY"):
        export_partitioned(loaded.db, tmp_path / "b", years=["2024-2025"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["occupied"]
    with loaded.db.read_session() as session:
        assert not session.scalars(
            select(AuditEvent).where(AuditEvent.action == "marks.export")
        ).all()


def test_export_command(loaded: Service, db_url: str, tmp_path: Path, monkeypatch) -> None:
    from serving.cli import register

    monkeypatch.setenv("EWS_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("EWS_DATABASE_URL", db_url)
    app = typer.Typer()
    register(app)
    runner = CliRunner()
    out = tmp_path / "export"
    done = runner.invoke(app, ["export", "--out", str(out), "--year", "2024/25"])
    assert done.exit_code == 0, done.output
    assert "exported 2 schools (2 school-years: 2024/25), 50 roster rows, 2,400 marks" in (
        done.output
    )
    again = runner.invoke(app, ["export", "--out", str(out)])
    assert again.exit_code == 2
    assert "already exists and is not an empty directory" in again.output
