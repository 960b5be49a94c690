"""``ews summarise`` (and the ``ews features`` placeholder).

Heavy libraries are imported inside the commands so that ``ews --help`` stays fast.
"""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

if TYPE_CHECKING:
    import pandas as pd

    from features.validation import ValidationReport

SHORT_PERIOD_DAYS = 20
"""Below this many days with marks, the table warns that persistent-absence figures swing."""

PUPIL_FIELDS = [
    "upn",
    "possible_sessions",
    "attendance_sessions",
    "authorised_absence",
    "unauthorised_absence",
    "absence_rate",
    "persistent_absence",
    "severe_absence",
]


class OutputFormat(StrEnum):
    """How ``ews summarise`` prints its figures."""

    table = "table"
    json = "json"


def attendance_summary(marks: pd.DataFrame) -> dict[str, Any]:
    """The school's and each pupil's figures in DfE arithmetic, JSON-ready.

    ``marks`` are canonical marks of one school (:mod:`features.registers`). Returns
    ``{"school": {...}, "pupils": [...]}``; pupils are sorted by UPN and carry
    :data:`PUPIL_FIELDS` (``absence_rate`` is ``None`` for a pupil with no possible sessions,
    who is then neither persistently nor severely absent and is left out of the school rates).
    School rates are ratios of sums over enrolments (DfE method), not averages of pupil rates.
    """
    import numpy as np

    from features.arithmetic import area_totals, enrolment_totals
    from features.calendar import academic_year_of

    pupils = enrolment_totals(marks).sort_values("upn", kind="stable")
    counted = pupils[pupils["possible_sessions"] > 0]
    school = area_totals(pupils).iloc[0]
    dates = marks["date"]
    first = dates.min().date() if len(dates) else None
    last = dates.max().date() if len(dates) else None
    urns = marks["school_urn"].unique()

    def rate(value: Any) -> float | None:
        value = float(value)
        return None if np.isnan(value) else value

    school_figures = {
        # 0 is the readers' "school not named" (UNKNOWN_SCHOOL_URN): no real URN is 0.
        "school_urn": int(urns[0]) if len(urns) == 1 and urns[0] != 0 else None,
        "academic_year": academic_year_of(first) if first else None,
        "first_date": first.isoformat() if first else None,
        "last_date": last.isoformat() if last else None,
        "days_with_marks": int(dates.dt.normalize().nunique()),
        "pupils": len(pupils),
        "enrolments": len(counted),
        "possible_sessions": int(school["possible_sessions"]),
        "attendance_sessions": int(school["attendance_sessions"]),
        "authorised_absence": int(school["authorised_absence"]),
        "unauthorised_absence": int(school["unauthorised_absence"]),
        "overall_absence": int(school["overall_absence"]),
        "absence_rate": rate(school["absence_rate"]),
        "persistent_absence_enrolments": int(counted["persistent_absence"].sum()),
        "persistent_absence_rate": rate(school["persistent_absence_rate"]),
        "severe_absence_enrolments": int(counted["severe_absence"].sum()),
        "severe_absence_rate": rate(school["severe_absence_rate"]),
    }
    pupil_rows = [
        {
            "upn": str(row.upn),
            "possible_sessions": int(row.possible_sessions),
            "attendance_sessions": int(row.attendance_sessions),
            "authorised_absence": int(row.authorised_absence),
            "unauthorised_absence": int(row.unauthorised_absence),
            "absence_rate": rate(row.absence_rate),
            "persistent_absence": bool(row.persistent_absence),
            "severe_absence": bool(row.severe_absence),
        }
        for row in pupils.itertuples(index=False)
    ]
    return {"school": school_figures, "pupils": pupil_rows}


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f}%"


