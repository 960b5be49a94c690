"""Register and roster readers: an uploaded CSV in, canonical frames and a validation report out.

Every reader takes the file as ``bytes`` (what the service receives) or a path (what the CLI
passes) and returns the canonical frame with a :class:`~features.validation.ValidationReport`.
**A file with any error yields no rows at all** (an empty frame with the canonical columns):
an upload is accepted whole or not at all.

Register layouts (:func:`read_register` tells them apart from the header):

* **long** — one row per pupil-session: ``upn, date, session, mark`` and optionally
  ``minutes_late`` and ``comment`` (read, not kept). Headers are matched case-insensitively,
  ignoring spaces and punctuation, with common synonyms (``Pupil UPN``, ``Session Date``,
  ``AM/PM``, ``Attendance Code``…: see :data:`LONG_COLUMNS`). Other columns are ignored with a
  warning.
* **wide** — one row per pupil: ``upn`` then one column per session headed ``2024-09-02 AM``
  or ``02/09/2024 PM``. An empty cell means no mark for that session (unlike ``-``, which is a
  recorded "no mark" and is kept, with a warning). A column whose header holds a date but is
  not a session header (``Mon 02/09/2024 AM``) is an error, never ignored: its marks would be
  lost.

Either layout may carry a school column (``school_urn``/``urn`` or ``laestab``): it must hold
one school, and that school must be the one the caller names.

Decisions (written down so the service and the docs agree):

* Sessions: ``AM``/``PM``, also ``A``/``P`` and ``morning``/``afternoon``, any case. A session
  column holds nothing else, so the one-letter forms are unambiguous; a column mix-up (marks in
  the session column) still fails, on the codes.
* Dates: ISO ``2024-09-02`` or UK ``02/09/2024`` (also ``2/9/2024``), optionally followed by a
  midnight time as spreadsheets write it (``02/09/2024 00:00``). Slash dates are always
  day/month/year: a US-style date that cannot be a UK one (``09/25/2024``) is an error saying
  so; a US-style file whose days are all ≤ 12 shows up as weekend, future-date and
  mixed-year errors.
* The academic year: the caller's ``academic_year`` if given, else the one most of the file's
  dates fall in; marks in any other year are errors. Marks dated after ``today`` (default:
  the current date) are errors. Marks on an English bank holiday
  (:func:`features.calendar.bank_holidays`) are a warning per date naming the holiday, except
  ``#`` (planned closure).
* Encodings: UTF-8 (with or without a byte-order mark), else Windows-1252; anything else
  (UTF-16, binary, a spreadsheet workbook) is an error saying how to save the file as CSV.
* Blank lines (and lines of empty cells) are ignored wherever they are, above the header
  too. Rows are numbered as a spreadsheet shows them (the header is row 1 unless blank lines
  come before it). Empty cells beyond the header's last column are ignored; a value there is
  an error at its row. A row of more than :data:`MAX_COLUMNS` cells is an error, found before
  the file is parsed. A double quote that opens a value and is never closed is an error at
  the row (and column) where it opens.
* Marks are mapped to statutory codes by :func:`features.codes.normalise_code` (a school's
  display codes first, then Capita One symbols). A long row with an empty mark is ignored with
  a warning.
* Roster year groups: ``1``–``13`` (also ``Y7``, ``Year 7``) and reception as ``R``
  (also ``Rec``, ``Reception``, ``YR``), stored as ``0``. Reception pupils are on the register
  and the DfE reports them separately, so they are kept; nursery (``N1``/``N2``) and anything
  else is an error.
* Without a ``school_urn`` from the caller the school is taken from the file's URN column, or
  :data:`UNKNOWN_SCHOOL_URN` (0: no real URN is 0) if there is none.

Canonical marks: :data:`features.schema.MARK_COLUMNS` plus ``minutes_late`` —
``school_urn`` int64, ``upn`` str, ``date`` datetime64[us] (midnight), ``session`` str
(``AM``/``PM``), ``code`` str (statutory), ``minutes_late`` float64 (NaN when not given),
sorted by ``upn, date, session``. Canonical roster: :data:`features.schema.ROSTER_COLUMNS`,
indexed by the row of the roster file (index name ``row``), dates datetime64[us]
(``leaving_date`` NaT when blank), ``year_group``, ``fsm`` and ``eal`` int64, ``sex`` ``M``/``F``,
``sen`` ``N``/``K``/``E``, ``ethnicity`` object: text, ``None`` when blank (never the text
``"nan"``). Text fields longer than the service stores (:mod:`features.limits`) are errors.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, NamedTuple

import numpy as np
import pandas as pd

from features.codes import normalise_code
from features.schema import MARK_COLUMNS, ROSTER_COLUMNS, SEN_CODES
from features.validation import (
    Issue,
    ValidationReport,
    check_codes,
    check_dates,
    check_display_codes,
    check_duplicates,
    check_minutes_late,
    check_roster,
    check_roster_membership,
    check_sessions,
    check_upns,
    flag_rows,
    shorten,
    warn_bank_holidays,
    warn_no_mark,
    warn_off_roll,
    warn_unresolved,
)

logger = logging.getLogger(__name__)

Source = bytes | str | os.PathLike[str]
"""Uploaded bytes, or the path of a file."""

Layout = Literal["long", "wide"]

UNKNOWN_SCHOOL_URN = 0
"""``school_urn`` of marks whose school neither the caller nor the file named."""

MARK_OUTPUT_COLUMNS = [*MARK_COLUMNS, "minutes_late"]
DATE_DTYPE = "datetime64[us]"


def _names(*names: str) -> frozenset[str]:
    return frozenset(_normalise_header(n) for n in names)


def _normalise_header(header: str) -> str:
    """``" Attendance Code "`` → ``"attendance_code"``; ``"AM/PM"`` → ``"am_pm"``."""
    return re.sub(r"[^a-z0-9]+", "_", header.strip().lower()).strip("_")


LONG_COLUMNS: Mapping[str, frozenset[str]] = {
    "upn": _names("upn", "pupil upn", "pupil_upn", "unique pupil number"),
    "date": _names("date", "session date", "attendance date", "mark date", "register date"),
    "session": _names("session", "am/pm", "ampm", "am_pm", "session am/pm"),
    "mark": _names(
        "mark",
        "code",
        "attendance code",
        "attendance mark",
        "mark code",
        "register code",
        "register mark",
    ),
    "minutes_late": _names("minutes_late", "minutes late", "mins late", "late minutes"),
    "comment": _names("comment", "comments", "note", "notes"),
}
"""Accepted headers of a long register, by field (compared after :func:`_normalise_header`)."""

LONG_REQUIRED = ("upn", "date", "session", "mark")

SCHOOL_COLUMNS: Mapping[str, frozenset[str]] = {
    "school_urn": _names("school_urn", "urn", "school urn"),
    "laestab": _names("laestab", "la estab", "dfe number", "dfes number"),
}

ROSTER_SYNONYMS: Mapping[str, frozenset[str]] = {
    "upn": LONG_COLUMNS["upn"],
    "forename": _names("forename", "first name", "legal forename", "given name"),
    "surname": _names("surname", "last name", "legal surname", "family name"),
    "date_of_birth": _names("date_of_birth", "date of birth", "dob", "birth date"),
    "sex": _names("sex", "gender"),
    "year_group": _names(
        "year_group", "year group", "year", "nc year", "ncyear", "national curriculum year"
    ),
    "fsm": _names("fsm", "fsm eligible", "free school meals"),
    "sen": _names("sen", "sen provision", "sen status"),
    "eal": _names("eal", "english as an additional language"),
    "ethnicity": _names("ethnicity", "ethnic code", "ethnicity code"),
    "entry_date": _names("entry_date", "entry date", "date of entry", "admission date"),
    "leaving_date": _names("leaving_date", "leaving date", "date of leaving", "leave date"),
}
ROSTER_OPTIONAL = ("leaving_date", "ethnicity")

_DATE_TEXT = r"\d{4}-\d{1,2}-\d{1,2}|\d{1,2}/\d{1,2}/\d{4}"
_MIDNIGHT = r"(?:[ T]00:00(?::00(?:\.0+)?)?)?"
_ISO_DATE = re.compile(rf"^(?P<y>\d{{4}})-(?P<m>\d{{1,2}})-(?P<d>\d{{1,2}}){_MIDNIGHT}$")
_UK_DATE = re.compile(rf"^(?P<d>\d{{1,2}})/(?P<m>\d{{1,2}})/(?P<y>\d{{4}}){_MIDNIGHT}$")
_SESSION_HEADER = re.compile(rf"^(?P<date>{_DATE_TEXT})[\s_]*(?P<session>AM|PM|A|P)$", re.I)
_HAS_DATE = re.compile(_DATE_TEXT)

SESSION_WORDS = {
    "AM": "AM",
    "A": "AM",
    "MORNING": "AM",
    "A.M.": "AM",
    "PM": "PM",
    "P": "PM",
    "AFTERNOON": "PM",
    "P.M.": "PM",
}
"""Accepted session spellings (upper-cased) → canonical session."""

_FLAG_WORDS = {
    "1": 1,
    "Y": 1,
    "YES": 1,
    "TRUE": 1,
    "T": 1,
    "0": 0,
    "N": 0,
    "NO": 0,
    "FALSE": 0,
    "F": 0,
}
_SEX_WORDS = {"M": "M", "MALE": "M", "F": "F", "FEMALE": "F"}
_RECEPTION = ("R", "REC", "RECEPTION", "YR", "YEAR R")

_NOT_CSV = {
    b"PK\x03\x04": "a spreadsheet workbook (.xlsx) or another zip file",
    b"\xd0\xcf\x11\xe0": "an old Excel workbook (.xls)",
    b"%PDF": "a PDF document",
}
SAVE_AS_CSV = 'open it in your spreadsheet and "Save as" CSV UTF-8 (comma delimited)'


class RegisterRead(NamedTuple):
    """Canonical marks (empty if the file has any error) and the validation report."""

    marks: pd.DataFrame
    report: ValidationReport


class RosterRead(NamedTuple):
    """Canonical roster (empty if the file has any error) and the validation report."""

    roster: pd.DataFrame
    report: ValidationReport


class UploadRead(NamedTuple):
    """A school's upload (register + roster): both frames empty if either file has an error;
    one report covering both files."""

    marks: pd.DataFrame
    roster: pd.DataFrame
    report: ValidationReport


# --- canonical empties and parsers ------------------------------------------------------------


def empty_marks() -> pd.DataFrame:
    """A canonical marks frame with no rows."""
    return pd.DataFrame(
        {
            "school_urn": pd.Series(dtype="int64"),
            "upn": pd.Series(dtype="str"),
            "date": pd.Series(dtype=DATE_DTYPE),
            "session": pd.Series(dtype="str"),
            "code": pd.Series(dtype="str"),
            "minutes_late": pd.Series(dtype="float64"),
        }
    )


def empty_roster() -> pd.DataFrame:
    """A canonical roster frame with no rows."""
    dtypes = {
        "date_of_birth": DATE_DTYPE,
        "entry_date": DATE_DTYPE,
        "leaving_date": DATE_DTYPE,
        "year_group": "int64",
        "fsm": "int64",
        "eal": "int64",
        "ethnicity": "object",
    }
    frame = pd.DataFrame({c: pd.Series(dtype=dtypes.get(c, "str")) for c in ROSTER_COLUMNS})
    frame.index.name = "row"
    return frame


def parse_dates(values: pd.Series) -> pd.Series:
    """Parse ISO (``2024-09-02``) and UK (``02/09/2024``) dates; NaT where unreadable or no such
    day. Vectorised over the distinct values (a register repeats a few dates many times)."""
    codes, uniques = pd.factorize(values)
    texts = pd.Series(uniques, dtype="str")
    parts = texts.str.extract(_ISO_DATE).fillna(texts.str.extract(_UK_DATE))
    parsed = pd.to_datetime(
        pd.DataFrame({"year": parts["y"], "month": parts["m"], "day": parts["d"]}).astype(float),
        errors="coerce",
    ).astype(DATE_DTYPE)
    result = parsed.to_numpy()[codes] if len(texts) else np.empty(0, dtype=DATE_DTYPE)
    return pd.Series(result, index=values.index, dtype=DATE_DTYPE)


def parse_sessions(values: pd.Series) -> pd.Series:
    """``AM``/``PM`` for each accepted spelling (:data:`SESSION_WORDS`), ``""`` otherwise."""
    return values.str.upper().map(SESSION_WORDS).fillna("").astype("str")


def normalise_codes(values: pd.Series, display_codes: Mapping[str, str] | None = None) -> pd.Series:
    """Vectorised :func:`features.codes.normalise_code` (over the distinct marks)."""
    codes, uniques = pd.factorize(values)
    mapped = np.array([normalise_code(str(u), display_codes) for u in uniques], dtype=object)
    result = mapped[codes] if len(uniques) else np.empty(0, dtype=object)
    return pd.Series(result, index=values.index, dtype="str")


def parse_year_groups(values: pd.Series) -> pd.Series:
    """National curriculum year 1–13 (``7``, ``Y7``, ``Year 7``) or reception (``R``) as 0;
    NaN for anything else (float, so the gaps can be flagged)."""
    upper = values.str.upper().str.strip()
    bare = upper.str.replace(r"^(?:YEAR|Y)\s*", "", regex=True)
    numbers = pd.to_numeric(bare.where(bare.str.fullmatch(r"\d{1,2}")), errors="coerce")
    numbers = numbers.where((numbers >= 1) & (numbers <= 13))
    return numbers.mask(upper.isin(_RECEPTION), 0.0).astype("float64")


def parse_flags(values: pd.Series) -> pd.Series:
    """1/0 from ``1``/``0``, ``Y``/``N``, ``yes``/``no``, ``true``/``false`` (NaN otherwise)."""
    return values.str.upper().map(_FLAG_WORDS).astype("float64")


# --- reading a CSV into a table ---------------------------------------------------------------


@dataclass
class _Table:
    """A CSV as text cells: the header and the non-blank data rows, indexed by spreadsheet
    row (header = its own row, usually 1)."""

    file: str
    header: list[str]
    header_row: int
    body: pd.DataFrame

    def column_label(self, position: int) -> str:
        """The header of a column, or its spreadsheet letter when the header is empty."""
        return self.header[position] or f"(column {_column_letter(position)})"


def _column_letter(position: int) -> str:
    letters = ""
    position += 1
    while position:
        position, rest = divmod(position - 1, 26)
        letters = chr(ord("A") + rest) + letters
    return letters


def _source_bytes(source: Source, filename: str | None) -> tuple[bytes, str]:
    if isinstance(source, bytes | bytearray | memoryview):
        return bytes(source), filename or "upload.csv"
    path = Path(source)
    return path.read_bytes(), filename or path.name


def _whole_file_error(
    report: ValidationReport, file: str, kind: str, message: str, fix: str
) -> None:
    report.error(Issue(file, None, None, None, message, fix, kind))


def _decode(data: bytes, file: str, report: ValidationReport) -> str | None:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        _whole_file_error(
            report,
            file,
            "not_csv",
            'the file is saved as UTF-16 ("Unicode text"), not CSV',
            SAVE_AS_CSV,
        )
        return None
    for signature, what in _NOT_CSV.items():
        if data.startswith(signature):
            _whole_file_error(
                report, file, "not_csv", f"this is {what}, not a CSV file", SAVE_AS_CSV
            )
            return None
    if b"\x00" in data[:65536]:
        _whole_file_error(
            report, file, "not_csv", "this is a binary file, not a CSV (text) file", SAVE_AS_CSV
        )
        return None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        # Windows-1252 leaves five bytes undefined, so this still rejects most binary files.
        return data.decode("cp1252")
    except UnicodeDecodeError as exc:
        row = data.count(b"\n", 0, exc.start) + 1
        report.error(
            Issue(
                file,
                row,
                None,
                None,
                f"the file is neither UTF-8 nor Windows-1252 text (byte 0x{data[exc.start]:02X} "
                "cannot be read)",
                SAVE_AS_CSV,
                "encoding",
            )
        )
        return None


_QUOTED_VALUE = re.compile(r'(?<![^,\r\n])"(?:[^"]++|"")*+"')
"""A quoted value, closed. A double quote opens a value only at the start of a cell
(elsewhere it is read as a character); inside, ``""`` is a double quote (possessive: never
taken as the close), as pandas' tokenizer reads them."""
_UP_TO_UNCLOSED_QUOTE = re.compile(r'(?:[^"]++|(?<![^,\r\n])"(?:[^"]++|"")*+"|(?<=[^,\r\n])")*+')
"""Text, closed quoted values and double quotes inside a cell: everything up to a quote that
opens a value and is never closed (all of the text when there is none)."""


