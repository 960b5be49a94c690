"""Attendance trajectories: register marks folded into per-pupil, per-school-week counters.

The trajectory is the central data structure (ARCHITECTURE.md): features, charts and labels all
read it. One row per enrolment (academic year × school × pupil) per school week in which the
pupil has at least one mark. Weeks are numbered per school and academic year (see
:mod:`features.calendar`): week 1 is the first week the school recorded any mark.

Counters (sessions, integers):

================================  ==========================================================
``possible_sessions``             present + AEA + authorised + unauthorised (+ COVID ``X``)
``present``                       ``/ \\ L``
``aea``                           approved educational activity
``authorised``, ``unauthorised``  absence by category; ``absence`` is their sum
``illness``                       ``I``
``late_before_close``             ``L`` (present)
``late_after_close``              ``U`` (unauthorised absence)
``unresolved``                    ``N`` (reason not yet established)
``no_mark``                       ``-`` (a data-quality issue; not counted)
``absence_am``, ``absence_pm``    absence by session
``possible_pm``                   possible sessions in the afternoon
``absence_monday/friday``         absence on Mondays / Fridays
``possible_monday/friday``        possible sessions on Mondays / Fridays
``absence_tue_thu``               absence on Tuesdays to Thursdays
``spells_started``                absence spells that began this week
``longest_run``                   longest absence run (sessions) reached this week, counting
                                  from the start of its spell even if that was earlier
``run_at_week_end``               length of the absence run open at the week's last possible
                                  session (0 if the pupil was not absent then)
================================  ==========================================================

A **spell** is a maximal run of consecutive possible sessions with absence; not-counted
sessions (``#``, ``D``, …) neither break nor extend it. Because every counter of week *w* is
computed from marks dated in week *w* plus the run carried in from week *w − 1*, the
trajectory can be extended one week at a time (:func:`append_weeks`) and equals the one built
from all marks at once.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.arithmetic import AEA_ID, AUTH_ID, COVID_X_ID, PRESENT_ID, UNAUTH_ID
from features.calendar import academic_year_label

ENROLMENT_KEYS = ["academic_year", "school_urn", "upn"]
TRAJECTORY_KEYS = [*ENROLMENT_KEYS, "week", "week_start"]
COUNTER_COLUMNS = [
    "possible_sessions",
    "present",
    "aea",
    "authorised",
    "unauthorised",
    "absence",
    "illness",
    "late_before_close",
    "late_after_close",
    "unresolved",
    "no_mark",
    "absence_am",
    "absence_pm",
    "possible_pm",
    "absence_monday",
    "absence_friday",
    "possible_monday",
    "possible_friday",
    "absence_tue_thu",
    "spells_started",
    "longest_run",
    "run_at_week_end",
]
TRAJECTORY_COLUMNS = [*TRAJECTORY_KEYS, *COUNTER_COLUMNS]

_EPOCH_WEEKDAY_OFFSET = 3  # 1970-01-01 was a Thursday: (days + 3) % 7 gives Monday = 0


def _days(dates: pd.Series) -> np.ndarray:
    """Dates as int64 days since the epoch."""
    values = dates.to_numpy() if isinstance(dates, pd.Series) else np.asarray(dates)
    if not np.issubdtype(values.dtype, np.datetime64):
        values = pd.to_datetime(dates).to_numpy()
    return values.astype("datetime64[D]").astype(np.int64)


def _academic_start_years(days: np.ndarray) -> np.ndarray:
    """The calendar year each day's academic year (1 Aug – 31 Jul) starts in."""
    dt64 = days.astype("datetime64[D]")
    years = dt64.astype("datetime64[Y]").astype(np.int64) + 1970
    months = (dt64.astype("datetime64[M]").astype(np.int64) % 12) + 1
    return years - (months < 8)


