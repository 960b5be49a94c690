"""``ews export``: the service's schools, rosters and marks in the layout the Spark engine (and
the pandas engine) reads — what a trust or an authority hands to a national-scale run.

``OUT/schools.csv``, ``OUT/pupils.csv`` and ``OUT/marks.parquet`` as ``ews simulate`` writes
them, and ``OUT/marks/academic_year=2024-25/school_urn=…/`` (:mod:`features.partitioned`).
Written school by school (one school's marks in memory at once) into a hidden sibling
directory that becomes ``OUT`` only when everything is written: an export is whole or absent.

Least privilege: ``pupils.csv`` holds what the features and the fairness audit read (date of
birth and year group for the age, FSM, SEN, EAL, entry and leaving dates; sex and ethnicity
for the audit only), never names. Each exported school gets an audit record
(``marks.export``: how many roster rows and marks); the log names no pupil.
"""

from __future__ import annotations

import logging
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from features.calendar import academic_year_bounds, academic_year_label, parse_academic_year
from features.schema import PUPIL_COLUMNS, SCHOOL_COLUMNS
from serving.db import Database
from serving.models import Mark, Pupil, School

log = logging.getLogger("ews.serving.export")

EXPORTED_PUPIL_COLUMNS = [c for c in PUPIL_COLUMNS if c not in ("forename", "surname")]
"""``pupils.csv``'s columns: the simulator's, without names (nothing downstream reads them)."""
AUDIT_ACTION = "marks.export"


@dataclass(frozen=True)
class ExportSummary:
    """What an export wrote."""

    out_dir: Path
    schools: int
    school_years: int
    roster_rows: int
    marks: int
    years: list[str]


def _check_years(years: list[str] | None) -> list[str] | None:
    if years is None:
        return None
    for label in years:
        parse_academic_year(label)  # ValueError naming the expected form
    return sorted(set(years))


def _check_out(out_dir: Path) -> None:
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise ValueError(
            f"{out_dir} already exists and is not an empty directory: export into a new one "
            f"(an export is never merged into older files)"
        )


def _schools(session: Session, urns: list[int] | None) -> pd.DataFrame:
    query = select(School.urn, School.name, School.phase, School.la).order_by(School.urn)
    if urns is not None:
        query = query.where(School.urn.in_(urns))
    frame = pd.DataFrame(session.execute(query).all(), columns=SCHOOL_COLUMNS)
    if urns is not None:
        unknown = sorted(set(urns) - set(frame["school_urn"]))
        if unknown:
            raise ValueError(
                f"no school with URN {', '.join(map(str, unknown))} in the service "
                f"(ews keys list and the school pages show the URNs it holds)"
            )
    return frame


def _school_marks(session: Session, urn: int, years: list[str] | None) -> pd.DataFrame:
    query = select(Mark.upn, Mark.date, Mark.session, Mark.code).where(Mark.school_urn == urn)
    if years is not None:
        first = min(academic_year_bounds(y)[0] for y in years)
        last = max(academic_year_bounds(y)[1] for y in years)
        query = query.where(Mark.date >= first, Mark.date <= last)
    marks = pd.DataFrame(session.execute(query).all(), columns=["upn", "date", "session", "code"])
    marks.insert(0, "school_urn", np.int64(urn))
    marks["date"] = pd.to_datetime(marks["date"])
    start = marks["date"].dt.year - (marks["date"].dt.month < 8)
    if years is not None:
        marks = marks[start.map(academic_year_label).isin(years)]
    return marks.sort_values(["upn", "date", "session"], kind="stable").reset_index(drop=True)


def _school_roster(session: Session, urn: int, marks: pd.DataFrame) -> pd.DataFrame:
    """One row per pupil and academic year with marks at the school, from the school's roster
    (the service keeps the latest): the year group counted back from the latest year (a
    pupil in Year 6 now was in Year 5 the year before; below Reception it is unknown)."""
    columns = [c for c in EXPORTED_PUPIL_COLUMNS if c not in ("academic_year", "school_urn")]
    rows = session.execute(
        select(*[getattr(Pupil, c) for c in columns]).where(Pupil.school_urn == urn)
    ).all()
    roster = pd.DataFrame(rows, columns=columns)
    if roster.empty or marks.empty:
        return pd.DataFrame(columns=EXPORTED_PUPIL_COLUMNS)
    start = marks["date"].dt.year - (marks["date"].dt.month < 8)
    enrolments = pd.DataFrame({"upn": marks["upn"], "start": start}).drop_duplicates()
    out = enrolments.merge(roster, on="upn", how="inner")
    shift = int(start.max()) - out["start"]
    year_group = pd.to_numeric(out["year_group"], errors="coerce") - shift
    out["year_group"] = year_group.where(year_group >= 0).astype("Int64")
    out["academic_year"] = out["start"].map(academic_year_label)
    out["school_urn"] = urn
    for column in ("fsm", "eal"):
        out[column] = out[column].astype("Int64")
    for column in ("date_of_birth", "entry_date", "leaving_date"):
        out[column] = pd.to_datetime(out[column]).dt.strftime("%Y-%m-%d")
    return out.sort_values(["academic_year", "upn"]).reset_index(drop=True)[EXPORTED_PUPIL_COLUMNS]