@dataclass(frozen=True)
class _OpenQuote:
    """Where a quoted value opens and is never closed."""

    row: int
    """Spreadsheet row (header = 1, blank lines counted), as the table's rows are numbered."""
    position: int
    """0-based cell of the row the value is in."""
    value: str
    """The row's text from the quote to the end of its line."""


def _line_breaks(text: str) -> int:
    """Line ends (``\\r\\n``, ``\\n`` or ``\\r``) in ``text``."""
    return text.count("\n") + text.count("\r") - text.count("\r\n")


def _unclosed_quote(text: str) -> _OpenQuote | None:
    """The double quote that opens a value and is never closed (pandas' tokenizer says only
    "EOF inside string starting at row N", 0-based), or ``None`` if every quoted value is
    closed. Read by pandas' rules (:data:`_QUOTED_VALUE`); line ends inside quoted values do
    not end a row. Regular expressions do the scanning (no Python loop over cells)."""
    matched = _UP_TO_UNCLOSED_QUOTE.match(text)  # always matches (perhaps nothing)
    start = matched.end() if matched else 0
    if start >= len(text):
        return None
    before = _QUOTED_VALUE.sub("", text[:start])  # what is left holds only row and cell ends
    row_start = max(before.rfind("\n"), before.rfind("\r")) + 1
    line_ends = [i for i in (text.find("\n", start), text.find("\r", start)) if i >= 0]
    return _OpenQuote(
        row=_line_breaks(before) + 1,
        position=before.count(",", row_start),
        value=text[start : min(line_ends, default=len(text))],
    )