def _lookup(values: pd.Series, table: dict[str, int], default: int = 0) -> np.ndarray:
    """Map a column through ``table`` by its categories (one pass over the rows)."""
    as_cat = values if isinstance(values.dtype, pd.CategoricalDtype) else values.astype("category")
    mapped = np.array(
        [table.get(str(c), default) for c in as_cat.cat.categories] + [default], dtype=np.int8
    )
    return mapped[as_cat.cat.codes.to_numpy()]  # code -1 (missing) takes the default


# Bit flags of the statutory code that the counters need beyond its category.
_CODE_BITS = {"I": 1, "L": 2, "U": 4, "N": 8, "-": 16}


def build_trajectory(
    marks: pd.DataFrame,
    *,
    carry: pd.DataFrame | None = None,
    week_offset: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Fold canonical marks into the weekly trajectory (see the module docstring).

    Parameters
    ----------
    marks:
        Columns ``school_urn, upn, date, session, code`` (statutory codes; any order). Marks of
        several schools and academic years may be mixed. Invalid codes (unknown, or not valid
        on their date) count as not counted: validate registers before building.
    carry:
        For extending an existing trajectory: per enrolment (``ENROLMENT_KEYS``), the
        ``run_at_week_end`` of its last week, so spells continue across the boundary.
    week_offset:
        For extending: per ``academic_year, school_urn``, the number of school weeks already in
        the trajectory (``last_week``); new weeks are numbered after it.

    Returns
    -------
    DataFrame with ``TRAJECTORY_COLUMNS``: one row per enrolment per school week with marks,
    sorted by enrolment and week.
    """
    from features.codes import categories

    if marks.empty:
        return _empty_trajectory()

    # Per-day facts are computed on the few hundred distinct days, then looked up.
    day_idx, day_values = pd.factorize(_days(marks["date"]), sort=True)
    day_idx = day_idx.astype(np.int32)
    day_start_year = _academic_start_years(day_values)
    day_weekday = ((day_values + _EPOCH_WEEKDAY_OFFSET) % 7).astype(np.int8)
    day_monday = day_values - day_weekday
    # Category ids: by code, checked against the date only for codes with a validity window.
    cat = categories(marks["code"], day_values.astype("datetime64[D]")[day_idx])
    code_bits = _lookup(marks["code"], _CODE_BITS)
    pm = _lookup(marks["session"], {"PM": 1, "pm": 1})

    school_idx, school_values = pd.factorize(marks["school_urn"].to_numpy(np.int64), sort=True)
    upn_idx, upn_values = pd.factorize(marks["upn"], sort=True)
    year_values, year_of_day = np.unique(day_start_year, return_inverse=True)
    enrol_key = (year_of_day[day_idx].astype(np.int64) * len(school_values) + school_idx) * len(
        upn_values
    ) + upn_idx
    del school_idx, upn_idx
    enrol, enrol_values = pd.factorize(enrol_key, sort=True)
    enrol = enrol.astype(np.int32)
    del enrol_key

    # Sort sessions by enrolment, day and session (skipped when already in that order).
    order_key = (enrol.astype(np.int64) * len(day_values) + day_idx) * 2 + pm
    if not np.all(order_key[1:] >= order_key[:-1]):
        order = np.argsort(order_key, kind="stable")
        enrol, day_idx, pm, cat, code_bits = (
            enrol[order],
            day_idx[order],
            pm[order],
            cat[order],
            code_bits[order],
        )
    del order_key

    # Groups: (enrolment, Monday) pairs, contiguous in sorted order.
    monday_of_row = day_monday[day_idx]
    boundary = np.ones(len(enrol), dtype=bool)
    boundary[1:] = (enrol[1:] != enrol[:-1]) | (monday_of_row[1:] != monday_of_row[:-1])
    starts = np.flatnonzero(boundary)
    del boundary, monday_of_row

    absent = (cat == AUTH_ID) | (cat == UNAUTH_ID)
    counted = (cat == PRESENT_ID) | (cat == AEA_ID) | absent | (cat == COVID_X_ID)
    weekday = day_weekday[day_idx]
    run, spell_start = _absence_runs(
        enrol, absent, counted, carry, enrol_values, upn_values, year_values, school_values
    )

    # Every counter is a sum of 0/1 flags over the group's contiguous rows; each flag is
    # built, reduced and dropped in turn to keep memory flat.
    present, aea = cat == PRESENT_ID, cat == AEA_ID
    flag_of = {
        "possible_sessions": lambda: counted,
        "present": lambda: present,
        "aea": lambda: aea,
        "authorised": lambda: cat == AUTH_ID,
        "unauthorised": lambda: cat == UNAUTH_ID,
        "absence": lambda: absent,
        "illness": lambda: absent & ((code_bits & 1) > 0),
        "late_before_close": lambda: present & ((code_bits & 2) > 0),
        "late_after_close": lambda: absent & ((code_bits & 4) > 0),
        "unresolved": lambda: absent & ((code_bits & 8) > 0),
        "no_mark": lambda: (code_bits & 16) > 0,
        "absence_am": lambda: absent & (pm == 0),
        "absence_pm": lambda: absent & (pm == 1),
        "possible_pm": lambda: counted & (pm == 1),
        "absence_monday": lambda: absent & (weekday == 0),
        "absence_friday": lambda: absent & (weekday == 4),
        "possible_monday": lambda: counted & (weekday == 0),
        "possible_friday": lambda: counted & (weekday == 4),
        "absence_tue_thu": lambda: absent & (weekday >= 1) & (weekday <= 3),
        "spells_started": lambda: spell_start,
    }
    sums = {
        name: np.add.reduceat(make().view(np.int8), starts, dtype=np.int32)
        for name, make in flag_of.items()
    }

    # Longest run reached in each week, and the run open at the week's last counted session.
    longest = np.maximum.reduceat(run, starts).astype(np.int32)
    last_counted = np.maximum.reduceat(
        np.where(counted, np.arange(len(run), dtype=np.int64), -1), starts
    )
    run_at_end = np.where(last_counted >= 0, run[np.maximum(last_counted, 0)], 0).astype(np.int32)

    # School weeks, numbered per academic year and school among the groups' Mondays.
    group_enrol = enrol_values[enrol[starts]]
    group_upn = group_enrol % len(upn_values)
    group_school_year = group_enrol // len(upn_values)
    group_monday = day_monday[day_idx[starts]]
    week = _school_week_numbers(
        group_school_year, group_monday, year_values, school_values, week_offset
    )

    out = pd.DataFrame(
        {
            "academic_year": np.array(
                [academic_year_label(int(y)) for y in year_values], dtype=object
            )[group_school_year // len(school_values)],
            "school_urn": school_values[group_school_year % len(school_values)],
            "upn": np.asarray(upn_values)[group_upn],
            "week": week.astype(np.int16),
            "week_start": group_monday.astype("datetime64[D]").astype("datetime64[ns]"),
        }
    )
    for name in _FLAG_COUNTERS:
        out[name] = sums[name]
    out["longest_run"] = longest
    out["run_at_week_end"] = run_at_end
    out["academic_year"] = out["academic_year"].astype(str)
    out["upn"] = out["upn"].astype(str)
    return out[TRAJECTORY_COLUMNS]


_FLAG_COUNTERS = [c for c in COUNTER_COLUMNS if c not in ("longest_run", "run_at_week_end")]


def _school_week_numbers(
    school_year: np.ndarray,
    monday: np.ndarray,
    year_values: np.ndarray,
    school_values: np.ndarray,
    week_offset: pd.DataFrame | None,
) -> np.ndarray:
    """Number the Mondays with marks 1, 2, … per school and academic year."""
    first_monday = monday.min()
    span = monday.max() - first_monday + 1
    pairs, inverse = np.unique(school_year * span + (monday - first_monday), return_inverse=True)
    pair_school_year = pairs // span
    first = np.ones(len(pairs), dtype=bool)
    first[1:] = pair_school_year[1:] != pair_school_year[:-1]
    positions = np.arange(len(pairs))
    number = positions - np.maximum.accumulate(np.where(first, positions, 0)) + 1
    if week_offset is not None and not week_offset.empty:
        year_start = week_offset["academic_year"].map(_start_year_of).to_numpy(np.int64)
        school = week_offset["school_urn"].to_numpy(np.int64)
        year_pos, year_known = _positions(year_values, year_start)
        school_pos, school_known = _positions(school_values, school)
        # Offsets of schools or years this batch does not hold must not land on a neighbour's
        # position (searchsorted alone returns the insertion point, not a match).
        known = year_known & school_known
        key = (year_pos * len(school_values) + school_pos)[known]
        offsets = pd.Series(week_offset["last_week"].to_numpy(np.int64)[known], index=key)
        offsets = offsets[~offsets.index.duplicated()]
        number = number + offsets.reindex(pair_school_year).fillna(0).to_numpy(np.int64)
    return number[inverse]


def _positions(sorted_values: np.ndarray, wanted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index of each ``wanted`` value in ``sorted_values``, and whether it is there at all."""
    pos = np.searchsorted(sorted_values, wanted)
    clipped = np.minimum(pos, len(sorted_values) - 1)
    found = (pos < len(sorted_values)) & (sorted_values[clipped] == wanted)
    return clipped, found


def _absence_runs(
    enrol: np.ndarray,
    absent: np.ndarray,
    counted: np.ndarray,
    carry: pd.DataFrame | None,
    enrol_values: np.ndarray,
    upn_values: pd.Index,
    year_values: np.ndarray,
    school_values: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Run length so far (sessions) at every session, and where spells start.

    Works on counted sessions only (not-counted sessions are transparent), in sorted order.
    ``carry`` continues runs open at the end of the previous week.
    """
    n = len(enrol)
    run = np.zeros(n, dtype=np.int64)
    spell_start = np.zeros(n, dtype=bool)
    idx = np.flatnonzero(counted)
    if len(idx) == 0:
        return run, spell_start
    e, a = enrol[idx], absent[idx]
    new_enrol = np.ones(len(idx), dtype=bool)
    new_enrol[1:] = e[1:] != e[:-1]
    prev_absent = np.zeros(len(idx), dtype=bool)
    prev_absent[1:] = a[:-1]
    prev_absent &= ~new_enrol
    starts = a & ~prev_absent
    # Position within the run: index minus the index where the run started.
    pos = np.arange(len(idx))
    run_start_pos = np.maximum.accumulate(np.where(starts, pos, 0))
    run_len = np.where(a, pos - run_start_pos + 1, 0)
    if carry is not None and not carry.empty:
        carried = _carry_per_enrolment(carry, enrol_values, upn_values, year_values, school_values)[
            e
        ]
        # A run that opens this batch's sessions continues the run carried in.
        first_run = _leading_absent(a, new_enrol)
        continues = first_run & (carried > 0)
        run_len = run_len + np.where(continues, carried, 0)
        starts = starts & ~(continues & new_enrol)
    run[idx] = run_len
    spell_start[idx] = starts
    return run, spell_start


def _leading_absent(a: np.ndarray, new_enrol: np.ndarray) -> np.ndarray:
    """Absent sessions before each enrolment's first non-absent session."""
    broken = np.cumsum(~a)  # non-absent sessions so far
    broken_before_enrol = np.maximum.accumulate(np.where(new_enrol, broken - ~a, 0))
    return a & (broken == broken_before_enrol)


def _carry_per_enrolment(
    carry: pd.DataFrame,
    enrol_values: np.ndarray,
    upn_values: pd.Index,
    year_values: np.ndarray,
    school_values: np.ndarray,
) -> np.ndarray:
    """``run_at_week_end`` of each enrolment of this batch, looked up from ``carry``."""
    upn_pos = pd.Index(upn_values).get_indexer(carry["upn"].astype(str))
    year_start = carry["academic_year"].map(_start_year_of).to_numpy(np.int64)
    year_pos, year_known = _positions(year_values, year_start)
    school_pos, school_known = _positions(school_values, carry["school_urn"].to_numpy(np.int64))
    known = (upn_pos >= 0) & year_known & school_known
    keys = ((year_pos * len(school_values) + school_pos) * len(upn_values) + upn_pos)[known]
    runs = carry["run_at_week_end"].to_numpy(np.int64)[known]
    pos = np.clip(np.searchsorted(enrol_values, keys), 0, len(enrol_values) - 1)
    hit = enrol_values[pos] == keys
    out = np.zeros(len(enrol_values), dtype=np.int64)
    out[pos[hit]] = runs[hit]
    return out


def _start_year_of(label: str) -> int:
    return int(str(label)[:4])


def _empty_trajectory() -> pd.DataFrame:
    frame = pd.DataFrame({c: pd.Series(dtype=np.int32) for c in TRAJECTORY_COLUMNS})
    frame["academic_year"] = frame["academic_year"].astype(str)
    frame["upn"] = frame["upn"].astype(str)
    frame["school_urn"] = frame["school_urn"].astype(np.int64)
    frame["week"] = frame["week"].astype(np.int16)
    frame["week_start"] = pd.Series(dtype="datetime64[ns]")
    return frame


def append_weeks(trajectory: pd.DataFrame, marks: pd.DataFrame) -> pd.DataFrame:
    """Extend a trajectory with the marks of later weeks (the weekly upload).

    Every week in ``marks`` must come after the last week already in ``trajectory`` for that
    school and academic year; a correction to an earlier week needs a rebuild with
    :func:`build_trajectory` (cheap for one school). Raises ``ValueError`` otherwise.
    """
    if trajectory.empty:
        return build_trajectory(marks)
    if marks.empty:
        return trajectory
    last = (
        trajectory.groupby(["academic_year", "school_urn"], observed=True)
        .agg(last_week=("week", "max"), last_start=("week_start", "max"))
        .reset_index()
    )
    new_days = _days(marks["date"])
    new_monday = (new_days - (new_days + _EPOCH_WEEKDAY_OFFSET) % 7).astype("datetime64[D]")
    # Labels for the few distinct years, then looked up per mark.
    year_idx, start_years = pd.factorize(_academic_start_years(new_days))
    labels = np.array([academic_year_label(int(y)) for y in start_years], dtype=object)
    probe = (
        pd.DataFrame(
            {
                "academic_year": labels[year_idx],
                "school_urn": marks["school_urn"].to_numpy(np.int64),
                "monday": new_monday.astype("datetime64[ns]"),
            }
        )
        .drop_duplicates()
        .merge(last, on=["academic_year", "school_urn"], how="left")
    )
    stale = probe["last_start"].notna() & (probe["monday"] <= probe["last_start"])
    if stale.any():
        raise ValueError(
            "append_weeks: the marks include a week already in the trajectory "
            f"(first: week of {probe.loc[stale, 'monday'].min():%Y-%m-%d}); "
            "rebuild the trajectory from all marks with build_trajectory instead"
        )
    carry = (
        trajectory.sort_values("week")
        .groupby(ENROLMENT_KEYS, observed=True)[["run_at_week_end"]]
        .last()
        .reset_index()
    )
    offsets = last[["academic_year", "school_urn", "last_week"]]
    added = build_trajectory(marks, carry=carry, week_offset=offsets)
    combined = pd.concat([trajectory, added], ignore_index=True)
    return combined.sort_values([*ENROLMENT_KEYS, "week"], kind="stable").reset_index(drop=True)
