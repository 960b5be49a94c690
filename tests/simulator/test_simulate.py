"""The simulated local authority: files, population flows, codes, calendar and CLI.

Calibration against the DfE's figures is in ``test_simulate_calibration.py``; the model's
building blocks (bands, budgets, term dates) in ``test_simulate_parts.py``.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from features.arithmetic import enrolment_totals
from features.codes import CODE_SET_2024_FROM, INVALID_CATEGORY_ID, categories
from features.schema import MARK_COLUMNS, PUPIL_COLUMNS, ROSTER_COLUMNS, SCHOOL_COLUMNS
from features.upn import is_valid_upn
from simulator import SimulationConfig, simulate_authority, write_authority
from simulator.authority import EPISODE_COLUMNS
from simulator.episodes import EPISODE_KIND_NAMES
from simulator.output import REGISTER_COLUMNS

YEARS = ("2023/24", "2024/25")
CONFIG = SimulationConfig(pupils=1500, schools=6, years=YEARS, seed=11)
ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@pytest.fixture(scope="module")
def authority():
    return simulate_authority(CONFIG)


@pytest.fixture(scope="module")
def written(authority, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("authority")
    write_authority(authority, out, register_files=True)
    return out


@pytest.fixture(scope="module")
def csv_pupils(written) -> pd.DataFrame:
    return pd.read_csv(written / "pupils.csv", dtype=str, keep_default_na=False)


def _in_year(marks: pd.DataFrame, year: str) -> pd.DataFrame:
    start = int(year[:4])
    dates = marks["date"]
    keep = (dates >= pd.Timestamp(start, 8, 1)) & (dates <= pd.Timestamp(start + 1, 7, 31))
    return marks[keep.to_numpy()]


# --- determinism ------------------------------------------------------------------------------


def test_the_same_seed_gives_the_same_authority_and_another_seed_does_not():
    config = SimulationConfig(pupils=300, schools=3, years=("2024/25",), seed=5)
    first, second = simulate_authority(config), simulate_authority(config)
    pd.testing.assert_frame_equal(first.marks, second.marks)
    pd.testing.assert_frame_equal(first.pupils, second.pupils)
    pd.testing.assert_frame_equal(first.schools, second.schools)
    other = simulate_authority(SimulationConfig(pupils=300, schools=3, years=("2024/25",), seed=6))
    assert not other.marks["code"].equals(first.marks["code"])


# --- files ------------------------------------------------------------------------------------


def test_schools_csv_has_plausible_schools_of_each_phase(written):
    schools = pd.read_csv(written / "schools.csv")
    assert list(schools.columns) == SCHOOL_COLUMNS
    assert schools["school_urn"].between(100000, 999999).all()
    assert schools["school_urn"].is_unique and schools["name"].is_unique
    assert schools["phase"].value_counts().to_dict() == {"primary": 3, "secondary": 2, "special": 1}
    assert (schools["la"] == "Northvale").all()


def test_pupils_csv_columns_and_values(csv_pupils):
    pupils = csv_pupils
    assert list(pupils.columns) == PUPIL_COLUMNS
    assert set(pupils["academic_year"]) == set(YEARS)
    assert set(pupils["sex"]) == {"F", "M"}
    assert set(pupils["fsm"]) == {"0", "1"} and set(pupils["eal"]) == {"0", "1"}
    assert set(pupils["sen"]) == {"N", "K", "E"}
    assert set(pupils["ethnicity"]) <= {
        "White",
        "Mixed",
        "Asian",
        "Black",
        "Chinese",
        "Any other",
        "Unclassified",
    }
    assert set(pupils["year_group"].astype(int)) == set(range(1, 12))
    for column in ("date_of_birth", "entry_date"):
        assert pupils[column].str.match(ISO_DATE).all(), column
    leaving = pupils["leaving_date"]
    assert (leaving.eq("") | leaving.str.match(ISO_DATE)).all()
    assert leaving.eq("").mean() > 0.8  # most pupils are still on roll at the year's end


def test_characteristics_are_in_realistic_proportions(authority):
    pupils = authority.pupils
    assert 0.18 <= pupils["fsm"].mean() <= 0.32  # DfE 2022/23: about 24%
    assert 0.14 <= pupils["eal"].mean() <= 0.27  # about 20%
    assert 0.08 <= (pupils["sen"] == "K").mean() <= 0.18  # SEN support about 13%
    assert 0.02 <= (pupils["sen"] == "E").mean() <= 0.08  # EHC plan about 4-5%
    assert 0.6 <= (pupils["ethnicity"] == "White").mean() <= 0.8


def test_every_pupil_of_a_special_school_has_an_ehc_plan(authority):
    special = authority.schools.loc[authority.schools["phase"] == "special", "school_urn"]
    in_special = authority.pupils["school_urn"].isin(special)
    assert in_special.sum() > 0
    assert (authority.pupils.loc[in_special, "sen"] == "E").all()


def test_upns_are_valid_and_belong_to_one_pupil_for_life(authority):
    pupils = authority.pupils
    upns = pupils["upn"].unique()
    assert all(is_valid_upn(upn) for upn in upns)
    identity = pupils[["upn", "forename", "surname", "date_of_birth", "sex"]].drop_duplicates()
    assert identity["upn"].is_unique  # the same UPN never changes name, birthday or sex
    per_year = pupils.groupby(["academic_year", "school_urn"])["upn"]
    assert not per_year.apply(lambda s: s.duplicated().any()).any()


def test_marks_are_canonical_and_compact(authority):
    marks = authority.marks
    assert list(marks.columns) == MARK_COLUMNS
    assert marks["school_urn"].dtype == np.int32
    assert isinstance(marks["upn"].dtype, pd.CategoricalDtype)
    assert isinstance(marks["code"].dtype, pd.CategoricalDtype)
    assert list(marks["session"].cat.categories) == ["AM", "PM"]
    assert pd.api.types.is_datetime64_any_dtype(marks["date"])
    assert not marks.duplicated(["school_urn", "upn", "date", "session"]).any()


def test_one_mark_per_session_while_on_roll(authority):
    """Every enrolment has both sessions of every school day between entering and leaving."""
    for year in YEARS:
        marks = _in_year(authority.marks, year)
        days = np.sort(marks["date"].unique())
        pupils = authority.pupils[authority.pupils["academic_year"] == year]
        first = np.maximum(pupils["entry_date"].to_numpy(), days[0])
        last = pupils["leaving_date"].fillna(days[-1]).to_numpy()
        expected_days = np.searchsorted(days, last, side="right") - np.searchsorted(days, first)
        counts = marks.groupby(["school_urn", "upn"], observed=True).size()
        actual = counts.reindex(pd.MultiIndex.from_frame(pupils[["school_urn", "upn"]]))
        np.testing.assert_array_equal(actual.to_numpy(), 2 * expected_days)


def test_each_year_has_190_school_days_on_weekdays_with_half_terms(authority):
    for year in YEARS:
        dates = pd.DatetimeIndex(np.sort(_in_year(authority.marks, year)["date"].unique()))
        assert len(dates) == 190
        assert (dates.day_of_week < 5).all()
        gaps = np.diff(dates.to_numpy()).astype("timedelta64[D]").astype(int)
        # Three half-terms (a week) and Christmas and Easter (two weeks): five breaks longer
        # than a weekend (a bank holiday Monday makes a gap of four days).
        assert (gaps > 5).sum() == 5
        assert (gaps >= 14).sum() == 2


# --- codes ------------------------------------------------------------------------------------


def test_codes_are_statutory_codes_valid_on_their_dates(authority):
    marks = authority.marks
    assert (categories(marks["code"], marks["date"]) != INVALID_CATEGORY_ID).all()
    new_set = (marks["date"] >= pd.Timestamp(CODE_SET_2024_FROM)).to_numpy()
    codes = marks["code"].astype(str).to_numpy()
    assert {"C2", "K"} <= set(codes[new_set])  # the 2024 code set is used from 2024/25
    assert not {"C2", "K"} & set(codes[~new_set])
    assert "H" not in set(codes[new_set])  # agreed family holiday went with the 2006 set


def test_absence_reasons_and_attendance_codes_all_occur(authority):
    seen = set(authority.marks["code"].astype(str))
    assert {"/", "\\", "L", "I", "M", "O", "G", "U", "E", "R", "N", "C", "V", "B"} <= seen


# --- flows between and within years ------------------------------------------------------------


def test_year6_pupils_move_up_to_a_secondary_school(authority):
    pupils = authority.pupils
    phase = pupils["school_urn"].map(authority.schools.set_index("school_urn")["phase"])
    year6 = pupils[
        (pupils["academic_year"] == YEARS[0]) & (pupils["year_group"] == 6) & (phase == "primary")
    ]
    next_year = pupils[pupils["academic_year"] == YEARS[1]].set_index("upn")
    moved_on = next_year.loc[next_year.index.intersection(year6["upn"])]
    assert len(moved_on) >= 0.9 * year6["upn"].nunique()  # only mid-year leavers are missing
    assert (moved_on["year_group"] == 7).all()
    new_phase = moved_on["school_urn"].map(authority.schools.set_index("school_urn")["phase"])
    # A few with SEN move to the special school at the transfer; nobody stays in a primary.
    assert new_phase.isin(["secondary", "special"]).all()
    assert (new_phase == "secondary").mean() > 0.95


def test_year11_leaves_in_june_and_a_new_year1_arrives(authority):
    pupils = authority.pupils
    first, second = (pupils[pupils["academic_year"] == y] for y in YEARS)
    year11 = first[first["year_group"] == 11]
    assert not set(year11["upn"]) & set(second["upn"])
    # Statutory leaving date: the last Friday in June (earlier for a few mid-year leavers).
    leaving = year11["leaving_date"].dt.date
    assert leaving.notna().all() and (leaving <= dt.date(2024, 6, 28)).all()
    assert (leaving == dt.date(2024, 6, 28)).mean() > 0.9
    new_year1 = second[second["year_group"] == 1]
    assert len(new_year1) > 0 and not set(new_year1["upn"]) & set(first["upn"])


def test_pupils_join_and_leave_during_the_year_and_part_year_enrolments_miss_more(authority):
    pupils = authority.pupils
    year = pupils[pupils["academic_year"] == YEARS[1]]
    leavers = year["leaving_date"].notna() & (year["year_group"] < 11)
    joiners = year["entry_date"] > pd.Timestamp("2024-09-10")
    assert leavers.sum() > 10 and joiners.sum() > 10
    movers = year.groupby("upn")["school_urn"].nunique()
    assert (movers > 1).sum() > 0  # some moved school within the LA during the year

    enrolments = enrolment_totals(_in_year(authority.marks, YEARS[1]))
    enrolments["upn"] = enrolments["upn"].astype(str)
    part_year = (leavers | joiners).to_numpy()
    key = year.assign(part_year=part_year).set_index(["school_urn", "upn"])["part_year"]
    enrolments["part_year"] = key.reindex(
        pd.MultiIndex.from_frame(enrolments[["school_urn", "upn"]])
    ).to_numpy()
    severe = enrolments.groupby("part_year")["severe_absence"].mean()
    assert severe[True] > 2 * severe[False]


# --- register files ---------------------------------------------------------------------------


def test_register_files_cover_the_last_year_week_by_week(authority, written):
    year_marks = _in_year(authority.marks, YEARS[-1])
    registers = written / "registers"
    school_dirs = sorted(registers.iterdir())
    assert {int(d.name) for d in school_dirs} == set(year_marks["school_urn"].unique())
    for school_dir in school_dirs:
        roster = pd.read_csv(school_dir / "roster.csv", dtype=str, keep_default_na=False)
        assert list(roster.columns) == ROSTER_COLUMNS
        weeks = sorted(school_dir.glob("20*.csv"))
        assert all(dt.date.fromisoformat(w.stem).weekday() == 0 for w in weeks)  # Mondays
        frames = [pd.read_csv(w, dtype=str, keep_default_na=False) for w in weeks]
        assert all(list(f.columns) == REGISTER_COLUMNS for f in frames)
        register = pd.concat(frames, ignore_index=True)
        school_marks = year_marks[year_marks["school_urn"] == int(school_dir.name)]
        assert len(register) == len(school_marks)
        assert set(register["date"]) == set(school_marks["date"].dt.strftime("%Y-%m-%d"))
        assert set(register["upn"]) <= set(roster["upn"])
        late = register[register["mark"].isin(["L", "U"])]
        assert (register.loc[~register["mark"].isin(["L", "U"]), "minutes_late"] == "").all()
        minutes = late["minutes_late"].astype(int)
        assert minutes[late["mark"] == "L"].between(1, 30).all()
        assert (minutes[late["mark"] == "U"] > 30).all()


def test_a_weekly_register_file_passes_the_real_upload_path(written):
    from features.registers import read_upload

    school_dir = sorted((written / "registers").iterdir())[0]
    week = sorted(school_dir.glob("20*.csv"))[5]
    upload = read_upload(week, school_dir / "roster.csv", int(school_dir.name))
    assert upload.report.ok, upload.report.format_text()
    assert len(upload.marks) == len(pd.read_csv(week))


# --- configuration and CLI ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"regime": "2019/20"}, "regime must be one of 2018/19, 2022/23"),
        ({"years": ("2022/23", "2024/25")}, "consecutive academic years"),
        ({"years": ("2022-23",)}, "YYYY/YY"),
        ({"schools": 2}, "at least 3"),
        ({"pupils": 10}, "at least 200"),
        ({"persistence": 1.0}, "persistence"),
    ],
)
def test_bad_configuration_is_refused_with_a_clear_message(kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        SimulationConfig(**kwargs)


def test_cli_writes_the_files_and_prints_headline_figures(tmp_path):
    from ews.cli import app

    out = tmp_path / "la"
    result = CliRunner().invoke(
        app,
        [
            "simulate",
            "--out",
            str(out),
            "--pupils",
            "400",
            "--schools",
            "3",
            "--years",
            "1",
            "--seed",
            "2",
            "--register-files",
        ],
    )
    assert result.exit_code == 0, result.output
    assert {p.name for p in out.iterdir()} == {
        "schools.csv",
        "pupils.csv",
        "marks.parquet",
        "episodes.parquet",
        "registers",
    }
    lines = result.output.splitlines()
    assert any(line.split()[:2] == ["2024/25", "secondary"] for line in lines)
    assert any(line.split()[:2] == ["2024/25", "all"] for line in lines)
    assert "PA" in result.output and "severe" in result.output
    marks = pd.read_parquet(out / "marks.parquet")
    assert len(marks) > 0 and str(marks["date"].min().date()) >= "2024-09-01"
    episodes = pd.read_parquet(out / "episodes.parquet")
    assert list(episodes.columns) == EPISODE_COLUMNS
    assert set(episodes["kind"].astype(str)) <= set(EPISODE_KIND_NAMES)
    assert set(episodes["upn"].astype(str)) <= set(marks["upn"].astype(str))
    # Every episode is dated inside the year; those still running in July have no end.
    assert (episodes["start"] >= marks["date"].min()).all()
    ended = episodes["end"].notna()
    assert (episodes.loc[ended, "end"] >= episodes.loc[ended, "start"]).all()


def test_the_report_prints_each_target_simulated_beside_real(tmp_path):
    from ews.cli import app

    result = CliRunner().invoke(
        app,
        ["simulate", "--out", str(tmp_path), "--pupils", "600", "--years", "2", "--report"],
    )
    assert result.exit_code == 0, result.output
    assert "Calibration report (regime 2022/23)" in result.output
    for target in ("bands TVD", "PA autumn", "PA spring", "year-to-year correlation", "AUC"):
        assert target in result.output
    assert "targets met" in result.output and "PA so far, week" in result.output


def test_cli_refuses_a_bad_regime_and_writes_nothing(tmp_path):
    from ews.cli import app

    out = tmp_path / "la"
    result = CliRunner().invoke(app, ["simulate", "--out", str(out), "--regime", "2020/21"])
    assert result.exit_code == 2
    assert "regime must be one of" in result.output
    assert not out.exists()


def test_write_counts_weekly_register_files_and_rosters_apart(tmp_path):
    config = SimulationConfig(pupils=300, schools=3, years=("2024/25",), seed=1)
    counts = write_authority(simulate_authority(config), tmp_path, register_files=True)
    weekly = list((tmp_path / "registers").glob("*/20*.csv"))
    rosters = list((tmp_path / "registers").glob("*/roster.csv"))
    assert counts["register_files"] == len(weekly) > 0  # rosters are not register files
    assert counts["rosters"] == len(rosters) == 3
    assert counts["register_rows"] == sum(len(pd.read_csv(w)) for w in weekly)


def test_writing_again_replaces_the_register_files_of_an_earlier_run(tmp_path):
    def simulate(year: str):
        config = SimulationConfig(pupils=300, schools=3, years=(year,), seed=1)
        write_authority(simulate_authority(config), tmp_path, register_files=True)

    simulate("2023/24")
    simulate("2024/25")
    weeks = [p.stem for p in (tmp_path / "registers").glob("*/20*.csv")]
    assert weeks and all(stem >= "2024-09-01" for stem in weeks)
