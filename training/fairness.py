"""The fairness audit of MODELLING.md §5.

For an assistive intervention the harm is a group's *lower* chance of being found (Aequitas's
guidance). At each operating point — the extra list (pupils not yet on the school's list; the
early warning), the top ``operating_share`` of pupils each week, and a per-school caseload —
over all snapshot weeks of the test year (rows are pupil-weeks), for each group of FSM, SEN
provision, sex, EAL and ethnicity:

* **recall**, the share of pupil-weeks of pupils who end the year persistently absent that are
  flagged, *within strata of phase × final absence* (bands
  :data:`FairnessConfig.absence_bands`): each group's stratum recalls are averaged with the
  reference group's stratum weights (direct standardisation), so a group whose absentees are
  more absent — and so easier to find — is not read as favoured, nor one whose pupils sit in
  special schools, where a list of 3% of the roll meets most need, as harmed. Its ratio to the
  reference group's gets a pupil-level bootstrap interval. **Gated**, one-sided (being found
  *more* often is no harm): a group fails when its whole 95% interval lies below
  ``recall_ratio_min`` (0.8) — evidence that it is found less than 0.8 times as often, not one
  unlucky draw among the fifty or so groups and operating points judged.
* **burden**, reported and not gated: flag rate and false-positive rate (a flag can lead to
  a conversation about penalty notices), and their ratios;
* precision, for the record.

:func:`calibration_within_groups` checks the probability within each group in the weeks
schools act on first (1 to ``calibration_weeks``): mean predicted against observed, with a
pupil-level bootstrap interval. **Gated** for groups of ``min_group_size`` pupils or more: a
group fails when its gap exceeds ``calibration_gap_max`` (0.03) and its whole 95% interval lies
beyond it — a 55-pupil group's observed rate alone moves by ±6 points from year to year.

Sex and ethnicity are never model inputs; they are used only here.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd

from training.config import FairnessConfig
from training.data import AUDIT_PREFIX, LABEL
from training.metrics import EvaluationFrame, flags_for

BURDEN_METRICS = ["flag_rate", "fpr"]
N_PHASES = 3  # features.schema.PHASE_CODE: primary, secondary, special


def _audited(rows: pd.DataFrame, attributes: list[str]) -> Iterator[tuple[str, np.ndarray]]:
    """Each audited attribute the rows carry, with every row's group as text."""
    for attribute in attributes:
        column = AUDIT_PREFIX + attribute
        if column in rows.columns:
            yield attribute, rows[column].astype(str).to_numpy()


def _strata(frame: EvaluationFrame, rows: pd.DataFrame, edges: list[float]) -> np.ndarray:
    """Per row, its stratum: the phase of its school × the band of its enrolment's final
    absence rate (0 below the second edge; the final rate is the enrolment's last row's
    year-to-date rate, which evaluation knows). Lists are drawn per school and special schools
    hold most pupils with an EHC plan: comparing within phase compares like with like."""
    rate = rows["absence_rate_ytd"].to_numpy(dtype=float, na_value=0.0)
    order = np.lexsort((frame.week, frame.enrolment))
    last_row = pd.Series(order).groupby(frame.enrolment[order]).last()
    final = np.nan_to_num(rate[last_row.reindex(frame.enrolment).to_numpy()])
    band = np.maximum(np.searchsorted(np.asarray(edges), final, side="right") - 1, 0)
    phase = np.nan_to_num(rows["phase_code"].to_numpy(dtype=float, na_value=0.0)).astype(int)
    return phase * len(edges) + band


