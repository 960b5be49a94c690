"""The validation report: every error and warning a school office can act on, located."""

from __future__ import annotations

import datetime as dt
import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from features.calendar import academic_year_bounds, academic_year_of
from features.registers import read_register, read_roster, read_upload
from features.upn import CHECK_ALPHABET, is_valid_upn, make_upns
from features.validation import ISSUE_LIMIT, Issue, ValidationReport, valid_upn_mask

DATA = Path(__file__).parent.parent / "data"
URN = 100001
ADA, BEN, CLEO, DEV = "Y999900124001", "M999900124002", "B999900124003", "Q999900124004"
HEADER = "upn,date,session,mark"


def csv(*rows: str, header: str = HEADER) -> bytes:
    return ("\n".join([header, *rows]) + "\n").encode()


def issues(report, kind: str, severity: str = "error") -> list[Issue]:
    listed = report.errors if severity == "error" else report.warnings
    return [i for i in listed if i.kind == kind]


def where(issue: Issue) -> tuple:
    return (issue.row, issue.column, issue.value)


# --- the bad fixture: one of each, located ----------------------------------------------------


def test_bad_fixture_reports_each_problem_where_it_is():
    marks, report = read_register(DATA / "register_bad.csv", URN)
    assert marks.empty
    assert not report.ok
    assert report.error_counts == {
        "unknown_code": 1,
        "upn_invalid": 1,
        "weekend_date": 1,
        "date_unreadable": 1,
        "session_invalid": 1,
        "code_not_valid_on_date": 1,
        "conflicting_marks": 1,
        "minutes_late_invalid": 1,
    }
    located = {i.kind: where(i) for i in report.errors}
    assert located == {
        "unknown_code": (3, "Mark", "Q9"),
        "upn_invalid": (4, "UPN", "A999900124001"),
        "weekend_date": (5, "Date", "2024-09-07"),
        "date_unreadable": (6, "Date", "31/02/2024"),
        "session_invalid": (7, "Session", "XM"),
        "code_not_valid_on_date": (8, "Mark", "H"),
        "conflicting_marks": (10, "Mark", "I"),
        "minutes_late_invalid": (12, "Minutes late", "abc"),
    }
    assert report.warning_counts == {"late_after_close": 1}
    assert where(report.warnings[0]) == (11, "Minutes late", "45")
    every = report.errors + report.warnings
    assert all(i.file == "register_bad.csv" and i.message and i.fix for i in every)


def test_upn_messages_say_what_is_wrong():
    _, report = read_register(
        csv("A999900124001,2024-09-02,AM,/", "Y99990012400,2024-09-02,AM,/", ",2024-09-02,AM,/")
    )
    invalid = issues(report, "upn_invalid")
    assert "check letter is 'A' but the digits give 'Y'" in invalid[0].message
    assert "13 characters; this has 12" in invalid[1].message
    assert where(issues(report, "upn_missing")[0]) == (4, "upn", "")


def test_lower_case_upn_is_accepted_as_upper_case():
    marks, report = read_register(csv(f"{ADA.lower()},2024-09-02,AM,/"), URN)
    assert report.ok and marks["upn"].tolist() == [ADA]


# --- codes and the date they are recorded on --------------------------------------------------


def test_2024_code_before_19_august_2024_names_the_code_set():
    _, report = read_register(csv(f"{ADA},2024-07-15,AM,C2"), URN)
    [issue] = report.errors
    assert issue.kind == "code_not_valid_on_date"
    assert "in force from 19 August 2024" in issue.message
    assert "on 15 July 2024 the 2006 code set applies" in issue.message
    assert "nearest code is C" in issue.fix


def test_2006_code_after_19_august_2024_names_the_code_set():
    _, report = read_register(csv(f"{ADA},2024-09-02,AM,H"), URN)
    [issue] = report.errors
    assert "withdrawn after 18 August 2024" in issue.message
    assert "the 2024 code set applies" in issue.message
    assert "C if granted" in issue.fix