def _open_quote_column(text: str, opened: _OpenQuote) -> str:
    """The header of the cell where the quote opens (its letter when the header is empty, or
    when the quote is in the header row itself)."""
    letter = f"(column {_column_letter(opened.position)})"
    for row, cells in enumerate(csv.reader(io.StringIO(text, newline="")), start=1):
        if row >= opened.row:
            return letter
        if any(cell.strip() for cell in cells):  # the header: the first row that is not blank
            header = [cell.replace("\ufeff", "").strip() for cell in cells]
            if opened.position < len(header) and header[opened.position]:
                return header[opened.position]
            return letter
    return letter


def _unclosed_quote_error(report: ValidationReport, file: str, text: str, row: int) -> None:
    """A row-level error where a quoted value opens and is never closed; ``row`` is where
    pandas' tokenizer says it opens (used if the quote itself cannot be found)."""
    opened = _unclosed_quote(text)
    if opened is not None:
        row = opened.row
    report.error(
        Issue(
            file,
            row,
            None if opened is None else _open_quote_column(text, opened),
            None if opened is None else shorten(opened.value),
            f"a double quote opens a value at row {row} but is never closed, so the rest of "
            "the file would be read as that one value",
            "remove the double quote, or close it with another one at the end of the value "
            '(a double quote inside a quoted value is written twice: "")',
            "unclosed_quote",
        )
    )


