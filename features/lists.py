"""The two lists a school works from, defined once for the evaluation and the service.

* The **school's list**: every pupil below 90% attendance so far this year (absence so far ≥
  10% of their possible sessions) — what every MIS already shows.
* The **extra list** ("heading there"): each school week, the top ``share`` of the school's
  roll (at least one pupil) among pupils *not* on the school's list, ranked by
  :func:`heading_score`. A pupil is **surfaced** the first week they are on it for the second
  school week running.

:func:`heading_score` ranks by the model's probability of ending the year persistently
absent, with the pupils who were persistently absent last year after everyone else: the
school knows them from last year's list, and the early warning is for the pupils nobody has
flagged. (For a pupil who was not PA last year, that probability *is* the probability of
becoming newly persistently absent.)
"""

from __future__ import annotations

import numpy as np
import pandas as pd

SCHOOL_LIST_THRESHOLD = 0.10
EXTRA_LIST_SHARE = 0.03


def on_school_list(absence_rate_ytd: np.ndarray) -> np.ndarray:
    """Absence so far ≥ 10% (unknown counts as not on the list)."""
    return np.nan_to_num(np.asarray(absence_rate_ytd, dtype=float), nan=0.0) >= (
        SCHOOL_LIST_THRESHOLD
    )


def heading_score(probability: np.ndarray, pa_last_year: np.ndarray) -> np.ndarray:
    """The extra list's order: the probability, minus one for pupils PA last year (so they
    come after every other pupil, in their own order)."""
    was_pa = np.nan_to_num(np.asarray(pa_last_year, dtype=float), nan=0.0) == 1
    return np.asarray(probability, dtype=float) - was_pa.astype(float)


def extra_list_flags(
    scores: np.ndarray,
    on_list: np.ndarray,
    group: np.ndarray,
    tie_break: np.ndarray,
    share: float = EXTRA_LIST_SHARE,
) -> np.ndarray:
    """Per row: on the extra list of its ``group`` (a school's week). ``k`` is
    ``max(1, round(share × rows of the group))``, taken among rows not ``on_list``; ties in
    ``scores`` are broken by ``tie_break`` (lower first)."""
    scores = np.asarray(scores, dtype=float)
    group = pd.factorize(np.asarray(group))[0]
    if len(scores) == 0:
        return np.zeros(0, dtype=bool)
    roll = np.bincount(group)[group]
    k = np.maximum(1, np.round(share * roll)).astype(np.int64)
    off = ~np.asarray(on_list, dtype=bool)
    order = np.lexsort((tie_break[off], -scores[off], group[off]))
    sorted_group = group[off][order]
    starts = np.r_[True, sorted_group[1:] != sorted_group[:-1]]
    first = np.maximum.accumulate(np.where(starts, np.arange(len(order)), 0))
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order)) - first
    flags = np.zeros(len(scores), dtype=bool)
    flags[np.flatnonzero(off)] = rank < k[off]
    return flags


def surfaced_weeks(flags: np.ndarray, pupil: np.ndarray, week: np.ndarray) -> pd.Series:
    """Per pupil ever surfaced: the first week they are flagged for the second school week
    running (``week`` counts school weeks, so consecutive weeks differ by one)."""
    flagged = pd.DataFrame({"pupil": np.asarray(pupil)[flags], "week": np.asarray(week)[flags]})
    flagged = flagged.sort_values(["pupil", "week"])
    previous = flagged.groupby("pupil")["week"].shift()
    second = flagged[previous == flagged["week"] - 1]
    return second.groupby("pupil")["week"].min()
