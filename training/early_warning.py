"""Lead time over the school's own list: is the early warning early?

The lists are :mod:`features.lists`'s (the service shows the same ones): each school week the
school's list (absence so far ≥ 10%) and the *extra list*, the top ``share`` of the roll (3%)
among the pupils not on it. A pupil is *surfaced* the first week they are on the extra list
for the second school week running. For the pupils who end the year persistently absent and
were not persistently absent last year (*newly PA*; pupils with no record last year count as
newly PA: nobody knew), the *crossing week* is the first week after which they stay on the
school's list to the end of the year, and their lead is the crossing week minus the week they
were surfaced (counted only when surfaced before crossing).

Reported per list (:func:`extra_list_summary`): newly-PA pupils, the share surfaced at least
``lead_weeks`` (4) weeks ahead, the distribution of leads, the distinct pupils ever surfaced
and the share of them who end the year PA, and the **yield**: newly-PA pupils surfaced at
least 4 weeks ahead per distinct pupil surfaced — what a practitioner's time buys. A model's
list is ranked by :func:`features.lists.heading_score`; it is always set beside lists drawn by
rules (:func:`rule_scores`): last 4 weeks' absence, the year-to-date rate just under 10%, last
year's rate, and last 4 weeks' plus last year's rate — and, as the comparison a sceptic would
ask for, the same rules with last year's persistent absentees put last as the model's list
puts them (``… (known last)``).

Two references say what is possible at all under these definitions (reported, never gated):
:func:`reachable` — the newly-PA pupils whom *some* list could surface ``lead_weeks`` ahead
(off the school's list two weeks running, early enough), and the *hindsight* list
(:func:`hindsight_score`), which knows the year's outcomes: how far a list of this size could
go if the registers told everything.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from features import lists
from training.baselines import imputed_last_year
from training.metrics import EvaluationFrame

RULES = ("recent_4w", "ytd_just_under", "last_year", "recent_and_last_year")
RULE_LABELS = {
    "recent_4w": "rule: last 4 weeks' absence",
    "ytd_just_under": "rule: year-to-date rate just under 10%",
    "last_year": "rule: last year's rate",
    "recent_and_last_year": "rule: last 4 weeks' + last year's rate",
}
KNOWN_LAST = " (known last)"
"""Suffix of a rule whose list puts last year's persistent absentees after everyone else."""
HINDSIGHT = "hindsight"
HINDSIGHT_LABEL = "hindsight: knows who becomes PA (a ceiling, not a rule)"


@dataclass(frozen=True)
class ListRows:
    """What the extra-list measures need about the test year's rows."""

    frame: EvaluationFrame
    on_school_list: np.ndarray  # absence so far ≥ 10% this week
    newly_pa: np.ndarray  # per row: the enrolment ends the year PA and was not PA last year
    pa_last_year: np.ndarray

    @classmethod
    def from_rows(cls, rows: pd.DataFrame, frame: EvaluationFrame) -> ListRows:
        pa_last_year = rows["pa_last_year"].to_numpy(dtype=float, na_value=np.nan)
        return cls(
            frame=frame,
            on_school_list=lists.on_school_list(rows["absence_rate_ytd"].to_numpy(dtype=float)),
            newly_pa=(frame.label == 1) & (np.nan_to_num(pa_last_year) != 1),
            pa_last_year=pa_last_year,
        )

    @property
    def school_week(self) -> np.ndarray:
        return self.frame.week * (int(self.frame.school.max()) + 1) + self.frame.school


def extra_list_flags(scores: np.ndarray, rows: ListRows, share: float) -> np.ndarray:
    """Per row: on its school's extra list that week (:func:`features.lists.extra_list_flags`)."""
    return lists.extra_list_flags(
        scores, rows.on_school_list, rows.school_week, rows.frame.tie_break, share
    )


def surfaced_weeks(scores: np.ndarray, rows: ListRows, share: float) -> pd.Series:
    """Per enrolment ever surfaced, the week it was."""
    flags = extra_list_flags(scores, rows, share)
    return lists.surfaced_weeks(flags, rows.frame.enrolment, rows.frame.week)


def crossing_weeks(rows: ListRows) -> pd.Series:
    """Per newly-PA enrolment: the first week after which they stay on the school's list."""
    frame = rows.frame
    table = pd.DataFrame(
        {
            "enrolment": frame.enrolment[rows.newly_pa],
            "week": frame.week[rows.newly_pa],
            "on": rows.on_school_list[rows.newly_pa],
        }
    )
    last_off = table[~table["on"]].groupby("enrolment")["week"].max()
    first_week = table.groupby("enrolment")["week"].min()
    crossing = (last_off + 1).reindex(first_week.index)
    return crossing.fillna(first_week).astype(int)


