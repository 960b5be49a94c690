"""Promotion gates: when may a model become the champion?

A model passes when, on its test year (all pupils, pooled over snapshot weeks):

* its ROC AUC beats every baseline's;
* its precision in the top ``operating_share`` beats every baseline's;
* its expected calibration error is at most ``max_ece``;
* no fairness ratio among ``fairness_metrics`` is flagged (outside 0.8–1.25 for a group
  large enough to judge, see :mod:`training.fairness`).

The inputs are a plain ``summary`` dict (written with the run as ``summary.json``), so
``ews promote`` judges from what was stored, not by recomputing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from training.baselines import BASELINE_LABELS, BASELINES
from training.config import TrainingConfig
from training.fairness import fairness_breaches
from training.metrics import metric_value


@dataclass(frozen=True)
class GateResult:
    """One gate: whether it passed and a sentence saying by how much."""

    name: str
    passed: bool
    detail: str


def gate_summary(
    metrics: pd.DataFrame, fairness: pd.DataFrame, model: str, config: TrainingConfig
) -> dict[str, Any]:
    """The numbers the gates read, for ``model`` (a key in ``metrics``)."""
    share = f"{round(config.evaluation.operating_share * 100):g}"
    precision = f"precision_at_{share}"
    own = fairness[fairness["model"] == model] if "model" in fairness.columns else fairness
    breaches = fairness_breaches(own, list(config.promotion.fairness_metrics))
    return {
        "model": model,
        "operating_share": config.evaluation.operating_share,
        "precision_metric": precision,
        "roc_auc": {k: metric_value(metrics, k, "roc_auc") for k in [model, *BASELINES]},
        "precision": {k: metric_value(metrics, k, precision) for k in [model, *BASELINES]},
        "ece": metric_value(metrics, model, "ece"),
        "max_ece": config.promotion.max_ece,
        "fairness_metrics": list(config.promotion.fairness_metrics),
        "fairness_bounds": [config.fairness.low, config.fairness.high],
        "fairness_breaches": breaches.to_dict(orient="records"),
    }


def check_gates(summary: dict[str, Any]) -> list[GateResult]:
    """Judge every gate from a :func:`gate_summary` dict."""
    model = summary["model"]
    results = []
    for metric, label in (("roc_auc", "ROC AUC"), ("precision", summary["precision_metric"])):
        values = summary[metric]
        own = values[model]
        for baseline in BASELINES:
            other = values[baseline]
            passed = own == own and other == other and own > other  # NaN never passes
            margin = own - other
            results.append(
                GateResult(
                    f"{metric} > {baseline}",
                    passed,
                    f"{label} {own:.3f} vs {BASELINE_LABELS[baseline]} {other:.3f} "
                    f"({'ahead' if margin > 0 else 'short'} by {abs(margin):.3f})",
                )
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
    breaches = summary["fairness_breaches"]
    low, high = summary["fairness_bounds"]
    if breaches:
        listed = "; ".join(
            f"{b['attribute']}={b['group']} {b['metric']} ratio {b['ratio']:.2f} "
            f"at {b['operating_point']}"
            for b in breaches
        )
        detail = f"{len(breaches)} ratio(s) outside {low}–{high}: {listed}"
    elif summary["fairness_metrics"]:
        detail = f"all {', '.join(summary['fairness_metrics'])} ratios within {low}–{high}"
    else:
        detail = "no fairness ratio is gated ([promotion] fairness_metrics is empty)"
    results.append(GateResult("fairness", not breaches, detail))
    return results
