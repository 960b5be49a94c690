"""Validation reports for register and roster uploads, and the checks that fill them.

A report is written for a school office: every :class:`Issue` says which file, which row (the
row number a spreadsheet shows, header = row 1), which column, the offending value, what is
wrong and how to fix it. A file with any error is rejected as a whole (no marks are loaded);
warnings are informational and the data is still accepted.

Reports are capped: at most :data:`ISSUE_LIMIT` issues of each kind are listed, but every issue
is counted, so a huge bad file gives a short report with honest totals.

The checks below work on a *parsed register*: a DataFrame with one row per mark, built by
:mod:`features.registers`, with these columns:

``row``                          spreadsheet row of the mark (int)
``upn``                          the UPN as written, stripped and upper-cased
``date`` / ``date_raw``          the parsed session date (NaT if unreadable) / the text
``session`` / ``session_raw``    ``"AM"``, ``"PM"`` or ``""`` (unreadable) / the text
``code`` / ``mark_raw``          the statutory code after normalisation / the mark as written
``minutes_late`` / ``minutes_late_raw``  float (NaN if absent or unreadable) / the text
``upn_column``, ``date_column``, ``session_column``, ``mark_column``, ``minutes_late_column``
                                 the header of the column each value came from (the register
                                 layout decides: in a wide grid the mark's column is the session)

UPNs may appear in a report (it goes back to the school that uploaded them) but never in a log.
"""

from __future__ import annotations

import datetime as dt
import functools
import itertools
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from features.calendar import (
    academic_year_bounds,
    academic_years_of,
    bank_holiday_names,
    week_start,
)
from features.codes import (
    CLOSURE_CODE,
    CODE_SET_2024_FROM,
    CODE_TABLE,
    INVALID_CATEGORY_ID,
    LATE_AFTER_CLOSE_CODE,
    LATE_BEFORE_CLOSE_CODE,
    NO_MARK_CODE,
    PROSPECTIVE_CODE,
    UNRESOLVED_CODE,
    categories,
    code_set_on,
)
from features.limits import ROSTER_FIELD_LIMITS
from features.upn import CHECK_ALPHABET, upn_problem

ISSUE_LIMIT = 50
"""Issues listed per kind (errors and warnings separately); the rest are only counted."""

MAX_VALUE_CHARS = 60
"""Offending values are shortened to this length in a report."""

REGISTER_OPEN_MINUTES = 30
MAX_MINUTES_LATE = 24 * 60
"""More minutes late than a day has is no number of minutes late (``1e308`` parses)."""
"""The register closes at most 30 minutes after it opens: later arrivals are ``U``, not ``L``."""

Severity = Literal["error", "warning"]


# --- the report -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Issue:
    """One problem in an uploaded file, located so a person can find and fix it.

    ``row`` is the row number a spreadsheet shows (header = 1), ``None`` for a whole-file
    problem; ``column`` the header of the column as written in the file; ``kind`` a stable
    machine-readable name (e.g. ``"unknown_code"``) for the service and tests.
    """

    file: str
    row: int | None
    column: str | None
    value: str | None
    message: str
    fix: str
    kind: str = ""

    def location(self) -> str:
        """``row 5, column "Mark", value "Q9"`` (only the parts that are known)."""
        parts = []
        if self.row is not None:
            parts.append(f"row {self.row}")
        if self.column is not None:
            parts.append(f'column "{self.column}"')
        if self.value is not None:
            parts.append(f'value "{self.value}"')
        return ", ".join(parts) or "whole file"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "kind": self.kind,
            "file": self.file,
            "row": self.row,
            "column": self.column,
            "value": self.value,
            "message": self.message,
            "fix": self.fix,
        }


