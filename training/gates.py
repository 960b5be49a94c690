"""Promotion gates: when may a model become the champion?

A model passes when, on its test year:

* its ROC AUC on open outcomes (rows whose year-end status the year so far has not settled),
  pooled over weeks, beats every baseline's;
* its precision in the top ``operating_share`` beats every baseline's;
* its extra list's yield (newly-PA pupils surfaced ≥ 4 weeks ahead per pupil surfaced) is at
  least every plain rule's (:mod:`training.early_warning`);
* its expected calibration error is at most ``max_ece`` pooled and ``max_ece_early`` in each of
  the first ``[fairness] calibration_weeks`` weeks;
* fairness (``[promotion] fairness``): no group's chance of being found below the bound of the
  reference group's, within bands of final absence, and no group's calibration gap above the
  bound (:mod:`training.fairness`). Flag rate and false-positive rate are reported as burden,
  not gated.

The inputs are a plain ``summary`` dict (written with the run as ``summary.json``), so
``ews promote`` judges from what was stored, not by recomputing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from training.baselines import BASELINE_LABELS, BASELINES
from training.config import TrainingConfig
from training.early_warning import RULES, rule_label
from training.fairness import fairness_breaches
from training.metrics import metric_value


@dataclass(frozen=True)
class GateResult:
    """One gate: whether it passed and a sentence saying by how much."""

    name: str
    passed: bool
    detail: str


def gate_summary(
    metrics: pd.DataFrame,
    fairness: pd.DataFrame,
    group_calibration: pd.DataFrame,
    early_warning: pd.DataFrame,
    model: str,
    config: TrainingConfig,
) -> dict[str, Any]:
    """The numbers the gates read, for ``model`` (a key in ``metrics``)."""
    share = f"{round(config.evaluation.operating_share * 100):g}"
    precision = f"precision_at_{share}"

    def own(table: pd.DataFrame) -> pd.DataFrame:
        return table[table["model"] == model] if "model" in table.columns else table

    breaches = fairness_breaches(own(fairness), own(group_calibration))
    yields = early_warning.set_index("model")["yield"] if len(early_warning) else pd.Series()
    weeks = range(1, config.fairness.calibration_weeks + 1)
    return {
        "model": model,
        "operating_share": config.evaluation.operating_share,
        "precision_metric": precision,
        "roc_auc": {
            k: metric_value(metrics, k, "roc_auc", population="open") for k in [model, *BASELINES]
        },
        "precision": {k: metric_value(metrics, k, precision) for k in [model, *BASELINES]},
        "yield": {k: float(yields.get(k, float("nan"))) for k in [model, *RULES]},
        "ece": metric_value(metrics, model, "ece"),
        "ece_early": {str(w): metric_value(metrics, model, "ece", week=w) for w in weeks},
        "max_ece": config.promotion.max_ece,
        "max_ece_early": config.promotion.max_ece_early,
        "fairness": config.promotion.fairness,
        "recall_ratio_min": config.fairness.recall_ratio_min,
        "calibration_gap_max": config.fairness.calibration_gap_max,
        "fairness_breaches": breaches.to_dict(orient="records"),
    }


def _beats(
    values: dict[str, float],
    model: str,
    others: list[str],
    key: str,
    label: str,
    names: dict[str, str],
) -> list[GateResult]:
    results = []
    own = values[model]
    for other_key in others:
        other = values[other_key]
        passed = own == own and other == other and own > other  # NaN never passes
        margin = own - other
        results.append(
            GateResult(
                f"{key} > {other_key}",
                passed,
                f"{label} {own:.3f} vs {names[other_key]} {other:.3f} "
                f"({'ahead' if margin > 0 else 'short'} by {abs(margin):.3f})",
            )
        )
    return results


def check_gates(summary: dict[str, Any]) -> list[GateResult]:
    """Judge every gate from a :func:`gate_summary` dict."""
    model = summary["model"]
    results = _beats(
        summary["roc_auc"], model, BASELINES, "roc_auc", "ROC AUC (open outcomes)", BASELINE_LABELS
    )
    results += _beats(
        summary["precision"],
        model,
        BASELINES,
        "precision",
        summary["precision_metric"],
        BASELINE_LABELS,
    )
    results += _beats(
        summary["yield"],
        model,
        list(RULES),
        "yield",
        "extra-list yield",
        {r: rule_label(r) for r in RULES},
    )
    ece, bound = summary["ece"], summary["max_ece"]
    results.append(
        GateResult(
            "calibration",
            ece == ece and ece <= bound,
            f"expected calibration error {ece:.4f} "
            + (
                f"within the bound {bound}"
                if ece <= bound
                else f"exceeds {bound} by {ece - bound:.4f}"
            ),
        )
    )
    early, early_bound = summary["ece_early"], summary["max_ece_early"]
    over = {w: v for w, v in early.items() if not (v == v and v <= early_bound)}
    results.append(
        GateResult(
            "calibration, first weeks",
            not over,
            f"ECE at most {early_bound} in weeks {', '.join(early)}"
            if not over
            else "ECE above "
            + f"{early_bound} in "
            + ", ".join(f"week {w} ({v:.4f})" for w, v in over.items()),
        )
    )
    if summary["fairness"]:
        breaches = summary["fairness_breaches"]
        if breaches:
            listed = "; ".join(
                f"{b['attribute']}={b['group']} {b['kind']} {b['value']:.3f} "
                f"at {b['operating_point']}"
                for b in breaches
            )
            detail = f"{len(breaches)} breach(es): {listed}"
        else:
            detail = (
                f"every group found at least {summary['recall_ratio_min']} times as often as "
                "its reference within bands of final absence, and calibrated within "
                f"{summary['calibration_gap_max']} in the first weeks"
            )
        results.append(GateResult("fairness", not breaches, detail))
    return results