def test_codes_on_their_own_side_of_the_change_are_valid():
    # Friday 16 August 2024 is the last weekday of the 2006 set; 2023/24 and 2024/25 are
    # different academic years, so they are read as two files.
    assert read_register(csv(f"{ADA},2024-07-15,AM,H"), URN).report.ok
    assert read_register(csv(f"{ADA},2024-08-16,AM,J"), URN).report.ok
    assert read_register(csv(f"{ADA},2024-08-19,AM,C2"), URN).report.ok
    assert not read_register(csv(f"{ADA},2024-08-19,AM,J"), URN).report.ok


def test_capita_one_symbol_error_shows_what_it_was_read_as():
    _, report = read_register(csv(f"{ADA},2024-07-15,AM,>"), URN)
    assert report.errors[0].message.startswith('">" (read as "C2")')


def test_f_withdrawn_in_2013():
    assert read_register(csv(f"{ADA},2013-07-01,AM,F"), URN).report.ok
    _, report = read_register(csv(f"{ADA},2013-09-02,AM,F"), URN)
    assert "withdrawn after 31 August 2013" in report.errors[0].message


# --- dates --------------------------------------------------------------------------------------


def test_academic_year_given_by_the_caller():
    data = csv(f"{ADA},2024-09-02,AM,/", f"{ADA},2025-07-25,AM,/", f"{ADA},2025-08-01,AM,/")
    _, report = read_register(data, URN, academic_year="2024/25")
    [issue] = report.errors
    assert issue.kind == "date_outside_year"
    assert issue.row == 4
    assert "in academic year 2025/26, not 2024/25" in issue.message


def test_file_spanning_two_academic_years_flags_the_minority():
    data = csv(f"{ADA},2024-07-19,PM,/", f"{ADA},2024-09-02,AM,/", f"{ADA},2024-09-02,PM,/")
    _, report = read_register(data, URN)
    [issue] = report.errors
    assert issue.kind == "mixed_academic_years"
    assert issue.row == 2
    assert "most of this file is 2024/25" in issue.message
    assert "2024/25 (2 rows), 2023/24 (1 row)" in issue.message


def test_a_mark_dated_in_the_future_is_an_error():
    data = csv(f"{ADA},2024-09-06,AM,/", f"{ADA},2024-09-09,AM,/")
    marks, report = read_register(data, URN, today=dt.date(2024, 9, 6))
    assert marks.empty
    [issue] = report.errors
    assert issue.kind == "date_in_future"
    assert where(issue) == (3, "date", "2024-09-09")
    assert "Monday 9 September 2024 is in the future (today is 6 September 2024)" in issue.message
    assert "day/month/year" in issue.fix


def test_without_an_academic_year_a_file_dated_2031_is_refused():
    # ews summarise and the service pass no academic year: the default still refuses it.
    marks, report = read_register(csv(f"{ADA},2031-09-01,AM,/"), URN)
    assert marks.empty
    assert report.error_counts == {"date_in_future": 1}


def test_wide_register_in_the_future_is_flagged_once_per_column():
    data = f"upn,2024-09-06 AM,2024-09-09 AM\n{ADA},/,/\n{BEN},/,/\n".encode()
    _, report = read_register(data, URN, today=dt.date(2024, 9, 6))
    [issue] = report.errors
    assert (issue.kind, issue.row, issue.column) == ("date_in_future", 1, "2024-09-09 AM")


def test_the_academic_year_is_inferred_and_rows_of_another_year_are_named():
    data = csv(
        f"{ADA},2024-09-02,AM,/",
        f"{ADA},2025-09-01,AM,/",  # next academic year
        f"{ADA},2024-09-02,PM,/",
    )
    _, report = read_register(data, URN, today=dt.date(2026, 1, 1))
    [issue] = report.errors
    assert (issue.kind, issue.row, issue.column, issue.value) == (
        "mixed_academic_years",
        3,
        "date",
        "2025-09-01",
    )
    assert "in academic year 2025/26, but most of this file is 2024/25" in issue.message
    assert report.summary["upload.csv"]["academic_year"] == "2024/25"