@dataclass(frozen=True)
class _Positives:
    """Per enrolment that ends the year PA and has rows in scope: its flagged and counted
    pupil-weeks, its band of final absence and its group."""

    hits: np.ndarray
    count: np.ndarray
    band: np.ndarray
    group: np.ndarray

    @classmethod
    def of(
        cls,
        flags: np.ndarray,
        scope: np.ndarray,
        frame: EvaluationFrame,
        band: np.ndarray,
        groups: np.ndarray,
    ) -> _Positives:
        rows = scope & (frame.label == 1)
        table = (
            pd.DataFrame(
                {
                    "e": frame.enrolment[rows],
                    "hit": flags[rows],
                    "band": band[rows],
                    "g": groups[rows],
                }
            )
            .groupby("e")
            .agg(
                hits=("hit", "sum"),
                count=("hit", "size"),
                band=("band", "first"),
                group=("g", "first"),
            )
        )
        return cls(
            table["hits"].to_numpy(float),
            table["count"].to_numpy(float),
            table["band"].to_numpy(),
            table["group"].to_numpy(),
        )

    def recall(self, group: str, weights: np.ndarray, w: np.ndarray | None = None) -> float:
        """The group's recall with each band's recall weighted by ``weights`` (bands where the
        group has no positives drop out, the weights renormalised); ``w``: bootstrap weights
        per enrolment."""
        w = np.ones(len(self.hits)) if w is None else w
        mine = self.group == group
        n = len(weights)
        hits = np.bincount(self.band[mine], weights=(self.hits * w)[mine], minlength=n)
        count = np.bincount(self.band[mine], weights=(self.count * w)[mine], minlength=n)
        seen = count > 0
        if not seen.any() or weights[seen].sum() == 0:
            return float("nan")
        recall = np.where(seen, hits / np.maximum(count, 1e-12), 0.0)
        return float((recall * weights)[seen].sum() / weights[seen].sum())

    def weights(self, group: str, n_bands: int, w: np.ndarray | None = None) -> np.ndarray:
        """The group's share of positive pupil-weeks per band (the standard population)."""
        w = np.ones(len(self.hits)) if w is None else w
        mine = self.group == group
        return np.bincount(self.band[mine], weights=(self.count * w)[mine], minlength=n_bands)


def _burden(flags: np.ndarray, label: np.ndarray, in_group: np.ndarray) -> dict[str, float]:
    rows = int(in_group.sum())
    flagged = flags & in_group
    negatives = in_group & (label == 0)
    tp = int((flagged & (label == 1)).sum())
    return {
        "rows": float(rows),
        "flagged": float(flagged.sum()),
        "flag_rate": flagged.sum() / rows if rows else float("nan"),
        "fpr": (flagged & negatives).sum() / negatives.sum() if negatives.any() else float("nan"),
        "precision": tp / flagged.sum() if flagged.any() else float("nan"),
    }


