"""Simulated support: the referral policy, the effect on the marks, the truth kept apart."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from ews.cli import app
from features.impact import weekly_attendance
from simulator.authority import simulate_authority
from simulator.config import SimulationConfig, parse_years
from simulator.support import CONTACT_TYPES, SupportPolicy, add_support


@pytest.fixture(scope="module")
def authority():
    config = SimulationConfig(pupils=600, schools=3, years=parse_years("2024/25"), seed=4)
    return simulate_authority(config)


def test_zero_effect_leaves_the_marks_alone_and_refers_pupils_below_90(authority):
    supported, support = add_support(authority, SupportPolicy(effect_pts=0))
    assert supported.marks["code"].astype(str).equals(authority.marks["code"].astype(str))
    refs = support.referrals
    assert len(refs) > 5
    assert (refs["accepted_on"] > refs["referred_on"]).all()
    assert ((refs["accepted_on"] - refs["referred_on"]).dt.days <= 7).all()
    assert not refs.duplicated(["school_urn", "upn", "academic_year"]).any()
    assert set(support.contacts["kind"]) <= set(CONTACT_TYPES)
    assert support.contacts["author"].notna().all()
    assert (support.contacts["date"].dt.weekday < 5).all()
    # every referred pupil was below 90% attendance when referred
    weekly = weekly_attendance(authority.marks)
    for ref in refs.head(10).itertuples():
        before = weekly[(weekly["upn"] == ref.upn) & (weekly["week"] < ref.referred_on)]
        assert before["attended"].sum() / before["possible"].sum() < 0.90


def test_support_turns_absences_into_attendance_after_acceptance_only(authority):
    supported, support = add_support(authority, SupportPolicy(effect_pts=10))
    changed = (
        supported.marks["code"].astype(str).to_numpy()
        != authority.marks["code"].astype(str).to_numpy()
    )
    assert changed.sum() > 0
    now = supported.marks["code"].astype(str).to_numpy()[changed]
    assert set(now) <= {"/", "\\"}
    was = authority.marks["code"].astype(str).to_numpy()[changed]
    assert "E" not in set(was) and not set(was) & {"/", "\\"}
    rows = supported.marks[changed].merge(
        support.referrals[["upn", "accepted_on"]],
        left_on=supported.marks[changed]["upn"].astype(str),
        right_on="upn",
    )
    assert (rows["date"] >= rows["accepted_on"]).all()
    truth = support.truth
    assert truth["effect_after_acceptance_pts"].mean() == pytest.approx(
        truth["effect_drawn_pts"].clip(upper=100).mean(), abs=4
    )
    assert truth["effect_after_referral_pts"].mean() > 3


def test_simulate_and_impact_commands(tmp_path):
    runner = CliRunner()
    out = tmp_path / "la"
    result = runner.invoke(
        app,
        ["simulate", "--out", str(out), "--pupils", "600", "--schools", "3", "--years",
         "2024/25", "--seed", "2", "--support-effect", "6"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    for name in ("referrals.csv", "contacts.csv", "support_truth.parquet"):
        assert (out / name).exists()
    result = runner.invoke(app, ["impact", "--data", str(out), "--format", "json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert set(report["adjusted"]) == {"estimate", "low", "high", "method"}
    assert report["adjusted"]["low"] <= report["adjusted"]["estimate"] <= report["adjusted"]["high"]
    assert report["referrals"] > 0 and "estimate" in report["naive"]
    assert report["true_effect"] > 0
    missing = runner.invoke(app, ["impact", "--data", str(tmp_path / "none"), "--format", "json"])
    assert missing.exit_code == 2 and "ews simulate" in missing.output