def test_a_mark_on_a_bank_holiday_is_a_warning_naming_the_holiday():
    data = csv(
        f"{ADA},2024-12-24,AM,/",
        f"{ADA},2024-12-25,AM,/",  # a Wednesday
        f"{BEN},2024-12-25,AM,I",
        f"{ADA},2024-12-26,AM,#",  # the right mark for a closure: no warning
    )
    marks, report = read_register(data, URN)
    assert report.ok and len(marks) == 4  # a warning: the school may have met
    [warning] = report.warnings
    assert warning.kind == "bank_holiday"
    assert where(warning) == (3, "date", "2024-12-25")
    assert "Wednesday 25 December 2024 is a bank holiday (Christmas Day)" in warning.message
    assert "2 marks that day" in warning.message
    assert "record # (planned closure)" in warning.fix


def test_a_substitute_bank_holiday_in_a_wide_register():
    data = f"upn,2021-12-24 AM,2021-12-28 AM\n{ADA},/,/\n".encode()
    _, report = read_register(data, URN)
    [warning] = report.warnings
    assert (warning.row, warning.column) == (2, "2021-12-28 AM")
    assert "Boxing Day (substitute day)" in warning.message


def test_a_us_style_date_gets_a_day_month_hint():
    _, report = read_register(csv(f"{ADA},09/25/2024,AM,/"), URN)
    [issue] = report.errors
    assert issue.kind == "date_unreadable"
    assert "dates must be day/month/year" in issue.message
    assert "US date (month/day/year) it is 25/09/2024" in issue.message
    _, report = read_register(csv(f"{ADA},31/02/2024,AM,/"), URN)
    assert "US date" not in report.errors[0].message  # no such day either way


def test_academic_year_boundaries():
    assert academic_year_of(dt.date(2024, 7, 31)) == "2023/24"
    assert academic_year_of(dt.date(2024, 8, 1)) == "2024/25"
    assert academic_year_bounds("2024/25") == (dt.date(2024, 8, 1), dt.date(2025, 7, 31))


def test_wide_header_dates_are_checked_once_per_column():
    data = (
        f"upn,2024-09-07 AM,2024-09-09 AM,2024-09-09 AM,2024-09-10\n{ADA},/,/,/,/\n{BEN},/,/,/,/\n"
    ).encode()
    _, report = read_register(data, URN)
    assert report.error_counts == {
        "weekend_date": 1,
        "duplicate_column": 1,
        "session_header_invalid": 1,
    }
    assert all(i.row == 1 for i in report.errors)
    assert issues(report, "session_header_invalid")[0].column == "2024-09-10"
    # The repeated column repeats each pupil's mark: the same mark twice, a warning per pupil.
    assert report.warning_counts == {"duplicate_mark": 2}


def test_empty_date_and_session():
    _, report = read_register(csv(f"{ADA},,AM,/", f"{ADA},2024-09-02,,/"), URN)
    assert where(issues(report, "date_missing")[0]) == (2, "date", "")
    assert where(issues(report, "session_invalid")[0]) == (3, "session", "")


# --- duplicates --------------------------------------------------------------------------------


def test_same_mark_twice_is_a_warning_and_kept_once():
    marks, report = read_register(
        csv(f"{ADA},2024-09-02,AM,/", f"{ADA},02/09/2024,am,/", f"{ADA},2024-09-02,PM,\\"), URN
    )
    assert report.ok
    assert len(marks) == 2
    [warning] = report.warnings
    assert warning.kind == "duplicate_mark"
    assert warning.row == 3
    assert "at row 2" in warning.message


def test_different_marks_for_one_session_are_an_error_naming_both_rows():
    _, report = read_register(csv(f"{ADA},2024-09-02,AM,/", f"{ADA},2024-09-02,AM,O"), URN)
    [issue] = report.errors
    assert issue.kind == "conflicting_marks"
    assert (issue.row, issue.value) == (3, "O")
    assert 'at row 2 (mark "/")' in issue.message


# --- roster membership ------------------------------------------------------------------------