MAX_COLUMNS = 2_000
"""Most cells a row of a CSV may have (a wide register for a whole school year has about 400
session columns): a file with a wider row is refused before it is parsed into a table."""

_ROW_LENGTH = re.compile(
    r"Expected (?P<expected>\d+) fields in line (?P<line>\d+), saw (?P<saw>\d+)"
)
_FIRST_LINE = re.compile(r"[ \t\r\n]*(?P<line>[^\r\n]*)")
"""The first line that is not blank."""
_READ_OPTIONS: dict[str, Any] = {
    "header": None,
    "dtype": str,
    "na_filter": False,
    "skip_blank_lines": False,
    "index_col": False,
}


class _TooManyColumns(Exception):
    """A row of the CSV has more than :data:`MAX_COLUMNS` cells."""

    def __init__(self, line: int, cells: int) -> None:
        super().__init__(line, cells)
        self.line = line
        self.cells = cells


def _read_grid(text: str) -> tuple[pd.DataFrame, bool]:
    """The CSV as a grid of text cells, one grid row per line (blank lines kept), and whether
    its rows had different numbers of cells.

    pandas takes the number of cells from the first line, so a blank first line ("no columns
    to parse") or a first line shorter than a row below it ("Expected 1 fields in line 2")
    would stop it; such a file is read again as wide as its widest row, short rows filled with
    empty cells (:func:`_load_table` then checks the rows against the header). Raises
    :class:`_TooManyColumns` before pandas builds a table that wide, and pandas'
    ``ParserError`` for an unclosed quote.
    """
    first = _FIRST_LINE.match(text)
    if first is not None and first.group("line").count(",") >= MAX_COLUMNS:
        line = _line_breaks(text[: first.start("line")]) + 1
        raise _TooManyColumns(line, first.group("line").count(",") + 1)
    width: int | None = None
    while True:
        try:
            if width is None:
                return pd.read_csv(io.StringIO(text), **_READ_OPTIONS), False
            return pd.read_csv(io.StringIO(text), names=range(width), **_READ_OPTIONS), True
        except pd.errors.EmptyDataError:
            width = 1
        except pd.errors.ParserError as exc:
            found = _ROW_LENGTH.search(str(exc))
            if found is None:
                raise
            saw = int(found.group("saw"))
            if saw > MAX_COLUMNS:
                raise _TooManyColumns(int(found.group("line")), saw) from None
            # At least double: a file whose rows keep getting wider is read a few times only.
            width = min(max(saw, 2 * (width or 0)), MAX_COLUMNS)


def _load_table(
    source: Source, filename: str | None, report: ValidationReport, *, rows_required: bool = True
) -> _Table | None:
    """Read a CSV into text cells, or record why it cannot be read and return ``None``.

    A header without rows is an error unless ``rows_required`` is false."""
    data, file = _source_bytes(source, filename)
    if file not in report.files:
        report.files.append(file)
    if not data.strip():
        _whole_file_error(report, file, "empty_file", "the file is empty", "upload the CSV export")
        return None
    text = _decode(data, file, report)
    if text is None:
        return None
    try:
        grid, ragged = _read_grid(text)
    except _TooManyColumns as exc:
        report.error(
            Issue(
                file,
                exc.line,
                None,
                None,
                f"this row has {exc.cells:,} cells; a register or roster has at most "
                f"{MAX_COLUMNS:,} columns",
                "check this is the register (or roster) export; remove empty or unused columns "
                "(a wide register has one column per session: about 400 for a school year)",
                "too_many_columns",
            )
        )
        return None
    except pd.errors.ParserError as exc:
        unclosed = re.search(r"EOF inside string starting at row (\d+)", str(exc))
        if unclosed:
            _unclosed_quote_error(report, file, text, int(unclosed.group(1)) + 1)
        else:
            _whole_file_error(
                report, file, "malformed_csv", f"the CSV cannot be read ({exc})", SAVE_AS_CSV
            )
        return None
    grid.index = pd.RangeIndex(1, len(grid) + 1)
    for column in grid.columns:
        grid[column] = grid[column].str.strip()
    blank = (grid == "").all(axis=1).to_numpy()
    if blank.all():
        _whole_file_error(report, file, "empty_file", "the file is empty", "upload the CSV export")
        return None
    header_row = int(grid.index[np.argmax(~blank)])
    header = [str(h).replace("\ufeff", "").strip() for h in grid.loc[header_row]]
    named = [h for h in header if h]
    if len(named) == 1 and named[0] == header[0] and (";" in header[0] or "\t" in header[0]):
        separator = "semicolons" if ";" in header[0] else "tabs"
        _whole_file_error(
            report,
            file,
            "wrong_delimiter",
            f"the columns are separated by {separator}, not commas",
            SAVE_AS_CSV,
        )
        return None
    if ragged:  # rows of different lengths: the header decides
        width = max((i + 1 for i, h in enumerate(header) if h), default=1)
        beyond = (grid.iloc[:, width:] != "").any(axis=1).to_numpy()
        if beyond.any():
            row = int(grid.index[np.argmax(beyond)])
            cells = grid.loc[row].to_numpy(dtype=str)
            fix = "remove the extra cells; a comma inside a value needs quotes around the value"
            if width == 1:
                fix = (
                    f"row {header_row} is read as the header: if it is a title, delete it so "
                    "that the column headers are the first row; otherwise " + fix
                )
            report.error(
                Issue(
                    file,
                    row,
                    None,
                    None,
                    f"this row has {int(np.flatnonzero(cells != '')[-1]) + 1} cells but the "
                    f"header (row {header_row}) has {width}",
                    fix,
                    "row_length",
                )
            )
            return None
        grid = grid.iloc[:, :width]
        header = header[:width]
    body = grid.loc[(grid.index > header_row) & ~blank]
    table = _Table(file, header, header_row, body)
    if body.empty and rows_required:
        _whole_file_error(
            report,
            file,
            "no_rows",
            "the file has a header row but no data rows",
            "export the register (or roster) with its rows",
        )
        return None
    return table


