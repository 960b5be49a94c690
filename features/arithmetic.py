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