def test_pupil_missing_from_the_roster_is_one_error_per_pupil():
    roster, _ = read_roster(DATA / "roster.csv")
    stranger = make_upns(999, 9001, 24, np.array([77]))[0]
    rows = [f"{stranger},2024-09-0{d},{s},/" for d in (2, 3) for s in ("AM", "PM")]
    rows += [f"{ADA},2024-09-02,AM,/"]
    _, report = read_register(csv(*rows), URN, roster=roster)
    [issue] = issues(report, "pupil_not_on_roster")
    assert (issue.row, issue.value) == (2, stranger)
    assert "4 marks" in issue.message


def test_pupil_on_roll_without_marks_is_a_warning_at_the_roster_row():
    data = (DATA / "register_long.csv").read_text().splitlines()
    without_ben = "\n".join(line for line in data if BEN not in line).encode()
    _, _, report = read_upload(without_ben, DATA / "roster.csv", URN)
    assert report.ok
    # Ben (roster row 3) is on roll; Eve left in July and Dev's Z marks count as marks.
    assert report.warning_counts == {"pupil_without_marks": 1}
    [warning] = report.warnings
    assert (warning.file, warning.row, warning.value) == ("roster.csv", 3, BEN)


def test_store_roster_with_date_objects_works():
    """The service passes rosters from its database, with ``datetime.date`` objects."""
    roster = pd.DataFrame(
        {
            "upn": [ADA, BEN],
            "entry_date": [dt.date(2020, 9, 1), dt.date(2020, 9, 1)],
            "leaving_date": [None, None],
        }
    )
    _, report = read_register(csv(f"{ADA},2024-09-02,AM,/"), URN, roster=roster)
    assert report.ok
    assert [w.value for w in report.warnings] == [BEN]


# --- data-quality warnings --------------------------------------------------------------------


def test_unresolved_n_is_counted_per_pupil_week():
    rows = [
        f"{ADA},2024-09-02,AM,N",
        f"{ADA},2024-09-03,PM,N",
        f"{ADA},2024-09-09,AM,N",
        f"{BEN},2024-09-02,AM,N",
        f"{BEN},2024-09-02,PM,/",
    ]
    marks, report = read_register(csv(*rows), URN)
    assert report.ok and len(marks) == 5
    found = issues(report, "unresolved_n", "warning")
    assert [(i.row, i.message.split(" in the week")[0]) for i in found] == [
        (2, "2 sessions"),
        (4, "1 session"),
        (5, "1 session"),
    ]
    assert "week of 2 September 2024" in found[0].message
    # The value is the pupil's UPN (not just "N"), in the UPN column.
    assert [(i.column, i.value) for i in found] == [("upn", ADA), ("upn", ADA), ("upn", BEN)]
    assert "first Monday 2 September 2024 AM" in found[0].message


def roster_with_dates(entry: str, leaving: str = "") -> pd.DataFrame:
    text = (
        "upn,forename,surname,date_of_birth,sex,year_group,fsm,sen,eal,ethnicity,entry_date,"
        f"leaving_date\n{ADA},Ada,Example,2013-05-14,F,7,1,N,0,WBRI,{entry},{leaving}\n"
    )
    roster, report = read_roster(text.encode())
    assert report.ok, report.format_text()
    return roster


def test_marks_before_the_entry_date_are_a_warning_per_pupil():
    roster = roster_with_dates("2024-09-04")
    rows = [
        f"{ADA},2024-09-02,AM,Z",  # Z (not yet on roll): the right mark, not flagged
        f"{ADA},2024-09-02,PM,Z",
        f"{ADA},2024-09-03,AM,/",  # before entry: flagged (first of two)
        f"{ADA},2024-09-03,PM,I",
        f"{ADA},2024-09-04,AM,/",
    ]
    marks, report = read_register(csv(*rows), URN, roster=roster)
    assert report.ok and len(marks) == 5  # a warning: the data is still loaded
    [warning] = issues(report, "mark_before_entry", "warning")
    assert where(warning) == (4, "date", "2024-09-03")
    assert f"{ADA} has 2 marks dated before the entry date on the roster (4 September 2024" in (
        warning.message
    )
    assert "mark Z (prospective pupil, not on roll)" in warning.fix
    assert "or correct the entry date" in warning.fix


