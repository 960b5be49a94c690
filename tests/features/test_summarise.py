"""``ews summarise``: the school's and each pupil's figures, in DfE arithmetic, by hand.

The fixture week (Mon 2 – Fri 6 September 2024, 2024 code set):

* Ada (Y…001): / \\ L \\ / \\ M \\ / I → possible 10, attended 8 (L is present), authorised 2
  (M, I), unauthorised 0 → 20% → persistent, not severe.
* Ben (M…002): O O O O G G / \\ U \\ → possible 10, attended 3, unauthorised 7 (U counts as
  unauthorised) → 70% → persistent and severe.
* Cleo (B…003): / \\ V V / \\ Y1 Y1 / \\ → Y1 not counted: possible 8, attended 8 (V is an
  approved educational activity) → 0%.
* Dev (Q…004): Z × 10 (not yet on roll) → possible 0: no rate, left out of the school rates.

School: possible 28, attendance 19, authorised 2, unauthorised 7 → absence 9/28 = 32.1%;
3 enrolments with possible sessions, 2 persistent (66.7%), 1 severe (33.3%).

With the roster every pupil is in the DfE cohort (aged 5–15 on 31 August 2024: Cleo, in
Reception, was born in January 2019 and is 5 — the DfE counts by age), so the figures are the
same; without it the cohort is unknown and the figures cover all pupils.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

DATA = Path(__file__).parent.parent / "data"
ADA, BEN, CLEO, DEV = "Y999900124001", "M999900124002", "B999900124003", "Q999900124004"


@pytest.fixture(scope="module")
def ews():
    from ews.cli import app

    runner = CliRunner()

    def run(*args: str):
        return runner.invoke(app, ["summarise", *map(str, args)])

    return run


EXPECTED_SCHOOL = {
    "school_urn": 100001,
    "academic_year": "2024/25",
    "first_date": "2024-09-02",
    "last_date": "2024-09-06",
    "days_with_marks": 5,
    "cohort": "all",
    "pupils": 4,
    "enrolments": 3,
    "possible_sessions": 28,
    "attendance_sessions": 19,
    "authorised_absence": 2,
    "unauthorised_absence": 7,
    "overall_absence": 9,
    "absence_rate": 9 / 28,
    "persistent_absence_enrolments": 2,
    "persistent_absence_rate": 2 / 3,
    "severe_absence_enrolments": 1,
    "severe_absence_rate": 1 / 3,
}


WITH_ROSTER = EXPECTED_SCHOOL | {
    "cohort": "dfe",
    "second_half_of_summer_term_from": "2025-06-02",  # 26 May 2025 (spring bank holiday) + 7
    "second_half_of_summer_term_source": "default",  # the register does not reach the summer
}


def pupil(upn, possible, attended, authorised, unauthorised, rate, pa, severe, cohort=None):
    return {
        "upn": upn,
        "possible_sessions": possible,
        "attendance_sessions": attended,
        "authorised_absence": authorised,
        "unauthorised_absence": unauthorised,
        "absence_rate": rate,
        "persistent_absence": pa,
        "severe_absence": severe,
        "cohort": cohort,
        "in_dfe_cohort": None if cohort is None else cohort == "dfe",
    }


EXPECTED_PUPILS = [
    pupil(CLEO, 8, 8, 0, 0, 0.0, False, False),
    pupil(BEN, 10, 3, 0, 7, 0.7, True, True),
    pupil(DEV, 0, 0, 0, 0, None, False, False),
    pupil(ADA, 10, 8, 2, 0, 0.2, True, False),
]


def test_json_figures_are_the_hand_computed_ones(ews):
    result = ews(DATA / "register_long.csv", "--school-urn", "100001", "--format", "json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["school"] == pytest.approx(EXPECTED_SCHOOL)
    assert out["pupils"] == EXPECTED_PUPILS
    assert out["reception"] is None and out["sixth_form"] is None
    assert out["validation"]["ok"] is True


def test_wide_register_with_roster_gives_the_same_figures(ews):
    result = ews(
        DATA / "register_wide.csv", "--roster", DATA / "roster.csv", "--school-urn", "100001",
        "--format", "json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["school"] == pytest.approx(WITH_ROSTER)
    assert out["pupils"] == [p | {"cohort": "dfe", "in_dfe_cohort": True} for p in EXPECTED_PUPILS]
    assert out["reception"] is None and out["sixth_form"] is None
    assert set(out["validation"]["files"]) == {"register_wide.csv", "roster.csv"}


def test_table_is_readable_and_ranks_pupils_by_absence(ews):
    result = ews(DATA / "register_long.csv", "--roster", DATA / "roster.csv")
    assert result.exit_code == 0, result.output
    table = result.stdout
    assert "School URN not given · academic year 2024/25 · 2024-09-02 to 2024-09-06" in table
    assert "DfE cohort: pupils aged 5–15 on 31 August" in table
    assert "Possible sessions           28" in table
    assert "Absence rate             32.1%" in table
    assert "Persistent absence       66.7%  (2 of 3 pupils" in table
    assert "Severe absence           33.3%  (1 of 3 pupils" in table
    assert "only 5 days with marks" in table
    lines = table.splitlines()
    first = lines.index(next(line for line in lines if line.startswith("UPN"))) + 2
    pupil_lines = lines[first : first + 4]
    assert [line.split()[0] for line in pupil_lines] == [BEN, ADA, CLEO, DEV]
    assert pupil_lines[0].split() == [BEN, "10", "3", "0", "7", "70.0%", "yes", "yes", "DfE"]
    assert pupil_lines[3].split() == [DEV, "0", "0", "0", "0", "—", "no", "no", "DfE"]
    assert result.stderr == ""  # no warnings for the clean fixture


def test_bad_register_prints_the_report_and_fails(ews):
    result = ews(DATA / "register_bad.csv")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert "register_bad.csv: NOT ACCEPTED — 8 errors" in result.stderr
    assert 'row 3, column "Mark", value "Q9"' in result.stderr


def test_bad_register_as_json(ews):
    result = ews(DATA / "register_bad.csv", "--format", "json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)["validation"]
    assert report["ok"] is False and report["counts"]["errors"] == 8


def test_pupil_missing_from_roster_fails(ews, tmp_path):
    roster = tmp_path / "roster.csv"
    lines = (DATA / "roster.csv").read_text().splitlines()
    roster.write_text("\n".join(line for line in lines if not line.startswith(BEN)) + "\n")
    result = ews(DATA / "register_long.csv", "--roster", roster)
    assert result.exit_code == 1
    assert "this pupil is not on the roster (10 marks" in result.stderr


def test_warnings_follow_the_table_on_stderr(ews, tmp_path):
    register = tmp_path / "week.csv"
    text = (DATA / "register_long.csv").read_text()
    register.write_text(text.replace(f"{BEN},2024-09-02,AM,O", f"{BEN},2024-09-02,AM,N"))
    result = ews(register)
    assert result.exit_code == 0
    assert "Absence rate" in result.stdout
    assert "still marked N" in result.stderr


def test_school_urn_must_match_the_file(ews, tmp_path):
    register = tmp_path / "urn.csv"
    register.write_text(f"urn,upn,date,session,mark\n100001,{ADA},2024-09-02,AM,/\n")
    assert ews(register, "--school-urn", "100001").exit_code == 0
    result = ews(register, "--school-urn", "100002")
    assert result.exit_code == 1
    assert "uploaded for URN 100002" in result.stderr


def test_a_register_without_marks_is_summarised_as_empty(ews, tmp_path):
    register = tmp_path / "empty.csv"
    register.write_text(f"upn,date,session,mark\n{ADA},2024-09-02,AM,\n")  # an empty mark
    for extra in ([], ["--roster", DATA / "roster.csv"]):
        result = ews(register, *extra)
        assert result.exit_code == 0, result.output
        assert "School URN not given · no marks in the file" in result.stdout
        lines = [line.split() for line in result.stdout.splitlines()]
        assert ["Pupils", "with", "marks", "0"] in lines
        assert ["Absence", "rate", "—"] in lines


def test_missing_file_is_a_usage_error(ews, tmp_path):
    result = ews(tmp_path / "nope.csv")
    assert result.exit_code == 2