def _match_columns(
    table: _Table, wanted: Mapping[str, frozenset[str]], report: ValidationReport
) -> dict[str, int]:
    """Field → column position, for the headers that name a wanted field."""
    found: dict[str, int] = {}
    for position, header in enumerate(table.header):
        key = _normalise_header(header)
        for name, synonyms in wanted.items():
            if key not in synonyms:
                continue
            if name in found:
                report.error(
                    Issue(
                        table.file,
                        table.header_row,
                        header,
                        None,
                        f'both "{table.header[found[name]]}" and "{header}" look like the '
                        f"{name} column",
                        "remove or rename one of them",
                        "duplicate_column",
                    )
                )
            else:
                found[name] = position
    return found


def _warn_ignored(table: _Table, used: set[int], report: ValidationReport) -> None:
    """Warning for each column that is not used (and holds something)."""
    for position in range(len(table.header)):
        if position in used:
            continue
        if not table.header[position] and (table.body[position] == "").all():
            continue  # an empty trailing column a spreadsheet added
        report.warning(
            Issue(
                table.file,
                table.header_row,
                table.column_label(position),
                None,
                "this column is not used and was ignored",
                "nothing to do; remove the column from future exports if it is not needed",
                "extra_column",
            )
        )


HEADERS_SHOWN = 12
"""Headers listed when a required column is missing (a wide file has hundreds)."""


def _missing_columns(
    table: _Table,
    found: Mapping[str, int],
    required: tuple[str, ...],
    synonyms: Mapping[str, frozenset[str]],
    report: ValidationReport,
) -> bool:
    """Error for each required field without a column; True if any is missing."""
    missing = [name for name in required if name not in found]
    named = [f'"{shorten(h)}"' for h in table.header if h]
    shown = ", ".join(named[:HEADERS_SHOWN]) or "none"
    if len(named) > HEADERS_SHOWN:
        shown += f" and {len(named) - HEADERS_SHOWN:,} more"
    for name in missing:
        examples = ", ".join(sorted(synonyms[name])[:4])
        report.error(
            Issue(
                table.file,
                table.header_row,
                None,
                None,
                f'no "{name}" column (headers found: {shown})',
                f"add a column headed {name} (also accepted: {examples})",
                "missing_column",
            )
        )
    return bool(missing)


def _constant_label(label: str, n: int) -> pd.Categorical:
    return pd.Categorical.from_codes(np.zeros(n, dtype=np.int8), categories=[label])


# --- the school named in the file -------------------------------------------------------------


def _check_school(
    table: _Table,
    found: Mapping[str, int],
    school_urn: int | None,
    laestab: str | None,
    report: ValidationReport,
) -> int | None:
    """Check school columns against the caller's school; return the file's URN if it has one."""
    file_urn: int | None = None
    for name in ("school_urn", "laestab"):
        if name not in found:
            continue
        header = table.header[found[name]]
        values = table.body[found[name]]
        given = values[values != ""]
        distinct = given.unique()
        if len(distinct) == 0:
            continue
        first = str(distinct[0])
        if len(distinct) > 1:
            other = given[given != first]
            report.error(
                Issue(
                    table.file,
                    int(other.index[0]),
                    header,
                    shorten(other.iloc[0]),
                    f"this file holds rows for {len(distinct)} different schools "
                    f'(first "{first}", then this one)',
                    "upload one school per file",
                    "mixed_schools",
                )
            )
            continue
        row = int(given.index[0])
        if name == "school_urn":
            if not first.isdigit():
                report.error(
                    Issue(
                        table.file,
                        row,
                        header,
                        shorten(first),
                        "a URN is a number",
                        "write the school's 6-digit URN, or remove the column",
                        "school_invalid",
                    )
                )
            elif school_urn is not None and int(first) != school_urn:
                report.error(
                    Issue(
                        table.file,
                        row,
                        header,
                        first,
                        f"this file is for the school with URN {first}, but it is being "
                        f"uploaded for URN {school_urn}",
                        "check you chose the right school and the right file",
                        "wrong_school",
                    )
                )
            else:
                file_urn = int(first)
        else:
            digits = re.sub(r"\D", "", first)
            if laestab is None:
                report.warning(
                    Issue(
                        table.file,
                        row,
                        header,
                        first,
                        "the LAESTAB in this file was not checked (the school's LAESTAB was "
                        "not given with the upload)",
                        "nothing to do",
                        "laestab_not_checked",
                    )
                )
            elif digits != re.sub(r"\D", "", laestab):
                report.error(
                    Issue(
                        table.file,
                        row,
                        header,
                        first,
                        f"this file is for LAESTAB {first}, but it is being uploaded for {laestab}",
                        "check you chose the right school and the right file",
                        "wrong_school",
                    )
                )
    return file_urn


# --- registers --------------------------------------------------------------------------------


@dataclass
class _RegisterOptions:
    school_urn: int | None
    roster: pd.DataFrame | None
    roster_filename: str
    academic_year: str | None
    display_codes: Mapping[str, str] | None
    laestab: str | None
    today: dt.date


def _long_frame(
    table: _Table, found: Mapping[str, int], options: _RegisterOptions, report: ValidationReport
) -> pd.DataFrame:
    body = table.body
    n = len(body)

    def cells(name: str) -> pd.Series:
        if name in found:
            return body[found[name]].reset_index(drop=True)
        return pd.Series("", index=pd.RangeIndex(n), dtype="str")

    frame = pd.DataFrame(
        {
            "row": body.index.to_numpy(dtype=np.int64),
            "upn": cells("upn").str.upper(),
            "date_raw": cells("date"),
            "session_raw": cells("session"),
            "mark_raw": cells("mark"),
            "minutes_late_raw": cells("minutes_late"),
        }
    )
    for name in ("upn", "date", "session", "mark", "minutes_late"):
        label = table.header[found[name]] if name in found else name
        frame[f"{name}_column"] = _constant_label(label, n)
    empty_mark = (frame["mark_raw"] == "").to_numpy()
    flag_rows(
        report,
        "warning",
        "mark_empty",
        table.file,
        frame,
        empty_mark,
        "mark_column",
        "mark_raw",
        "the mark is empty: this row was ignored",
        "nothing to do if the pupil had no session; otherwise record the mark",
    )
    frame = frame.loc[~empty_mark].reset_index(drop=True)
    frame["date"] = parse_dates(frame["date_raw"])
    frame["session"] = parse_sessions(frame["session_raw"])
    frame["code"] = normalise_codes(frame["mark_raw"], options.display_codes)
    frame["minutes_late"] = pd.to_numeric(
        frame["minutes_late_raw"].where(frame["minutes_late_raw"] != ""), errors="coerce"
    ).astype("float64")
    return frame