def test_marks_after_the_leaving_date_are_a_warning_per_pupil():
    roster = roster_with_dates("2020-09-01", "2024-09-03")
    rows = [f"{ADA},2024-09-0{d},{s},/" for d in (2, 3, 4, 5) for s in ("AM", "PM")]
    _, report = read_register(csv(*rows), URN, roster=roster)
    [warning] = issues(report, "mark_after_leaving", "warning")
    assert where(warning) == (6, "date", "2024-09-04")
    assert "4 marks dated after the leaving date on the roster (3 September 2024" in (
        warning.message
    )
    assert "correct the leaving date" in warning.fix
    assert not issues(report, "mark_before_entry", "warning")


def test_minutes_late_on_a_mark_that_is_not_late():
    _, report = read_register(
        csv(f"{ADA},2024-09-02,AM,/,10", f"{ADA},2024-09-02,PM,L,0", f"{BEN},2024-09-02,AM,U,55",
            f"{BEN},2024-09-02,PM,L,-3", header=HEADER + ",minutes_late"),
        URN,
    )  # fmt: skip
    assert report.warning_counts == {"minutes_late_not_late": 1}
    assert report.warnings[0].row == 2
    assert report.error_counts == {"minutes_late_invalid": 1}
    assert "negative" in report.errors[0].message


# --- structure --------------------------------------------------------------------------------


def test_missing_columns_are_named_with_what_was_found():
    _, report = read_register(b"upn,date,code\nY999900124001,2024-09-02,/\n", URN)
    [issue] = report.errors
    assert issue.kind == "missing_column"
    assert 'no "session" column' in issue.message
    assert '"upn", "date", "code"' in issue.message
    assert "am_pm" in issue.fix


def test_two_columns_for_one_field():
    _, report = read_register(
        csv(f"{ADA},{ADA},2024-09-02,AM,/", header="upn,pupil upn," + HEADER[4:])
    )
    assert "duplicate_column" in report.error_counts


# --- the report itself ------------------------------------------------------------------------


def _many_bad_rows(n: int) -> bytes:
    return csv(*(f"{ADA},2024-09-02,{'AM' if i % 2 else 'PM'},Q{i}" for i in range(n)))


def test_issues_are_capped_per_kind_but_counted():
    _, report = read_register(_many_bad_rows(300), URN)
    assert report.error_counts["unknown_code"] == 300
    assert len(issues(report, "unknown_code")) == ISSUE_LIMIT
    # The cap is per kind: the conflicting duplicates (same pupil-session) are listed too.
    assert report.error_counts["conflicting_marks"] == 298
    assert len(issues(report, "conflicting_marks")) == ISSUE_LIMIT
    text = report.format_text()
    assert "… and 250 more of this kind (unknown_code) not listed." in text
    assert len(text) < 50_000


def test_report_dict_is_json_ready():
    _, report = read_register(DATA / "register_bad.csv", URN)
    as_dict = json.loads(json.dumps(report.to_dict()))
    assert as_dict["ok"] is False
    assert as_dict["counts"]["errors"] == 8 and as_dict["counts"]["warnings"] == 1
    assert as_dict["counts"]["errors_by_kind"]["unknown_code"] == 1
    assert len(as_dict["errors"]) == 8 and len(as_dict["warnings"]) == 1
    first = as_dict["errors"][0]
    assert set(first) == {"kind", "file", "row", "column", "value", "message", "fix"}
    # Listed in the order a person works through the file.
    rows = [i["row"] for i in as_dict["errors"]]
    assert rows == sorted(rows)
    assert as_dict["summary"]["register_bad.csv"]["first_date"] == "2024-09-02"


def test_format_text_is_readable():
    _, report = read_register(DATA / "register_bad.csv", URN)
    text = report.format_text()
    assert text.startswith("register_bad.csv: NOT ACCEPTED — 8 errors, 1 warning.")
    assert "Nothing was loaded" in text
    assert '  row 3, column "Mark", value "Q9"\n    "Q9" is not a register code\n    Fix: ' in text
    ok_text = read_register(DATA / "register_long.csv", URN).report.format_text()
    assert ok_text == "register_long.csv: ACCEPTED — 0 errors, 0 warnings."


