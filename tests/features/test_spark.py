"""The Spark engine gives what the pandas engine gives: every column, every row (local[2]).

A tiny authority (3 schools, ~300 pupils a year, two years so that last year's outcomes and
pupils who change school are in play), simulated once and written in both layouts.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from features.schema import SNAPSHOT_COLUMNS

KEYS = ["academic_year", "school_urn", "upn", "week"]


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from features.partitioned import write_partitioned_marks
    from simulator.authority import simulate_authority
    from simulator.config import SimulationConfig
    from simulator.output import write_authority

    out = tmp_path_factory.mktemp("tiny-authority")
    authority = simulate_authority(
        SimulationConfig(pupils=300, schools=3, years=("2023/24", "2024/25"), seed=11)
    )
    write_authority(authority, out)
    write_partitioned_marks(authority.marks, out)
    return out


def _normalised(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame[SNAPSHOT_COLUMNS].copy()
    out["academic_year"] = out["academic_year"].astype(str)
    out["upn"] = out["upn"].astype(str)
    out["school_urn"] = out["school_urn"].astype("int64")
    out["week"] = out["week"].astype("int64")
    out["as_of"] = pd.to_datetime(out["as_of"]).astype("datetime64[ns]")
    return out.sort_values(KEYS, kind="stable").reset_index(drop=True)


def test_partitioned_layout_holds_the_same_marks(tiny_dir: Path) -> None:
    from features.partitioned import read_partitioned_marks

    original = pd.read_parquet(tiny_dir / "marks.parquet")
    years = sorted(p.name for p in (tiny_dir / "marks").iterdir())
    assert years == ["academic_year=2023-24", "academic_year=2024-25"]
    assert len(list((tiny_dir / "marks" / years[0]).iterdir())) == 3  # one per school
    back = read_partitioned_marks(tiny_dir)
    order = ["school_urn", "upn", "date", "session"]
    a = original.astype({"code": str, "session": str, "upn": str, "school_urn": "int64"})
    a = a.sort_values(order).reset_index(drop=True)
    b = back[a.columns].sort_values(order).reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b, check_dtype=False)


def test_features_engine_spark_equals_engine_pandas_every_column_every_row(
    spark, tiny_dir: Path, tmp_path: Path
) -> None:
    from ews.cli import app

    runner = CliRunner()
    args = ["features", "--data", str(tiny_dir)]
    on_pandas = runner.invoke(app, [*args, "--out", str(tmp_path / "p.parquet")])
    assert on_pandas.exit_code == 0, on_pandas.output
    on_spark = runner.invoke(app, [*args, "--engine", "spark", "--out", str(tmp_path / "s")])
    assert on_spark.exit_code == 0, on_spark.output
    expected = _normalised(pd.read_parquet(tmp_path / "p.parquet"))
    got = _normalised(pd.read_parquet(tmp_path / "s"))
    assert len(expected) > 5000
    assert expected["absence_rate_last_year"].notna().any()  # history is in play
    assert expected["pa_year_end"].notna().any()
    pd.testing.assert_frame_equal(got, expected, check_exact=True)


def test_features_engine_spark_says_what_is_missing(spark, tmp_path: Path) -> None:
    from ews.cli import app

    result = CliRunner().invoke(
        app,
        ["features", "--engine", "spark", "--data", str(tmp_path), "--out", str(tmp_path / "o")],
    )
    assert result.exit_code == 2
    assert "ews simulate --partitioned" in result.output


@pytest.mark.parametrize("cohort", ["dfe", "all"])
def test_national_figures_equal_the_arithmetic(spark, tiny_dir: Path, cohort: str) -> None:
    from features.arithmetic import FIGURE_LEVELS, area_figures
    from features.snapshots import load_authority
    from features.spark import national_figures

    figures = national_figures(spark, tiny_dir, cohort=cohort)
    schools, pupils, marks = load_authority(tiny_dir)
    expected_figures = area_figures(marks, schools, pupils if cohort == "dfe" else None)
    columns = [
        "enrolments",
        "possible_sessions",
        "attendance_sessions",
        "overall_absence",
        "absence_rate",
        "persistent_absence_rate",
        "severe_absence_rate",
    ]
    assert len(figures["school"]) == 6  # 3 schools × 2 years
    for level, by in FIGURE_LEVELS.items():
        expected = expected_figures[level].sort_values(by).reset_index(drop=True)
        got = figures[level].sort_values(by).reset_index(drop=True)
        assert got[by].astype(str).equals(expected[by].astype(str)), level
        for column in columns:
            np.testing.assert_allclose(
                got[column].to_numpy(float),
                expected[column].to_numpy(float),
                rtol=1e-12,
                err_msg=f"{level} {column}",
            )


def test_national_figures_count_the_dfe_cohort_by_default(spark, tiny_dir: Path) -> None:
    """The DfE cohort leaves out the second half of the summer term of pupils aged 15: fewer
    possible sessions than every mark, and only where there are such pupils."""
    from features.spark import national_figures

    dfe = national_figures(spark, tiny_dir)["school"].set_index(["academic_year", "school_urn"])
    every = national_figures(spark, tiny_dir, cohort="all")["school"].set_index(
        ["academic_year", "school_urn"]
    )
    fewer = dfe["possible_sessions"] < every["possible_sessions"]
    schools = pd.read_csv(tiny_dir / "schools.csv").set_index("school_urn")["phase"]
    phase = schools.reindex(dfe.index.get_level_values("school_urn")).to_numpy()
    assert fewer[phase == "secondary"].all()
    assert not fewer[phase == "primary"].any()


def test_national_figures_say_what_is_missing(spark, tiny_dir: Path, tmp_path: Path) -> None:
    import shutil

    from features.spark import national_figures

    shutil.copytree(tiny_dir / "marks", tmp_path / "marks")
    shutil.copy(tiny_dir / "schools.csv", tmp_path / "schools.csv")
    with pytest.raises(FileNotFoundError, match="pupils.csv"):
        national_figures(spark, tmp_path)
    with pytest.raises(ValueError, match="cohort must be one of dfe, all"):
        national_figures(spark, tmp_path, cohort="everyone")
    assert len(national_figures(spark, tmp_path, cohort="all")["school"]) == 6


def test_figures_command_gives_the_same_figures_on_both_engines(
    spark, tiny_dir: Path, tmp_path: Path
) -> None:
    from ews.cli import app

    runner = CliRunner()
    args = ["figures", "--data", str(tiny_dir), "--year", "2024/25"]
    on_pandas = runner.invoke(app, [*args, "--out", str(tmp_path / "p")])
    assert on_pandas.exit_code == 0, on_pandas.output
    on_spark = runner.invoke(app, [*args, "--engine", "spark", "--out", str(tmp_path / "s")])
    assert on_spark.exit_code == 0, on_spark.output
    assert on_pandas.output.splitlines()[:-1] == on_spark.output.splitlines()[:-1]
    assert "cohort: dfe, engine: spark" in on_spark.output
    for level in ("school", "la", "england"):
        a = pd.read_csv(tmp_path / "p" / f"{level}.csv")
        b = pd.read_csv(tmp_path / "s" / f"{level}.csv")[a.columns]
        assert (a["academic_year"] == "2024/25").all()
        pd.testing.assert_frame_equal(a, b, check_dtype=False, rtol=1e-12)


def test_a_school_year_without_cohort_marks_gives_typed_empty_totals(tiny_dir: Path) -> None:
    """A roster group without marks (or marks without a roster row: cohort unknown) gives no
    enrolments, in the schema Spark expects."""
    from features.partitioned import marks_with_partitions
    from features.spark import _school_cohort_enrolments

    marks = marks_with_partitions(pd.read_parquet(tiny_dir / "marks.parquet")).head(50)
    roster = pd.read_csv(tiny_dir / "pupils.csv", dtype={"upn": str}).head(0)
    for got in (
        _school_cohort_enrolments(marks.head(0), roster),
        _school_cohort_enrolments(marks, roster),
    ):
        assert got.empty
        assert got.dtypes["school_urn"] == "int64" and got.dtypes["possible_sessions"] == "int64"
