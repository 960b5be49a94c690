"""The fairness audit of MODELLING.md §5.

At each operating point (the top ``operating_share`` of pupils each week, and the per-school
caseload each week), over all snapshot weeks of the test year pooled (rows are pupil-weeks),
for each group of FSM, SEN provision, sex, EAL and ethnicity: group size, flag rate,
precision, recall (TPR), false-positive rate and false-negative rate, and each one's ratio to
the reference group. A ratio outside [low, high] (0.8–1.25, the four-fifths convention used by
Aequitas) is flagged — unless the group, or its reference, has fewer than ``min_group_size``
pupils (reported as too small to judge), or the two rates differ by less than
``min_abs_difference`` (ratios of rates near zero swing with a single pupil).

Sex and ethnicity are never model inputs; they are used only here.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from training.config import FairnessConfig
from training.data import AUDIT_PREFIX
from training.metrics import EvaluationFrame, flags_for

FAIRNESS_METRICS = ["flag_rate", "precision", "recall", "fpr", "fnr"]


def _group_rates(flags: np.ndarray, label: np.ndarray, groups: pd.Series) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "group": groups.to_numpy(),
            "flagged": flags.astype(np.int64),
            "positive": label.astype(np.int64),
            "tp": (flags & (label == 1)).astype(np.int64),
            "fp": (flags & (label == 0)).astype(np.int64),
        }
    )
    agg = frame.groupby("group", sort=True).agg(
        rows=("flagged", "size"),
        flagged=("flagged", "sum"),
        positives=("positive", "sum"),
        tp=("tp", "sum"),
        fp=("fp", "sum"),
    )
    negatives = agg["rows"] - agg["positives"]
    with np.errstate(invalid="ignore", divide="ignore"):
        agg["flag_rate"] = agg["flagged"] / agg["rows"]
        agg["precision"] = agg["tp"] / agg["flagged"].where(agg["flagged"] > 0)
        agg["recall"] = agg["tp"] / agg["positives"].where(agg["positives"] > 0)
        agg["fpr"] = agg["fp"] / negatives.where(negatives > 0)
        agg["fnr"] = 1.0 - agg["recall"]
    return agg


def fairness_audit(
    frame: EvaluationFrame,
    rows: pd.DataFrame,
    scores: np.ndarray,
    config: FairnessConfig,
    *,
    share: float,
    caseload: int,
) -> pd.DataFrame:
    """The audit table for one model's scores on the evaluated ``rows`` (with ``audit_*``
    columns). One row per (operating point, attribute, group)."""
    everyone = np.ones(len(frame.label), dtype=bool)
    operating_points = {
        f"top {round(share * 100):g}%": flags_for(scores, frame, everyone, share=share),
        f"caseload {caseload}": flags_for(scores, frame, everyone, caseload=caseload),
    }
    enrolment = pd.Series(frame.enrolment)
    tables = []
    for attribute in config.attributes:
        column = AUDIT_PREFIX + attribute
        if column not in rows.columns:
            continue
        groups = rows[column].astype(str).reset_index(drop=True)
        if groups.nunique() < 2:
            continue
        pupils = enrolment.groupby(groups.to_numpy()).nunique()
        reference = config.reference.get(attribute)
        if reference not in pupils.index:
            reference = str(pupils.idxmax())  # the largest group
        for point, flags in operating_points.items():
            table = _group_rates(flags, frame.label, groups)
            table["pupils"] = pupils.reindex(table.index).to_numpy()
            ref = table.loc[reference]
            for metric in FAIRNESS_METRICS:
                with np.errstate(invalid="ignore", divide="ignore"):
                    table[f"{metric}_ratio"] = table[metric] / ref[metric]
                table[f"{metric}_difference"] = table[metric] - ref[metric]
            table["too_small"] = (table["pupils"] < config.min_group_size) | (
                ref["pupils"] < config.min_group_size
            )
            table.insert(0, "operating_point", point)
            table.insert(1, "attribute", attribute)
            table["reference"] = table.index == reference
            tables.append(table.reset_index().rename(columns={"index": "group"}))
    if not tables:
        return pd.DataFrame(columns=["operating_point", "attribute", "group"])
    audit = pd.concat(tables, ignore_index=True)
    for metric in FAIRNESS_METRICS:
        ratio = audit[f"{metric}_ratio"]
        material = audit[f"{metric}_difference"].abs() >= config.min_abs_difference
        audit[f"{metric}_flag"] = (
            ~audit["too_small"]
            & ratio.notna()
            & ((ratio < config.low) | (ratio > config.high))
            & material
        )
    return audit


def fairness_breaches(audit: pd.DataFrame, metrics: list[str]) -> pd.DataFrame:
    """Flagged ratios among ``metrics``: ``operating_point, attribute, group, metric, ratio``."""
    columns = ["operating_point", "attribute", "group", "metric", "ratio"]
    if audit.empty or not metrics:
        return pd.DataFrame(columns=columns)
    parts = []
    for metric in metrics:
        hit = audit[audit[f"{metric}_flag"]]
        parts.append(
            pd.DataFrame(
                {
                    "operating_point": hit["operating_point"],
                    "attribute": hit["attribute"],
                    "group": hit["group"],
                    "metric": metric,
                    "ratio": hit[f"{metric}_ratio"],
                }
            )
        )
    return pd.concat(parts, ignore_index=True)
