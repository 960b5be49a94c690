"""Fairness audit and promotion gates on hand-made examples."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from training.config import FairnessConfig
from training.fairness import fairness_audit, fairness_breaches
from training.gates import check_gates
from training.metrics import EvaluationFrame


def audit_example(min_group_size: int = 1, min_abs_difference: float = 0.0) -> pd.DataFrame:
    # One week, ten pupils: group A (6, reference) and group B (4); top 40% = 4 flagged.
    label = np.array([1, 1, 0, 0, 0, 0, 1, 1, 0, 0])
    scores = np.array([0.9, 0.1, 0.8, 0.2, 0.2, 0.1, 0.95, 0.85, 0.3, 0.1])
    groups = ["A"] * 6 + ["B"] * 4
    frame = EvaluationFrame(
        label=label,
        week=np.ones(10, dtype=int),
        school=np.zeros(10, dtype=int),
        emerging=np.ones(10, bool),
        tie_break=np.arange(10),
        enrolment=np.arange(10),
    )
    rows = pd.DataFrame({"audit_fsm": groups, "audit_sex": ["F"] * 10})
    config = FairnessConfig(
        attributes=["fsm", "sex"],
        reference={"fsm": "A"},
        min_group_size=min_group_size,
        min_abs_difference=min_abs_difference,
    )
    return fairness_audit(frame, rows, scores, config, share=0.4, caseload=10)


def test_audit_by_hand() -> None:
    audit = audit_example()
    top = audit[audit["operating_point"] == "top 40%"].set_index("group")
    # Flagged: 0.95 (B, PA), 0.9 (A, PA), 0.85 (B, PA), 0.8 (A, not PA).
    a, b = top.loc["A"], top.loc["B"]
    assert (a["pupils"], a["flagged"], a["tp"], a["positives"]) == (6, 2, 1, 2)
    assert a["flag_rate"] == pytest.approx(2 / 6)
    assert a["precision"] == pytest.approx(0.5)
    assert a["recall"] == pytest.approx(0.5)
    assert a["fpr"] == pytest.approx(1 / 4)
    assert b["flag_rate"] == pytest.approx(2 / 4) and b["precision"] == 1.0 and b["recall"] == 1.0
    assert b["fpr"] == 0.0 and b["fnr"] == 0.0
    assert b["flag_rate_ratio"] == pytest.approx(1.5)
    assert b["recall_ratio"] == pytest.approx(2.0)
    assert bool(b["recall_flag"]) and not bool(a["recall_flag"])
    assert bool(a["reference"]) and not bool(b["reference"])
    # An attribute with a single group (sex here) is not audited.
    assert set(audit["attribute"]) == {"fsm"}
    assert set(audit["operating_point"]) == {"top 40%", "caseload 10"}


def test_small_groups_and_immaterial_differences_are_not_flagged() -> None:
    small = audit_example(min_group_size=5)
    assert small.loc[small["group"] == "B", "too_small"].all()
    assert not small.filter(like="_flag").to_numpy().any()
    immaterial = audit_example(min_abs_difference=0.6)
    assert not immaterial["recall_flag"].any()  # 1.0 vs 0.5 differs by 0.5 < 0.6


def test_breaches_list_the_flagged_ratios_of_chosen_metrics() -> None:
    breaches = fairness_breaches(audit_example(), ["recall", "fnr"])
    top = breaches[breaches["operating_point"] == "top 40%"]
    assert top[["group", "metric"]].values.tolist() == [["B", "recall"], ["B", "fnr"]]
    assert fairness_breaches(audit_example(), []).empty


def gate_summary(**changes) -> dict:
    summary = {
        "model": "lgbm_attendance",
        "precision_metric": "precision_at_10",
        "roc_auc": {
            "lgbm_attendance": 0.90,
            "ytd_rule": 0.80,
            "last_year": 0.85,
            "rate_spells": 0.82,
        },
        "precision": {
            "lgbm_attendance": 0.70,
            "ytd_rule": 0.60,
            "last_year": 0.65,
            "rate_spells": 0.62,
        },
        "ece": 0.01,
        "max_ece": 0.03,
        "fairness_metrics": ["recall"],
        "fairness_bounds": [0.8, 1.25],
        "fairness_breaches": [],
    }
    return summary | changes


def test_gates_pass_when_the_model_beats_every_baseline() -> None:
    results = check_gates(gate_summary())
    assert all(g.passed for g in results)
    assert {g.name for g in results} >= {"roc_auc > last_year", "calibration", "fairness"}


def test_failed_gates_say_which_and_by_how_much() -> None:
    summary = gate_summary(
        roc_auc={"lgbm_attendance": 0.84, "ytd_rule": 0.80, "last_year": 0.85, "rate_spells": 0.82},
        ece=0.05,
        fairness_breaches=[
            {
                "operating_point": "top 10%",
                "attribute": "fsm",
                "group": "yes",
                "metric": "recall",
                "ratio": 1.4,
            }
        ],
    )
    failed = {g.name: g.detail for g in check_gates(summary) if not g.passed}
    assert set(failed) == {"roc_auc > last_year", "calibration", "fairness"}
    assert failed["roc_auc > last_year"] == (
        "ROC AUC 0.840 vs Last year's rate 0.850 (short by 0.010)"
    )
    assert "exceeds 0.03 by 0.0200" in failed["calibration"]
    assert "fsm=yes recall ratio 1.40 at top 10%" in failed["fairness"]


def test_a_tie_or_missing_number_does_not_pass() -> None:
    tie = gate_summary(
        precision={"lgbm_attendance": 0.6, "ytd_rule": 0.6, "last_year": 0.5, "rate_spells": 0.5}
    )
    assert not {g.name: g.passed for g in check_gates(tie)}["precision > ytd_rule"]
    missing = gate_summary(ece=float("nan"))
    assert not {g.name: g.passed for g in check_gates(missing)}["calibration"]


def test_an_empty_fairness_gate_says_so() -> None:
    results = check_gates(gate_summary(fairness_metrics=[]))
    fairness = {g.name: g for g in results}["fairness"]
    assert fairness.passed and "no fairness ratio is gated" in fairness.detail