def shorten(value: object) -> str | None:
    """A value as shown in a report: text, cut to :data:`MAX_VALUE_CHARS` characters."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    text = str(value)
    return text if len(text) <= MAX_VALUE_CHARS else text[: MAX_VALUE_CHARS - 1] + "…"


@dataclass
class ValidationReport:
    """Errors and warnings found in one upload (one or more files), plus a short summary.

    ``errors`` and ``warnings`` list at most ``limit`` issues of each kind; ``error_counts``
    and ``warning_counts`` count every issue by kind. ``summary`` holds, per file name, figures
    about what was read (layout, rows, marks, pupils, first and last date, academic year).
    """

    errors: list[Issue] = field(default_factory=list)
    warnings: list[Issue] = field(default_factory=list)
    error_counts: Counter[str] = field(default_factory=Counter)
    warning_counts: Counter[str] = field(default_factory=Counter)
    summary: dict[str, Any] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    limit: int = ISSUE_LIMIT

    @property
    def ok(self) -> bool:
        """True when there is no error (warnings do not stop an upload)."""
        return self.n_errors == 0

    @property
    def n_errors(self) -> int:
        """Total errors, including those not listed."""
        return sum(self.error_counts.values())

    @property
    def n_warnings(self) -> int:
        """Total warnings, including those not listed."""
        return sum(self.warning_counts.values())

    @property
    def counts(self) -> dict[str, Any]:
        """Totals, and totals by kind."""
        return {
            "errors": self.n_errors,
            "warnings": self.n_warnings,
            "errors_by_kind": dict(self.error_counts),
            "warnings_by_kind": dict(self.warning_counts),
        }

    def _bucket(self, severity: Severity) -> tuple[list[Issue], Counter[str]]:
        if severity == "error":
            return self.errors, self.error_counts
        return self.warnings, self.warning_counts

    def add(self, severity: Severity, issue: Issue) -> None:
        """Record one issue (listed only while its kind is under the limit)."""
        listed, counts = self._bucket(severity)
        if counts[issue.kind] < self.limit:
            listed.append(issue)
        counts[issue.kind] += 1
        if issue.file not in self.files:
            self.files.append(issue.file)

    def error(self, issue: Issue) -> None:
        """Record an error."""
        self.add("error", issue)

    def warning(self, issue: Issue) -> None:
        """Record a warning."""
        self.add("warning", issue)

    def room(self, severity: Severity, kind: str) -> int:
        """How many more issues of ``kind`` would still be listed."""
        return max(self.limit - self._bucket(severity)[1][kind], 0)

    def add_counted(
        self, severity: Severity, kind: str, issues: Iterable[Issue], total: int
    ) -> None:
        """Record ``total`` issues of ``kind`` of which only ``issues`` (the first few, built by
        the caller for at most :meth:`room` rows) are listed — so that a million bad rows cost
        only a count."""
        listed, counts = self._bucket(severity)
        for issue in itertools.islice(issues, self.room(severity, kind)):
            listed.append(issue)
            if issue.file not in self.files:
                self.files.append(issue.file)
        counts[kind] += total

    def merge(self, other: ValidationReport) -> None:
        """Add another report's issues and summary (keyed by file name) to this one."""
        severities: tuple[Severity, ...] = ("error", "warning")
        for severity in severities:
            listed, counts = other._bucket(severity)
            by_kind: dict[str, list[Issue]] = {}
            for issue in listed:
                by_kind.setdefault(issue.kind, []).append(issue)
            for kind, total in counts.items():
                self.add_counted(severity, kind, by_kind.get(kind, []), total)
        for name in other.files:
            if name not in self.files:
                self.files.append(name)
        self.summary.update(other.summary)

    def _in_file_order(self, issues: list[Issue]) -> list[Issue]:
        """Issues by file, then by row (whole-file issues first), as a person works through
        them."""
        order = {name: i for i, name in enumerate(self.files)}
        return sorted(issues, key=lambda i: (order.get(i.file, len(order)), i.row or 0))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: ``ok``, ``files``, the listed ``errors`` and ``warnings`` (in file
        order), ``counts`` (totals, including issues not listed) and ``summary``."""
        return {
            "ok": self.ok,
            "files": list(self.files),
            "errors": [i.to_dict() for i in self._in_file_order(self.errors)],
            "warnings": [i.to_dict() for i in self._in_file_order(self.warnings)],
            "counts": self.counts,
            "summary": _json_ready(self.summary),
        }

    def format_text(self) -> str:
        """A plain-text report a school office can work through, row by row."""
        files = ", ".join(self.files) or "upload"
        verdict = "ACCEPTED" if self.ok else "NOT ACCEPTED"
        lines = [
            f"{files}: {verdict} — {_plural(self.n_errors, 'error')}, "
            f"{_plural(self.n_warnings, 'warning')}."
        ]
        if not self.ok:
            lines.append(
                "Nothing was loaded from this upload. Fix the errors below and upload it again."
            )
        for name, figures in self.summary.items():
            used = figures.get("display_codes_used") if isinstance(figures, dict) else None
            if used:
                mapped = ", ".join(
                    f"{u['display_code']} → {u['statutory_code']} ({u['marks']})" for u in used
                )
                lines.append(
                    f"{name}: {_plural(sum(u['marks'] for u in used), 'mark')} read through "
                    f"the school's display codes: {mapped}."
                )
        show_file = len(self.files) > 1
        for title, listed, counts in (
            ("Errors", self._in_file_order(self.errors), self.error_counts),
            ("Warnings", self._in_file_order(self.warnings), self.warning_counts),
        ):
            if not counts:
                continue
            lines.append("")
            lines.append(f"{title} ({sum(counts.values())})")
            for issue in listed:
                where = issue.location()
                if show_file:
                    where = f"{issue.file}: {where}"
                lines.append(f"  {where}")
                lines.append(f"    {issue.message}")
                if issue.fix:
                    lines.append(f"    Fix: {issue.fix}")
            shown = Counter(i.kind for i in listed)
            for kind, total in counts.items():
                if total > shown[kind]:
                    lines.append(
                        f"  … and {total - shown[kind]} more of this kind ({kind}) not listed."
                    )
        return "\n".join(lines)


def long_date(day: dt.date, weekday: bool = False) -> str:
    """``2 September 2024`` (``Monday 2 September 2024`` with ``weekday``), as people write."""
    text = f"{day.day} {day:%B %Y}"
    return f"{day:%A} {text}" if weekday else text


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _json_ready(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_ready(v) for v in value]
    if isinstance(value, pd.Timestamp | dt.date):
        return value.strftime("%Y-%m-%d")
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    return value


# --- flagging rows vectorised -----------------------------------------------------------------


def flag_rows(
    report: ValidationReport,
    severity: Severity,
    kind: str,
    file: str,
    frame: pd.DataFrame,
    mask: np.ndarray | pd.Series,
    column: str,
    value: str,
    message: str | Callable[[pd.DataFrame], Sequence[str]],
    fix: str | Callable[[pd.DataFrame], Sequence[str]],
) -> int:
    """Record one issue per row of ``frame`` where ``mask`` holds; return how many.

    ``column`` names the frame column holding each row's header label, ``value`` the frame
    column holding the offending text. Only the first rows (up to the report's room for
    ``kind``) are turned into :class:`Issue` objects; ``message`` and ``fix`` may be functions
    of those rows, returning one text per row.
    """
    mask = np.asarray(mask, dtype=bool)
    total = int(mask.sum())
    if total == 0:
        return 0
    shown = frame.loc[mask].head(report.room(severity, kind))
    messages = message(shown) if callable(message) else [message] * len(shown)
    fixes = fix(shown) if callable(fix) else [fix] * len(shown)
    issues = (
        Issue(file, int(r), str(c), shorten(v), m, f, kind)
        for r, c, v, m, f in zip(
            shown["row"], shown[column], shown[value], messages, fixes, strict=True
        )
    )
    report.add_counted(severity, kind, issues, total)
    return total


# --- UPNs -------------------------------------------------------------------------------------

_UPN_SHAPE = rf"[{CHECK_ALPHABET}]\d{{11}}[0-9{CHECK_ALPHABET}]"
_CHAR_VALUE = np.full(128, -1, dtype=np.int64)
_CHAR_VALUE[ord("0") : ord("9") + 1] = np.arange(10)
for _i, _letter in enumerate(CHECK_ALPHABET):
    _CHAR_VALUE[ord(_letter)] = _i
_CHECK_CODES = np.array([ord(c) for c in CHECK_ALPHABET], dtype=np.uint32)
_UPN_WEIGHTS = np.arange(2, 14, dtype=np.int64)


def valid_upn_mask(upns: pd.Series | np.ndarray | Sequence[str]) -> np.ndarray:
    """Vectorised :func:`features.upn.is_valid_upn`: a boolean array, True for a well-formed UPN
    with the right check letter."""
    values = pd.Series(upns, dtype="str")
    shaped = values.str.fullmatch(_UPN_SHAPE).fillna(False).to_numpy(dtype=bool)
    result = np.zeros(len(values), dtype=bool)
    if shaped.any():
        chars = values[shaped].to_numpy(dtype="U13").view(np.uint32).reshape(-1, 13)
        digits = _CHAR_VALUE[chars[:, 1:]]
        expected = _CHECK_CODES[(digits * _UPN_WEIGHTS).sum(axis=1) % 23]
        result[shaped] = chars[:, 0] == expected
    return result


UPN_FIX = (
    "copy the UPN exactly from your MIS: a check letter then 12 characters "
    "(the check letter is computed from the digits)"
)


def check_upns(frame: pd.DataFrame, report: ValidationReport, file: str) -> np.ndarray:
    """Error for every row whose UPN is empty or not a valid UPN. Returns the valid mask."""
    codes, uniques = pd.factorize(frame["upn"])
    valid = valid_upn_mask(uniques)[codes] if len(uniques) else np.zeros(0, dtype=bool)
    empty = (frame["upn"] == "").to_numpy()
    flag_rows(
        report,
        "error",
        "upn_missing",
        file,
        frame,
        empty,
        "upn_column",
        "upn",
        "the UPN is empty",
        "give the pupil's UPN on every row",
    )
    flag_rows(
        report,
        "error",
        "upn_invalid",
        file,
        frame,
        ~valid & ~empty,
        "upn_column",
        "upn",
        lambda rows: [f"not a valid UPN: {upn_problem(u)}" for u in rows["upn"]],
        UPN_FIX,
    )
    return valid


# --- dates and sessions -----------------------------------------------------------------------

DATE_FIX = "write dates as YYYY-MM-DD (2024-09-02) or DD/MM/YYYY (02/09/2024)"


_US_DATE = r"^\s*(?P<m>\d{1,2})/(?P<d>\d{1,2})/(?P<y>\d{4})"


def _unreadable_date_messages(rows: pd.DataFrame) -> list[str]:
    """ "cannot read…", with a hint where the text reads as a US month/day/year date."""
    parts = rows["date_raw"].astype("str").str.extract(_US_DATE)
    month, day = pd.to_numeric(parts["m"]), pd.to_numeric(parts["d"])
    us_style = (month.between(1, 12) & (day > 12) & (day <= 31)).to_numpy(dtype=bool)
    plain = "cannot read this as a date (or no such day)"
    return [
        (
            f"cannot read this as a date: dates must be day/month/year, and there is no month "
            f"{int(d)}; if this is a US date (month/day/year) it is {int(d):02d}/{int(m):02d}/{y}"
            if us
            else plain
        )
        for us, m, d, y in zip(us_style, month, day, parts["y"], strict=True)
    ]


def check_dates(
    frame: pd.DataFrame,
    report: ValidationReport,
    file: str,
    academic_year: str | None = None,
    unit: str = "row",
    today: dt.date | None = None,
) -> str | None:
    """Errors for unreadable dates, weekend dates, dates in the future and dates outside the
    academic year.

    With ``academic_year`` (``"2024/25"``) every date must fall in it; without, the file's
    academic year is inferred from its dates — the one most rows are in — and rows in any other
    year are errors. Dates after ``today`` (when given) are errors: registers record sessions
    that have happened. ``unit`` names what a frame row is in messages (a wide grid's dates
    are its columns). Returns the academic year of the file (``None`` if no date could be
    read).
    """
    dates = frame["date"]
    unreadable = dates.isna().to_numpy()
    empty = (frame["date_raw"] == "").to_numpy()
    flag_rows(
        report,
        "error",
        "date_missing",
        file,
        frame,
        unreadable & empty,
        "date_column",
        "date_raw",
        "the date is empty",
        DATE_FIX,
    )
    flag_rows(
        report,
        "error",
        "date_unreadable",
        file,
        frame,
        unreadable & ~empty,
        "date_column",
        "date_raw",
        _unreadable_date_messages,
        DATE_FIX,
    )
    readable = ~unreadable
    weekend = readable & (dates.dt.day_of_week >= 5).fillna(False).to_numpy(dtype=bool)
    flag_rows(
        report,
        "error",
        "weekend_date",
        file,
        frame,
        weekend,
        "date_column",
        "date_raw",
        lambda rows: [
            f"{long_date(d, weekday=True)} is a weekend: schools do not meet" for d in rows["date"]
        ],
        "check the date (UK dates are day/month/year) or remove the row",
    )
    if today is not None:
        future = readable & (dates > pd.Timestamp(today)).fillna(False).to_numpy(dtype=bool)
        flag_rows(
            report,
            "error",
            "date_in_future",
            file,
            frame,
            future,
            "date_column",
            "date_raw",
            lambda rows: [
                f"{long_date(d, weekday=True)} is in the future (today is {long_date(today)}): "
                "a register records sessions that have taken place"
                for d in rows["date"]
            ],
            "check the date (UK dates are day/month/year: 09/10/2024 is 9 October) and the "
            "year, or remove the row",
        )
    if not readable.any():
        return None
    years = pd.Series(pd.NA, index=frame.index, dtype="object")
    years[readable] = academic_years_of(dates[readable]).astype(str)
    if academic_year is not None:
        first, last = academic_year_bounds(academic_year)
        outside = readable & (years != academic_year).to_numpy()
        flag_rows(
            report,
            "error",
            "date_outside_year",
            file,
            frame,
            outside,
            "date_column",
            "date_raw",
            lambda rows: [
                f"{long_date(d)} is in academic year {y}, not {academic_year}"
                for d, y in zip(rows["date"], years[rows.index], strict=True)
            ],
            f"this upload is for {academic_year} ({long_date(first)} to {long_date(last)}): "
            "remove marks from other years or upload them separately",
        )
        return academic_year
    counts = years[readable].value_counts()
    main_year = str(counts.index[0])
    if len(counts) > 1:
        spans = ", ".join(f"{y} ({_plural(int(n), unit)})" for y, n in counts.items())
        flag_rows(
            report,
            "error",
            "mixed_academic_years",
            file,
            frame,
            readable & (years != main_year).to_numpy(),
            "date_column",
            "date_raw",
            lambda rows: [
                f"{long_date(d)} is in academic year {y}, but most of this file is {main_year} "
                f"(the file spans {spans})"
                for d, y in zip(rows["date"], years[rows.index], strict=True)
            ],
            "upload one academic year per file",
        )
    return main_year


def check_sessions(frame: pd.DataFrame, report: ValidationReport, file: str) -> None:
    """Error for every row whose session is not AM or PM."""
    flag_rows(
        report,
        "error",
        "session_invalid",
        file,
        frame,
        (frame["session"] == "").to_numpy(),
        "session_column",
        "session_raw",
        "the session must be AM or PM",
        "write AM for the morning register and PM for the afternoon one",
    )


def warn_bank_holidays(frame: pd.DataFrame, report: ValidationReport, file: str) -> None:
    """Warning per date with marks on an English bank holiday (one per date, at its first row,
    naming the holiday). ``#`` (planned whole-school closure) is the right mark for such a
    day and is not flagged."""
    marked = frame.loc[frame["date"].notna() & (frame["code"] != CLOSURE_CODE)]
    if marked.empty:
        return
    holiday = bank_holiday_names(marked["date"])
    on_holiday = marked.loc[holiday.notna()].assign(holiday=holiday[holiday.notna()])
    if on_holiday.empty:
        return
    per_date = _first_rows(
        on_holiday,
        ["date"],
        "marks",
        {"holiday": "holiday", "date_column": "date_column", "date_raw": "date_raw"},
    )
    flag_rows(
        report,
        "warning",
        "bank_holiday",
        file,
        per_date,
        np.ones(len(per_date), dtype=bool),
        "date_column",
        "date_raw",
        lambda rows: [
            f"{long_date(d, weekday=True)} is a bank holiday ({h}), but the file has "
            f"{_plural(int(n), 'mark')} that day (first at this row)"
            for d, h, n in zip(rows["date"], rows["holiday"], rows["marks"], strict=True)
        ],
        "check the date (UK dates are day/month/year); if the school met that day, nothing "
        "to do; if it was closed, record # (planned closure) or remove the marks",
    )


# --- codes ------------------------------------------------------------------------------------

_REPLACEMENT_HINTS = {
    # 2006 codes withdrawn on 19 August 2024 (or earlier, for F).
    "H": "the 2024 set has no H: leave for a holiday is C if granted in exceptional "
    "circumstances, otherwise G",
    "F": "F was withdrawn in 2013: use C if the leave was granted, otherwise G",
    "J": "the 2024 set records interviews as J1",
    "Y": "the 2024 set splits Y into Y1–Y7: use the one that fits",
    # 2024 codes that did not exist before 19 August 2024: the nearest 2006 code.
    "C1": "the 2006 set has no C1: the nearest code is C",
    "C2": "the 2006 set has no C2: the nearest code is C",
    "J1": "before 19 August 2024 interviews were recorded as J",
    "K": "the 2006 set has no K: the nearest code is B",
    "Q": "the 2006 set has no Q: the nearest code is Y",
}
for _y in ("Y1", "Y2", "Y3", "Y4", "Y5", "Y6", "Y7"):
    _REPLACEMENT_HINTS[_y] = f"the 2006 set has no {_y}: use Y"

UNKNOWN_CODE_FIX = (
    "use a statutory register code (e.g. / \\ L I M O G); if this is your MIS's own display "
    "code, tell us which statutory code it stands for"
)


def code_problem(code: str, raw: str, day: dt.date | None) -> str:
    """Why the mark ``raw`` (statutory code ``code``) cannot be recorded on ``day``."""
    shown = f'"{raw}"' if raw == code else f'"{raw}" (read as "{code}")'
    entry = CODE_TABLE.get(code)
    if entry is None:
        return f"{shown} is not a register code"
    if day is None:
        return f"{shown} cannot be checked: the date is unreadable"
    applies = f"on {long_date(day)} the {code_set_on(day)} code set applies"
    if entry.valid_from is not None and day < entry.valid_from:
        return (
            f"{shown} ({entry.meaning}) is a {entry.code_set} code, in force from "
            f"{long_date(entry.valid_from)}; {applies}"
        )
    if entry.valid_to is not None and day > entry.valid_to:
        return (
            f"{shown} ({entry.meaning}) was withdrawn after {long_date(entry.valid_to)}; {applies}"
        )
    return f"{shown} is valid on {long_date(day)}"  # pragma: no cover - only called on invalid


def check_codes(frame: pd.DataFrame, report: ValidationReport, file: str) -> np.ndarray:
    """Errors for unknown codes and codes not valid on their date. Returns the category ids
    (:func:`features.codes.categories`) of every row."""
    cat_ids = categories(frame["code"], frame["date"])
    invalid = cat_ids == INVALID_CATEGORY_ID
    unknown = invalid & ~frame["code"].isin(list(CODE_TABLE)).to_numpy()
    # A known code on an unreadable date is left to the date error.
    wrong_date = invalid & ~unknown & frame["date"].notna().to_numpy()
    flag_rows(
        report,
        "error",
        "unknown_code",
        file,
        frame,
        unknown,
        "mark_column",
        "mark_raw",
        lambda rows: [
            code_problem(c, r, None) for c, r in zip(rows["code"], rows["mark_raw"], strict=True)
        ],
        UNKNOWN_CODE_FIX,
    )
    generic_fix = (
        "record the code from the code set in force on that date (the 2024 set from "
        f"{long_date(CODE_SET_2024_FROM)}, the 2006 set before)"
    )
    flag_rows(
        report,
        "error",
        "code_not_valid_on_date",
        file,
        frame,
        wrong_date,
        "mark_column",
        "mark_raw",
        lambda rows: [
            code_problem(c, r, d.date())
            for c, r, d in zip(rows["code"], rows["mark_raw"], rows["date"], strict=True)
        ],
        lambda rows: [
            f"{generic_fix}: {_REPLACEMENT_HINTS[c]}" if c in _REPLACEMENT_HINTS else generic_fix
            for c in rows["code"]
        ],
    )
    return cat_ids


def check_minutes_late(frame: pd.DataFrame, report: ValidationReport, file: str) -> None:
    """Errors for unreadable or negative minutes late; warnings for minutes given with a mark
    other than L/U, and for L more than 30 minutes late (the register had closed: ``U``)."""
    raw = frame["minutes_late_raw"]
    minutes = frame["minutes_late"]
    given = (raw != "").to_numpy()
    # inf, -inf and 1e308 parse as numbers, but no pupil is that late: refused like "nan".
    implausible = ~np.isfinite(minutes.to_numpy(dtype=float)) | (minutes > MAX_MINUTES_LATE)
    unreadable = given & np.asarray(implausible, dtype=bool)
    flag_rows(
        report,
        "error",
        "minutes_late_invalid",
        file,
        frame,
        unreadable,
        "minutes_late_column",
        "minutes_late_raw",
        f"minutes late must be a number from 0 to {MAX_MINUTES_LATE}",
        "write the number of minutes (e.g. 12), or leave the cell empty",
    )
    negative = (minutes < 0).to_numpy() & ~unreadable
    flag_rows(
        report,
        "error",
        "minutes_late_invalid",
        file,
        frame,
        negative,
        "minutes_late_column",
        "minutes_late_raw",
        "minutes late cannot be negative",
        "write the number of minutes late (0 or more)",
    )
    late_code = frame["code"].isin([LATE_BEFORE_CLOSE_CODE, LATE_AFTER_CLOSE_CODE]).to_numpy()
    flag_rows(
        report,
        "warning",
        "minutes_late_not_late",
        file,
        frame,
        (minutes > 0).to_numpy() & ~late_code,
        "minutes_late_column",
        "minutes_late_raw",
        lambda rows: [
            f'minutes late given for mark "{c}", which is not a late mark (L or U)'
            for c in rows["code"]
        ],
        "check the mark: a pupil who arrived late is L (before the register closed) or U",
    )
    flag_rows(
        report,
        "warning",
        "late_after_close",
        file,
        frame,
        (minutes > REGISTER_OPEN_MINUTES).to_numpy() & (frame["code"] == "L").to_numpy(),
        "minutes_late_column",
        "minutes_late_raw",
        f"L means the pupil arrived before the register closed, but the register closes "
        f"after at most {REGISTER_OPEN_MINUTES} minutes",
        "check the minutes, or record U (arrived after the register closed)",
    )


# --- duplicates, roster, data-quality warnings ------------------------------------------------


def check_duplicates(frame: pd.DataFrame, report: ValidationReport, file: str) -> np.ndarray:
    """The same pupil-session twice: an error when the marks differ, a warning (kept once)
    when they agree. Only rows with a valid UPN, date and session take part. Returns the mask
    of rows to keep (repeats of an identical mark dropped)."""
    keep = np.ones(len(frame), dtype=bool)
    usable = (frame["upn"] != "") & frame["date"].notna() & (frame["session"] != "")
    key = ["upn", "date", "session"]
    repeated = usable & frame.duplicated(subset=key, keep=False)
    if not repeated.any():
        return keep
    # File order (row, then column in a wide grid) decides which occurrence comes first.
    dups = frame.loc[repeated, [*key, "row", "code"]].assign(
        position=np.flatnonzero(repeated.to_numpy()),
        where=frame.loc[repeated, "mark_column"].astype("str"),
    )
    dups = dups.sort_values([*key, "position"])
    grouped = dups.groupby(key, sort=False)
    first_position = grouped["position"].transform("first")
    first_code = grouped["code"].transform("first")
    first_place = grouped["row"].transform("first").astype("str")
    if (dups["row"].groupby([dups[k] for k in key]).transform("nunique") == 1).any():
        # Repeats within one row (a wide grid's repeated column): name the column too.
        first_place = first_place + ', column "' + grouped["where"].transform("first") + '"'
    later = dups["position"] != first_position
    same = later & (dups["code"] == first_code)
    conflict = later & (dups["code"] != first_code)
    keep[dups.loc[same, "position"].to_numpy()] = False
    first_place_all = first_place.reindex(frame.index)
    first_code_all = first_code.reindex(frame.index)

    def described(rows: pd.DataFrame, verb: str) -> list[str]:
        return [
            f'{u} {d:%Y-%m-%d} {s} {verb} at row {first_place_all[i]} (mark "{first_code_all[i]}")'
            for i, u, d, s in zip(
                rows.index, rows["upn"], rows["date"], rows["session"], strict=True
            )
        ]

    same_mask = frame.index.isin(dups.index[same])
    conflict_mask = frame.index.isin(dups.index[conflict])
    flag_rows(
        report,
        "error",
        "conflicting_marks",
        file,
        frame,
        conflict_mask,
        "mark_column",
        "mark_raw",
        lambda rows: described(rows, "already has a different mark"),
        "keep one mark per pupil per session: delete the wrong row",
    )
    flag_rows(
        report,
        "warning",
        "duplicate_mark",
        file,
        frame,
        same_mask,
        "mark_column",
        "mark_raw",
        lambda rows: described(rows, "repeats the same mark"),
        "nothing to do (the mark is kept once); remove repeated rows from future exports",
    )
    return keep


def _member(values: pd.Series, pool: pd.Series) -> np.ndarray:
    """Vectorised ``values.isin(pool)`` through a hash index (arrow-backed ``isin`` walks its
    argument in Python)."""
    return pd.Index(pd.unique(pool.astype("str"))).get_indexer(values.astype("str")) >= 0


def check_roster_membership(
    frame: pd.DataFrame,
    roster: pd.DataFrame,
    report: ValidationReport,
    file: str,
    roster_file: str,
    valid_upn: np.ndarray,
) -> None:
    """Error for each pupil with marks who is missing from the roster (one issue per pupil,
    at the pupil's first row); warning for each pupil on roll during the file's dates who has
    no marks. The roster's index, when named ``row``, gives roster rows for the warnings."""
    on_roster = _member(frame["upn"], roster["upn"])
    missing = frame.loc[valid_upn & ~on_roster]
    if len(missing):
        per_pupil = _first_rows(missing, ["upn"], "marks", {"upn_column": "upn_column"})
        flag_rows(
            report,
            "error",
            "pupil_not_on_roster",
            file,
            per_pupil,
            np.ones(len(per_pupil), dtype=bool),
            "upn_column",
            "upn",
            lambda rows: [
                f"this pupil is not on the roster ({_plural(int(n), 'mark')} in this "
                f"file, first at this row)"
                for n in rows["marks"]
            ],
            "add the pupil to the roster, or check the UPN for a typing mistake",
        )
    dates = frame["date"].dropna()
    if dates.empty:
        return
    first, last = dates.min(), dates.max()
    # Rosters from the service's store hold dates as objects: compare as datetimes. A roster
    # without entry or leaving dates counts everyone as on roll.
    no_date = pd.Series(pd.NaT, index=roster.index, dtype="datetime64[us]")
    entry = pd.to_datetime(roster.get("entry_date", no_date), errors="coerce")
    leaving = pd.to_datetime(roster.get("leaving_date", no_date), errors="coerce")
    on_roll = (entry.isna() | (entry <= last)) & (leaving.isna() | (leaving >= first))
    unmarked = roster.loc[on_roll.to_numpy() & ~_member(roster["upn"], frame["upn"])]
    if len(unmarked):
        rows = unmarked.index if unmarked.index.name == "row" else [None] * len(unmarked)
        listing = pd.DataFrame(
            {"row": rows, "upn": unmarked["upn"].to_numpy(), "column": "upn"}
        ).head(report.room("warning", "pupil_without_marks"))
        report.add_counted(
            "warning",
            "pupil_without_marks",
            (
                Issue(
                    roster_file,
                    None if pd.isna(r) else int(r),
                    "upn",
                    u,
                    f"this pupil is on roll between {first:%Y-%m-%d} and {last:%Y-%m-%d} "
                    "but has no marks in the register",
                    "check the pupil's UPN in both files, or the entry and leaving dates",
                    "pupil_without_marks",
                )
                for r, u in zip(listing["row"], listing["upn"], strict=True)
            ),
            len(unmarked),
        )


def _first_rows(
    rows: pd.DataFrame, by: list[str], count: str, first: dict[str, str]
) -> pd.DataFrame:
    """``rows`` grouped by ``by``, in file order: each group's first row number, its size (as
    ``count``) and the first value of each column ``first`` maps (to the name it maps to) —
    one issue per group, reported at the group's first row."""
    grouped = rows.groupby(by, sort=False).agg(
        row=("row", "first"),
        **{count: ("row", "size")},
        **{name: (column, "first") for column, name in first.items()},
    )
    return grouped.reset_index().sort_values("row")


def _per_pupil_week(rows: pd.DataFrame) -> pd.DataFrame:
    """Marks grouped per pupil and week (Monday): first row, UPN column, first date and
    session, number of sessions; in file order."""
    weeks = rows.assign(week=week_start(rows["date"]))
    first = {"upn_column": "upn_column", "date": "first_date", "session": "first_session"}
    return _first_rows(weeks, ["upn", "week"], "sessions", first)


def warn_unresolved(frame: pd.DataFrame, report: ValidationReport, file: str) -> None:
    """Warning per pupil-week with ``N`` marks (reason for absence not yet established); the
    value is the pupil's UPN."""
    unresolved = frame.loc[(frame["code"] == UNRESOLVED_CODE) & frame["date"].notna()]
    if unresolved.empty:
        return
    per_week = _per_pupil_week(unresolved)
    flag_rows(
        report,
        "warning",
        "unresolved_n",
        file,
        per_week,
        np.ones(len(per_week), dtype=bool),
        "upn_column",
        "upn",
        lambda rows: [
            f"{_plural(int(n), 'session')} in the week of {long_date(w)} still marked N "
            f"(reason for absence not yet established; first {long_date(d, weekday=True)} "
            f"{s}, at this row)"
            for n, w, d, s in zip(
                rows["sessions"],
                rows["week"],
                rows["first_date"],
                rows["first_session"],
                strict=True,
            )
        ],
        "find out why the pupil was absent and replace N with the right code",
    )


def warn_no_mark(frame: pd.DataFrame, report: ValidationReport, file: str) -> None:
    """Warning per pupil-week holding ``-`` (no mark recorded); the value is the pupil's
    UPN."""
    missing = frame.loc[(frame["code"] == NO_MARK_CODE) & frame["date"].notna()]
    if missing.empty:
        return
    per_week = _per_pupil_week(missing)
    flag_rows(
        report,
        "warning",
        "no_mark",
        file,
        per_week,
        np.ones(len(per_week), dtype=bool),
        "upn_column",
        "upn",
        lambda rows: [
            f'{_plural(int(n), "session")} in the week of {long_date(w)} have "-" (no mark '
            f"recorded; first {long_date(d, weekday=True)} {s}, at this row): these sessions "
            "are not counted"
            for n, w, d, s in zip(
                rows["sessions"],
                rows["week"],
                rows["first_date"],
                rows["first_session"],
                strict=True,
            )
        ],
        "complete the register in your MIS and upload the week again",
    )


def _off_roll_messages(rows: pd.DataFrame, what: str) -> list[str]:
    return [
        f"{u} has {_plural(int(n), 'mark')} dated {what} on the roster "
        f"({long_date(pd.Timestamp(d))}; first at this row)"
        for u, n, d in zip(rows["upn"], rows["marks"], rows["limit"], strict=True)
    ]


def warn_off_roll(
    frame: pd.DataFrame, roster: pd.DataFrame, report: ValidationReport, file: str
) -> None:
    """Warning per pupil with marks dated before their roster entry date, and per pupil with
    marks after their leaving date (one issue each, at the first such row). ``Z`` (prospective
    pupil, not yet on roll) is the right mark before entry and is not flagged."""
    no_date = pd.Series(pd.NaT, index=roster.index, dtype="datetime64[us]")
    dates = pd.DataFrame(
        {
            "upn": roster["upn"].astype(str).to_numpy(),
            "entry": pd.to_datetime(roster.get("entry_date", no_date), errors="coerce").to_numpy(),
            "leaving": pd.to_datetime(
                roster.get("leaving_date", no_date), errors="coerce"
            ).to_numpy(),
        }
    ).drop_duplicates("upn", keep="last")
    index = pd.Index(dates["upn"])
    position = index.get_indexer(frame["upn"].astype(str))
    on_roster = (position >= 0) & frame["date"].notna().to_numpy()
    entry = dates["entry"].to_numpy()[np.maximum(position, 0)]
    leaving = dates["leaving"].to_numpy()[np.maximum(position, 0)]
    day = frame["date"].to_numpy()
    counted = on_roster & (frame["code"] != PROSPECTIVE_CODE).to_numpy()
    for kind, mask, limit, what, fix in (
        (
            "mark_before_entry",
            counted & (day < entry),
            entry,
            "before the entry date",
            "mark Z (prospective pupil, not on roll) for the sessions before the pupil "
            "joined, or correct the entry date on the roster",
        ),
        (
            "mark_after_leaving",
            counted & (day > leaving),
            leaving,
            "after the leaving date",
            "remove the marks after the pupil left (or mark them Z), or correct the leaving "
            "date on the roster",
        ),
    ):
        if not mask.any():
            continue
        flagged = frame.loc[mask, ["row", "upn", "date", "date_raw", "date_column"]].assign(
            limit=limit[mask]
        )
        per_pupil = _first_rows(
            flagged,
            ["upn"],
            "marks",
            {"date_raw": "date_raw", "date_column": "date_column", "limit": "limit"},
        )
        flag_rows(
            report,
            "warning",
            kind,
            file,
            per_pupil,
            np.ones(len(per_pupil), dtype=bool),
            "date_column",
            "date_raw",
            functools.partial(_off_roll_messages, what=what),
            fix,
        )


# --- display codes ----------------------------------------------------------------------------

STATUTORY_CODES = frozenset(code for code in CODE_TABLE if code != NO_MARK_CODE)
"""Codes a display code may stand for (``-``, "no mark", is an MIS placeholder)."""


def check_display_codes(frame: pd.DataFrame, report: ValidationReport, file: str) -> None:
    """Errors and warnings for a display-code mapping (see
    :func:`features.registers.read_display_codes`). ``frame`` has ``row, display_code,
    statutory_code, display_column, statutory_column``."""
    display, target = frame["display_code"], frame["statutory_code"]
    for name, column in (
        ("display_code", "display_column"),
        ("statutory_code", "statutory_column"),
    ):
        flag_rows(
            report,
            "error",
            "value_missing",
            file,
            frame,
            (frame[name] == "").to_numpy(),
            column,
            name,
            f"the {name.replace('_', ' ')} is empty",
            "give the code your MIS shows and the statutory code it stands for, e.g. 9,Y",
        )
    known = target.isin(list(STATUTORY_CODES)).to_numpy()
    flag_rows(
        report,
        "error",
        "unknown_code",
        file,
        frame,
        ~known & (target != "").to_numpy(),
        "statutory_column",
        "statutory_code",
        lambda rows: [f'"{t}" is not a statutory register code' for t in rows["statutory_code"]],
        "write the statutory code (DfE code table, e.g. / \\ L I M O G Y1) this display code "
        "stands for",
    )
    given = (display != "").to_numpy()
    first_row = frame.groupby("display_code", sort=False)["row"].transform("first")
    first_target = frame.groupby("display_code", sort=False)["statutory_code"].transform("first")
    later = given & frame.duplicated("display_code", keep="first").to_numpy()
    conflict = later & (target != first_target).to_numpy()
    flag_rows(
        report,
        "error",
        "display_code_mapped_twice",
        file,
        frame,
        conflict,
        "display_column",
        "display_code",
        lambda rows: [
            f'"{d}" is already mapped to "{first_target[i]}" at row {first_row[i]}; '
            f'here it is mapped to "{t}"'
            for i, d, t in zip(
                rows.index, rows["display_code"], rows["statutory_code"], strict=True
            )
        ],
        "keep one row per display code, with the statutory code it stands for",
    )
    flag_rows(
        report,
        "warning",
        "duplicate_display_code",
        file,
        frame,
        later & ~conflict,
        "display_column",
        "display_code",
        lambda rows: [f"this row repeats row {first_row[i]}" for i in rows.index],
        "nothing to do (the mapping is kept once); remove the repeated row",
    )
    shadows = display.isin(list(STATUTORY_CODES)) & (display != target) & given
    flag_rows(
        report,
        "warning",
        "display_code_is_statutory",
        file,
        frame,
        shadows.to_numpy(),
        "display_column",
        "display_code",
        lambda rows: [
            f'"{d}" is also the statutory code for {CODE_TABLE[d].meaning.lower()}: every '
            f'"{d}" in your registers will be read as "{t}"'
            for d, t in zip(rows["display_code"], rows["statutory_code"], strict=True)
        ],
        "check this is what your MIS shows; if not, remove the row",
    )


# --- roster -----------------------------------------------------------------------------------

ROSTER_FIXES = {
    "upn": UPN_FIX,
    "sex": "write M or F (the census codes)",
    "year_group": "write the national curriculum year 1–13, or R for reception",
    "fsm": "write 1 (eligible for free school meals) or 0; Y/N and true/false also work",
    "eal": "write 1 (first language other than English) or 0; Y/N and true/false also work",
    "sen": "write the census SEN provision code: N (none), K (SEN support) or E (EHC plan)",
    "date_of_birth": DATE_FIX,
    "entry_date": DATE_FIX,
    "leaving_date": DATE_FIX + ", or leave it empty if the pupil has not left",
}

ROSTER_MESSAGES = {
    "sex": "sex must be M or F",
    "year_group": "year group must be 1–13, or R (reception)",
    "fsm": "free school meals must be 1 or 0 (or Y/N, true/false)",
    "eal": "EAL must be 1 or 0 (or Y/N, true/false)",
    "sen": "SEN provision must be N, K or E",
    "date_of_birth": "cannot read the date of birth",
    "entry_date": "cannot read the entry date",
    "leaving_date": "cannot read the leaving date",
}


def _too_long_messages(rows: pd.DataFrame, name: str, limit: int) -> list[str]:
    return [
        f"the {name} has {len(v)} characters; at most {limit} can be stored" for v in rows[name]
    ]


def check_roster(
    parsed: pd.DataFrame,
    raw: pd.DataFrame,
    columns: dict[str, str],
    report: ValidationReport,
    file: str,
    optional: Iterable[str] = ("leaving_date", "ethnicity"),
) -> None:
    """Errors for a roster: invalid or duplicate UPNs, unreadable values, values longer than
    the service stores (:data:`features.limits.ROSTER_FIELD_LIMITS`), leaving before entry.

        ``parsed`` holds the roster columns parsed (NaN/NaT/None where unreadable), ``raw`` the
        same columns as text, both indexed by spreadsheet row; ``columns`` maps each field to its
        header in the file. Empty values are errors except in ``optional`` fields (and the names,
        which only warn).
    """
    optional = set(optional)
    frame = raw.copy()
    frame["row"] = frame.index
    for name, header in columns.items():
        frame[f"{name}_column"] = header
    upn = parsed["upn"]
    empty_upn = (raw["upn"] == "").to_numpy()
    flag_rows(
        report,
        "error",
        "upn_missing",
        file,
        frame,
        empty_upn,
        "upn_column",
        "upn",
        "the UPN is empty",
        UPN_FIX,
    )
    valid = valid_upn_mask(upn)
    flag_rows(
        report,
        "error",
        "upn_invalid",
        file,
        frame,
        ~valid & ~empty_upn,
        "upn_column",
        "upn",
        lambda rows: [f"not a valid UPN: {upn_problem(u)}" for u in rows["upn"]],
        UPN_FIX,
    )
    repeated = (upn.duplicated(keep="first") & ~pd.Series(empty_upn, index=upn.index)).to_numpy()
    first_row = pd.Series(upn.index, index=upn.index).groupby(upn.to_numpy()).transform("first")
    flag_rows(
        report,
        "error",
        "duplicate_pupil",
        file,
        frame,
        repeated,
        "upn_column",
        "upn",
        lambda rows: [
            f"this UPN is already on the roster at row {first_row[i]}" for i in rows.index
        ],
        "keep one row per pupil",
    )
    for name, limit in ROSTER_FIELD_LIMITS.items():
        if name not in columns or name == "upn":  # the UPN rules check its length already
            continue
        lengths = raw[name].str.len().to_numpy()
        flag_rows(
            report,
            "error",
            "value_too_long",
            file,
            frame,
            lengths > limit,
            f"{name}_column",
            name,
            functools.partial(_too_long_messages, name=name, limit=limit),
            f"shorten the {name} to {limit} characters or fewer",
        )
    for name in ("forename", "surname"):
        if name in columns:
            flag_rows(
                report,
                "warning",
                "name_missing",
                file,
                frame,
                (raw[name] == "").to_numpy(),
                f"{name}_column",
                name,
                f"the {name} is empty",
                "add the pupil's name so staff can recognise them",
            )
    for name, message in ROSTER_MESSAGES.items():
        if name not in columns:
            continue
        blank = (raw[name] == "").to_numpy()
        unreadable = parsed[name].isna().to_numpy() & ~blank
        kind = "date_unreadable" if name.endswith(("date", "birth")) else "value_invalid"
        flag_rows(
            report,
            "error",
            kind,
            file,
            frame,
            unreadable,
            f"{name}_column",
            name,
            message,
            ROSTER_FIXES[name],
        )
        if name not in optional:
            flag_rows(
                report,
                "error",
                "value_missing",
                file,
                frame,
                blank,
                f"{name}_column",
                name,
                f"{columns[name]} is empty",
                ROSTER_FIXES[name],
            )
    if "date_of_birth" in columns:
        _check_birth_dates(parsed, frame, columns, report, file)
    if "leaving_date" in columns:
        before = (parsed["leaving_date"] < parsed["entry_date"]).fillna(False).to_numpy(bool)
        flag_rows(
            report,
            "error",
            "leaving_before_entry",
            file,
            frame,
            before,
            "leaving_date_column",
            "leaving_date",
            lambda rows: [
                f"the leaving date is before the entry date ({e:%Y-%m-%d})"
                for e in parsed.loc[rows.index, "entry_date"]
            ],
            "check both dates",
        )


def _age(born: pd.Series, on: pd.Series | pd.Timestamp) -> pd.Series:
    """Whole years from ``born`` to ``on`` (NaN where either is missing)."""
    on = pd.Series(on, index=born.index) if isinstance(on, pd.Timestamp) else on
    years = on.dt.year - born.dt.year
    before_birthday = (on.dt.month * 100 + on.dt.day) < (born.dt.month * 100 + born.dt.day)
    return years - before_birthday.astype(float)


YOUNGEST_FOR_YEAR = 2
"""A pupil of year group Y is Y + 4 on the 31 August their year starts: younger than Y + 2 now
is impossible, whichever year the roster is for (a year ahead of their cohort, on next year's
roster sent in July, is Y + 2)."""
OLDEST_AT_ENTRY = 7
"""When a pupil joins a school their year group is at most the one on the roster, so they are
at most Y + 5 by the end of that year: older than Y + 7 on the entry date (two years held
back) is impossible."""


def _check_birth_dates(
    parsed: pd.DataFrame,
    frame: pd.DataFrame,
    columns: dict[str, str],
    report: ValidationReport,
    file: str,
) -> None:
    """Errors for dates of birth no pupil of the row's year group can have: in the future,
    too young for the year group today, or too old for it when they joined the school. The
    checks need no academic year (a roster may be last year's) and never pass with time."""
    born = parsed["date_of_birth"]
    today = pd.Timestamp(dt.date.today())
    future = (born > today).fillna(False).to_numpy(bool)
    impossible = "date_of_birth_impossible"
    fix = "check the date of birth (day, month and year) and the year group"
    flag_rows(
        report, "error", impossible, file, frame, future, "date_of_birth_column",
        "date_of_birth", "the date of birth is in the future", fix,
    )  # fmt: skip
    if "year_group" not in columns:
        return
    year = parsed["year_group"]
    age_now = _age(born, today)
    too_young = (age_now < year + YOUNGEST_FOR_YEAR).fillna(False).to_numpy(bool) & ~future
    flag_rows(
        report, "error", impossible, file, frame, too_young, "date_of_birth_column",
        "date_of_birth",
        lambda rows: [
            f"a pupil born on {b} is {int(a)} now: too young for year group {int(y)}"
            for b, a, y in zip(rows["date_of_birth"], age_now[rows.index], year[rows.index],
                               strict=True)
        ],
        fix,
    )  # fmt: skip
    if "entry_date" not in columns:
        return
    age_at_entry = _age(born, parsed["entry_date"])
    too_old = (age_at_entry > year + OLDEST_AT_ENTRY).fillna(False).to_numpy(bool) & ~future
    flag_rows(
        report, "error", impossible, file, frame, too_old & ~too_young, "date_of_birth_column",
        "date_of_birth",
        lambda rows: [
            f"a pupil born on {b} was {int(a)} when they joined the school: too old for year "
            f"group {int(y)}"
            for b, a, y in zip(rows["date_of_birth"], age_at_entry[rows.index],
                               year[rows.index], strict=True)
        ],
        fix,
    )  # fmt: skip
