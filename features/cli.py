"""``ews summarise``: a school's register in DfE arithmetic, or its validation report.

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
    "cohort",
    "in_dfe_cohort",
]
FIGURE_FIELDS = [
    "pupils",
    "enrolments",
    "possible_sessions",
    "attendance_sessions",
    "authorised_absence",
    "unauthorised_absence",
    "overall_absence",
    "absence_rate",
    "persistent_absence_enrolments",
    "persistent_absence_rate",
    "severe_absence_enrolments",
    "severe_absence_rate",
]
"""The figures of a group of pupils (the school's DfE cohort, Reception, sixth form)."""

COHORT_LABELS = {"dfe": "DfE", "reception": "Reception", "sixth_form": "Sixth form"}


class OutputFormat(StrEnum):
    """How ``ews summarise`` prints its figures."""

    table = "table"
    json = "json"


def _rate(value: Any) -> float | None:
    value = float(value)
    return None if value != value else value  # NaN → None


def group_figures(marks: pd.DataFrame) -> dict[str, Any] | None:
    """:data:`FIGURE_FIELDS` of the pupils whose marks these are (``None`` for no marks).

    Rates are ratios of sums over enrolments (DfE method), not averages of pupil rates;
    ``enrolments`` counts those with possible sessions, the only ones in the rates.
    """
    from features.arithmetic import area_totals, enrolment_totals

    if marks.empty:
        return None
    pupils = enrolment_totals(marks)
    counted = pupils[pupils["possible_sessions"] > 0]
    totals = area_totals(pupils).iloc[0] if len(counted) else None

    def total(column: str) -> int:
        return int(totals[column]) if totals is not None else 0

    return {
        "pupils": len(pupils),
        "enrolments": len(counted),
        "possible_sessions": total("possible_sessions"),
        "attendance_sessions": total("attendance_sessions"),
        "authorised_absence": total("authorised_absence"),
        "unauthorised_absence": total("unauthorised_absence"),
        "overall_absence": total("overall_absence"),
        "absence_rate": _rate(totals["absence_rate"]) if totals is not None else None,
        "persistent_absence_enrolments": int(counted["persistent_absence"].sum()),
        "persistent_absence_rate": (
            _rate(totals["persistent_absence_rate"]) if totals is not None else None
        ),
        "severe_absence_enrolments": int(counted["severe_absence"].sum()),
        "severe_absence_rate": _rate(totals["severe_absence_rate"]) if totals is not None else None,
    }


def attendance_summary(marks: pd.DataFrame, roster: pd.DataFrame | None = None) -> dict[str, Any]:
    """The school's and each pupil's figures in DfE arithmetic, JSON-ready.

    ``marks`` are canonical marks of one school (:mod:`features.registers`); ``roster`` its
    canonical roster, which places each pupil in the DfE cohort
    (:func:`features.arithmetic.dfe_cohort`). Returns ``{"school": {...}, "reception": {...},
    "sixth_form": {...}, "pupils": [...]}``:

    * ``school``: with a roster, the DfE's headline figures (:data:`FIGURE_FIELDS`) — pupils
      of compulsory school age (5–15 on 31 August), without the second half of the summer
      term for those aged 15; ``cohort`` says ``"dfe"``. Without a roster the cohort cannot be
      known: all pupils, ``cohort`` ``"all"``.
    * ``reception`` and ``sixth_form``: the same figures for those pupils (``None`` when there
      are none, or no roster).
    * ``pupils``: sorted by UPN, with :data:`PUPIL_FIELDS` over all the pupil's sessions
      (``absence_rate`` is ``None`` for a pupil with no possible sessions, who is then neither
      persistently nor severely absent and is left out of the rates); ``cohort`` (``dfe``,
      ``reception``, ``sixth_form``; ``None`` without a roster) and ``in_dfe_cohort``.
    """
    import pandas as pd

    from features.arithmetic import (
        COHORT_DFE,
        COHORT_RECEPTION,
        COHORT_SIXTH_FORM,
        dfe_cohort,
        enrolment_totals,
        second_half_summer_starts,
    )
    from features.calendar import academic_year_of

    dates = marks["date"]
    first = dates.min().date() if len(dates) else None
    last = dates.max().date() if len(dates) else None
    urns = marks["school_urn"].unique()
    cohort = dfe_cohort(marks, roster) if roster is not None else None
    headline = marks[cohort["in_dfe_cohort"].to_numpy()] if cohort is not None else marks
    school = {
        # 0 is the readers' "school not named" (UNKNOWN_SCHOOL_URN): no real URN is 0.
        "school_urn": int(urns[0]) if len(urns) == 1 and urns[0] != 0 else None,
        "academic_year": academic_year_of(first) if first else None,
        "first_date": first.isoformat() if first else None,
        "last_date": last.isoformat() if last else None,
        "days_with_marks": int(dates.dt.normalize().nunique()),
        "cohort": COHORT_DFE if cohort is not None else "all",
    }
    empty = dict.fromkeys(FIGURE_FIELDS, 0) | dict.fromkeys(
        ["absence_rate", "persistent_absence_rate", "severe_absence_rate"]
    )
    school |= group_figures(headline) or empty
    if cohort is not None:
        start = second_half_summer_starts(marks).iloc[0] if len(marks) else None
        school["second_half_of_summer_term_from"] = (
            start["start"].date().isoformat() if start is not None else None
        )
        school["second_half_of_summer_term_source"] = (
            str(start["source"]) if start is not None else None
        )
    groups = {}
    for name in (COHORT_RECEPTION, COHORT_SIXTH_FORM):
        in_group = cohort["cohort"].to_numpy() == name if cohort is not None else None
        groups[name] = group_figures(marks[in_group]) if in_group is not None else None

    pupils = enrolment_totals(marks).sort_values("upn", kind="stable").reset_index(drop=True)
    pupils["upn"] = pupils["upn"].astype(str)
    if cohort is not None:
        per_pupil = pd.DataFrame(
            {
                "upn": marks["upn"].astype(str).to_numpy(),
                "cohort": cohort["cohort"].astype(str).to_numpy(),
                "in_dfe_cohort": cohort["cohort"].to_numpy() == COHORT_DFE,
            }
        ).drop_duplicates("upn")
        pupils = pupils.merge(per_pupil, on="upn", how="left")
    else:
        pupils["cohort"] = None
        pupils["in_dfe_cohort"] = None
    rows = pupils[PUPIL_FIELDS].astype(
        {
            c: "int64"
            for c in (
                "possible_sessions",
                "attendance_sessions",
                "authorised_absence",
                "unauthorised_absence",
            )
        }
        | {"persistent_absence": bool, "severe_absence": bool}
    )
    rows = rows.astype(object).where(rows.notna(), None)  # NaN rate → None (JSON null)
    return {
        "school": school,
        COHORT_RECEPTION: groups[COHORT_RECEPTION],
        COHORT_SIXTH_FORM: groups[COHORT_SIXTH_FORM],
        "pupils": rows.to_dict("records"),
    }


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f}%"


