"""DfE attendance arithmetic, exactly as the DfE computes it (DOMAIN.md §1.2).

* possible sessions = present + approved educational activity (AEA) + authorised absence +
  unauthorised absence (+ COVID ``X`` sessions, Sept 2020 – March 2022). Not-counted codes and
  ``-`` (no mark) are in neither numerator nor denominator.
* attendance = present + AEA; overall absence = authorised + unauthorised.
* absence rate = overall absence ÷ possible sessions.
* persistent absence (PA): absence rate ≥ 10% of the enrolment's own possible sessions;
  severe absence: ≥ 50%. The unit is the enrolment (a school × pupil); enrolments with zero
  possible sessions are excluded.
* area (school, LA) rates are sums over enrolments, never averages of pupil rates.
* the DfE's headline cohort (:func:`dfe_cohort`): pupils of compulsory school age, 5–15 on
  31 August at the start of the academic year (by date of birth; by year group 1–11 when it
  is missing); for pupils aged 15 the second half of the summer term is left out. Reception
  (under 5) and sixth form (16 and over) are reported separately. The second half of the
  summer term starts on the first school day after the May half-term as the school's register
  shows it (a whole week without marks ending between 18 May and 21 June), else on the
  Monday after the spring bank holiday week (last Monday of May + 7 days):
  :func:`second_half_summer_starts`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.codes import CATEGORY_ID, Category, categories

PA_THRESHOLD = 0.10
SEVERE_THRESHOLD = 0.50

_ID = CATEGORY_ID
PRESENT_ID = _ID[Category.PRESENT]
AEA_ID = _ID[Category.AEA]
AUTH_ID = _ID[Category.AUTHORISED]
UNAUTH_ID = _ID[Category.UNAUTHORISED]
COVID_X_ID = _ID[Category.COVID_X]

TOTAL_COLUMNS = [
    "possible_sessions",
    "attendance_sessions",
    "authorised_absence",
    "unauthorised_absence",
]


def category_counts(category_ids: np.ndarray, group: np.ndarray, n_groups: int) -> pd.DataFrame:
    """Per group, the count of sessions in each counted category (vectorised ``bincount``).

    ``category_ids`` are ids from :func:`features.codes.categories`; ``group`` an integer group
    index per session in ``[0, n_groups)``. Returns columns ``present, aea, authorised,
    unauthorised, covid_x`` and the derived :data:`TOTAL_COLUMNS`.
    """

    def count(cat_id: int) -> np.ndarray:
        return np.bincount(group[category_ids == cat_id], minlength=n_groups)

    present, aea = count(PRESENT_ID), count(AEA_ID)
    authorised, unauthorised, covid_x = count(AUTH_ID), count(UNAUTH_ID), count(COVID_X_ID)
    return pd.DataFrame(
        {
            "present": present,
            "aea": aea,
            "authorised": authorised,
            "unauthorised": unauthorised,
            "covid_x": covid_x,
            "possible_sessions": present + aea + authorised + unauthorised + covid_x,
            "attendance_sessions": present + aea,
            "authorised_absence": authorised,
            "unauthorised_absence": unauthorised,
        }
    )


def add_rates(totals: pd.DataFrame) -> pd.DataFrame:
    """Add ``overall_absence``, ``absence_rate``, ``persistent_absence`` and ``severe_absence``
    to a frame with :data:`TOTAL_COLUMNS` (rates are NaN where there are no possible
    sessions, and such rows are neither persistent nor severe absentees)."""
    out = totals.copy()
    out["overall_absence"] = out["authorised_absence"] + out["unauthorised_absence"]
    possible = out["possible_sessions"].to_numpy(dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.where(possible > 0, out["overall_absence"].to_numpy() / possible, np.nan)
    out["absence_rate"] = rate
    out["persistent_absence"] = np.nan_to_num(rate, nan=0.0) >= PA_THRESHOLD
    out["severe_absence"] = np.nan_to_num(rate, nan=0.0) >= SEVERE_THRESHOLD
    return out


def enrolment_totals(marks: pd.DataFrame, by: list[str] | None = None) -> pd.DataFrame:
    """DfE totals and rates per enrolment.

    ``marks`` has the canonical columns ``school_urn, upn, date, session, code`` (statutory
    codes). ``by`` defaults to ``["school_urn", "upn"]``; add ``"academic_year"`` (a column the
    caller provides) for multi-year data. Enrolments whose marks are all not-counted keep a row
    with zero possible sessions and NaN rate.
    """
    by = by or ["school_urn", "upn"]
    cat_ids = categories(marks["code"], marks["date"])
    # Factorise each key column, combine the integer codes, factorise once more: much faster
    # than factorising a MultiIndex of millions of rows.
    combined = np.zeros(len(marks), dtype=np.int64)
    levels = []
    for column in by:
        codes, uniques = pd.factorize(marks[column], sort=True)
        combined = combined * len(uniques) + codes
        levels.append(uniques)
    group, combined_values = pd.factorize(combined, sort=True)
    counts = category_counts(cat_ids, np.asarray(group), len(combined_values))
    key_columns = {}
    remainder = combined_values.astype(np.int64)
    for column, uniques in reversed(list(zip(by, levels, strict=True))):
        key_columns[column] = np.asarray(uniques)[remainder % len(uniques)]
        remainder = remainder // len(uniques)
    counts.index = pd.MultiIndex.from_arrays([key_columns[c] for c in by], names=by)
    return add_rates(counts[TOTAL_COLUMNS]).reset_index()


def area_totals(enrolments: pd.DataFrame, by: list[str] | None = None) -> pd.DataFrame:
    """Sum enrolment totals to schools or areas (``by``; the whole frame when ``None``).

    Rates are ratios of sums (DfE method); ``persistent_absence_rate`` and
    ``severe_absence_rate`` are the shares of enrolments with possible sessions that are PA or
    severely absent; ``enrolments`` counts those enrolments.
    """
    counted = enrolments[enrolments["possible_sessions"] > 0]
    agg = {c: "sum" for c in TOTAL_COLUMNS}
    agg |= {"persistent_absence": "mean", "severe_absence": "mean", "upn": "count"}
    if by:
        summed = counted.groupby(by, observed=True).agg(agg).reset_index()
    else:
        summed = counted.agg(agg).to_frame().T
    summed = summed.rename(
        columns={
            "persistent_absence": "persistent_absence_rate",
            "severe_absence": "severe_absence_rate",
            "upn": "enrolments",
        }
    )
    for column in [*TOTAL_COLUMNS, "enrolments"]:
        summed[column] = summed[column].astype("int64")
    summed["overall_absence"] = summed["authorised_absence"] + summed["unauthorised_absence"]
    summed["absence_rate"] = summed["overall_absence"] / summed["possible_sessions"]
    return summed


# --- the DfE cohort ---------------------------------------------------------------------------

COHORT_DFE = "dfe"
COHORT_RECEPTION = "reception"
COHORT_SIXTH_FORM = "sixth_form"
COHORT_UNKNOWN = "unknown"
COHORTS = (COHORT_DFE, COHORT_RECEPTION, COHORT_SIXTH_FORM, COHORT_UNKNOWN)
"""What :func:`dfe_cohort` calls each enrolment: in the DfE's headline cohort (compulsory
school age), Reception (under 5), sixth form (16 or over), or unknown (no roster row, or no
date of birth and no year group)."""

COMPULSORY_AGES = (5, 15)
"""Ages on 31 August at the start of the academic year of the DfE cohort (inclusive)."""
SUMMER_EXCLUDED_AGE = 15
"""Pupils of this age on 31 August are left out from the second half of the summer term."""
_RECEPTION_YEAR_GROUP = 0  # how the roster reader stores "R"


def age_on_31_august(
    date_of_birth: pd.Series | np.ndarray, start_year: pd.Series | np.ndarray | int
) -> np.ndarray:
    """Age in whole years on 31 August of ``start_year`` (the start of the academic year
    ``start_year``/``start_year + 1``): float, NaN where the date of birth is missing."""
    born = pd.to_datetime(pd.Series(np.asarray(date_of_birth)), errors="coerce")
    start = np.broadcast_to(np.asarray(start_year, dtype=float), (len(born),))
    # Born September to December: that year's birthday is still to come on 31 August.
    age = start - born.dt.year.to_numpy(dtype=float) - (born.dt.month.to_numpy(dtype=float) > 8)
    return np.where(born.isna().to_numpy(), np.nan, age)


def pupil_cohorts(roster: pd.DataFrame, start_year: pd.Series | np.ndarray | int) -> pd.DataFrame:
    """Per roster row: ``age_on_31_august``, ``cohort`` (:data:`COHORTS`) and
    ``summer_excluded`` (aged 15: the second half of the summer term is left out).

    The date of birth decides when present (the DfE counts by age): 5–15 on 31 August →
    ``dfe``, under 5 → ``reception``, 16 and over → ``sixth_form``. Without one, the year group
    decides: R (``0``) → reception, 1–11 → dfe (Year 11 taken as aged 15), 12–13 → sixth form.
    """
    n = len(roster)
    dob = roster["date_of_birth"] if "date_of_birth" in roster else pd.Series([pd.NaT] * n)
    age = age_on_31_august(dob.to_numpy(), start_year)
    if "year_group" in roster:
        year_group = pd.to_numeric(roster["year_group"], errors="coerce").to_numpy(dtype=float)
    else:
        year_group = np.full(n, np.nan)
    low, high = COMPULSORY_AGES
    by_age = np.select(
        [age < low, age > high, (age >= low) & (age <= high)],
        [COHORT_RECEPTION, COHORT_SIXTH_FORM, COHORT_DFE],
        COHORT_UNKNOWN,
    )
    by_year = np.select(
        [
            year_group == _RECEPTION_YEAR_GROUP,
            (year_group >= 1) & (year_group <= 11),
            year_group >= 12,
        ],
        [COHORT_RECEPTION, COHORT_DFE, COHORT_SIXTH_FORM],
        COHORT_UNKNOWN,
    )
    has_age = ~np.isnan(age)
    cohort = np.where(has_age, by_age, by_year)
    summer_excluded = np.where(has_age, age == SUMMER_EXCLUDED_AGE, year_group == 11)
    return pd.DataFrame(
        {
            "age_on_31_august": age,
            "cohort": pd.Categorical(cohort, categories=COHORTS),
            "summer_excluded": summer_excluded & (cohort == COHORT_DFE),
        },
        index=roster.index,
    )


SUMMER_HALF_TERM_WINDOW = ((5, 18), (6, 21))
"""(month, day) bounds of the first school day after the May half-term, when read from the
register."""


def _school_days(marks: pd.DataFrame) -> pd.DataFrame:
    """The distinct (school, day) pairs with marks, sorted: ``school_urn, day``."""
    schools = marks["school_urn"].to_numpy(np.int64)
    day_codes, day_values = pd.factorize(
        pd.to_datetime(marks["date"]).to_numpy().astype("datetime64[D]"), sort=True
    )
    school_codes, school_values = pd.factorize(schools, sort=True)
    pairs = np.unique(school_codes.astype(np.int64) * len(day_values) + day_codes)
    return pd.DataFrame(
        {
            "school_urn": np.asarray(school_values)[pairs // len(day_values)],
            "day": pd.to_datetime(np.asarray(day_values)[pairs % len(day_values)]),
        }
    )


def second_half_summer_starts(marks: pd.DataFrame) -> pd.DataFrame:
    """Per school and academic year of ``marks``, the first day of the second half of the
    summer term: ``academic_year_start`` (int), ``school_urn``, ``start`` (Timestamp) and
    ``source``.

    The rule: the school's own register decides when it shows the May half-term — the first
    date with marks after a gap of at least a whole school week (five weekdays without any
    mark) that ends between 18 May and 21 June (the last such gap, if there were two);
    ``source`` is then ``"register"``. Otherwise (the register stops before the half-term,
    or starts after it) the start is the Monday after the spring bank holiday week, i.e. the
    last Monday of May plus 7 days (``"default"``), the national pattern. Works on the
    distinct school days, not on every mark.
    """
    days = _school_days(marks)
    day = days["day"]
    start_year = (day.dt.year - (day.dt.month < 8)).to_numpy()
    days["start_year"] = start_year
    school = days["school_urn"].to_numpy()
    same = (school[1:] == school[:-1]) & (start_year[1:] == start_year[:-1])
    stamps = day.to_numpy().astype("datetime64[D]")
    gap = np.zeros(len(days), dtype=np.int64)
    gap[1:] = np.where(same, np.busday_count(stamps[:-1] + 1, stamps[1:]), 0)
    (m0, d0), (m1, d1) = SUMMER_HALF_TERM_WINDOW
    month_day = day.dt.month.to_numpy() * 100 + day.dt.day.to_numpy()
    after_gap = (gap >= 5) & (month_day >= m0 * 100 + d0) & (month_day <= m1 * 100 + d1)
    keys = ["start_year", "school_urn"]
    groups = days[keys].drop_duplicates().reset_index(drop=True)
    found = days.loc[after_gap].groupby(keys, sort=False)["day"].last()
    end_year = groups["start_year"].to_numpy() + 1
    may_31 = pd.to_datetime(pd.DataFrame({"year": end_year, "month": 5, "day": 31}))
    last_monday = may_31 - pd.to_timedelta(may_31.dt.day_of_week, unit="D")
    default = last_monday + pd.Timedelta(days=7)
    from_register = found.reindex(pd.MultiIndex.from_frame(groups[keys])).to_numpy()
    known = ~pd.isna(from_register)
    return pd.DataFrame(
        {
            "academic_year_start": groups["start_year"].to_numpy(np.int64),
            "school_urn": groups["school_urn"].to_numpy(),
            "start": np.where(known, from_register, default.to_numpy()).astype("datetime64[ns]"),
            "source": np.where(known, "register", "default"),
        }
    )


def dfe_cohort(marks: pd.DataFrame, roster: pd.DataFrame | None) -> pd.DataFrame:
    """Which marks count in the DfE's headline figures (DOMAIN.md §1.2), vectorised.

    ``marks``: canonical marks (``school_urn, upn, date``…), any schools and years. ``roster``:
    rows with ``upn`` and ``date_of_birth`` and/or ``year_group`` (the reader's canonical
    roster, or the simulator's ``pupils``); when it has ``school_urn`` and ``academic_year``
    columns the rows are matched on those too, else on the UPN alone. ``None`` → every mark's
    cohort is unknown.

    Returns a frame indexed like ``marks`` with ``cohort`` (categorical, :data:`COHORTS`: the
    enrolment's cohort, see :func:`pupil_cohorts`) and ``in_dfe_cohort`` (bool): the mark's
    enrolment is of compulsory school age, and the mark is not in the second half of the
    summer term (:func:`second_half_summer_starts`) of a pupil aged 15. Select
    ``marks[in_dfe_cohort]`` for the DfE's headline figures, ``cohort == "reception"`` or
    ``"sixth_form"`` for the separate ones.
    """
    if len(marks) == 0:
        return pd.DataFrame(
            {
                "cohort": pd.Categorical([], categories=COHORTS),
                "in_dfe_cohort": np.zeros(0, dtype=bool),
            },
            index=marks.index,
        )
    # Factorise days, schools and pupils once; everything else happens per enrolment.
    day_codes, day_values = pd.factorize(
        pd.to_datetime(marks["date"]).to_numpy().astype("datetime64[D]"), sort=True
    )
    day_index = pd.DatetimeIndex(day_values)
    day_start_year = (day_index.year - (day_index.month < 8)).to_numpy(np.int64)
    year_codes, year_values = pd.factorize(day_start_year[day_codes], sort=True)
    school_codes, school_values = pd.factorize(marks["school_urn"].to_numpy(np.int64), sort=True)
    upn_codes, upns = pd.factorize(marks["upn"], sort=True)
    upn_values = np.asarray(upns).astype(str)
    n_school, n_upn = len(school_values), len(upn_values)
    key = (year_codes.astype(np.int64) * n_school + school_codes) * n_upn + upn_codes
    enrol_codes, enrol_keys = pd.factorize(key)
    enrolments = pd.DataFrame(
        {
            "start_year": np.asarray(year_values)[enrol_keys // (n_school * n_upn)],
            "school_urn": np.asarray(school_values)[(enrol_keys // n_upn) % n_school],
            "upn": upn_values[enrol_keys % n_upn],
        }
    )
    cohort = np.full(len(enrolments), COHORT_UNKNOWN, dtype=object)
    excluded = np.zeros(len(enrolments), dtype=bool)
    if roster is not None and len(roster):
        rows = roster.copy()
        rows["upn"] = rows["upn"].astype(str)
        on = ["upn"]
        if "school_urn" in rows:
            rows["school_urn"] = rows["school_urn"].astype(np.int64)
            on.append("school_urn")
        if "academic_year" in rows:
            rows["start_year"] = rows["academic_year"].astype(str).str[:4].astype(np.int64)
            on.append("start_year")
        rows = rows.drop_duplicates(on, keep="last")
        joined = enrolments.merge(rows, on=on, how="left", indicator=True)
        matched = (joined["_merge"] == "both").to_numpy()
        found = pupil_cohorts(joined, joined["start_year"].to_numpy())
        cohort = np.where(matched, found["cohort"].astype(str).to_numpy(), COHORT_UNKNOWN)
        excluded = matched & found["summer_excluded"].to_numpy(dtype=bool)
    starts = second_half_summer_starts(marks).rename(columns={"academic_year_start": "start_year"})
    cutoff = (
        enrolments[["start_year", "school_urn"]]
        .merge(starts, on=["start_year", "school_urn"], how="left")["start"]
        .to_numpy()
        .astype("datetime64[D]")
    )
    per_mark_cohort = pd.Categorical(cohort, categories=COHORTS)[enrol_codes]
    late_summer = excluded[enrol_codes] & (np.asarray(day_values)[day_codes] >= cutoff[enrol_codes])
    return pd.DataFrame(
        {
            "cohort": per_mark_cohort,
            "in_dfe_cohort": (per_mark_cohort == COHORT_DFE) & ~late_summer,
        },
        index=marks.index,
    )


# --- headline figures of many schools -----------------------------------------------------------

FIGURE_LEVELS = {
    "school": ["academic_year", "la", "school_urn"],
    "la": ["academic_year", "la"],
    "england": ["academic_year"],
}
"""The levels of :func:`area_figures` (and the Spark engine's ``national_figures``) and the
keys of each; ``england`` is everything in the data."""


def area_figures(
    marks: pd.DataFrame, schools: pd.DataFrame, roster: pd.DataFrame | None = None
) -> dict[str, pd.DataFrame]:
    """Headline figures (:func:`area_totals`) per school, local authority and for the whole
    data (:data:`FIGURE_LEVELS`), per academic year (``2024/25``; the year of each mark's
    date). ``schools`` gives each school's ``la``. With ``roster`` only the DfE cohort's marks
    count (:func:`dfe_cohort`); without, every mark."""
    from features.calendar import academic_years_of

    if roster is not None:
        marks = marks[dfe_cohort(marks, roster)["in_dfe_cohort"].to_numpy()]
    marks = marks.assign(
        academic_year=academic_years_of(marks["date"]).astype(str).to_numpy(),
        school_urn=marks["school_urn"].astype(np.int64),
    )
    enrolments = enrolment_totals(marks, by=["academic_year", "school_urn", "upn"])
    la = schools[["school_urn", "la"]].astype({"school_urn": np.int64, "la": str})
    enrolments = enrolments.merge(la, on="school_urn", how="left")
    return {level: area_totals(enrolments, by=by) for level, by in FIGURE_LEVELS.items()}