class _MarksFile:
    """``marks.parquet`` written one school at a time (one schema for every school)."""

    def __init__(self, path: Path) -> None:
        import pyarrow as pa

        self.path = path
        self.schema = pa.schema(
            [
                ("school_urn", pa.int64()),
                ("upn", pa.string()),
                ("date", pa.timestamp("ns")),
                ("session", pa.string()),
                ("code", pa.string()),
            ]
        )
        self.writer: Any = None  # a pyarrow ParquetWriter once the first school is written
        self.closed = False

    def write(self, marks: pd.DataFrame) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        if self.writer is None:
            self.writer = pq.ParquetWriter(self.path, self.schema, compression="zstd")
        table = pa.Table.from_pandas(marks[self.schema.names], preserve_index=False)
        self.writer.write_table(table.cast(self.schema))

    def close(self) -> None:
        import pyarrow.parquet as pq

        if self.closed:
            return
        self.closed = True
        if self.writer is None:  # no marks at all: an empty file, so the layout is whole
            pq.write_table(self.schema.empty_table(), self.path)
        else:
            self.writer.close()


def export_partitioned(
    db: Database,
    out_dir: Path,
    *,
    schools: list[int] | None = None,
    years: list[str] | None = None,
) -> ExportSummary:
    """Write the service's data (every school, or ``schools``; every year, or ``years``)
    under ``out_dir``, which must be new or empty. Raises ``ValueError`` (nothing written)
    for an unknown school, a malformed year or an ``out_dir`` that holds files."""
    from features.partitioned import write_partitioned_marks
    from serving.audit import record

    out_dir = Path(out_dir)
    years = _check_years(years)
    _check_out(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = out_dir.parent / f".{out_dir.name}.part-{uuid.uuid4().hex[:8]}"
    staging.mkdir()
    marks_file = _MarksFile(staging / "marks.parquet")
    written: list[tuple[int, int, int, list[str]]] = []
    try:
        with db.read_session() as session:
            school_rows = _schools(session, schools)
            rosters = []
            for urn in school_rows["school_urn"].tolist():
                marks = _school_marks(session, urn, years)
                if marks.empty:
                    continue
                write_partitioned_marks(marks, staging, replace=False)
                marks_file.write(marks)
                roster = _school_roster(session, urn, marks)
                rosters.append(roster)
                school_years = sorted(
                    (marks["date"].dt.year - (marks["date"].dt.month < 8))
                    .map(academic_year_label)
                    .unique()
                )
                written.append((urn, len(roster), len(marks), school_years))
        marks_file.close()
        school_rows.to_csv(staging / "schools.csv", index=False)
        pupils = (
            pd.concat(rosters, ignore_index=True)
            if rosters
            else pd.DataFrame(columns=EXPORTED_PUPIL_COLUMNS)
        )
        pupils.to_csv(staging / "pupils.csv", index=False)
        # Audited before the files appear: no export is readable without its record.
        for urn, roster_rows, n_marks, school_years in written:
            detail = {"marks": n_marks, "years": school_years}
            record(db, None, AUDIT_ACTION, school_urn=urn, records=roster_rows, detail=detail)
        if out_dir.exists():
            out_dir.rmdir()  # empty, checked above
        staging.rename(out_dir)
    except BaseException:
        marks_file.close()
        shutil.rmtree(staging, ignore_errors=True)
        raise
    summary = ExportSummary(
        out_dir=out_dir,
        schools=len(school_rows),
        school_years=sum(len(w[3]) for w in written),
        roster_rows=sum(w[1] for w in written),
        marks=sum(w[2] for w in written),
        years=sorted({y for w in written for y in w[3]}),
    )
    log.info(
        "exported %d schools (%d school-years, %d marks) to %s",
        summary.schools,
        summary.school_years,
        summary.marks,
        out_dir,
    )
    return summary


__all__ = ["AUDIT_ACTION", "EXPORTED_PUPIL_COLUMNS", "ExportSummary", "export_partitioned"]