def test_long_values_are_shortened():
    _, report = read_register(csv(f"{ADA},2024-09-02,AM,{'Q' * 500}"), URN)
    assert len(report.errors[0].value) <= 60


def test_merge_keeps_totals_and_cap():
    first = read_register(_many_bad_rows(80), URN, filename="a.csv").report
    second = read_register(_many_bad_rows(80), URN, filename="b.csv").report
    first.merge(second)
    assert first.error_counts["unknown_code"] == 160
    assert len(issues(first, "unknown_code")) == ISSUE_LIMIT
    assert first.files == ["a.csv", "b.csv"]


def test_upns_are_never_logged(caplog):
    caplog.set_level(logging.DEBUG)
    read_register(DATA / "register_bad.csv", URN)
    read_upload(DATA / "register_long.csv", DATA / "roster.csv", URN)
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert logged  # something was logged…
    for upn in (ADA, BEN, CLEO, DEV, "A999900124001"):
        assert upn not in logged  # …but no UPN


def test_empty_report_is_ok():
    report = ValidationReport()
    assert report.ok and report.n_errors == 0 and report.counts["errors_by_kind"] == {}


# --- roster errors ----------------------------------------------------------------------------

ROSTER_HEADER = (
    "upn,forename,surname,date_of_birth,sex,year_group,fsm,sen,eal,ethnicity,entry_date,"
    "leaving_date"
)


def test_roster_errors_are_located():
    roster, report = read_roster(
        csv(
            f"{ADA},Ada,Example,2013-05-14,F,7,1,N,0,WBRI,2024-09-02,",
            f"{ADA},Ada,Again,2013-05-14,F,7,1,N,0,WBRI,2024-09-02,",
            "Y999900124000,Bad,Upn,2013-05-14,F,7,1,N,0,WBRI,2024-09-02,",
            f"{BEN},Ben,Sample,2012-13-30,U,14,2,S,maybe,AIND,2023-09-04,2023-09-01",
            f"{CLEO},Cleo,Fictional,2019-01-19,F,N1,0,,0,,2024-09-02,",
            header=ROSTER_HEADER,
        )
    )  # fmt: skip
    assert roster.empty
    located = {(i.kind, i.column): (i.row, i.value) for i in report.errors}
    assert located == {
        ("duplicate_pupil", "upn"): (3, ADA),
        ("upn_invalid", "upn"): (4, "Y999900124000"),
        ("date_unreadable", "date_of_birth"): (5, "2012-13-30"),
        ("value_invalid", "sex"): (5, "U"),
        ("value_invalid", "year_group"): (6, "N1"),
        ("value_invalid", "fsm"): (5, "2"),
        ("value_invalid", "sen"): (5, "S"),
        ("value_invalid", "eal"): (5, "maybe"),
        ("leaving_before_entry", "leaving_date"): (5, "2023-09-01"),
        ("value_missing", "sen"): (6, ""),
    }
    assert report.error_counts["value_invalid"] == 6  # year group 14 and N1
    assert "row 2" in issues(report, "duplicate_pupil")[0].message


def test_roster_missing_required_column():
    _, report = read_roster(csv(f"{ADA},Ada", header="upn,forename"))
    missing = {i.message.split('"')[1] for i in issues(report, "missing_column")}
    assert missing == {
        "surname", "date_of_birth", "sex", "year_group", "fsm", "sen", "eal", "entry_date"
    }  # fmt: skip


# --- vectorised UPN check ---------------------------------------------------------------------

UPN_CHARS = st.text(alphabet="0123456789" + CHECK_ALPHABET + "IOSa -", min_size=0, max_size=15)


@settings(max_examples=300, deadline=None)
@given(st.lists(UPN_CHARS, max_size=20), st.lists(st.integers(0, 999), max_size=20))
def test_valid_upn_mask_agrees_with_is_valid_upn(random_texts, serials):
    real = list(make_upns(999, 9001, 24, np.array(serials, dtype=np.int64)))
    texts = random_texts + real
    assert valid_upn_mask(texts).tolist() == [is_valid_upn(t) for t in texts]
    assert valid_upn_mask(real).all()