def _figure_lines(figures: dict[str, Any]) -> list[str]:
    return [
        f"{'Pupils with marks':<22}{figures['pupils']:>8}",
        f"{'Possible sessions':<22}{figures['possible_sessions']:>8}",
        f"{'Attendance':<22}{figures['attendance_sessions']:>8}",
        f"{'Authorised absence':<22}{figures['authorised_absence']:>8}",
        f"{'Unauthorised absence':<22}{figures['unauthorised_absence']:>8}",
        f"{'Absence rate':<22}{_percent(figures['absence_rate']):>8}",
        f"{'Persistent absence':<22}{_percent(figures['persistent_absence_rate']):>8}"
        f"  ({figures['persistent_absence_enrolments']} of {figures['enrolments']} pupils "
        "missing ≥ 10% of their possible sessions)",
        f"{'Severe absence':<22}{_percent(figures['severe_absence_rate']):>8}"
        f"  ({figures['severe_absence_enrolments']} of {figures['enrolments']} pupils "
        "missing ≥ 50%)",
    ]


def format_summary_table(summary: dict[str, Any]) -> str:
    """:func:`attendance_summary` as a fixed-width table: the school's DfE-cohort figures,
    Reception and sixth form if any, then one line per pupil, highest absence rate first
    (pupils without possible sessions last)."""
    school = summary["school"]
    urn = school["school_urn"] if school["school_urn"] else "not given"
    period = (
        f"academic year {school['academic_year']} · {school['first_date']} to "
        f"{school['last_date']} ({school['days_with_marks']} days with marks)"
        if school["first_date"]
        else "no marks in the file"
    )
    lines = [f"School URN {urn} · {period}", ""]
    if school["cohort"] == "dfe":
        start = school.get("second_half_of_summer_term_from")
        lines.append(
            "DfE cohort: pupils aged 5–15 on 31 August (aged 15: without the second half of "
            f"the summer term{f', from {start}' if start else ''})"
        )
    else:
        lines.append("All pupils (no roster: the DfE cohort needs dates of birth or year groups)")
    lines += _figure_lines(school)
    for key, title in (("reception", "Reception"), ("sixth_form", "Sixth form")):
        if summary.get(key):
            lines += ["", f"{title} (reported separately by the DfE)", *_figure_lines(summary[key])]
    if school["days_with_marks"] < SHORT_PERIOD_DAYS:
        lines.append(
            f"Note: only {school['days_with_marks']} days with marks — over a short period one "
            "missed day can make a pupil persistently absent."
        )
    header = (
        f"{'UPN':<14}{'Possible':>9}{'Attended':>10}{'Authorised':>12}{'Unauthorised':>14}"
        f"{'Absence':>9}{'PA':>5}{'Severe':>8}  {'Cohort'}"
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
            f"  {COHORT_LABELS.get(pupil['cohort'] or '', '—')}"
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

    With --roster the school's figures are the DfE's headline cohort (pupils aged 5-15 on 31
    August; aged 15 without the second half of the summer term); Reception and sixth form are
    shown separately, and each pupil's row says which cohort the pupil is in.

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
    roster_frame = None
    if roster is not None:
        marks, roster_frame, report = read_upload(
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
    summary = attendance_summary(marks, roster_frame)
    if output is OutputFormat.json:
        summary["validation"] = report.to_dict()
        typer.echo(json.dumps(summary, indent=2, ensure_ascii=False))
        return
    typer.echo(format_summary_table(summary))
    if report.n_warnings or any(s.get("display_codes_mapped") for s in report.summary.values()):
        typer.echo("", err=True)
        typer.echo(report.format_text(), err=True)