def format_summary_table(summary: dict[str, Any]) -> str:
    """:func:`attendance_summary` as a fixed-width table: school figures, then one line per
    pupil, highest absence rate first (pupils without possible sessions last)."""
    school = summary["school"]
    urn = school["school_urn"] if school["school_urn"] else "not given"
    lines = [
        f"School URN {urn} · academic year {school['academic_year']} · "
        f"{school['first_date']} to {school['last_date']} "
        f"({school['days_with_marks']} days with marks)",
        "",
        f"{'Pupils with marks':<22}{school['pupils']:>8}",
        f"{'Possible sessions':<22}{school['possible_sessions']:>8}",
        f"{'Attendance':<22}{school['attendance_sessions']:>8}",
        f"{'Authorised absence':<22}{school['authorised_absence']:>8}",
        f"{'Unauthorised absence':<22}{school['unauthorised_absence']:>8}",
        f"{'Absence rate':<22}{_percent(school['absence_rate']):>8}",
        f"{'Persistent absence':<22}{_percent(school['persistent_absence_rate']):>8}"
        f"  ({school['persistent_absence_enrolments']} of {school['enrolments']} pupils "
        "missing ≥ 10% of their possible sessions)",
        f"{'Severe absence':<22}{_percent(school['severe_absence_rate']):>8}"
        f"  ({school['severe_absence_enrolments']} of {school['enrolments']} pupils "
        "missing ≥ 50%)",
    ]
    if school["days_with_marks"] < SHORT_PERIOD_DAYS:
        lines.append(
            f"Note: only {school['days_with_marks']} days with marks — over a short period one "
            "missed day can make a pupil persistently absent."
        )
    header = (
        f"{'UPN':<14}{'Possible':>9}{'Attended':>10}{'Authorised':>12}{'Unauthorised':>14}"
        f"{'Absence':>9}{'PA':>5}{'Severe':>8}"
    )
    lines += ["", header, "-" * len(header)]

    def order(pupil: dict[str, Any]) -> tuple[float, str]:
        rate = pupil["absence_rate"]
        return (1.0 if rate is None else -rate, pupil["upn"])

    for pupil in sorted(summary["pupils"], key=order):
        lines.append(
            f"{pupil['upn']:<14}{pupil['possible_sessions']:>9}{pupil['attendance_sessions']:>10}"
            f"{pupil['authorised_absence']:>12}{pupil['unauthorised_absence']:>14}"
            f"{_percent(pupil['absence_rate']):>9}"
            f"{'yes' if pupil['persistent_absence'] else 'no':>5}"
            f"{'yes' if pupil['severe_absence'] else 'no':>8}"
        )
    return "\n".join(lines)


def _fail(report: ValidationReport, output: OutputFormat) -> NoReturn:
    """Print a failed validation report (stderr, or JSON on stdout) and exit with code 1."""
    if output is OutputFormat.json:
        typer.echo(json.dumps({"validation": report.to_dict()}, indent=2, ensure_ascii=False))
    else:
        typer.echo(report.format_text(), err=True)
    raise typer.Exit(code=1)


def summarise(
    register: Annotated[
        Path,
        typer.Argument(
            help="Register CSV, long (upn,date,session,mark) or wide (one column per session).",
            exists=True,
            dir_okay=False,
        ),
    ],
    roster: Annotated[
        Path | None,
        typer.Option(
            "--roster",
            help="Roster CSV: every pupil with marks must be on it.",
            dir_okay=False,
            exists=True,
        ),
    ] = None,
    output: Annotated[
        OutputFormat, typer.Option("--format", help="table (for people) or json.")
    ] = OutputFormat.table,
    school_urn: Annotated[
        int | None,
        typer.Option(
            "--school-urn",
            help="The school's URN; checked against a URN column in the file if there is one.",
        ),
    ] = None,
    academic_year: Annotated[
        str | None,
        typer.Option("--academic-year", help="e.g. 2024/25: every date must fall in it."),
    ] = None,
    display_codes: Annotated[
        Path | None,
        typer.Option(
            "--display-codes",
            help="CSV display_code,statutory_code: the school's own MIS codes (e.g. 9,Y).",
            dir_okay=False,
            exists=True,
        ),
    ] = None,
) -> None:
    """Print a school's attendance figures, and each pupil's, in DfE arithmetic.

    A file with errors (or a --display-codes file with errors) is not summarised: its report
    goes to stderr (as JSON on stdout with --format json) and the exit code is 1.
    Warnings, and how many marks the display codes mapped, follow the table on stderr.
    """
    from features.registers import read_display_codes, read_register, read_upload

    mapping: dict[str, str] | None = None
    if display_codes is not None:
        mapping, mapping_report = read_display_codes(display_codes)
        if not mapping_report.ok:
            _fail(mapping_report, output)
    if roster is not None:
        marks, _, report = read_upload(
            register, roster, school_urn, academic_year=academic_year, display_codes=mapping
        )
    else:
        marks, report = read_register(
            register, school_urn, academic_year=academic_year, display_codes=mapping
        )
    if display_codes is not None:
        report.merge(mapping_report)
    if not report.ok:
        _fail(report, output)
    summary = attendance_summary(marks)
    if output is OutputFormat.json:
        summary["validation"] = report.to_dict()
        typer.echo(json.dumps(summary, indent=2, ensure_ascii=False))
        return
    typer.echo(format_summary_table(summary))
    if report.n_warnings or any(s.get("display_codes_mapped") for s in report.summary.values()):
        typer.echo("", err=True)
        typer.echo(report.format_text(), err=True)


def features(data: Path, out: Path, as_of: str | None = None, every: int = 1) -> None:
    """Build snapshot features from marks in DATA and write them to OUT (not written yet)."""
    raise NotImplementedError("ews features is being written by the lead")
