"""``ews features --data DIR --out FILE [--every N]`` on a tiny simulated authority."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from features.arithmetic import dfe_cohort, enrolment_totals
from features.calendar import academic_years_of, week_start
from features.schema import KEY_COLUMNS, LABEL_COLUMNS, SNAPSHOT_COLUMNS
from simulator import SimulationConfig, simulate_authority, write_authority

YEARS = ("2023/24", "2024/25")
ENROLMENT = ["academic_year", "school_urn", "upn"]


@pytest.fixture(scope="module")
def authority():
    return simulate_authority(SimulationConfig(pupils=300, schools=3, years=YEARS, seed=4))


@pytest.fixture(scope="module")
def data_dir(authority, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("authority")
    write_authority(authority, out)
    return out


def ews_features(*args: object):
    from ews.cli import app

    return CliRunner().invoke(app, ["features", *map(str, args)])


@pytest.fixture(scope="module")
def weeks_on_roll(authority) -> pd.DataFrame:
    """Per enrolment, the Mondays of the school weeks in which it has marks, numbered per
    school and academic year as school weeks 1, 2, … (weeks in which the school has marks)."""
    marks = authority.marks
    frame = pd.DataFrame(
        {
            "academic_year": academic_years_of(marks["date"]).astype(str).to_numpy(),
            "school_urn": marks["school_urn"].to_numpy(np.int64),
            "upn": marks["upn"].astype(str).to_numpy(),
            "monday": week_start(marks["date"]).to_numpy(),
        }
    ).drop_duplicates()
    school_weeks = frame[["academic_year", "school_urn", "monday"]].drop_duplicates()
    school_weeks = school_weeks.sort_values("monday").assign(
        week=lambda w: w.groupby(["academic_year", "school_urn"]).cumcount() + 1
    )
    return frame.merge(school_weeks, on=["academic_year", "school_urn", "monday"])


def read(path: Path) -> pd.DataFrame:
    snapshots = pd.read_parquet(path)
    snapshots["upn"] = snapshots["upn"].astype(str)
    snapshots["school_urn"] = snapshots["school_urn"].astype(np.int64)
    return snapshots


def test_one_row_per_pupil_per_school_week_on_roll(data_dir, weeks_on_roll, tmp_path):
    out = tmp_path / "snapshots.parquet"
    result = ews_features("--data", data_dir, "--out", out)
    assert result.exit_code == 0, result.output
    assert "wrote" in result.output and "labelled rows" in result.output
    snapshots = read(out)
    assert list(snapshots.columns) == SNAPSHOT_COLUMNS
    assert {*KEY_COLUMNS, *LABEL_COLUMNS} <= set(snapshots.columns)
    keys = snapshots[[*ENROLMENT, "week"]]
    assert not keys.duplicated().any()
    expected = weeks_on_roll[[*ENROLMENT, "week"]]
    pd.testing.assert_frame_equal(
        keys.sort_values([*ENROLMENT, "week"]).reset_index(drop=True),
        expected.sort_values([*ENROLMENT, "week"]).reset_index(drop=True),
        check_dtype=False,
    )
    # The as-of date of a school week is its Friday.
    as_of = pd.to_datetime(snapshots["as_of"])
    assert (as_of.dt.day_of_week == 4).all()
    merged = snapshots.merge(weeks_on_roll, on=[*ENROLMENT, "week"])
    assert (as_of.to_numpy() == (merged["monday"] + pd.Timedelta(days=4)).to_numpy()).all()


def test_every_n_weeks_keeps_weeks_1_1_plus_n_and_so_on(data_dir, weeks_on_roll, tmp_path):
    out = tmp_path / "every4.parquet"
    result = ews_features("--data", data_dir, "--out", out, "--every", 4)
    assert result.exit_code == 0, result.output
    snapshots = read(out)
    assert set(snapshots["week"]) == set(range(1, snapshots["week"].max() + 1, 4))
    kept = weeks_on_roll[(weeks_on_roll["week"] - 1) % 4 == 0]
    assert len(snapshots) == len(kept)
    assert not snapshots[[*ENROLMENT, "week"]].duplicated().any()


def test_labels_are_the_enrolments_whole_year_outcome(data_dir, authority, tmp_path):
    out = tmp_path / "snapshots.parquet"
    assert ews_features("--data", data_dir, "--out", out, "--every", 10).exit_code == 0
    snapshots = read(out)
    assert snapshots[LABEL_COLUMNS].notna().all().all()  # both years run to July
    marks = authority.marks.assign(academic_year=academic_years_of(authority.marks["date"]))
    # The DfE's year: without the second half of the summer term for pupils aged 15 (Year 11).
    counted = dfe_cohort(marks, authority.pupils)["in_dfe_cohort"].to_numpy()
    assert not counted.all()  # the simulated Year 11 attend until the end of June
    totals = enrolment_totals(marks[counted], by=ENROLMENT)
    totals = totals.assign(
        upn=totals["upn"].astype(str), academic_year=totals["academic_year"].astype(str)
    )
    labelled = snapshots.merge(totals, on=ENROLMENT)
    assert len(labelled) == len(snapshots)
    assert (labelled["pa_year_end"] == labelled["persistent_absence"].astype(float)).all()
    assert (labelled["severe_year_end"] == labelled["severe_absence"].astype(float)).all()
    assert 0.05 < labelled.drop_duplicates(ENROLMENT)["pa_year_end"].mean() < 0.5


def test_no_labels_for_a_year_that_is_not_complete(data_dir, tmp_path):
    # The same authority, its last year cut at the end of March.
    cut = tmp_path / "cut"
    cut.mkdir()
    for name in ("schools.csv", "pupils.csv"):
        (cut / name).write_bytes((data_dir / name).read_bytes())
    marks = pd.read_parquet(data_dir / "marks.parquet")
    marks[marks["date"] < pd.Timestamp("2025-04-01")].to_parquet(cut / "marks.parquet")
    out = tmp_path / "snapshots.parquet"
    result = ews_features("--data", cut, "--out", out, "--every", 5)
    assert result.exit_code == 0, result.output
    snapshots = read(out)
    by_year = snapshots.groupby("academic_year")["pa_year_end"]
    assert by_year.apply(lambda s: s.notna().all())["2023/24"]
    assert by_year.apply(lambda s: s.isna().all())["2024/25"]


def test_as_of_gives_at_most_one_week_per_enrolment_of_that_year(data_dir, tmp_path):
    # Loosely: the exact as-of semantics belong to features.snapshots.
    out = tmp_path / "as_of.parquet"
    result = ews_features("--data", data_dir, "--out", out, "--as-of", "2024-12-13")
    assert result.exit_code == 0, result.output
    snapshots = read(out)
    assert set(snapshots["academic_year"]) == {"2024/25"}
    assert not snapshots[ENROLMENT].duplicated().any()
    assert (pd.to_datetime(snapshots["as_of"]) <= pd.Timestamp("2024-12-13")).all()


def test_bad_arguments_say_what_to_do(tmp_path):
    result = ews_features("--data", tmp_path, "--out", tmp_path / "x.parquet")
    assert result.exit_code == 2
    assert "ews simulate --out" in result.output
    result = ews_features("--data", tmp_path, "--out", tmp_path / "x.parquet", "--as-of", "13/12")
    assert result.exit_code == 2
    assert "not a date like 2024-12-13" in result.output
    assert not (tmp_path / "x.parquet").exists()


def test_a_year_without_marks_is_an_error_not_an_empty_file(data_dir, tmp_path):
    out = tmp_path / "none.parquet"
    result = ews_features("--data", data_dir, "--out", out, "--year", "2019/20")
    assert result.exit_code == 2
    assert "no marks for 2019/20" in result.output
    assert "2023/24, 2024/25" in result.output
    assert not out.exists()


def test_figures_count_the_dfe_cohort_and_agree_with_the_pupils_labels(
    data_dir, authority, tmp_path
):
    """``ews figures``: England's PA share is the share of enrolments (with possible sessions)
    whose year-end label is PA — the same DfE cohort the labels use; ``--cohort all`` counts
    the late summer of Year 11 too, so more possible sessions."""
    from ews.cli import app

    runner = CliRunner()
    done = runner.invoke(app, ["figures", "--data", str(data_dir), "--out", str(tmp_path / "f")])
    assert done.exit_code == 0, done.output
    england = pd.read_csv(tmp_path / "f" / "england.csv").set_index("academic_year")
    marks = authority.marks.assign(academic_year=academic_years_of(authority.marks["date"]))
    counted = dfe_cohort(marks, authority.pupils)["in_dfe_cohort"].to_numpy()
    totals = enrolment_totals(marks[counted], by=ENROLMENT)
    totals = totals[totals["possible_sessions"] > 0]
    for year, of_year in totals.groupby("academic_year", observed=True):
        row = england.loc[str(year)]
        assert row["enrolments"] == len(of_year)
        assert row["persistent_absence_rate"] == pytest.approx(of_year["persistent_absence"].mean())
        assert f"{row['persistent_absence_rate']:.1%}" in done.output
    every = runner.invoke(
        app, ["figures", "--data", str(data_dir), "--cohort", "all", "--out", str(tmp_path / "a")]
    )
    assert every.exit_code == 0, every.output
    all_marks = pd.read_csv(tmp_path / "a" / "england.csv").set_index("academic_year")
    assert (all_marks["possible_sessions"] > england["possible_sessions"]).all()


def test_figures_refuse_a_bad_year_or_directory(data_dir, tmp_path):
    from ews.cli import app

    runner = CliRunner()
    bad_year = runner.invoke(app, ["figures", "--data", str(data_dir), "--year", "2024-25"])
    assert bad_year.exit_code == 2
    assert "not of the form YYYY/YY" in bad_year.output
    empty = runner.invoke(app, ["figures", "--data", str(tmp_path)])
    assert empty.exit_code == 2
    assert "lacks schools.csv, pupils.csv, marks.parquet" in empty.output
    none = runner.invoke(app, ["figures", "--data", str(data_dir), "--year", "2019/20"])
    assert none.exit_code == 2
    assert "has no marks for 2019/20" in none.output