def _wide_frame(
    table: _Table,
    found: Mapping[str, int],
    sessions: list[tuple[int, str, str, str]],
    options: _RegisterOptions,
    report: ValidationReport,
) -> pd.DataFrame:
    """One row per filled session cell. ``sessions``: (position, header, date text, session)."""
    positions = [p for p, _, _, _ in sessions]
    labels = [table.column_label(p) for p in positions]
    # Categories must be unique; a repeated header is reported as an error already.
    unique_labels = [
        label if labels.index(label) == i else f"{label} ({_column_letter(positions[i])})"
        for i, label in enumerate(labels)
    ]
    date_texts = pd.Series([d for _, _, d, _ in sessions], dtype="str")
    column_dates = parse_dates(date_texts).to_numpy()
    column_sessions = np.array([s for _, _, _, s in sessions], dtype=object)
    grid = table.body[positions].to_numpy(dtype=object)
    cell_rows, cell_cols = np.nonzero(grid != "")
    upns = table.body[found["upn"]].str.upper().to_numpy(dtype=object)
    frame = pd.DataFrame(
        {
            "row": table.body.index.to_numpy(dtype=np.int64)[cell_rows],
            "upn": pd.Series(upns[cell_rows], dtype="str"),
            "date_raw": pd.Series(date_texts.to_numpy(dtype=object)[cell_cols], dtype="str"),
            "date": pd.Series(column_dates[cell_cols], dtype=DATE_DTYPE),
            "session_raw": pd.Series(column_sessions[cell_cols], dtype="str"),
            "session": pd.Series(column_sessions[cell_cols], dtype="str"),
            "mark_raw": pd.Series(grid[cell_rows, cell_cols], dtype="str"),
            "minutes_late_raw": pd.Series("", index=pd.RangeIndex(len(cell_rows)), dtype="str"),
            "minutes_late": np.full(len(cell_rows), np.nan),
        }
    )
    n = len(frame)
    frame["upn_column"] = _constant_label(table.column_label(found["upn"]), n)
    cell_labels = pd.Categorical.from_codes(cell_cols, categories=unique_labels)
    for name in ("date", "session", "mark"):
        frame[f"{name}_column"] = cell_labels
    frame["minutes_late_column"] = _constant_label("minutes_late", n)
    frame["code"] = normalise_codes(frame["mark_raw"], options.display_codes)
    return frame


def _session_columns(
    table: _Table, skip: set[int], report: ValidationReport
) -> list[tuple[int, str, str, str]]:
    """Columns of a wide grid headed by a date and a session (loops over columns, not pupils)."""
    sessions = []
    for position, header in enumerate(table.header):
        if position in skip:
            continue
        match = _SESSION_HEADER.match(header)
        if match:
            session = SESSION_WORDS[match.group("session").upper()]
            sessions.append((position, header, match.group("date"), session))
        elif _HAS_DATE.search(header):
            report.error(
                Issue(
                    table.file,
                    table.header_row,
                    header,
                    None,
                    "this column's header has a date, but not as a session header (the date "
                    "then AM or PM)",
                    "head each session column with its date and session, e.g. 2024-09-02 AM; "
                    "remove the column if it is not a session",
                    "session_header_invalid",
                )
            )
    return sessions


def _check_session_headers(
    table: _Table,
    sessions: list[tuple[int, str, str, str]],
    options: _RegisterOptions,
    report: ValidationReport,
) -> str | None:
    """Date checks once per session column (not once per cell), and repeated columns."""
    headers = pd.DataFrame(
        {
            "row": table.header_row,
            "date_raw": pd.Series([d for _, _, d, _ in sessions], dtype="str"),
            "date_column": [h for _, h, _, _ in sessions],
            "session": [s for _, _, _, s in sessions],
        }
    )
    headers["date"] = parse_dates(headers["date_raw"])
    year = check_dates(
        headers, report, table.file, options.academic_year, unit="column", today=options.today
    )
    repeated = headers["date"].notna() & headers.duplicated(["date", "session"], keep="first")
    flag_rows(
        report,
        "error",
        "duplicate_column",
        table.file,
        headers,
        repeated.to_numpy(),
        "date_column",
        "date_column",
        "this session has two columns",
        "keep one column per session",
    )
    return year


def _finish(
    frame: pd.DataFrame,
    table: _Table,
    layout: Layout,
    found: Mapping[str, int],
    options: _RegisterOptions,
    report: ValidationReport,
    academic_year: str | None,
    dates_checked: bool,
) -> pd.DataFrame:
    """Run the mark checks, fill the summary, and build canonical marks if nothing is wrong."""
    file = table.file
    file_urn = _check_school(table, found, options.school_urn, options.laestab, report)
    valid_upn = check_upns(frame, report, file)
    if not dates_checked:
        academic_year = check_dates(frame, report, file, options.academic_year, today=options.today)
        check_sessions(frame, report, file)
    check_codes(frame, report, file)
    if "minutes_late" in found:
        check_minutes_late(frame, report, file)
    keep = check_duplicates(frame, report, file)
    if options.roster is not None:
        check_roster_membership(
            frame, options.roster, report, file, options.roster_filename, valid_upn
        )
        warn_off_roll(frame, options.roster, report, file)
    warn_bank_holidays(frame, report, file)
    warn_unresolved(frame, report, file)
    warn_no_mark(frame, report, file)

    dates = frame["date"].dropna()
    school_urn = options.school_urn if options.school_urn is not None else file_urn
    used = _display_code_usage(frame, options.display_codes)
    summary = {
        "layout": layout,
        "rows": len(table.body),
        "marks": 0,
        "pupils": int(frame["upn"].nunique()),
        "first_date": dates.min() if len(dates) else None,
        "last_date": dates.max() if len(dates) else None,
        "academic_year": academic_year,
        "school_urn": school_urn,
        "display_codes_mapped": sum(u["marks"] for u in used),
        "display_codes_used": used,
    }
    report.summary[file] = summary
    logger.info(
        "read %s register: %d rows, %d errors, %d warnings",
        layout,
        len(table.body),
        report.n_errors,
        report.n_warnings,
    )
    if not report.ok:
        return empty_marks()
    kept = frame.loc[keep]
    marks = pd.DataFrame(
        {
            "school_urn": np.full(
                len(kept),
                UNKNOWN_SCHOOL_URN if school_urn is None else school_urn,
                dtype=np.int64,
            ),
            "upn": kept["upn"].astype("str"),
            "date": kept["date"].astype(DATE_DTYPE),
            "session": kept["session"].astype("str"),
            "code": kept["code"].astype("str"),
            "minutes_late": kept["minutes_late"].astype("float64"),
        }
    )
    marks = marks.sort_values(["upn", "date", "session"], kind="stable").reset_index(drop=True)
    summary["marks"] = len(marks)
    return marks


