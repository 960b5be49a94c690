"""A school's display codes (DOMAIN.md §1.1: SIMS can show ``9`` for statutory ``Y``): the
mapping file, its validation, and registers read through it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from features.registers import read_display_codes, read_register, read_upload

DATA = Path(__file__).parent.parent / "data"
URN = 100001
ADA, BEN = "Y999900124001", "M999900124002"


def csv(*rows: str, header: str = "display_code,statutory_code") -> bytes:
    return ("\n".join([header, *rows]) + "\n").encode()


def located(report, severity="error"):
    listed = report.errors if severity == "error" else report.warnings
    return [(i.kind, i.row, i.column, i.value) for i in listed]


def test_a_valid_mapping_reads_into_a_dict():
    mapping, report = read_display_codes(csv("9,Y", "+,i", " ! , / "), filename="codes.csv")
    assert report.ok and not report.warnings
    assert mapping == {"9": "Y", "+": "I", "!": "/"}  # statutory codes read in capitals
    assert report.summary["codes.csv"]["display_codes"] == 3


def test_header_synonyms_are_accepted():
    mapping, report = read_display_codes(csv("9,Y", header="Local code,Statutory Code"))
    assert report.ok and mapping == {"9": "Y"}


def test_each_bad_row_is_located():
    mapping, report = read_display_codes(
        csv(
            "9,Y",  # row 2
            "7,Q9",  # row 3: not a statutory code
            "9,O",  # row 4: 9 already mapped to Y
            ",I",  # row 5: empty display code
            "8,",  # row 6: empty statutory code
            "6,-",  # row 7: "-" is a placeholder, not a statutory code
        ),
        filename="codes.csv",
    )
    assert mapping == {}
    assert sorted(located(report)) == [
        ("display_code_mapped_twice", 4, "display_code", "9"),
        ("unknown_code", 3, "statutory_code", "Q9"),
        ("unknown_code", 7, "statutory_code", "-"),
        ("value_missing", 5, "display_code", ""),
        ("value_missing", 6, "statutory_code", ""),
    ]
    twice = next(i for i in report.errors if i.kind == "display_code_mapped_twice")
    assert '"9" is already mapped to "Y" at row 2; here it is mapped to "O"' in twice.message
    assert all(i.file == "codes.csv" and i.fix for i in report.errors)


def test_a_repeated_row_and_a_shadowed_statutory_code_are_warnings():
    mapping, report = read_display_codes(csv("9,Y", "9,Y", "P,/"))
    assert report.ok
    assert mapping == {"9": "Y", "P": "/"}
    assert located(report, "warning") == [
        ("duplicate_display_code", 3, "display_code", "9"),
        ("display_code_is_statutory", 4, "display_code", "P"),
    ]
    assert 'every "P" in your registers will be read as "/"' in report.warnings[1].message


def test_missing_column_is_an_error():
    mapping, report = read_display_codes(csv("9", header="display_code"))
    assert mapping == {} and [i.kind for i in report.errors] == ["missing_column"]


def test_register_read_through_the_mapping_reports_how_many_marks_were_mapped():
    mapping, _ = read_display_codes(csv("9,Y1", "+,I"))
    register = csv(
        f"{ADA},2024-09-02,AM,9",
        f"{ADA},2024-09-02,PM,9",
        f"{BEN},2024-09-02,AM,+",
        f"{BEN},2024-09-02,PM,/",
        header="upn,date,session,mark",
    )
    marks, report = read_register(register, URN, display_codes=mapping, filename="week.csv")
    assert report.ok
    assert marks["code"].tolist() == ["I", "/", "Y1", "Y1"]  # sorted by UPN: Ben, then Ada
    summary = report.summary["week.csv"]
    assert summary["display_codes_mapped"] == 3
    assert summary["display_codes_used"] == [
        {"display_code": "+", "statutory_code": "I", "marks": 1},
        {"display_code": "9", "statutory_code": "Y1", "marks": 2},
    ]
    assert "week.csv: 3 marks read through the school's display codes: + → I (1), 9 → Y1 (2)." in (
        report.format_text()
    )
    # The same file without the mapping: 9 and + are unknown codes.
    _, unmapped = read_register(register, URN)
    assert unmapped.error_counts == {"unknown_code": 3}


def test_read_upload_takes_the_mapping_too():
    register = (
        (DATA / "register_long.csv")
        .read_text()
        .replace(f"{BEN},2024-09-02,AM,O", f"{BEN},2024-09-02,AM,9")
    )
    upload = read_upload(register.encode(), DATA / "roster.csv", URN, display_codes={"9": "O"})
    assert upload.report.ok
    assert upload.report.summary["upload.csv"]["display_codes_mapped"] == 1


@pytest.fixture
def ews():
    from ews.cli import app

    runner = CliRunner()
    return lambda *args: runner.invoke(app, ["summarise", *map(str, args)])


def test_summarise_with_display_codes(ews, tmp_path):
    codes = tmp_path / "codes.csv"
    codes.write_bytes(csv("9,O"))
    register = tmp_path / "week.csv"
    text = (DATA / "register_long.csv").read_text()
    register.write_text(text.replace(f"{BEN},2024-09-02,AM,O", f"{BEN},2024-09-02,AM,9"))
    assert ews(register).exit_code == 1  # 9 is not a statutory code
    result = ews(register, "--display-codes", codes, "--format", "json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    ben = next(p for p in out["pupils"] if p["upn"] == BEN)
    assert ben["unauthorised_absence"] == 7  # as with the statutory O
    assert out["validation"]["summary"]["week.csv"]["display_codes_mapped"] == 1
    assert "codes.csv" in out["validation"]["files"]
    table = ews(register, "--display-codes", codes)
    assert "1 mark read through the school's display codes: 9 → O (1)." in table.stderr


def test_summarise_refuses_a_bad_mapping_file(ews, tmp_path):
    codes = tmp_path / "codes.csv"
    codes.write_bytes(csv("9,Q9"))
    result = ews(DATA / "register_long.csv", "--display-codes", codes)
    assert result.exit_code == 1
    assert "codes.csv: NOT ACCEPTED — 1 error" in result.stderr
    assert '"Q9" is not a statutory register code' in result.stderr


def test_a_header_without_rows_is_an_empty_mapping_only_when_allowed():
    header_only = csv()
    mapping, report = read_display_codes(header_only)
    assert mapping == {} and [i.kind for i in report.errors] == ["no_rows"]
    mapping, report = read_display_codes(header_only, filename="codes.csv", allow_no_rows=True)
    assert report.ok and mapping == {}
    assert report.summary["codes.csv"]["display_codes"] == 0
    # The header is still checked: a file that is not a mapping does not read as an empty one.
    mapping, report = read_display_codes(b"upn,forename\n", allow_no_rows=True)
    assert {i.kind for i in report.errors} == {"missing_column"}
