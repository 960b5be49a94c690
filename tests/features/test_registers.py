"""Register and roster readers: layouts, headers, dates, sessions, encodings, canonical output."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from features.registers import (
    MARK_OUTPUT_COLUMNS,
    UNKNOWN_SCHOOL_URN,
    read_register,
    read_roster,
    read_upload,
)
from features.schema import ROSTER_COLUMNS
from features.upn import make_upns

DATA = Path(__file__).parent.parent / "data"
URN = 100001
ADA, BEN, CLEO, DEV = "Y999900124001", "M999900124002", "B999900124003", "Q999900124004"


def csv(text: str) -> bytes:
    """Test CSV text as uploaded bytes (dedented, UTF-8)."""
    lines = [line.strip() for line in text.strip().splitlines()]
    return ("\n".join(lines) + "\n").encode("utf-8")


def kinds(report) -> set[str]:
    return set(report.error_counts)


# --- the hand-made fixtures -------------------------------------------------------------------


def test_long_fixture_reads_into_canonical_marks():
    marks, report = read_register(DATA / "register_long.csv", URN)
    assert report.ok, report.format_text()
    assert list(marks.columns) == MARK_OUTPUT_COLUMNS
    assert len(marks) == 40
    assert marks["school_urn"].eq(URN).all()
    assert str(marks["date"].dtype) == "datetime64[us]"
    assert marks["school_urn"].dtype == np.int64
    assert marks["minutes_late"].dtype == np.float64
    # Sorted by pupil, date, session.
    assert marks["upn"].is_monotonic_increasing
    ada = marks[marks["upn"] == ADA]
    assert ada["code"].tolist() == ["/", "\\", "L", "\\", "/", "\\", "M", "\\", "/", "I"]
    assert ada["session"].tolist() == ["AM", "PM"] * 5
    late = marks[marks["code"].isin(["L", "U"])].set_index("upn")["minutes_late"]
    assert late.to_dict() == {BEN: 40.0, ADA: 5.0}
    assert marks.loc[marks["code"] == "/", "minutes_late"].isna().all()
    summary = report.summary["register_long.csv"]
    assert summary["layout"] == "long"
    assert summary["marks"] == 40
    assert summary["pupils"] == 4
    assert summary["academic_year"] == "2024/25"
    assert summary["first_date"] == pd.Timestamp("2024-09-02")
    assert summary["last_date"] == pd.Timestamp("2024-09-06")


def test_wide_fixture_gives_the_same_marks_as_the_long_one():
    long_marks, _ = read_register(DATA / "register_long.csv", URN)
    wide_marks, report = read_register(DATA / "register_wide.csv", URN)
    assert report.ok, report.format_text()
    assert report.summary["register_wide.csv"]["layout"] == "wide"
    # The wide grid carries no minutes late.
    assert wide_marks["minutes_late"].isna().all()
    pd.testing.assert_frame_equal(
        wide_marks.drop(columns="minutes_late"), long_marks.drop(columns="minutes_late")
    )
    # The surname column is not used, and the school is told.
    assert report.warning_counts == {"extra_column": 1}
    assert report.warnings[0].column == "Surname"


def test_bytes_and_paths_read_the_same_and_name_the_file():
    from_path, _ = read_register(DATA / "register_long.csv", URN)
    data = (DATA / "register_long.csv").read_bytes()
    from_bytes, report = read_register(data, URN, filename="week1.csv")
    pd.testing.assert_frame_equal(from_path, from_bytes)
    assert report.files == ["week1.csv"]
    _, report = read_register(data, URN)
    assert report.files == ["upload.csv"]


# --- headers, dates, sessions, codes ----------------------------------------------------------


def test_header_synonyms_case_and_spaces():
    marks, report = read_register(
        csv(f"""
            " Pupil UPN ",Session Date,AM/PM,Attendance Code,Mins Late
            {ADA},2024-09-02,AM,/,
        """),
        URN,
    )  # fmt: skip
    assert report.ok, report.format_text()
    assert marks[["upn", "session", "code"]].iloc[0].tolist() == [ADA, "AM", "/"]


@pytest.mark.parametrize(
    "written", ["2024-09-02", "02/09/2024", "2/9/2024", "02/09/2024 00:00", "2024-09-02T00:00:00"]
)
def test_iso_and_uk_dates(written):
    marks, report = read_register(csv(f"upn,date,session,mark\n{ADA},{written},AM,/"), URN)
    assert report.ok, report.format_text()
    assert marks["date"].iloc[0] == pd.Timestamp("2024-09-02")


@pytest.mark.parametrize(
    ("written", "session"),
    [("AM", "AM"), ("am", "AM"), (" pm ", "PM"), ("A", "AM"), ("p", "PM"), ("Morning", "AM")],
)
def test_session_spellings(written, session):
    marks, report = read_register(
        csv(f'upn,date,session,mark\n{ADA},2024-09-02,"{written}",/'), URN
    )
    assert report.ok, report.format_text()
    assert marks["session"].iloc[0] == session


def test_codes_are_normalised_capita_one_and_display_codes():
    data = csv(f"""
        upn,date,session,mark
        {ADA},2024-09-02,AM,>
        {ADA},2024-09-02,PM,i
        {ADA},2024-09-03,AM,9
        {ADA},2024-09-03,PM,  /
    """)  # fmt: skip
    marks, report = read_register(data, URN, display_codes={"9": "Y1"})
    assert report.ok, report.format_text()
    assert marks["code"].tolist() == ["C2", "I", "Y1", "/"]
    # Without the school's mapping, its display code is unknown.
    _, report = read_register(data, URN)
    assert kinds(report) == {"unknown_code"}
    assert report.errors[0].value == "9"


def test_blank_lines_and_empty_rows_are_ignored_but_rows_keep_spreadsheet_numbers():
    data = csv(f"""
        upn,date,session,mark
        {ADA},2024-09-02,AM,/

        ,,,
        {ADA},2024-09-02,PM,Q9
    """) + b"\n\n,,,\n\n"  # fmt: skip
    _, report = read_register(data, URN)
    assert kinds(report) == {"unknown_code"}
    # Header = row 1, the first mark row 2, a blank row 3, an empty-cells row 4.
    assert report.errors[0].row == 5
    marks, report = read_register(data.replace(b"Q9", b"\\"), URN)
    assert report.ok and len(marks) == 2


def test_crlf_line_endings():
    data = f"upn,date,session,mark\r\n{ADA},2024-09-02,AM,/\r\n{ADA},2024-09-02,PM,\\\r\n"
    marks, report = read_register(data.encode(), URN)
    assert report.ok and marks["code"].tolist() == ["/", "\\"]


def test_empty_mark_in_long_layout_is_ignored_with_a_warning():
    marks, report = read_register(
        csv(f"upn,date,session,mark\n{ADA},2024-09-02,AM,/\n{ADA},2024-09-02,PM,"), URN
    )
    assert report.ok
    assert len(marks) == 1
    assert report.warning_counts == {"mark_empty": 1}
    assert report.warnings[0].row == 3


def test_wide_empty_cell_is_no_mark_but_dash_is_kept_with_a_warning():
    marks, report = read_register(
        csv(f"""
            upn,2024-09-02 AM,2024-09-02 PM,2024-09-03 AM
            {ADA},/,,-
            {BEN},/,\\,/
        """),
        URN,
    )  # fmt: skip
    assert report.ok, report.format_text()
    assert len(marks) == 5
    ada = marks[marks["upn"] == ADA]
    assert ada["code"].tolist() == ["/", "-"]
    assert report.warning_counts == {"no_mark": 1}
    warning = report.warnings[0]
    assert (warning.row, warning.column, warning.value) == (2, "upn", ADA)
    assert "first Tuesday 3 September 2024 AM" in warning.message


def test_extra_columns_are_ignored_with_a_warning():
    marks, report = read_register(
        csv(f"upn,date,session,mark,reg group,teacher\n{ADA},2024-09-02,AM,/,7A,Smith"), URN
    )
    assert report.ok and len(marks) == 1
    assert report.warning_counts == {"extra_column": 2}
    assert [w.column for w in report.warnings] == ["reg group", "teacher"]
    assert all(w.row == 1 for w in report.warnings)


# --- school columns ---------------------------------------------------------------------------


def test_school_column_must_match_the_callers_school():
    data = csv(f"urn,upn,date,session,mark\n{URN},{ADA},2024-09-02,AM,/")
    marks, report = read_register(data, URN)
    assert report.ok and marks["school_urn"].tolist() == [URN]
    marks, report = read_register(data, 123456)
    assert marks.empty
    assert kinds(report) == {"wrong_school"}
    assert report.errors[0].value == str(URN)


def test_school_taken_from_the_file_when_the_caller_names_none():
    marks, _ = read_register(csv(f"school_urn,upn,date,session,mark\n{URN},{ADA},2024-09-02,AM,/"))
    assert marks["school_urn"].tolist() == [URN]
    marks, _ = read_register(csv(f"upn,date,session,mark\n{ADA},2024-09-02,AM,/"))
    assert marks["school_urn"].tolist() == [UNKNOWN_SCHOOL_URN]


def test_file_with_two_schools_is_refused():
    data = csv(f"""
        urn,upn,date,session,mark
        {URN},{ADA},2024-09-02,AM,/
        100002,{BEN},2024-09-02,AM,/
    """)  # fmt: skip
    marks, report = read_register(data, URN)
    assert marks.empty and "mixed_schools" in kinds(report)
    assert report.errors[0].row == 3


def test_laestab_is_checked_when_given():
    data = csv(f"LAESTAB,upn,date,session,mark\n999/9001,{ADA},2024-09-02,AM,/")
    assert read_register(data, URN, laestab="9999001").report.ok
    assert kinds(read_register(data, URN, laestab="9999002").report) == {"wrong_school"}
    _, report = read_register(data, URN)
    assert report.ok and report.warning_counts == {"laestab_not_checked": 1}


# --- encodings and files that are not CSV ---------------------------------------------------


def test_utf8_with_bom():
    data = b"\xef\xbb\xbf" + csv(f"UPN,Date,Session,Mark\n{ADA},2024-09-02,AM,/")
    marks, report = read_register(data, URN)
    assert report.ok, report.format_text()
    assert len(marks) == 1


def test_windows_1252_roster():
    text = (DATA / "roster.csv").read_text(encoding="utf-8").replace("Ada", "Zoë")
    roster, report = read_roster(text.encode("cp1252"))
    assert report.ok, report.format_text()
    assert roster["forename"].iloc[0] == "Zoë"


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"PK\x03\x04rest-of-a-zip", "workbook"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "Excel"),
        ("upn,date\n".encode("utf-16"), "UTF-16"),
        (b"\x00\x01\x02binary\x00", "binary"),
        (b"upn,date,session,mark\nY99\x81\n", "neither UTF-8 nor Windows-1252"),
    ],
)
def test_files_that_are_not_csv_text_are_refused_with_a_fix(data, words):
    marks, report = read_register(data, URN)
    assert marks.empty and not report.ok
    assert words in report.errors[0].message
    assert "CSV" in report.errors[0].fix


@pytest.mark.parametrize(
    ("data", "kind"),
    [(b"", "empty_file"), (b"\n\n  \n", "empty_file"), (b"upn,date,session,mark\n\n", "no_rows")],
)
def test_empty_files(data, kind):
    marks, report = read_register(data, URN)
    assert marks.empty and kinds(report) == {kind}


def test_semicolon_separated_file_gets_a_specific_message():
    _, report = read_register(csv(f"upn;date;session;mark\n{ADA};2024-09-02;AM;/"), URN)
    assert kinds(report) == {"wrong_delimiter"}


@pytest.mark.parametrize("top", ["\n", "\r\n\r\n", "  \n", ",\n", ",,,,,,\n"])
def test_blank_first_lines_are_skipped_and_rows_keep_spreadsheet_numbers(top):
    # pandas reads a leading blank line as "no columns" (this was reported as an empty
    # file) and a leading line of fewer cells than the header as a row-length error.
    lines = top.count("\n")
    data = f"{top}upn,date,session,mark\n{ADA},2024-09-02,AM,/\n{ADA},2024-09-02,PM,\\\n"
    marks, report = read_register(data.encode(), URN)
    assert report.ok and marks["code"].tolist() == ["/", "\\"]
    _, report = read_register(data.replace("PM,\\", "PM,Q9").encode(), URN)
    assert kinds(report) == {"unknown_code"}
    assert report.errors[0].row == lines + 3


def test_a_header_only_file_after_blank_lines_has_no_rows():
    _, report = read_register(b"\r\n\r\nupn,date,session,mark\r\n\r\n", URN)
    assert kinds(report) == {"no_rows"}


def test_a_blank_first_line_in_a_roster():
    text = (DATA / "roster.csv").read_bytes()
    roster, report = read_roster(b"\r\n" + text)
    assert report.ok and len(roster) == len(read_roster(text).roster)
    assert roster.index[0] == 3  # blank row 1, header row 2


@pytest.mark.parametrize(("separator", "name"), [(";", "semicolons"), ("\t", "tabs")])
def test_semicolon_or_tab_file_with_a_comma_in_a_value_is_still_named(separator, name):
    rows = [
        ["upn", "date", "session", "mark", "comment"],
        [ADA, "2024-09-02", "AM", "L", "bus late, 10 min"],
        [ADA, "2024-09-02", "PM", "\\", ""],
    ]
    data = "\n".join(separator.join(r) for r in rows).encode()
    marks, report = read_register(data, URN)
    assert marks.empty and kinds(report) == {"wrong_delimiter"}
    assert name in report.errors[0].message
    assert "comma delimited" in report.errors[0].fix


def test_rows_with_extra_empty_cells_are_read():
    data = csv(f"upn,date,session,mark\n{ADA},2024-09-02,AM,/,,\n{ADA},2024-09-02,PM,\\,")
    marks, report = read_register(data, URN)
    assert report.ok and len(marks) == 2
    assert report.n_warnings == 0


def test_a_title_line_above_the_header_is_named_in_the_fix():
    data = csv(f"Attendance week 1\nupn,date,session,mark\n{ADA},2024-09-02,AM,/")
    _, report = read_register(data, URN)
    assert kinds(report) == {"row_length"}
    (error,) = report.errors
    assert error.row == 2 and "header (row 1) has 1" in error.message
    assert "if it is a title, delete it" in error.fix


def test_a_row_far_too_wide_is_refused_before_it_is_parsed():
    # 5,000 cells: pandas would build a 5,000-column table (minutes at a million cells).
    _, report = read_register(("upn,date,session,mark," + "x," * 5000).encode(), URN)
    assert kinds(report) == {"too_many_columns"}
    assert report.errors[0].row == 1
    data = f"upn,date,session,mark\n{ADA},2024-09-02,AM,/{',' * 5000}\n"
    _, report = read_register(data.encode(), URN)
    assert kinds(report) == {"too_many_columns"}
    assert report.errors[0].row == 2


def test_missing_column_lists_a_few_headers_only():
    header = ",".join(["upn", *(f"note {i}" for i in range(500))])
    _, report = read_register(f"{header}\n{ADA},{',' * 499}\n".encode(), URN)
    assert kinds(report) == {"missing_column"}
    message = report.errors[0].message
    assert '"note 10" and 489 more' in message and "note 11" not in message


def test_a_wide_column_with_a_date_not_first_is_an_error_not_ignored():
    data = csv(f"upn,2024-09-02 AM,Mon 02/09/2024 PM\n{ADA},/,\\")
    marks, report = read_register(data, URN)
    assert marks.empty and kinds(report) == {"session_header_invalid"}
    assert report.errors[0].column == "Mon 02/09/2024 PM"
    assert "remove the column if it is not a session" in report.errors[0].fix


def test_row_with_too_many_cells_is_located():
    _, report = read_register(
        csv(f"upn,date,session,mark\n{ADA},2024-09-02,AM,/\n{ADA},2024-09-02,PM,\\,extra"), URN
    )
    assert kinds(report) == {"row_length"}
    assert report.errors[0].row == 3


@pytest.mark.parametrize(
    ("text", "row", "column", "value"),
    [
        # The quote opens the UPN of row 3 (header = row 1): pandas says "row 2", 0-based.
        (f'upn,date,session,mark\n{ADA},2024-09-02,AM,/\n"{ADA},2024-09-02,PM,\\\n'
         f"{BEN},2024-09-02,AM,/\n", 3, "upn", f'"{ADA},2024-09-02,PM,\\'),
        # Blank lines count as rows (as everywhere in the report), and a closed quoted value
        # running over two lines is one row; the quote opens a value in the "mark" column.
        (f'upn,date,session,mark,comment\r\n\r\n{ADA},2024-09-02,AM,/,"two\r\nlines"\r\n'
         f'{BEN},2024-09-02,AM,"/,\r\n{BEN},2024-09-02,PM,\\,\r\n', 4, "mark", '"/,'),
        # A double quote inside a cell is a character; "" inside a quoted value is a quote.
        (f'upn,date,session,mark,comment\n{ADA},2024-09-02,AM,/,say "hi"\n'
         f'{ADA},2024-09-02,PM,\\,"a ""b"" c\n', 3, "comment", '"a ""b"" c'),
        ('upn,date,"session,mark\n', 1, "(column C)", '"session,mark'),
    ],
)  # fmt: skip
def test_an_unclosed_quote_is_located_where_it_opens(text, row, column, value):
    marks, report = read_register(text.encode(), URN, filename="quotes.csv")
    assert marks.empty and kinds(report) == {"unclosed_quote"}
    (error,) = report.errors
    assert (error.file, error.row, error.column, error.value) == ("quotes.csv", row, column, value)
    assert error.message.startswith(f"a double quote opens a value at row {row} but is never ")
    assert "C error" not in error.message and "tokeniz" not in error.message
    assert "remove the double quote, or close it" in error.fix


def test_an_unclosed_quote_in_a_roster_is_located_too():
    text = (DATA / "roster.csv").read_text().splitlines()
    text[2] = text[2].replace(",", ',"', 1)  # the forename of row 3 opens a quote
    roster, report = read_roster("\n".join(text).encode())
    assert roster.empty
    assert [(e.kind, e.row, e.column) for e in report.errors] == [("unclosed_quote", 3, "forename")]


def test_any_error_means_no_marks_at_all():
    good = (DATA / "register_long.csv").read_bytes()
    marks, report = read_register(good, URN)
    assert len(marks) == 40
    marks, report = read_register(good + f"{ADA},2024-09-09,AM,Q9\n".encode(), URN)
    assert marks.empty and list(marks.columns) == MARK_OUTPUT_COLUMNS
    assert report.n_errors == 1


# --- roster -----------------------------------------------------------------------------------


def test_roster_fixture_reads_into_the_canonical_roster():
    roster, report = read_roster(DATA / "roster.csv")
    assert report.ok, report.format_text()
    assert list(roster.columns) == ROSTER_COLUMNS
    assert roster.index.name == "row"
    assert roster.index.tolist() == [2, 3, 4, 5, 6]
    by_upn = roster.set_index("upn")
    # R is reception (0); Y8 is year 8.
    assert by_upn["year_group"].to_dict() == {ADA: 7, BEN: 8, CLEO: 0, DEV: 11, "U999900124006": 9}
    assert by_upn["fsm"].tolist() == [1, 0, 0, 0, 0]
    assert by_upn["eal"].tolist() == [0, 1, 1, 0, 0]
    assert by_upn["sen"].tolist() == ["N", "K", "E", "N", "N"]
    assert by_upn.loc[CLEO, "date_of_birth"] == pd.Timestamp("2019-01-19")
    assert by_upn.loc[CLEO, "entry_date"] == pd.Timestamp("2024-09-02")
    # A blank ethnicity stays missing (None, so the service stores NULL), never the text "nan".
    assert by_upn.loc[CLEO, "ethnicity"] is None
    assert "nan" not in by_upn["ethnicity"].astype(object).tolist()
    assert roster.to_dict("records")[2]["ethnicity"] is None
    assert by_upn["leaving_date"].isna().sum() == 4
    assert by_upn.loc["U999900124006", "leaving_date"] == pd.Timestamp("2024-07-19")
    assert roster["year_group"].dtype == np.int64
    assert str(roster["entry_date"].dtype) == "datetime64[us]"


def test_roster_without_optional_columns():
    roster, report = read_roster(
        csv(f"""
            UPN,Forename,Surname,DOB,Gender,NC Year,FSM,SEN Provision,EAL,Entry Date
            {ADA},Ada,Example,2013-05-14,Female,Year 7,Yes,n,No,2024-09-02
        """)
    )  # fmt: skip
    assert report.ok, report.format_text()
    assert report.warning_counts == {"missing_column": 1}  # no ethnicity: said, not an error
    row = roster.iloc[0]
    assert (row["sex"], row["year_group"], row["fsm"], row["sen"], row["eal"]) == (
        "F",
        7,
        1,
        "N",
        0,
    )
    assert pd.isna(row["leaving_date"])


ROSTER_HEADER = "upn,forename,surname,date_of_birth,sex,year_group,fsm,sen,eal,ethnicity,entry_date"


def test_roster_values_longer_than_the_service_stores_are_row_errors():
    from features.limits import ROSTER_FIELD_LIMITS

    long_name = "A" * 150
    roster, report = read_roster(
        (
            f"{ROSTER_HEADER}\n"
            f"{ADA},{long_name},Example,2013-05-14,F,7,1,N,0,WBRI,2024-09-02\n"
            f"{BEN},Ben,{'B' * 101},2012-11-30,M,8,0,K,1,{'E' * 41},2023-09-04\n"
            f"{CLEO},{'C' * 100},{'D' * 100},2019-01-19,F,R,0,E,1,{'F' * 40},2024-09-02\n"
        ).encode()
    )
    assert roster.empty
    assert ROSTER_FIELD_LIMITS["forename"] == 100 and ROSTER_FIELD_LIMITS["ethnicity"] == 40
    too_long = [(i.row, i.column, i.message) for i in report.errors]
    assert too_long == [
        (2, "forename", "the forename has 150 characters; at most 100 can be stored"),
        (3, "surname", "the surname has 101 characters; at most 100 can be stored"),
        (3, "ethnicity", "the ethnicity has 41 characters; at most 40 can be stored"),
    ]  # row 4 is exactly at the limits
    assert all(i.kind == "value_too_long" and "shorten" in i.fix for i in report.errors)
    assert report.errors[0].value.endswith("…")  # the report shortens what it shows


def test_read_upload_checks_the_register_against_the_roster():
    marks, roster, report = read_upload(DATA / "register_long.csv", DATA / "roster.csv", URN)
    assert report.ok, report.format_text()
    assert len(marks) == 40 and len(roster) == 5
    assert report.files == ["register_long.csv", "roster.csv"]
    assert set(report.summary) == {"register_long.csv", "roster.csv"}


def test_read_upload_with_a_bad_roster_loads_nothing_but_still_checks_the_register():
    bad_roster = (DATA / "roster.csv").read_text().replace(",F,7,", ",X,7,").encode()
    bad_register = (DATA / "register_long.csv").read_bytes() + f"{ADA},2024-09-09,AM,Q9\n".encode()
    marks, roster, report = read_upload(bad_register, bad_roster, URN, roster_filename="r.csv")
    assert marks.empty and roster.empty
    assert {i.kind for i in report.errors} == {"value_invalid", "unknown_code"}
    assert {i.file for i in report.errors} == {"upload.csv", "r.csv"}


# --- invariants -------------------------------------------------------------------------------

CODES = st.sampled_from(["/", "\\", "L", "I", "O", "M", "G", "V", "N", "U", "C", "B", "D", "-"])
PUPIL_UPNS = make_upns(999, 9001, 24, np.arange(8))
DAYS = pd.bdate_range("2024-09-02", periods=5)


@st.composite
def registers(draw):
    """A random register: some pupils, some sessions, a mark or an empty cell for each."""
    n_pupils = draw(st.integers(1, 6))
    n_sessions = draw(st.integers(1, 10))
    grid = draw(
        st.lists(
            st.lists(st.one_of(st.just(""), CODES), min_size=n_sessions, max_size=n_sessions),
            min_size=n_pupils,
            max_size=n_pupils,
        )
    )
    sessions = [(DAYS[i // 2], "AM" if i % 2 == 0 else "PM") for i in range(n_sessions)]
    return list(PUPIL_UPNS[:n_pupils]), sessions, grid


def _long_csv(upns, sessions, grid, order) -> bytes:
    rows = [
        f"{upn},{day:%d/%m/%Y},{session},{grid[p][s]}"
        for p, upn in enumerate(upns)
        for s, (day, session) in enumerate(sessions)
        if grid[p][s]
    ]
    rows = [rows[i] for i in order(len(rows))]
    return ("upn,date,session,mark\n" + "\n".join(rows) + "\n").encode()


def _wide_csv(upns, sessions, grid) -> bytes:
    header = ",".join(["upn", *(f"{d:%Y-%m-%d} {s}" for d, s in sessions)])
    rows = [",".join([upn, *grid[p]]) for p, upn in enumerate(upns)]
    return (header + "\n" + "\n".join(rows) + "\n").encode()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(register=registers(), seed=st.integers(0, 2**16))
def test_long_and_wide_layouts_and_row_order_give_the_same_marks(register, seed):
    upns, sessions, grid = register
    rng = np.random.default_rng(seed)
    wide_marks, wide_report = read_register(_wide_csv(upns, sessions, grid), URN)
    long_marks, long_report = read_register(_long_csv(upns, sessions, grid, rng.permutation), URN)
    if not any(cell for row in grid for cell in row):
        # No mark at all: both layouts say so and load nothing.
        assert not long_report.ok and long_marks.empty
        return
    assert wide_report.ok and long_report.ok
    pd.testing.assert_frame_equal(wide_marks, long_marks)
    assert len(long_marks) == sum(1 for row in grid for cell in row if cell)
