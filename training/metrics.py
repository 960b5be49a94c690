"""Evaluation metrics of MODELLING.md §3, for the model and the baselines on the same rows.

Definitions used throughout:

* A **slice** is one snapshot week of the test year, or all weeks **pooled** (``week = 0``).
* Ranking and calibration metrics (ROC AUC, average precision, Brier, ECE) on a pooled slice
  are computed over all its rows (pupil-weeks).
* **Top-k** lists are drawn *within each week* — a school acts on this week's list — so a
  pooled precision at top 10% is the share of PA pupils among all the pupils flagged in any
  week (flags summed over weeks), and pooled recall the share of PA pupil-weeks flagged.
  k = ⌈share × pupils that week⌉; the **caseload** list is the top ``caseload`` pupils of each
  school each week.
* The **emerging** population is the rows whose absence so far is below 10%; its lists are
  drawn among emerging pupils only (k relative to them).
* Ties in a score are broken by one seeded random order shared by every model, so a rule
  with many tied scores (early in the year, most pupils are at 0%) is neither favoured nor
  penalised by row order.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

POOLED = 0
"""``week`` value of the pooled slice."""
POPULATIONS = ("all", "emerging", "open")
"""``open``: rows whose year-end outcome is not already certain from the year so far (see
:func:`open_outcomes`): where per-week AUC means something late in the year."""


def tie_break_order(n: int, seed: int) -> np.ndarray:
    """A seeded random rank per row, used as the last sort key."""
    return np.random.default_rng(seed).permutation(n)


def rank_within(scores: np.ndarray, groups: np.ndarray, tie_break: np.ndarray) -> np.ndarray:
    """0-based rank of each row within its group, highest score first."""
    order = np.lexsort((tie_break, -scores, groups))
    sorted_groups = groups[order]
    is_start = np.r_[True, sorted_groups[1:] != sorted_groups[:-1]]
    start_pos = np.maximum.accumulate(np.where(is_start, np.arange(len(order)), 0))
    ranks = np.empty(len(order), dtype=np.int64)
    ranks[order] = np.arange(len(order)) - start_pos
    return ranks


def top_share_flags(
    scores: np.ndarray, groups: np.ndarray, share: float, tie_break: np.ndarray
) -> np.ndarray:
    """Flag the top ``share`` of rows (⌈share × n⌉) within each group (e.g. each week)."""
    if len(scores) == 0:
        return np.zeros(0, dtype=bool)
    _, inverse, counts = np.unique(groups, return_inverse=True, return_counts=True)
    k = np.ceil(share * counts - 1e-9).astype(np.int64)[inverse]
    return rank_within(scores, inverse, tie_break) < k


def top_n_flags(
    scores: np.ndarray, groups: np.ndarray, n: int, tie_break: np.ndarray
) -> np.ndarray:
    """Flag the top ``n`` rows of each group (e.g. each school in each week)."""
    if len(scores) == 0:
        return np.zeros(0, dtype=bool)
    _, inverse = np.unique(groups, return_inverse=True)
    return rank_within(scores, inverse, tie_break) < n


def expected_calibration_error(y: np.ndarray, p: np.ndarray, bins: int = 10) -> float:
    """ECE with ``bins`` equal-width bins on [0, 1]: Σ_b (n_b / n) · |mean(y_b) − mean(p_b)|."""
    if len(y) == 0:
        return float("nan")
    index = np.clip((p * bins).astype(np.int64), 0, bins - 1)
    sum_y = np.bincount(index, weights=y, minlength=bins)
    sum_p = np.bincount(index, weights=p, minlength=bins)
    return float(np.sum(np.abs(sum_y - sum_p)) / len(y))


def reliability_table(y: np.ndarray, p: np.ndarray, bins: int = 10) -> pd.DataFrame:
    """Per equal-width bin: ``bin_low, bin_high, n, mean_predicted, observed_rate``."""
    index = np.clip((p * bins).astype(np.int64), 0, bins - 1)
    n_b = np.bincount(index, minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_p = np.bincount(index, weights=p, minlength=bins) / n_b
        rate = np.bincount(index, weights=y, minlength=bins) / n_b
    edges = np.linspace(0, 1, bins + 1)
    return pd.DataFrame(
        {
            "bin_low": edges[:-1],
            "bin_high": edges[1:],
            "n": n_b,
            "mean_predicted": mean_p,
            "observed_rate": rate,
        }
    )


def _ranking_metrics(y: np.ndarray, s: np.ndarray) -> tuple[float, float]:
    from sklearn.metrics import average_precision_score, roc_auc_score

    if len(y) == 0 or y.min() == y.max():
        return float("nan"), float("nan")
    return float(roc_auc_score(y, s)), float(average_precision_score(y, s))


@dataclass(frozen=True)
class EvaluationFrame:
    """The rows evaluated and what every metric needs about them (one test year)."""

    label: np.ndarray  # 0/1
    week: np.ndarray
    school: np.ndarray
    emerging: np.ndarray  # bool
    tie_break: np.ndarray
    enrolment: np.ndarray  # an integer id per enrolment (for lead time)
    open: np.ndarray  # bool: the year-end outcome is not yet certain (open_outcomes)

    @classmethod
    def from_rows(
        cls, rows: pd.DataFrame, *, emerging_below: float, seed: int, label: str = "pa_year_end"
    ) -> EvaluationFrame:
        ytd = rows["absence_rate_ytd"].to_numpy(dtype=float, na_value=np.nan)
        enrolment, _ = pd.MultiIndex.from_frame(
            rows[["academic_year", "school_urn", "upn"]].astype(str)
        ).factorize()
        return cls(
            label=rows[label].to_numpy(dtype=float).astype(np.int64),
            week=rows["week"].to_numpy(dtype=np.int64),
            school=pd.factorize(rows["school_urn"])[0].astype(np.int64),
            emerging=np.nan_to_num(ytd, nan=0.0) < emerging_below,
            tie_break=tie_break_order(len(rows), seed),
            enrolment=np.asarray(enrolment, dtype=np.int64),
            open=open_outcomes(rows, np.asarray(enrolment, dtype=np.int64)),
        )

    def population(self, name: str) -> np.ndarray:
        """Boolean mask of a population (``all`` or ``emerging``)."""
        if name == "all":
            return np.ones(len(self.label), dtype=bool)
        if name == "emerging":
            return self.emerging
        if name == "open":
            return self.open
        raise ValueError(f"unknown population {name!r}")


def open_outcomes(rows: pd.DataFrame, enrolment: np.ndarray) -> np.ndarray:
    """Rows whose year-end persistent absence is not already settled by the year so far.

    With ``a`` sessions missed of ``p`` possible so far and ``P`` possible by the year's end
    (the enrolment's last row: known in evaluation, never a feature), the outcome is certain
    once ``a ≥ 10% of P`` (PA whatever happens) or ``a + (P − p) < 10% of P`` (not PA even if
    every remaining session is missed). Late in the year most rows are settled; a per-week AUC
    over all rows mostly measures arithmetic.
    """
    possible = rows["possible_sessions_ytd"].to_numpy(dtype=float, na_value=0.0)
    rate = np.nan_to_num(rows["absence_rate_ytd"].to_numpy(dtype=float, na_value=0.0))
    absent = rate * possible
    final = pd.Series(possible).groupby(enrolment).transform("max").to_numpy()
    threshold = 0.1 * final
    certain_pa = absent >= threshold - 1e-9
    certain_not = absent + (final - possible) < threshold - 1e-9
    return ~(certain_pa | certain_not)


def flags_for(
    scores: np.ndarray,
    frame: EvaluationFrame,
    mask: np.ndarray,
    *,
    share: float | None = None,
    caseload: int | None = None,
) -> np.ndarray:
    """Boolean flags over the rows of ``mask`` (top share per week, or caseload per school
    per week)."""
    s, tb, week = scores[mask], frame.tie_break[mask], frame.week[mask]
    if share is not None:
        return top_share_flags(s, week, share, tb)
    if caseload is not None:
        groups = week * (int(frame.school.max()) + 1) + frame.school[mask]
        return top_n_flags(s, groups, caseload, tb)
    raise ValueError("give share or caseload")


def evaluate_scores(
    frame: EvaluationFrame,
    scores: Mapping[str, np.ndarray],
    *,
    probabilistic: set[str],
    top_shares: list[float],
    caseload: int,
    ece_bins: int = 10,
) -> pd.DataFrame:
    """Every metric for every model, population and slice (each week and pooled).

    Returns a tidy frame: ``model, population, week (0 = pooled), metric, value``. Metrics:
    ``rows, positives, prevalence, roc_auc, average_precision, brier, ece,
    precision_at_{pct}, recall_at_{pct}, flagged_at_{pct}`` (pct as in 10 for 10%) and
    ``precision_at_caseload, recall_at_caseload, flagged_at_caseload``.
    """
    records: list[tuple[str, str, int, str, float]] = []
    weeks = np.unique(frame.week)
    for population in POPULATIONS:
        mask = frame.population(population)
        y_all, week_all = frame.label[mask], frame.week[mask]
        # Slice membership, computed once per population.
        slices = [(POOLED, np.ones(len(y_all), dtype=bool))] + [
            (int(w), week_all == w) for w in weeks
        ]
        for model, raw_scores in scores.items():
            s_all = np.asarray(raw_scores, dtype=float)[mask]
            flag_sets = {
                f"{round(share * 100):g}": flags_for(raw_scores, frame, mask, share=share)
                for share in top_shares
            }
            flag_sets["caseload"] = flags_for(raw_scores, frame, mask, caseload=caseload)
            for week, in_slice in slices:
                y, s = y_all[in_slice], s_all[in_slice]
                n, positives = len(y), int(y.sum())
                auc, ap = _ranking_metrics(y, s)
                values = {
                    "rows": float(n),
                    "positives": float(positives),
                    "prevalence": positives / n if n else float("nan"),
                    "roc_auc": auc,
                    "average_precision": ap,
                }
                if model in probabilistic and n:
                    values["brier"] = float(np.mean((s - y) ** 2))
                    values["ece"] = expected_calibration_error(y, s, ece_bins)
                else:
                    values["brier"] = values["ece"] = float("nan")
                for name, flags in flag_sets.items():
                    f = flags[in_slice]
                    flagged, hits = int(f.sum()), int((f & (y == 1)).sum())
                    values[f"flagged_at_{name}"] = float(flagged)
                    values[f"precision_at_{name}"] = hits / flagged if flagged else float("nan")
                    values[f"recall_at_{name}"] = hits / positives if positives else float("nan")
                records.extend(
                    (model, population, week, metric, value) for metric, value in values.items()
                )
    return pd.DataFrame(records, columns=["model", "population", "week", "metric", "value"])


def lead_times(
    frame: EvaluationFrame,
    scores: Mapping[str, np.ndarray],
    *,
    share: float,
    reference: str = "ytd_rule",
) -> pd.DataFrame:
    """For pupils who end the year PA, the first week each model flags them (top ``share``
    of all pupils that week) and the lead over the ``reference`` rule (positive = earlier).

    Returns one row per (model, PA enrolment): ``model, enrolment, first_week,
    reference_first_week, lead_weeks`` (NaN first weeks: never flagged in the test year).
    """
    mask = np.ones(len(frame.label), dtype=bool)
    positive_rows = frame.label == 1
    out = []

    def first_week(raw: np.ndarray) -> pd.Series:
        flags = flags_for(np.asarray(raw, dtype=float), frame, mask, share=share)
        hit = flags & positive_rows
        weeks = pd.Series(frame.week[hit]).groupby(frame.enrolment[hit]).min()
        return weeks.reindex(np.unique(frame.enrolment[positive_rows]))

    reference_first = first_week(scores[reference])
    for model, raw in scores.items():
        model_first = first_week(raw)
        out.append(
            pd.DataFrame(
                {
                    "model": model,
                    "enrolment": model_first.index.to_numpy(),
                    "first_week": model_first.to_numpy(dtype=float),
                    "reference_first_week": reference_first.to_numpy(dtype=float),
                }
            )
        )
    table = pd.concat(out, ignore_index=True)
    table["lead_weeks"] = table["reference_first_week"] - table["first_week"]
    return table


def summarise_lead_times(table: pd.DataFrame, last_week: int | None = None) -> pd.DataFrame:
    """Per model: PA pupils; the median lead (weeks) over the pupils either side flags, a side
    that never flags a pupil counting as flagging them after ``last_week`` (default: the last
    first-week seen); the median, mean and shares earlier / same week / later over the pupils
    both flag; and pupils flagged only by the model, only by the rule, or by neither."""
    if last_week is None:
        last_week = int(np.nanmax(table[["first_week", "reference_first_week"]].to_numpy()))
    never = last_week + 1
    rows = []
    for model, group in table.groupby("model", sort=False):
        both = group.dropna(subset=["first_week", "reference_first_week"])
        lead = both["lead_weeks"]
        either = group[group["first_week"].notna() | group["reference_first_week"].notna()]
        lead_either = either["reference_first_week"].fillna(never) - either["first_week"].fillna(
            never
        )
        rows.append(
            {
                "model": model,
                "pa_pupils": len(group),
                "flagged_by_either": len(either),
                "median_lead_weeks_either": float(lead_either.median())
                if len(either)
                else float("nan"),
                "earlier_either": float((lead_either > 0).mean()) if len(either) else float("nan"),
                "later_either": float((lead_either < 0).mean()) if len(either) else float("nan"),
                "flagged_by_both": len(both),
                "median_lead_weeks": float(lead.median()) if len(lead) else float("nan"),
                "mean_lead_weeks": float(lead.mean()) if len(lead) else float("nan"),
                "earlier": float((lead > 0).mean()) if len(lead) else float("nan"),
                "same_week": float((lead == 0).mean()) if len(lead) else float("nan"),
                "later": float((lead < 0).mean()) if len(lead) else float("nan"),
                "model_only": int(
                    (group["first_week"].notna() & group["reference_first_week"].isna()).sum()
                ),
                "rule_only": int(
                    (group["first_week"].isna() & group["reference_first_week"].notna()).sum()
                ),
                "neither": int(
                    (group["first_week"].isna() & group["reference_first_week"].isna()).sum()
                ),
                "median_first_week": float(group["first_week"].median()),
            }
        )
    return pd.DataFrame(rows)


def metric_table(
    metrics: pd.DataFrame,
    *,
    population: str,
    weeks: list[int],
    metric_names: list[str],
    models: list[str],
) -> pd.DataFrame:
    """Wide table: one row per (week, model) — weeks in the given order, pooled last — and one
    column per metric."""
    subset = metrics[
        (metrics["population"] == population)
        & metrics["week"].isin([*weeks, POOLED])
        & metrics["metric"].isin(metric_names)
        & metrics["model"].isin(models)
    ]
    wide = subset.pivot_table(
        index=["week", "model"], columns="metric", values="value", aggfunc="first", dropna=False
    )
    order = [(w, m) for w in [*weeks, POOLED] for m in models if (w, m) in wide.index]
    wide = wide.reindex(order)[[m for m in metric_names if m in wide.columns]]
    return wide.reset_index()


def metric_value(
    metrics: pd.DataFrame, model: str, metric: str, *, population: str = "all", week: int = POOLED
) -> float:
    """One number from the tidy metrics frame (NaN if absent)."""
    hit = metrics[
        (metrics["model"] == model)
        & (metrics["metric"] == metric)
        & (metrics["population"] == population)
        & (metrics["week"] == week)
    ]["value"]
    return float(hit.iloc[0]) if len(hit) else float("nan")


def _weighted_top_share(
    order: np.ndarray, label: np.ndarray, weights: np.ndarray, share: float
) -> tuple[np.ndarray, np.ndarray]:
    """Hits and flagged weight of the top ``share`` of weighted rows, for each row of
    ``weights`` (resamples × rows); ``order`` sorts the rows best first."""
    w = weights[:, order]
    before = np.cumsum(w, axis=1) - w  # weight ranked above each row
    k = np.ceil(share * w.sum(axis=1, keepdims=True) - 1e-9)
    flagged = before < k
    return (flagged * w * label[order]).sum(axis=1), (flagged * w).sum(axis=1)


def bootstrap_precision_difference(
    frame: EvaluationFrame,
    scores_a: np.ndarray,
    scores_b: np.ndarray,
    mask: np.ndarray,
    *,
    share: float,
    weeks: list[int],
    resamples: int = 200,
    seed: int = 0,
) -> pd.DataFrame:
    """Precision at the top ``share`` of a minus b, per week in ``weeks`` (and pooled), with a
    95% interval from a pupil-level (Poisson) bootstrap: each enrolment gets one weight per
    resample, shared by all its weeks, so the pooled interval allows for the same pupil
    appearing every week. Returns ``week, difference, low, high``."""
    rng = np.random.default_rng(seed)
    enrolments, enrol_index = np.unique(frame.enrolment[mask], return_inverse=True)
    # Row 0 is the data itself (all weights 1), rows 1.. the resamples.
    weights = np.vstack(
        [np.ones(len(enrolments)), rng.poisson(1.0, size=(resamples, len(enrolments)))]
    ).astype(np.float64)
    label, week, tie = frame.label[mask].astype(np.float64), frame.week[mask], frame.tie_break[mask]
    a, b = np.asarray(scores_a, dtype=float)[mask], np.asarray(scores_b, dtype=float)[mask]
    pooled = np.zeros((4, resamples + 1))  # hits a, flagged a, hits b, flagged b
    rows = []
    for w in np.unique(week):
        in_week = np.flatnonzero(week == w)
        sample = weights[:, enrol_index[in_week]]
        counts = np.vstack(
            [
                np.vstack(
                    _weighted_top_share(
                        np.lexsort((tie[in_week], -s[in_week])), label[in_week], sample, share
                    )
                )
                for s in (a, b)
            ]
        )
        pooled += counts
        if int(w) in weeks:
            rows.append((int(w), counts))
    rows.append((POOLED, pooled))
    out = []
    for w, (hits_a, flagged_a, hits_b, flagged_b) in rows:
        with np.errstate(invalid="ignore", divide="ignore"):
            diff = hits_a / flagged_a - hits_b / flagged_b
        out.append(
            {
                "week": w,
                "difference": float(diff[0]),
                "low": float(np.nanpercentile(diff[1:], 2.5)),
                "high": float(np.nanpercentile(diff[1:], 97.5)),
            }
        )
    return pd.DataFrame(out)