def _display_code_usage(
    frame: pd.DataFrame, display_codes: Mapping[str, str] | None
) -> list[dict[str, Any]]:
    """How many marks each of the school's display codes stood for (only codes used)."""
    if not display_codes:
        return []
    counts = frame["mark_raw"].str.strip().value_counts(sort=False)
    counts = counts[counts.index.isin(list(display_codes))].sort_index()
    return [
        {"display_code": str(code), "statutory_code": display_codes[code], "marks": int(n)}
        for code, n in counts.items()
    ]


def _options(
    school_urn: int | None,
    roster: pd.DataFrame | None,
    roster_filename: str,
    academic_year: str | None,
    display_codes: Mapping[str, str] | None,
    laestab: str | None,
    today: dt.date | None,
) -> _RegisterOptions:
    if academic_year is not None:
        from features.calendar import parse_academic_year

        parse_academic_year(academic_year)  # a programming error, not the school's: raise
    return _RegisterOptions(
        school_urn,
        roster,
        roster_filename,
        academic_year,
        display_codes,
        laestab,
        today if today is not None else dt.date.today(),
    )


def _read_long(table: _Table, options: _RegisterOptions, report: ValidationReport) -> pd.DataFrame:
    found = _match_columns(table, {**LONG_COLUMNS, **SCHOOL_COLUMNS}, report)
    if _missing_columns(table, found, LONG_REQUIRED, LONG_COLUMNS, report):
        return empty_marks()
    _warn_ignored(table, set(found.values()), report)
    frame = _long_frame(table, found, options, report)
    return _finish(frame, table, "long", found, options, report, None, dates_checked=False)


def _read_wide(table: _Table, options: _RegisterOptions, report: ValidationReport) -> pd.DataFrame:
    found = _match_columns(table, {"upn": LONG_COLUMNS["upn"], **SCHOOL_COLUMNS}, report)
    if _missing_columns(table, found, ("upn",), LONG_COLUMNS, report):
        return empty_marks()
    sessions = _session_columns(table, set(found.values()), report)
    if not sessions:
        report.error(
            Issue(
                table.file,
                table.header_row,
                None,
                None,
                "no session columns: a wide register has one column per session",
                "head each session column with its date and session, e.g. 2024-09-02 AM",
                "missing_column",
            )
        )
        return empty_marks()
    # Columns whose header has a date are session columns, good or bad (a bad one is an
    # error, never ignored: its marks would be lost).
    dated = {p for p, header in enumerate(table.header) if _HAS_DATE.search(header)}
    _warn_ignored(table, set(found.values()) | dated, report)
    academic_year = _check_session_headers(table, sessions, options, report)
    frame = _wide_frame(table, found, sessions, options, report)
    return _finish(frame, table, "wide", found, options, report, academic_year, dates_checked=True)


def detect_layout(header: list[str]) -> Layout | None:
    """``"long"`` if the header names the long columns, ``"wide"`` if it has session columns
    (and a UPN column), else ``None``."""
    keys = {_normalise_header(h) for h in header}
    if all(keys & LONG_COLUMNS[name] for name in LONG_REQUIRED):
        return "long"
    if keys & LONG_COLUMNS["upn"] and any(_SESSION_HEADER.match(h) for h in header):
        return "wide"
    return None


def read_register(
    source: Source,
    school_urn: int | None = None,
    *,
    roster: pd.DataFrame | None = None,
    academic_year: str | None = None,
    display_codes: Mapping[str, str] | None = None,
    laestab: str | None = None,
    filename: str | None = None,
    roster_filename: str = "roster",
    today: dt.date | None = None,
) -> RegisterRead:
    """Read a register CSV in either layout (detected from the header) into canonical marks.

    ``school_urn`` is the school the upload is for (see the module docstring when ``None``);
    ``roster`` a canonical roster (:func:`read_roster`): every pupil with marks must be on it;
    ``academic_year`` (``"2024/25"``) the year all dates must fall in (else: one year, any);
    ``display_codes`` the school's own mark → statutory code mapping (see
    :func:`read_display_codes`; the summary counts the marks it mapped); ``laestab`` checked
    against a LAESTAB column; ``filename`` names the file in the report (default: the path's
    name, or ``upload.csv`` for bytes); ``roster_filename`` names the roster file in the report;
    ``today`` is the date after which a mark is in the future (default: today's date).
    """
    options = _options(
        school_urn, roster, roster_filename, academic_year, display_codes, laestab, today
    )
    report = ValidationReport()
    table = _load_table(source, filename, report)
    if table is None:
        return RegisterRead(empty_marks(), report)
    layout = detect_layout(table.header)
    if layout == "wide":
        return RegisterRead(_read_wide(table, options, report), report)
    # Not recognisably wide: read as long, so the errors name the missing long columns.
    return RegisterRead(_read_long(table, options, report), report)


# --- roster -----------------------------------------------------------------------------------


