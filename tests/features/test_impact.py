"""The impact estimator on hand-built marks: naive figures by hand, and the adjusted estimate
finds a known effect where the naive one shows regression to the mean."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from features.impact import impact_report, match_referrals, naive_figures, weekly_attendance

MONDAY = dt.date(2024, 9, 2)
WEEKS = 20


def _marks(absent_share: dict[str, list[float]], rng: np.random.Generator) -> pd.DataFrame:
    """Ten sessions a week per pupil; each week's absent share of the sessions is given."""
    rows = []
    for upn, shares in absent_share.items():
        for week, share in enumerate(shares):
            n_absent = int(round(share * 10))
            codes = ["O"] * n_absent + ["/"] * (10 - n_absent)
            for i, code in enumerate(codes):
                day = MONDAY + dt.timedelta(days=7 * week + i // 2)
                session = "AM" if i % 2 == 0 else "PM"
                rows.append(
                    (
                        100001,
                        upn,
                        pd.Timestamp(day),
                        session,
                        code if session == "AM" or code == "O" else "\\",
                    )
                )
    return pd.DataFrame(rows, columns=["school_urn", "upn", "date", "session", "code"])


def _roll_and_referrals(
    shares: dict[str, list[float]], referred: list[str], year_group: int = 8
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every pupil of ``shares`` in one year group of school 100001, 2024/25; ``referred`` all
    referred on the Monday of the seventh week."""
    year_groups = pd.DataFrame(
        {"school_urn": 100001, "upn": list(shares), "academic_year": "2024/25",
         "year_group": year_group}
    )  # fmt: skip
    referrals = pd.DataFrame(
        {
            "school_urn": 100001,
            "upn": referred,
            "referred_on": pd.Timestamp(MONDAY + dt.timedelta(days=42)),
        }
    )
    return year_groups, referrals


def test_weekly_attendance_counts_sessions():
    marks = _marks({"A": [0.2, 0.0]}, np.random.default_rng(0))
    weekly = weekly_attendance(marks)
    assert weekly["possible"].tolist() == [10, 10]
    assert weekly["attended"].tolist() == [8, 10]
    assert weekly["week_index"].tolist() == [0, 1]


def test_naive_figures_by_hand_and_adjusted_against_regression_to_the_mean():
    rng = np.random.default_rng(1)
    shares: dict[str, list[float]] = {}
    # Pupils who have a bad patch in weeks 3-5 and recover from week 6 whatever happens.
    for i in range(60):
        shares[f"C{i:03d}"] = [0.0] * 3 + [0.5] * 3 + [0.1] * (WEEKS - 6)
    referred = [f"R{i:03d}" for i in range(10)]
    for upn in referred:  # alike, and support adds 10 points (one session a week back)
        shares[upn] = [0.0] * 3 + [0.5] * 3 + [0.0] * (WEEKS - 6)
    marks = _marks(shares, rng)
    year_groups, referrals = _roll_and_referrals(shares, referred)
    matched = match_referrals(marks, referrals, year_groups)
    naive = naive_figures(matched)
    # before: 6 weeks, 15 of 60 sessions absent → 75%; after: 100% → +25 points
    assert naive.before == pytest.approx(75.0)
    assert naive.after == pytest.approx(100.0)
    assert naive.estimate == pytest.approx(25.0)
    assert naive.share_improved == 1.0
    assert naive.extra_weeks_in_school == pytest.approx(2.5)
    report = impact_report(marks, referrals, year_groups, matched=matched, replicates=100)
    assert report["referrals"] == 10
    # the comparison pupils improved by 15 points without support: the effect is 10
    assert report["adjusted"]["estimate"] == pytest.approx(10.0, abs=0.5)
    assert report["adjusted"]["low"] <= 10.0 <= report["adjusted"]["high"] + 0.5
    assert "not yet referred" in report["adjusted"]["method"]


def test_a_referral_without_ten_weeks_of_follow_up_is_not_counted():
    shares = {f"C{i}": [0.2] * 12 for i in range(8)} | {"R": [0.3] * 12}
    marks = _marks(shares, np.random.default_rng(0))
    year_groups, referrals = _roll_and_referrals(shares, ["R"], year_group=3)
    report = impact_report(marks, referrals, year_groups, replicates=50)
    assert report["referrals"] == 0
    assert report["adjusted"]["estimate"] is None


def test_the_bootstrap_refits_the_bias_correction_on_reweighted_pupils():
    """With every pupil weighted once, the refit is the correction itself; with other weights it
    moves, so the interval carries the correction's own error."""
    from features.impact import _refitted_correction

    rng = np.random.default_rng(3)
    shares: dict[str, list[float]] = {}
    for i in range(80):  # comparison pupils spread over attendance, recovering by degrees
        bad = rng.uniform(0.1, 0.6)
        shares[f"C{i:03d}"] = [0.0] * 3 + [bad] * 3 + [bad * rng.uniform(0, 1)] * (WEEKS - 6)
    referred = [f"R{i:03d}" for i in range(6)]
    for upn in referred:
        shares[upn] = [0.0] * 3 + [0.7] * 3 + [0.3] * (WEEKS - 6)
    marks = _marks(shares, rng)
    year_groups, referrals = _roll_and_referrals(shares, referred)
    matched = match_referrals(marks, referrals, year_groups)
    assert len(matched.row) == 6
    ones = np.ones((1, matched.n_rows))
    np.testing.assert_allclose(_refitted_correction(matched, ones)[0], matched.control_correction,
                               atol=1e-6)  # fmt: skip
    poisson = np.random.default_rng(0).poisson(1.0, size=(50, matched.n_rows)).astype(float)
    refits = _refitted_correction(matched, poisson)
    assert np.std(refits.mean(axis=(1, 2))) > 0.01
