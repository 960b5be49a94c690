"""Write a simulated authority to disk: ``schools.csv``, ``pupils.csv``, ``marks.parquet`` and,
optionally, the weekly register files a school would upload for the last simulated year."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from features.calendar import academic_year_bounds, week_start
from features.schema import PUPIL_COLUMNS, ROSTER_COLUMNS, SCHOOL_COLUMNS
from simulator.authority import SimulatedAuthority

REGISTER_COLUMNS = ["upn", "date", "session", "mark", "minutes_late"]
EPISODES_FILE = "episodes.parquet"
"""The simulator's truth: one row per episode (:data:`simulator.authority.EPISODE_COLUMNS`)."""
"""Header of the weekly register files (long form)."""

_DATE_COLUMNS = ("date_of_birth", "entry_date", "leaving_date")


def iso_dates(frame: pd.DataFrame) -> pd.DataFrame:
    """Date columns as ISO strings (empty where missing)."""
    out = frame.copy()
    for column in _DATE_COLUMNS:
        if column in out.columns:
            values = pd.to_datetime(out[column])
            out[column] = values.dt.strftime("%Y-%m-%d").fillna("")
    return out


def write_authority(
    authority: SimulatedAuthority, out_dir: Path, register_files: bool = False
) -> dict[str, int]:
    """Write the authority under ``out_dir`` (created if needed; existing files of the same
    names are replaced). Returns counts of what was written: ``schools, pupils, marks,
    episodes`` and,
    with ``register_files``, ``register_files`` (weekly register files, rosters not counted),
    ``register_rows`` and ``rosters`` (one per school)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    authority.schools[SCHOOL_COLUMNS].to_csv(out_dir / "schools.csv", index=False)
    iso_dates(authority.pupils[PUPIL_COLUMNS]).to_csv(out_dir / "pupils.csv", index=False)
    authority.marks.to_parquet(out_dir / "marks.parquet", index=False, compression="zstd")
    # The truth, apart: which pupil had which difficulty when. Evaluation may read it; no
    # feature, model input or service code may (tests/simulator/test_truth_kept_apart.py).
    authority.episodes.to_parquet(out_dir / EPISODES_FILE, index=False)
    counts = {
        "schools": len(authority.schools),
        "pupils": len(authority.pupils),
        "marks": len(authority.marks),
        "episodes": len(authority.episodes),
    }
    if register_files:
        files, rows, rosters = write_register_files(authority, out_dir / "registers")
        counts |= {"register_files": files, "register_rows": rows, "rosters": rosters}
    return counts


def minutes_late(codes: pd.Series, rng: np.random.Generator) -> pd.Series:
    """Minutes late for ``L`` (1–30: before the register closed) and ``U`` (31–120: after);
    missing for every other mark."""
    codes = codes.astype(str).to_numpy()
    n = len(codes)
    late = np.minimum(rng.geometric(1 / 8, size=n), 30)
    after_close = 31 + np.minimum(rng.geometric(1 / 25, size=n) - 1, 89)
    minutes = np.where(codes == "L", late, np.where(codes == "U", after_close, 0))
    return pd.Series(minutes, dtype="Int16").mask(~np.isin(codes, ["L", "U"]))


def _remove_old_register_files(registers_dir: Path) -> None:
    """Delete register files of an earlier run (rosters and weekly files only), so that a
    directory never mixes two simulations."""
    if not registers_dir.is_dir():
        return
    for school_dir in registers_dir.iterdir():
        if not (school_dir.is_dir() and school_dir.name.isdigit()):
            continue
        for path in [school_dir / "roster.csv", *school_dir.glob("[0-9]" * 4 + "-*.csv")]:
            path.unlink(missing_ok=True)
        if not any(school_dir.iterdir()):
            school_dir.rmdir()


def write_register_files(
    authority: SimulatedAuthority, registers_dir: Path
) -> tuple[int, int, int]:
    """For the last simulated year: per school ``<urn>/roster.csv`` (that year's roster) and
    one long-form file per school week ``<urn>/<Monday>.csv`` with header
    :data:`REGISTER_COLUMNS`. Returns (weekly register files written, register rows written,
    rosters written)."""
    year = authority.config.years[-1]
    first, last = academic_year_bounds(year)
    marks = authority.marks
    in_year = (marks["date"] >= pd.Timestamp(first)) & (marks["date"] <= pd.Timestamp(last))
    year_marks = marks[in_year.to_numpy()]
    rng = np.random.default_rng([authority.config.seed, 2024])
    roster = authority.pupils[authority.pupils["academic_year"] == year]
    _remove_old_register_files(Path(registers_dir))
    files = rows = rosters = 0
    for urn, school_marks in year_marks.groupby("school_urn", observed=True, sort=True):
        school_dir = Path(registers_dir) / str(int(urn))
        school_dir.mkdir(parents=True, exist_ok=True)
        school_roster = roster[roster["school_urn"] == urn][ROSTER_COLUMNS]
        iso_dates(school_roster).to_csv(school_dir / "roster.csv", index=False)
        rosters += 1
        register = pd.DataFrame(
            {
                "upn": school_marks["upn"].astype(str).to_numpy(),
                "date": school_marks["date"].dt.strftime("%Y-%m-%d").to_numpy(),
                "session": school_marks["session"].astype(str).to_numpy(),
                "mark": school_marks["code"].astype(str).to_numpy(),
                "minutes_late": minutes_late(school_marks["code"], rng).array,
                "week": week_start(school_marks["date"]).to_numpy(),
            }
        ).sort_values(["week", "upn", "date", "session"], kind="stable")
        for monday, week in register.groupby("week", sort=True):
            name = pd.Timestamp(monday).strftime("%Y-%m-%d") + ".csv"
            week[REGISTER_COLUMNS].to_csv(school_dir / name, index=False)
            files += 1
            rows += len(week)
    return files, rows, rosters