def reachable(rows: ListRows, lead_weeks: int = 4) -> pd.Series:
    """Per newly-PA enrolment: could any extra list surface them ``lead_weeks`` ahead? Only
    if they were off the school's list in two consecutive school weeks, the second at least
    ``lead_weeks`` before their crossing week (a list of any size could do no more)."""
    frame = rows.frame
    table = pd.DataFrame(
        {
            "enrolment": frame.enrolment[rows.newly_pa],
            "week": frame.week[rows.newly_pa],
            "off": ~rows.on_school_list[rows.newly_pa],
        }
    ).sort_values(["enrolment", "week"], kind="stable")
    before = table.groupby("enrolment")[["week", "off"]].shift(1)
    twice = table["off"] & before["off"].eq(True) & (table["week"] == before["week"] + 1)
    first = table[twice].groupby("enrolment")["week"].min()
    crossing = crossing_weeks(rows)
    return (first.reindex(crossing.index) <= crossing - lead_weeks).rename("reachable")


def hindsight_score(rows: ListRows, lead_weeks: int = 4) -> np.ndarray:
    """A list that knows the outcomes: each week, newly-PA pupils still ``lead_weeks`` or
    more before crossing first (the soonest to cross first), then the other newly-PA pupils,
    then everyone else. Evaluation only: it reads the labels."""
    crossing = crossing_weeks(rows)
    ahead = crossing.reindex(rows.frame.enrolment).to_numpy(dtype=float) - rows.frame.week
    soon_first = 1.0 - np.nan_to_num(ahead) / 1000.0
    return np.where(
        rows.newly_pa & (ahead >= lead_weeks), 2.0 + soon_first, rows.newly_pa.astype(float)
    )


def leads(surfaced: pd.Series, rows: ListRows) -> pd.DataFrame:
    """Per newly-PA enrolment: ``crossing_week``, ``surfaced_week`` (NaN: never surfaced
    before crossing) and ``lead`` (weeks; NaN when not surfaced)."""
    crossing = crossing_weeks(rows)
    table = pd.DataFrame({"crossing_week": crossing})
    table["surfaced_week"] = surfaced.reindex(crossing.index).astype(float)
    table.loc[table["surfaced_week"] >= table["crossing_week"], "surfaced_week"] = np.nan
    table["lead"] = table["crossing_week"] - table["surfaced_week"]
    return table


def extra_list_summary(
    scores: np.ndarray, rows: ListRows, share: float, lead_weeks: int = 4
) -> dict[str, float]:
    """The numbers of one extra list (see the module docstring)."""
    surfaced = surfaced_weeks(scores, rows, share)
    table = leads(surfaced, rows)
    ends_pa = pd.Series(rows.frame.label).groupby(rows.frame.enrolment).max()
    early = int((table["lead"] >= lead_weeks).sum())
    newly = len(table)
    lead = table["lead"].dropna()
    distinct = len(surfaced)

    def quantile(q: float) -> float:
        return float(lead.quantile(q)) if len(lead) else float("nan")

    return {
        "newly_pa": float(newly),
        "surfaced_ahead": float(early),
        "surfaced_ahead_share": early / newly if newly else float("nan"),
        "lead_q25": quantile(0.25),
        "lead_median": quantile(0.5),
        "lead_q75": quantile(0.75),
        "distinct_surfaced": float(distinct),
        "surfaced_end_pa": float(ends_pa.reindex(surfaced.index).mean())
        if distinct
        else float("nan"),
        "yield": early / distinct if distinct else float("nan"),
    }


def rule_scores(rows: pd.DataFrame) -> dict[str, np.ndarray]:
    """The rules an extra list is always compared with (higher = listed first), plain and
    with last year's persistent absentees last."""

    def column(name: str) -> np.ndarray:
        return rows[name].to_numpy(dtype=float, na_value=np.nan)

    recent = np.nan_to_num(column("absence_rate_4w"), nan=0.0)
    last_year = imputed_last_year(rows)
    plain = {
        "recent_4w": recent,
        # Among pupils below 10% so far, the highest rate is the one just under the line.
        "ytd_just_under": np.nan_to_num(column("absence_rate_ytd"), nan=0.0),
        "last_year": last_year,
        "recent_and_last_year": recent + last_year,
    }
    # Rules score in rates up to 2; the known-last shift must clear that.
    was_pa = np.nan_to_num(column("pa_last_year"), nan=0.0) == 1
    known_last = {key + KNOWN_LAST: value - 3.0 * was_pa for key, value in plain.items()}
    return plain | known_last


def model_list_score(probability: np.ndarray, rows: pd.DataFrame) -> np.ndarray:
    """A model's extra-list order (:func:`features.lists.heading_score`)."""
    return lists.heading_score(probability, rows["pa_last_year"].to_numpy(dtype=float))


def extra_list_report(
    scores: Mapping[str, np.ndarray],
    rows: ListRows,
    share: float,
    lead_weeks: int = 4,
) -> pd.DataFrame:
    """One row per list (each model and each rule): :func:`extra_list_summary`."""
    records = [
        {"model": key, **extra_list_summary(np.asarray(s, dtype=float), rows, share, lead_weeks)}
        for key, s in scores.items()
    ]
    return pd.DataFrame(records)


def rule_label(key: str) -> str:
    """Human label of a rule key (with or without the known-last suffix, or hindsight)."""
    if key == HINDSIGHT:
        return HINDSIGHT_LABEL
    base = key.removesuffix(KNOWN_LAST)
    return RULE_LABELS[base] + (KNOWN_LAST if key.endswith(KNOWN_LAST) else "")
