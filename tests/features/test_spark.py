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


def test_national_figures_equal_the_arithmetic(spark, tiny_dir: Path) -> None:
    from features.arithmetic import area_totals, enrolment_totals
    from features.partitioned import marks_with_partitions
    from features.spark import national_figures

    marks = marks_with_partitions(pd.read_parquet(tiny_dir / "marks.parquet"))
    pupils = enrolment_totals(marks, by=["academic_year", "school_urn", "upn"])
    schools = pd.read_csv(tiny_dir / "schools.csv").astype({"la": str})
    pupils = pupils.merge(schools[["school_urn", "la"]], on="school_urn")
    figures = national_figures(spark, tiny_dir)
    levels = {
        "school": ["academic_year", "la", "school_urn"],
        "la": ["academic_year", "la"],
        "england": ["academic_year"],
    }
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
    for level, by in levels.items():
        expected = area_totals(pupils, by=by).sort_values(by).reset_index(drop=True)
        got = figures[level].sort_values(by).reset_index(drop=True)
        assert got[by].astype(str).equals(expected[by].astype(str)), level
        for column in columns:
            np.testing.assert_allclose(
                got[column].to_numpy(float),
                expected[column].to_numpy(float),
                rtol=1e-12,
                err_msg=f"{level} {column}",
            )
