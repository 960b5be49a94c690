"""Fairness audit and promotion gates on hand-made examples."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from training.config import FairnessConfig
from training.fairness import calibration_within_groups, fairness_audit, fairness_breaches
from training.gates import check_gates
from training.metrics import EvaluationFrame


def frame_of(label, enrolment, week=None) -> EvaluationFrame:
    n = len(label)
    return EvaluationFrame(
        label=np.asarray(label),
        week=np.ones(n, dtype=int) if week is None else np.asarray(week),
        school=np.zeros(n, dtype=int),
        emerging=np.ones(n, bool),
        tie_break=np.arange(n),
        enrolment=np.asarray(enrolment),
        open=np.ones(n, bool),
    )


def audit_example(**config) -> pd.DataFrame:
    # One week, ten pupils: group A (6, reference) and group B (4); top 40% = 4 flagged.
    # All absentees end in the same band of final absence (12%).
    label = np.array([1, 1, 0, 0, 0, 0, 1, 1, 0, 0])
    scores = np.array([0.9, 0.1, 0.8, 0.2, 0.2, 0.1, 0.95, 0.85, 0.3, 0.1])
    rows = pd.DataFrame(
        {
            "audit_fsm": ["A"] * 6 + ["B"] * 4,
            "audit_sex": ["F"] * 10,
            "absence_rate_ytd": np.where(label == 1, 0.12, 0.03),
            "phase_code": 0,
        }
    )
    settings = {
        "attributes": ["fsm", "sex"],
        "reference": {"fsm": "A"},
        "min_group_size": 1,
        "bootstrap": 50,
    } | config
    return fairness_audit(
        frame_of(label, np.arange(10)),
        rows,
        scores,
        FairnessConfig(**settings),
        share=0.4,
        caseload=10,
    )


def test_audit_by_hand() -> None:
    audit = audit_example()
    top = audit[audit["operating_point"] == "top 40%"].set_index("group")
    # Flagged: 0.95 (B, PA), 0.9 (A, PA), 0.85 (B, PA), 0.8 (A, not PA).
    a, b = top.loc["A"], top.loc["B"]
    assert (a["pupils"], a["positive_pupils"], a["flagged"]) == (6, 2, 2)
    assert a["recall"] == pytest.approx(0.5) and b["recall"] == pytest.approx(1.0)
    assert b["recall_ratio"] == pytest.approx(2.0)
    assert a["flag_rate"] == pytest.approx(2 / 6) and b["flag_rate"] == pytest.approx(2 / 4)
    assert a["fpr"] == pytest.approx(1 / 4) and b["fpr"] == 0.0
    assert a["precision"] == pytest.approx(0.5) and b["precision"] == 1.0
    assert b["flag_rate_ratio"] == pytest.approx(1.5)
    # Found more often is no harm: one-sided, never flagged.
    assert not audit["recall_flag"].any()
    assert bool(a["reference"]) and not bool(b["reference"])
    # An attribute with a single group (sex here) is not audited.
    assert set(audit["attribute"]) == {"fsm"}
    assert set(audit["operating_point"]) == {"top 40%", "caseload 10"}


def test_recall_is_compared_within_bands_of_final_absence() -> None:
    """Group B's absentees are all severe (easy to find), A's mostly mild: raw recall favours
    B, but within the band they share the two are found equally often."""
    # A: 4 PA pupils, 2 mild (12%, not flagged) + 2 severe (60%, flagged); B: 2 severe flagged.
    label = np.array([1, 1, 1, 1, 1, 1, 0, 0])
    final = np.array([0.12, 0.12, 0.6, 0.6, 0.6, 0.6, 0.02, 0.02])
    scores = np.array([0.1, 0.1, 0.9, 0.9, 0.9, 0.9, 0.2, 0.2])
    rows = pd.DataFrame(
        {
            "audit_fsm": ["A", "A", "A", "A", "B", "B", "A", "B"],
            "absence_rate_ytd": final,
            "phase_code": 0,
        }
    )
    config = FairnessConfig(
        attributes=["fsm"], reference={"fsm": "A"}, min_group_size=1, bootstrap=0
    )
    audit = fairness_audit(
        frame_of(label, np.arange(8)), rows, scores, config, share=0.5, caseload=10
    ).set_index(["operating_point", "group"])
    b = audit.loc[("top 50%", "B")]
    # Raw recall: A 2/4, B 2/2. Banded with A's weights (half mild, half severe): B has no mild
    # absentees, so only the severe band counts for it — 1.0 against A's severe 1.0.
    assert audit.loc[("top 50%", "A"), "recall"] == pytest.approx(0.5)
    assert b["recall"] == pytest.approx(1.0)


def test_a_group_found_clearly_less_often_fails_and_noise_does_not() -> None:
    """Reference A: 40 absentees, all found; B: 40 absentees, 8 found — ratio 0.2, its whole
    interval below 0.8: flagged. With 2 absentees in B the interval is too wide to flag."""

    def audit_for(b_positives: int, b_found: int) -> pd.DataFrame:
        a = 40
        label = np.ones(a + b_positives, dtype=int)
        group = ["A"] * a + ["B"] * b_positives
        flagged = np.r_[np.ones(a), np.ones(b_found), np.zeros(b_positives - b_found)]
        rows = pd.DataFrame({"audit_fsm": group, "absence_rate_ytd": 0.2, "phase_code": 0})
        config = FairnessConfig(
            attributes=["fsm"], reference={"fsm": "A"}, min_group_size=1, bootstrap=200
        )
        # Caseload large enough to flag every scored pupil with score 1; others score 0.
        return fairness_audit(
            frame_of(label, np.arange(len(label))),
            rows,
            flagged,
            config,
            share=(a + b_found) / len(label),
            caseload=1,
        )

    big = audit_for(40, 8).set_index(["operating_point", "group"])
    top = [p for p in big.index.get_level_values(0) if p.startswith("top")][0]
    assert big.loc[(top, "B"), "recall_ratio"] == pytest.approx(0.2)
    assert big.loc[(top, "B"), "recall_high"] < 0.8
    assert bool(big.loc[(top, "B"), "recall_flag"])
    small = audit_for(2, 1).set_index(["operating_point", "group"])
    top = [p for p in small.index.get_level_values(0) if p.startswith("top")][0]
    assert small.loc[(top, "B"), "recall_ratio"] == pytest.approx(0.5)
    assert not bool(small.loc[(top, "B"), "recall_flag"])


def test_groups_with_too_few_absentees_are_not_judged() -> None:
    small = audit_example(min_group_size=5)
    assert small["too_small"].all() and not small["recall_flag"].any()


def _two_groups(n: int) -> tuple:
    """Weeks 1-2, two groups of ``n`` pupils, everyone predicted 0.2: A with 20% PA, B 30%."""
    a, b = n // 5, 3 * n // 10
    label = np.r_[np.zeros(n - a), np.ones(a), np.zeros(n - b), np.ones(b)].astype(int)
    rows = pd.DataFrame({"audit_fsm": ["A"] * n + ["B"] * n})
    frame = frame_of(np.tile(label, 2), np.tile(np.arange(2 * n), 2), np.repeat([1, 2], 2 * n))
    return frame, pd.concat([rows, rows], ignore_index=True), np.full(4 * n, 0.2)


def test_calibration_within_groups_flags_a_group_predicted_too_low() -> None:
    config = FairnessConfig(attributes=["fsm"], min_group_size=50, calibration_weeks=2)
    table = calibration_within_groups(*_two_groups(600), config)
    pooled = table[table["week"] == 0].set_index("group")
    assert pooled.loc["A", "gap"] == pytest.approx(0.0)
    assert pooled.loc["B", "gap"] == pytest.approx(-0.1)
    # 600 pupils: the interval (about ±0.04) lies wholly below −0.03
    assert pooled.loc["B", "gap_high"] < -0.03 < pooled.loc["A", "gap_high"]
    assert bool(pooled.loc["B", "gap_flag"]) and not bool(pooled.loc["A", "gap_flag"])
    assert set(table["week"]) == {0, 1, 2}
    breaches = fairness_breaches(pd.DataFrame(), table)
    assert breaches[["kind", "group"]].values.tolist() == [["calibration gap", "B"]]


def test_a_gap_that_could_be_chance_is_reported_not_gated() -> None:
    # The same 10-point gap in 60 pupils: its interval reaches back within ±0.03.
    config = FairnessConfig(attributes=["fsm"], min_group_size=50, calibration_weeks=2)
    pooled = calibration_within_groups(*_two_groups(60), config).query("week == 0")
    b = pooled.set_index("group").loc["B"]
    assert b["gap"] == pytest.approx(-0.1) and b["gap_high"] > -0.03
    assert not pooled["gap_flag"].any()
    # without a bootstrap the point estimate decides
    no_boot = FairnessConfig(attributes=["fsm"], min_group_size=50, calibration_weeks=2,
                             bootstrap=0)  # fmt: skip
    assert calibration_within_groups(*_two_groups(60), no_boot)["gap_flag"].sum() == 1


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
        "yield": {
            "lgbm_attendance": 0.20,
            "recent_4w": 0.08,
            "ytd_just_under": 0.10,
            "last_year": 0.0,
            "recent_and_last_year": 0.06,
        },
        "ece": 0.01,
        "ece_early": {"1": 0.01, "2": 0.015},
        "max_ece": 0.03,
        "max_ece_early": 0.02,
        "fairness": True,
        "recall_ratio_min": 0.8,
        "calibration_gap_max": 0.03,
        "fairness_breaches": [],
    }
    return summary | changes


def test_gates_pass_when_the_model_beats_every_baseline_and_rule() -> None:
    results = check_gates(gate_summary())
    assert all(g.passed for g in results)
    assert {g.name for g in results} >= {
        "roc_auc > last_year",
        "yield > ytd_just_under",
        "calibration",
        "calibration, first weeks",
        "fairness",
    }


def test_failed_gates_say_which_and_by_how_much() -> None:
    summary = gate_summary(
        roc_auc={"lgbm_attendance": 0.84, "ytd_rule": 0.80, "last_year": 0.85, "rate_spells": 0.82},
        ece=0.05,
        ece_early={"1": 0.01, "2": 0.025},
        fairness_breaches=[
            {
                "kind": "recall ratio",
                "operating_point": "extra list 3%",
                "attribute": "fsm",
                "group": "yes",
                "value": 0.55,
            }
        ],
    )
    failed = {g.name: g.detail for g in check_gates(summary) if not g.passed}
    assert set(failed) == {
        "roc_auc > last_year",
        "calibration",
        "calibration, first weeks",
        "fairness",
    }
    assert failed["roc_auc > last_year"] == (
        "ROC AUC (open outcomes) 0.840 vs Last year's rate 0.850 (short by 0.010)"
    )
    assert "exceeds 0.03 by 0.0200" in failed["calibration"]
    assert "week 2 (0.0250)" in failed["calibration, first weeks"]
    assert "fsm=yes recall ratio 0.550 at extra list 3%" in failed["fairness"]


def test_a_tie_or_missing_number_does_not_pass() -> None:
    tie = gate_summary(
        precision={"lgbm_attendance": 0.6, "ytd_rule": 0.6, "last_year": 0.5, "rate_spells": 0.5}
    )
    assert not {g.name: g.passed for g in check_gates(tie)}["precision > ytd_rule"]
    missing = gate_summary(ece=float("nan"))
    assert not {g.name: g.passed for g in check_gates(missing)}["calibration"]


def test_the_fairness_gate_can_be_switched_off_and_then_is_not_listed() -> None:
    names = {g.name for g in check_gates(gate_summary(fairness=False))}
    assert "fairness" not in names
