"""England's attendance figures, from the DfE's own publication (*Pupil attendance in schools*).

The service ships the 2022/23 and 2023/24 term figures (``serving/data``, source in
``SOURCE.md`` there) and reads them from the package: no network call, ever.
``ews national import FILE`` validates a newer file of the same columns and stores it in the
data directory (``<data_dir>/national_figures.csv``), which then takes the shipped file's place.

Only the national rows are kept (England; regional and LA rows are checked but not used). A
figure is a fraction (the file's percentages / 100) for one academic year, one period
(``autumn``, ``spring``, ``summer`` or the whole ``academic year``) and one phase.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from pathlib import Path

from serving.errors import Invalid

SHIPPED = Path(__file__).resolve().parent / "data" / "term_absence_2022_23_2023_24.csv"
STORED_NAME = "national_figures.csv"

REQUIRED = (
    "academic_year",
    "period",
    "geographic_level",
    "phase",
    "overall_absence_perc",
    "authorised_absence_perc",
    "unauthorised_absence_perc",
    "pa_perc",
)
PERIODS = ("autumn", "spring", "summer", "academic year")
LEVELS = ("National", "Regional", "Local authority")
PHASES = {"primary": "Primary", "secondary": "Secondary", "special": "Special"}
_PERCENTAGES = REQUIRED[4:]
MAX_ISSUES = 20


@dataclass(frozen=True)
class EnglandFigure:
    """England's figures for one academic year, period and phase (fractions; ``None`` where
    the DfE suppressed the cell)."""

    academic_year: str
    period: str
    phase: str
    absence: float | None
    authorised: float | None
    unauthorised: float | None
    persistent_absence: float | None


def _issue(filename: str, row: int, column: str, value: str, problem: str, fix: str) -> dict:
    return {
        "file": filename,
        "row": row,
        "column": column,
        "value": value[:80],
        "problem": problem,
        "fix": fix,
    }


def _percentage(text: str) -> float | None:
    """``"5.23"`` → 0.0523; an empty cell, ``c``, ``x`` or ``z`` (DfE suppression) → None;
    anything else raises ValueError."""
    text = text.strip()
    if text in ("", "c", "x", "z", "u", "low"):
        return None
    value = float(text)
    if not math.isfinite(value) or not 0 <= value <= 100:
        raise ValueError(text)
    return value / 100


def read_figures(data: bytes, filename: str) -> list[EnglandFigure]:
    """Validate a *Pupil attendance in schools* CSV and return its England rows.

    Raises :class:`Invalid` with every problem found (up to :data:`MAX_ISSUES`), each naming
    the file, row (1 = the header), column, value and how to fix it."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise Invalid(
            f"{filename} is not UTF-8 text", fix="save the file as CSV (UTF-8) and import it again"
        ) from None
    reader = csv.DictReader(io.StringIO(text))
    header = reader.fieldnames or []
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise Invalid(
            f"{filename} lacks the column(s) {', '.join(missing)}",
            fix="use the DfE's Pupil attendance in schools file, with a header row naming "
            + ", ".join(REQUIRED),
            issues=[_issue(filename, 1, c, "", "column missing", "add it") for c in missing],
        )
    issues: list[dict] = []
    figures: list[EnglandFigure] = []
    for number, row in enumerate(reader, start=2):
        found = _check_row(filename, number, row, issues)
        if found is not None:
            figures.append(found)
        if len(issues) >= MAX_ISSUES:
            break
    if not issues and not figures:
        issues.append(
            _issue(
                filename,
                1,
                "geographic_level",
                "",
                "no National rows",
                "include England's rows (geographic_level National)",
            )  # fmt: skip
        )
    if issues:
        raise Invalid(
            f"{filename} has {len(issues)} problem(s); nothing was imported",
            fix="correct the rows listed and import the file again",
            issues=issues,
        )
    return figures


def _check_row(filename: str, number: int, row: dict, issues: list[dict]) -> EnglandFigure | None:
    """One data row: its problems appended to ``issues``; an England row returned."""
    year = (row.get("academic_year") or "").strip()
    if len(year) != 7 or year[4] != "/" or not (year[:4] + year[5:]).isdigit():
        issues.append(_issue(filename, number, "academic_year", year, "not an academic year",
                             "write it as 2023/24"))  # fmt: skip
    period = (row.get("period") or "").strip()
    if period not in PERIODS:
        issues.append(_issue(filename, number, "period", period, "not a period",
                             f"use one of {', '.join(PERIODS)}"))  # fmt: skip
    level = (row.get("geographic_level") or "").strip()
    if level not in LEVELS:
        issues.append(_issue(filename, number, "geographic_level", level, "not a level",
                             f"use one of {', '.join(LEVELS)}"))  # fmt: skip
    values: dict[str, float | None] = {}
    for column in _PERCENTAGES:
        cell = row.get(column) or ""
        try:
            values[column] = _percentage(cell)
        except ValueError:
            fix = "write a number such as 5.23, or leave it empty if suppressed"
            issues.append(_issue(filename, number, column, cell, "not a percentage 0-100", fix))
    if level != "National" or period not in PERIODS or len(values) < len(_PERCENTAGES):
        return None
    return EnglandFigure(
        academic_year=year,
        period=period,
        phase=(row.get("phase") or "").strip(),
        absence=values["overall_absence_perc"],
        authorised=values["authorised_absence_perc"],
        unauthorised=values["unauthorised_absence_perc"],
        persistent_absence=values["pa_perc"],
    )


def stored_path(data_dir: Path) -> Path:
    """Where ``ews national import`` keeps the imported file."""
    return data_dir / STORED_NAME


def import_file(source: Path, data_dir: Path) -> list[EnglandFigure]:
    """Validate ``source`` and, only if it is valid, store it as the service's England
    figures (an invalid file changes nothing)."""
    data = source.read_bytes()
    figures = read_figures(data, source.name)
    data_dir.mkdir(parents=True, exist_ok=True)
    target = stored_path(data_dir)
    partial = target.with_suffix(".tmp")
    partial.write_bytes(data)
    partial.replace(target)
    return figures


def load_figures(data_dir: Path) -> list[EnglandFigure]:
    """The England figures in force: the imported file if there is one, else the shipped."""
    path = stored_path(data_dir)
    if not path.exists():
        path = SHIPPED
    return read_figures(path.read_bytes(), path.name)


def _start(academic_year: str) -> int:
    return int(academic_year[:4])


def england_for(
    figures: list[EnglandFigure], phase: str, academic_year: str
) -> tuple[EnglandFigure | None, list[EnglandFigure]]:
    """England's whole-year figure for ``phase`` closest to ``academic_year`` (that year if
    published, else the latest year before it, else the earliest after), and that year's term
    figures (for the trend chart)."""
    wanted = PHASES.get(phase, phase)
    mine = [f for f in figures if f.phase == wanted]
    years = sorted({f.academic_year for f in mine if f.period == "academic year"}, key=_start)
    if not years:
        return None, []
    target = _start(academic_year) if academic_year[:4].isdigit() else _start(years[-1])
    before = [y for y in years if _start(y) <= target]
    year = before[-1] if before else years[0]
    whole = next(f for f in mine if f.academic_year == year and f.period == "academic year")
    terms = [f for f in mine if f.academic_year == year and f.period != "academic year"]
    terms.sort(key=lambda f: PERIODS.index(f.period))
    return whole, terms
