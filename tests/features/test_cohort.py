"""The DfE cohort (DOMAIN.md §1.2): pupils aged 5–15 on 31 August; for those aged 15 the
second half of the summer term is left out; Reception and sixth form apart. By hand."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from features.arithmetic import (
    age_on_31_august,
    dfe_cohort,
    enrolment_totals,
    pupil_cohorts,
    second_half_summer_starts,
)
from features.upn import make_upns


def test_age_on_31_august_at_the_start_of_the_year():
    dob = pd.to_datetime(["2009-08-31", "2009-09-01", "2020-01-10", None])
    assert age_on_31_august(dob, 2024).tolist()[:3] == [15.0, 14.0, 4.0]
    assert np.isnan(age_on_31_august(dob, 2024)[3])
    assert age_on_31_august(dob, np.array([2025, 2025, 2025, 2025]))[0] == 16.0


def test_cohort_by_date_of_birth_then_by_year_group():
    roster = pd.DataFrame(
        {
            "date_of_birth": pd.to_datetime(
                ["2020-01-10", "2019-06-01", "2009-03-03", "2008-08-31", None, None, None, None]
            ),
            "year_group": [0, 1, 11, 11, 0, 11, 12, 7],
        }
    )
    cohorts = pupil_cohorts(roster, 2024)
    assert cohorts["cohort"].tolist() == [
        "reception",  # 4 on 31 August 2024
        "dfe",  # 5
        "dfe",  # 15 ...
        "sixth_form",  # 16: in Year 11 by the roster, but the DfE counts by age
        "reception",  # no date of birth: year group R
        "dfe",  # Year 11
        "sixth_form",  # Year 12
        "dfe",
    ]
    # ... and aged 15 (or in Year 11 without a date of birth): the summer exclusion applies.
    assert cohorts["summer_excluded"].tolist() == [
        False, False, True, False, False, True, False, False,
    ]  # fmt: skip


def school_marks(urn: int, days: pd.DatetimeIndex, upn: str = "A", code: str = "/"):
    return pd.DataFrame(
        {
            "school_urn": urn,
            "upn": upn,
            "date": np.repeat(days.to_numpy(), 2),
            "session": np.tile(["AM", "PM"], len(days)),
            "code": code,
        }
    )


def weekdays(*ranges: tuple[str, str]) -> pd.DatetimeIndex:
    days = [pd.bdate_range(a, b) for a, b in ranges]
    return days[0].append(days[1:]) if len(days) > 1 else days[0]


def test_second_half_of_the_summer_term_from_the_register_or_the_national_pattern():
    marks = pd.concat(
        [
            # Half-term the week of the spring bank holiday (26 May 2025): back on 2 June.
            school_marks(1, weekdays(("2025-05-12", "2025-05-23"), ("2025-06-02", "2025-06-13"))),
            # A later half-term: open 26-30 May, closed 2-6 June, back on 9 June.
            school_marks(2, weekdays(("2025-05-12", "2025-05-30"), ("2025-06-09", "2025-06-13"))),
            # Marks stop before the half-term: the default, the Monday after 26 May.
            school_marks(3, weekdays(("2025-05-12", "2025-05-23"))),
            # 2023/24: spring bank holiday 27 May 2024 → default 3 June 2024.
            school_marks(3, weekdays(("2023-09-04", "2023-09-08"))),
        ]
    )
    starts = second_half_summer_starts(marks).set_index(["school_urn", "academic_year_start"])
    assert starts.loc[(1, 2024), "start"] == pd.Timestamp("2025-06-02")
    assert starts.loc[(1, 2024), "source"] == "register"
    assert starts.loc[(2, 2024), "start"] == pd.Timestamp("2025-06-09")
    assert starts.loc[(2, 2024), "source"] == "register"
    assert starts.loc[(3, 2024), "start"] == pd.Timestamp("2025-06-02")
    assert starts.loc[(3, 2024), "source"] == "default"
    assert starts.loc[(3, 2023), "start"] == pd.Timestamp("2024-06-03")


def test_dfe_cohort_golden():
    """School 1, 2024/25, two weeks before the May half-term and two after (later: 9 June).

    * Y11, 15 on 31 August: absent (O) every session after half-term → those 20 sessions are
      left out: DfE possible 20, absence 0 (the pupil's own view: 40 possible, 50%).
    * Y6, 10: I on the first day, present otherwise → in the cohort throughout.
    * Reception, 4; Year 12, 16: not in the headline, reported apart.
    """
    before = weekdays(("2025-05-19", "2025-05-30"))
    after = weekdays(("2025-06-09", "2025-06-20"))
    y11 = pd.concat([school_marks(1, before, "Y11"), school_marks(1, after, "Y11", code="O")])
    y6 = school_marks(1, before.append(after), "Y6")
    y6.loc[y6.index[:2], "code"] = "I"
    marks = pd.concat(
        [
            y11,
            y6,
            school_marks(1, before.append(after), "REC", code="I"),
            school_marks(1, before.append(after), "Y12", code="O"),
        ],
        ignore_index=True,
    )
    roster = pd.DataFrame(
        {
            "upn": ["Y11", "Y6", "REC", "Y12"],
            "date_of_birth": pd.to_datetime(
                ["2009-03-03", "2014-02-02", "2020-01-10", "2008-05-05"]
            ),
            "year_group": [11, 6, 0, 12],
        }
    )
    cohort = dfe_cohort(marks, roster)
    assert cohort.index.equals(marks.index)
    per_pupil = cohort.groupby(marks["upn"])["cohort"].first().astype(str).to_dict()
    assert per_pupil == {"Y11": "dfe", "Y6": "dfe", "REC": "reception", "Y12": "sixth_form"}
    headline = enrolment_totals(marks[cohort["in_dfe_cohort"].to_numpy()]).set_index("upn")
    assert headline.loc["Y11", "possible_sessions"] == 20
    assert headline.loc["Y11", "overall_absence"] == 0
    assert headline.loc["Y6", "possible_sessions"] == 40
    assert headline.loc["Y6", "overall_absence"] == 2
    assert set(headline.index) == {"Y11", "Y6"}


def test_roster_with_years_and_schools_matches_each_enrolment():
    """The simulator's pupils table has a row per academic year × school × pupil."""
    marks = pd.concat(
        [
            school_marks(1, weekdays(("2024-06-10", "2024-06-14")), "P"),  # 2023/24, Year 11
            school_marks(2, weekdays(("2024-09-02", "2024-09-06")), "P"),  # 2024/25, Year 12
        ],
        ignore_index=True,
    )
    pupils = pd.DataFrame(
        {
            "academic_year": ["2023/24", "2024/25"],
            "school_urn": [1, 2],
            "upn": ["P", "P"],
            "date_of_birth": [None, None],
            "year_group": [11, 12],
        }
    )
    cohort = dfe_cohort(marks, pupils)
    assert cohort["cohort"].astype(str).tolist() == ["dfe"] * 10 + ["sixth_form"] * 10
    # 2023/24 second half of summer from 3 June 2024: the Year 11 marks of 10-14 June are out.
    assert not cohort["in_dfe_cohort"].any()
    assert (dfe_cohort(marks, None)["cohort"] == "unknown").all()


# --- ews summarise on the DfE cohort ----------------------------------------------------------

UPNS = make_upns(999, 9001, 20, np.arange(4))
Y11, Y6, REC, Y12 = UPNS


def test_summarise_reports_the_dfe_cohort_and_reception_and_sixth_form_apart(tmp_path):
    roster = tmp_path / "roster.csv"
    roster.write_text(
        "upn,forename,surname,date_of_birth,sex,year_group,fsm,sen,eal,ethnicity,entry_date\n"
        f"{Y11},A,B,2009-03-03,F,11,0,N,0,WBRI,2020-09-01\n"
        f"{Y6},C,D,2014-02-02,M,6,0,N,0,WBRI,2020-09-01\n"
        f"{REC},E,F,2020-01-10,F,R,0,N,0,WBRI,2024-09-02\n"
        f"{Y12},G,H,2008-05-05,M,12,0,N,0,WBRI,2020-09-01\n"
    )
    rows = ["upn,date,session,mark"]
    before = weekdays(("2025-05-19", "2025-05-23"))
    after = weekdays(("2025-06-02", "2025-06-06"))
    for day in before.append(after):
        for session in ("AM", "PM"):
            late = day >= after[0]
            rows += [
                f"{Y11},{day:%Y-%m-%d},{session},{'O' if late else '/'}",
                f"{Y6},{day:%Y-%m-%d},{session},{'I' if day == before[0] else '/'}",
                f"{REC},{day:%Y-%m-%d},{session},I",
                f"{Y12},{day:%Y-%m-%d},{session},{'O' if day.day_of_week == 0 else '/'}",
            ]
    register = tmp_path / "register.csv"
    register.write_text("\n".join(rows) + "\n")
    from ews.cli import app

    run = CliRunner().invoke
    result = run(app, ["summarise", str(register), "--roster", str(roster), "--format", "json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    school = out["school"]
    # Y11: 10 possible before half-term (after: left out); Y6: 20 possible, 2 absent.
    assert school["cohort"] == "dfe"
    assert (school["pupils"], school["possible_sessions"], school["overall_absence"]) == (2, 30, 2)
    assert school["absence_rate"] == pytest.approx(2 / 30)
    assert school["persistent_absence_enrolments"] == 1  # Y6: 2 of 20 is 10%, PA
    assert school["second_half_of_summer_term_from"] == "2025-06-02"
    assert school["second_half_of_summer_term_source"] == "register"
    assert out["reception"]["possible_sessions"] == 20 and out["reception"]["absence_rate"] == 1
    assert out["sixth_form"]["overall_absence"] == 4  # two Mondays
    cohorts = {p["upn"]: (p["cohort"], p["in_dfe_cohort"]) for p in out["pupils"]}
    assert cohorts == {
        Y11: ("dfe", True),
        Y6: ("dfe", True),
        REC: ("reception", False),
        Y12: ("sixth_form", False),
    }
    y11 = next(p for p in out["pupils"] if p["upn"] == Y11)
    assert y11["possible_sessions"] == 20 and y11["absence_rate"] == 0.5  # the school's view

    table = run(app, ["summarise", str(register), "--roster", str(roster)]).stdout
    assert "Reception (reported separately by the DfE)" in table
    assert "Sixth form (reported separately by the DfE)" in table
    assert "from 2025-06-02" in table
    assert next(line for line in table.splitlines() if line.startswith(REC)).endswith("Reception")