def read_roster(source: Source, *, filename: str | None = None) -> RosterRead:
    """Read a roster CSV (:data:`features.schema.ROSTER_COLUMNS`) into the canonical roster.

    Headers are matched like the register's (:data:`ROSTER_SYNONYMS`); ``leaving_date`` and
    ``ethnicity`` columns may be absent (nobody has left; ethnicity not recorded — a warning,
    since the fairness audit then cannot look at it).
    """
    report = ValidationReport()
    table = _load_table(source, filename, report)
    if table is None:
        return RosterRead(empty_roster(), report)
    file = table.file
    found = _match_columns(table, ROSTER_SYNONYMS, report)
    required = tuple(c for c in ROSTER_COLUMNS if c not in ROSTER_OPTIONAL)
    if _missing_columns(table, found, required, ROSTER_SYNONYMS, report):
        return RosterRead(empty_roster(), report)
    _warn_ignored(table, set(found.values()), report)
    if "ethnicity" not in found:
        report.warning(
            Issue(
                file,
                table.header_row,
                None,
                None,
                "no ethnicity column",
                "add the census ethnicity code if you have it (used only for the fairness "
                "audit, never to score a pupil)",
                "missing_column",
            )
        )
    body = table.body
    raw = pd.DataFrame(
        {
            name: body[found[name]] if name in found else pd.Series("", index=body.index)
            for name in ROSTER_COLUMNS
        },
        index=body.index,
    ).astype("str")
    raw["upn"] = raw["upn"].str.upper()
    parsed = pd.DataFrame(
        {
            "upn": raw["upn"],
            "forename": raw["forename"],
            "surname": raw["surname"],
            "date_of_birth": parse_dates(raw["date_of_birth"]),
            "sex": raw["sex"].str.upper().map(_SEX_WORDS),
            "year_group": parse_year_groups(raw["year_group"]),
            "fsm": parse_flags(raw["fsm"]),
            "sen": raw["sen"].str.upper().where(raw["sen"].str.upper().isin(SEN_CODES)),
            "eal": parse_flags(raw["eal"]),
            "ethnicity": raw["ethnicity"].where(raw["ethnicity"] != ""),
            "entry_date": parse_dates(raw["entry_date"]),
            "leaving_date": parse_dates(raw["leaving_date"]),
        },
        index=body.index,
    )
    columns = {name: table.column_label(found[name]) for name in found if name in ROSTER_COLUMNS}
    check_roster(parsed, raw, columns, report, file, optional=ROSTER_OPTIONAL)
    report.summary[file] = {"layout": "roster", "rows": len(body), "pupils": 0}
    if not report.ok:
        return RosterRead(empty_roster(), report)
    roster = parsed.astype(
        {
            "upn": "str",
            "forename": "str",
            "surname": "str",
            "sex": "str",
            "sen": "str",
            "year_group": "int64",
            "fsm": "int64",
            "eal": "int64",
        }
    )[ROSTER_COLUMNS]
    # Text, but missing stays missing (None): astype(str) would store the text "nan".
    ethnicity = parsed["ethnicity"]
    roster["ethnicity"] = pd.Series(
        np.where(ethnicity.isna(), None, ethnicity.astype(object)), index=roster.index, dtype=object
    )
    roster.index.name = "row"
    report.summary[file]["pupils"] = len(roster)
    return RosterRead(roster, report)


# --- display codes --------------------------------------------------------------------------

DISPLAY_CODE_COLUMNS: Mapping[str, frozenset[str]] = {
    "display_code": _names(
        "display_code", "display code", "local code", "school code", "mis code", "shown as"
    ),
    "statutory_code": _names(
        "statutory_code", "statutory code", "dfe code", "code", "statutory mark", "means"
    ),
}


class DisplayCodesRead(NamedTuple):
    """A school's display-code mapping (display code → statutory code; empty if the file has
    any error) and the validation report."""

    display_codes: dict[str, str]
    report: ValidationReport


def read_display_codes(
    source: Source, *, filename: str | None = None, allow_no_rows: bool = False
) -> DisplayCodesRead:
    """Read a school's mapping of local display codes to statutory codes.

    The CSV has the header ``display_code,statutory_code`` (synonyms accepted, as for
    registers), one row per display code, e.g. ``9,Y`` (SIMS shows ``9`` for the 2006 code
    ``Y``). Errors, each located by row: an empty cell, a target that is not a statutory code
    (:data:`features.codes.CODE_TABLE`; ``-`` is a placeholder, not a statutory code), a
    display code mapped to two different codes. Warnings: the same row twice (kept once), a
    display code that is itself a statutory code (every such mark will be read as the target).
    Display codes are matched exactly as written after trimming spaces (``a`` is not ``A``);
    statutory codes are read in capitals. The mapping is used by :func:`read_register`
    (argument ``display_codes``) before the Capita One symbols.

    A header without rows is an error (``no_rows``) unless ``allow_no_rows``: then it reads
    as an empty mapping (how the service lets a school clear its display codes); the header
    is still checked.
    """
    report = ValidationReport()
    table = _load_table(source, filename, report, rows_required=not allow_no_rows)
    if table is None:
        return DisplayCodesRead({}, report)
    file = table.file
    found = _match_columns(table, DISPLAY_CODE_COLUMNS, report)
    if _missing_columns(
        table, found, ("display_code", "statutory_code"), DISPLAY_CODE_COLUMNS, report
    ):
        return DisplayCodesRead({}, report)
    _warn_ignored(table, set(found.values()), report)
    body = table.body
    frame = pd.DataFrame(
        {
            "row": body.index.to_numpy(dtype=np.int64),
            "display_code": body[found["display_code"]].to_numpy(dtype=object),
            "statutory_code": body[found["statutory_code"]].str.upper().to_numpy(dtype=object),
            "display_column": table.column_label(found["display_code"]),
            "statutory_column": table.column_label(found["statutory_code"]),
        }
    )
    check_display_codes(frame, report, file)
    report.summary[file] = {"layout": "display codes", "rows": len(body), "display_codes": 0}
    if not report.ok:
        return DisplayCodesRead({}, report)
    mapping = dict(zip(frame["display_code"], frame["statutory_code"], strict=True))
    report.summary[file]["display_codes"] = len(mapping)
    return DisplayCodesRead(mapping, report)


def read_upload(
    register: Source,
    roster: Source,
    school_urn: int | None = None,
    *,
    academic_year: str | None = None,
    display_codes: Mapping[str, str] | None = None,
    laestab: str | None = None,
    register_filename: str | None = None,
    roster_filename: str | None = None,
    today: dt.date | None = None,
) -> UploadRead:
    """Read a school's upload: a roster and a register checked against it, one report.

    If either file has an error, both frames come back empty. A bad roster does not stop the
    register being checked (only the roster-membership checks are skipped), so one report
    lists everything to fix.
    """
    roster_read = read_roster(roster, filename=roster_filename)
    roster_file = roster_read.report.files[0] if roster_read.report.files else "roster"
    register_read = read_register(
        register,
        school_urn,
        roster=roster_read.roster if roster_read.report.ok else None,
        academic_year=academic_year,
        display_codes=display_codes,
        laestab=laestab,
        filename=register_filename,
        roster_filename=roster_file,
        today=today,
    )
    report = register_read.report
    report.merge(roster_read.report)
    if not report.ok:
        return UploadRead(empty_marks(), empty_roster(), report)
    return UploadRead(register_read.marks, roster_read.roster, report)