def _operating_points(
    frame: EvaluationFrame,
    scores: np.ndarray,
    share: float,
    caseload: int,
    extra_list: tuple | None,
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """name → (flags, rows in scope): the extra list is judged among pupils not yet on the
    school's list (the ones it can find)."""
    everyone = np.ones(len(frame.label), dtype=bool)
    points = {}
    if extra_list is not None:
        from training.early_warning import extra_list_flags

        list_rows, list_scores, list_share = extra_list
        flags = extra_list_flags(list_scores, list_rows, list_share)
        points[f"extra list {round(list_share * 100):g}%"] = (flags, ~list_rows.on_school_list)
    points[f"top {round(share * 100):g}%"] = (
        flags_for(scores, frame, everyone, share=share),
        everyone,
    )
    points[f"caseload {caseload}"] = (
        flags_for(scores, frame, everyone, caseload=caseload),
        everyone,
    )
    return points


def _reference(pupils: pd.Series, config: FairnessConfig, attribute: str) -> str:
    reference = config.reference.get(attribute)
    return reference if reference in pupils.index else str(pupils.idxmax())


def fairness_audit(
    frame: EvaluationFrame,
    rows: pd.DataFrame,
    scores: np.ndarray,
    config: FairnessConfig,
    *,
    share: float,
    caseload: int,
    extra_list: tuple | None = None,
    seed: int = 0,
) -> pd.DataFrame:
    """The audit table for one model on the evaluated ``rows`` (with ``audit_*`` columns):
    one row per (operating point, attribute, group) with ``pupils, positive_pupils, recall,
    recall_ratio, recall_low, recall_high, recall_flag`` (below the gate, for a group large
    enough), the burden metrics and their ratios, ``precision`` and ``reference``."""
    n_bands = len(config.absence_bands) * N_PHASES
    band = _strata(frame, rows, config.absence_bands)
    enrolment = pd.Series(frame.enrolment)
    positive = frame.label == 1
    rng = np.random.default_rng(seed)
    points = _operating_points(frame, scores, share, caseload, extra_list)
    records = []
    for attribute, groups in _audited(rows, config.attributes):
        if len(np.unique(groups)) < 2:
            continue
        pupils = enrolment.groupby(groups).nunique()
        positive_pupils = enrolment[positive].groupby(groups[positive]).nunique()
        reference = _reference(pupils, config, attribute)
        for point, (flags, scope) in points.items():
            found = _Positives.of(flags, scope, frame, band, groups)
            weights = found.weights(reference, n_bands)
            ref_recall = found.recall(reference, weights)
            draws = [
                rng.poisson(1.0, len(found.hits)).astype(float) for _ in range(config.bootstrap)
            ]
            boot_ref = [
                found.recall(reference, found.weights(reference, n_bands, w), w) for w in draws
            ]
            ref_burden = _burden(flags, frame.label, (groups == reference) & scope)
            for group in sorted(pupils.index):
                recall = found.recall(group, weights)
                boot = np.array(
                    [
                        found.recall(group, found.weights(reference, n_bands, w), w) / r
                        if r
                        else np.nan
                        for w, r in zip(draws, boot_ref, strict=True)
                    ]
                    if group != reference
                    else []
                )
                boot = boot[np.isfinite(boot)]
                burden = _burden(flags, frame.label, (groups == group) & scope)
                record = {
                    "operating_point": point,
                    "attribute": attribute,
                    "group": group,
                    "reference": group == reference,
                    "pupils": int(pupils[group]),
                    "positive_pupils": int(positive_pupils.get(group, 0)),
                    "recall": recall,
                    "recall_ratio": recall / ref_recall if ref_recall else float("nan"),
                    "recall_low": float(np.quantile(boot, 0.025)) if len(boot) else np.nan,
                    "recall_high": float(np.quantile(boot, 0.975)) if len(boot) else np.nan,
                    **burden,
                }
                for metric in BURDEN_METRICS:
                    with np.errstate(invalid="ignore", divide="ignore"):
                        record[f"{metric}_ratio"] = burden[metric] / ref_burden[metric]
                records.append(record)
    audit = pd.DataFrame(records)
    if audit.empty:
        return pd.DataFrame(columns=["operating_point", "attribute", "group", "recall_flag"])
    audit["too_small"] = audit["positive_pupils"] < config.min_group_size
    # One-sided test of "found at least recall_ratio_min times as often": flagged where the
    # whole 95% interval lies below the bound. With some fifty groups × operating points
    # judged, a point estimate alone would fail a fair model by chance.
    audit["recall_flag"] = (
        ~audit["too_small"]
        & ~audit["reference"]
        & audit["recall_ratio"].notna()
        & (audit["recall_ratio"] < config.recall_ratio_min)
        & (audit["recall_high"] < config.recall_ratio_min)
    )
    return audit


def calibration_within_groups(
    frame: EvaluationFrame,
    rows: pd.DataFrame,
    probability: np.ndarray,
    config: FairnessConfig,
    seed: int = 0,
) -> pd.DataFrame:
    """Per attribute, group and week 1..``calibration_weeks`` (and ``week`` 0: those weeks
    pooled): ``pupils, predicted, observed, gap``; for the pooled weeks also ``gap_low,
    gap_high`` (a 95% pupil-level bootstrap interval) and ``gap_flag``: a group of
    ``min_group_size`` pupils or more whose whole interval lies beyond
    ``calibration_gap_max`` (as for the recall ratios, a point estimate alone would fail a
    calibrated model by chance in small groups)."""
    early = frame.week <= config.calibration_weeks
    p = np.asarray(probability, dtype=float)
    rng = np.random.default_rng(seed)
    records = []
    for attribute, groups in _audited(rows, config.attributes):
        table = pd.DataFrame(
            {
                "group": groups[early],
                "week": frame.week[early],
                "p": p[early],
                "y": frame.label[early],
                "enrolment": frame.enrolment[early],
            }
        )
        weekly = table.groupby(["group", "week"]).agg(
            pupils=("enrolment", "nunique"), predicted=("p", "mean"), observed=("y", "mean")
        )
        pooled = table.groupby("group").agg(
            pupils=("enrolment", "nunique"), predicted=("p", "mean"), observed=("y", "mean")
        )
        pooled["week"] = 0
        pooled = pooled.join(_gap_interval(table, config.bootstrap, rng))
        both = pd.concat([weekly.reset_index(), pooled.reset_index()], ignore_index=True)
        both.insert(0, "attribute", attribute)
        records.append(both)
    if not records:
        return pd.DataFrame(columns=["attribute", "group", "week", "gap", "gap_flag"])
    out = pd.concat(records, ignore_index=True)
    out["gap"] = out["predicted"] - out["observed"]
    bound = config.calibration_gap_max
    beyond = (out["gap_low"] > bound) | (out["gap_high"] < -bound)
    out["gap_flag"] = (
        (out["week"] == 0)
        & (out["pupils"] >= config.min_group_size)
        & (out["gap"].abs() > bound)
        & (beyond | out["gap_low"].isna())
    )
    return out


def _gap_interval(table: pd.DataFrame, replicates: int, rng: np.random.Generator) -> pd.DataFrame:
    """Per group, the 2.5% and 97.5% quantiles of predicted − observed over Poisson(1)
    reweightings of its pupils (each pupil's weeks move together); NaN without replicates."""
    per_pupil = table.groupby(["group", "enrolment"]).agg(
        p=("p", "sum"), y=("y", "sum"), n=("p", "size")
    )
    group = per_pupil.index.get_level_values("group")
    out = {}
    for name in pd.unique(group) if replicates else []:
        mine = per_pupil[group == name]
        w = rng.poisson(1.0, size=(replicates, len(mine))).astype(float)
        n = w @ mine["n"].to_numpy(float)
        with np.errstate(invalid="ignore", divide="ignore"):
            gaps = (w @ mine["p"].to_numpy(float) - w @ mine["y"].to_numpy(float)) / n
        gaps = gaps[np.isfinite(gaps)]
        out[name] = tuple(np.quantile(gaps, [0.025, 0.975])) if len(gaps) else (np.nan, np.nan)
    intervals = pd.DataFrame.from_dict(out, orient="index", columns=["gap_low", "gap_high"])
    return intervals.reindex(pd.unique(group))


def observed_in(rows: pd.DataFrame, config: FairnessConfig) -> pd.DataFrame:
    """Per attribute and group: the share of pupil-weeks of weeks 1..``calibration_weeks``
    that end the year persistently absent among ``rows`` (e.g. the fitting years'), as
    ``attribute, group, observed_fit``: what the model learned each group's rate to be, beside
    which the test year's gap reads as a model's error or as the year's own change."""
    early = rows[rows["week"] <= config.calibration_weeks]
    label = early[LABEL].to_numpy(dtype=float)
    parts = [
        pd.DataFrame({"group": groups, "y": label})
        .groupby("group", as_index=False)["y"]
        .mean()
        .assign(attribute=attribute)
        for attribute, groups in _audited(early, config.attributes)
    ]
    if not parts:
        return pd.DataFrame(columns=["attribute", "group", "observed_fit"])
    return pd.concat(parts, ignore_index=True).rename(columns={"y": "observed_fit"})


def fairness_breaches(audit: pd.DataFrame, group_calibration: pd.DataFrame) -> pd.DataFrame:
    """What fails the fairness gate: recall ratios below the bound and calibration gaps
    above it (``kind, operating_point, attribute, group, value``)."""
    columns = ["kind", "operating_point", "attribute", "group", "value"]
    parts = []
    if not audit.empty and "recall_flag" in audit:
        hit = audit[audit["recall_flag"]]
        parts.append(
            pd.DataFrame(
                {
                    "kind": "recall ratio",
                    "operating_point": hit["operating_point"],
                    "attribute": hit["attribute"],
                    "group": hit["group"],
                    "value": hit["recall_ratio"],
                }
            )
        )
    if not group_calibration.empty and "gap_flag" in group_calibration:
        hit = group_calibration[group_calibration["gap_flag"]]
        parts.append(
            pd.DataFrame(
                {
                    "kind": "calibration gap",
                    "operating_point": "calibration, first weeks",
                    "attribute": hit["attribute"],
                    "group": hit["group"],
                    "value": hit["gap"],
                }
            )
        )
    if not parts:
        return pd.DataFrame(columns=columns)
    return pd.concat(parts, ignore_index=True)[columns]
