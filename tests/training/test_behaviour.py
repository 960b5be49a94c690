"""Behavioural tests of the trained models, through the whole pipeline: registers are
changed, trajectories and features rebuilt, pupils re-scored (Made-With-ML's directional,
invariance and minimum-functionality tests)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.schema import RISES_WITH_ABSENCE
from features.snapshots import load_authority, snapshot_features
from features.trajectory import build_trajectory

AS_OF_WEEKS = [3, 6, 12, 24]
ON_TIME_PRESENT = ["/", "\\"]


@pytest.fixture(scope="module")
def authority(authority_dir: Path) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The test year (and the year before, for history) of the small authority."""
    return load_authority(authority_dir, years=["2024/25"])


def _test_year_features(
    marks: pd.DataFrame, pupils: pd.DataFrame, schools: pd.DataFrame, weeks: list[int]
) -> pd.DataFrame:
    snaps = snapshot_features(build_trajectory(marks), pupils, schools, weeks=weeks)
    snaps = snaps[snaps["academic_year"] == "2024/25"]
    return snaps.sort_values(["school_urn", "upn", "week"]).reset_index(drop=True)


def _recent_sessions(marks: pd.DataFrame, week: int, span: int) -> np.ndarray:
    """Mask of the test year's marks in school weeks ``week - span + 1 .. week``."""
    test_year = (marks["date"] >= "2024-08-01").to_numpy()
    mondays = marks["date"] - pd.to_timedelta(marks["date"].dt.day_of_week, unit="D")
    school_weeks = sorted(mondays[test_year].unique())
    wanted = school_weeks[week - span : week]
    return test_year & mondays.isin(wanted).to_numpy()


@pytest.mark.parametrize(("span", "code"), [(1, "O"), (2, "I"), (2, "G")])
def test_more_recent_absence_never_lowers_a_score(run_result, authority, span, code) -> None:
    """Half the on-time present sessions of the last ``span`` school weeks become absences:
    no pupil's risk falls, for any trained model, at any as-of week."""
    schools, pupils, marks = authority
    rng = np.random.default_rng(span)
    before = _test_year_features(marks, pupils, schools, AS_OF_WEEKS)
    rose = 0
    for week in AS_OF_WEEKS:
        changed = marks.copy()
        hit = _recent_sessions(marks, week, span) & marks["code"].isin(ON_TIME_PRESENT).to_numpy()
        hit &= rng.random(len(marks)) < 0.5
        codes = changed["code"].astype(object).to_numpy().copy()
        codes[hit] = code
        changed["code"] = codes
        after = _test_year_features(changed, pupils, schools, [week])
        base = before[before["week"] == week].reset_index(drop=True)
        assert list(after["upn"]) == list(base["upn"])
        more = after["absence_rate_ytd"].to_numpy() > base["absence_rate_ytd"].to_numpy()
        assert more.sum() > 100  # the change reached many pupils
        for key, model in run_result.models.items():
            lower = model.predict_proba(after) < model.predict_proba(base)
            assert not lower.any(), (
                f"{key}: {lower.sum()} pupils' risk fell at week {week} after more absence"
            )
            rose += int((model.predict_proba(after) > model.predict_proba(base)).sum())
    assert rose > 0


def test_features_the_model_reads_move_only_as_declared(run_result, authority) -> None:
    """Of the features a model reads, those that move when recent absence rises are all
    declared rising with absence (so constrained non-decreasing)."""
    schools, pupils, marks = authority
    week = 12
    base = _test_year_features(marks, pupils, schools, [week])
    changed = marks.copy()
    hit = _recent_sessions(marks, week, 2) & marks["code"].isin(ON_TIME_PRESENT).to_numpy()
    codes = changed["code"].astype(object).to_numpy().copy()
    codes[hit] = "O"
    changed["code"] = codes
    after = _test_year_features(changed, pupils, schools, [week])
    for model in run_result.models.values():
        for feature in model.features:
            a, b = after[feature].to_numpy(), base[feature].to_numpy()
            moved = ~((a == b) | (np.isnan(a) & np.isnan(b)))
            if feature in RISES_WITH_ABSENCE:
                assert not (a[moved] < b[moved]).any(), f"{feature} fell"
            else:
                assert not moved.any(), f"{feature} moved but is not constrained"
        constrained = set(model.metadata["monotone_increasing"])
        assert constrained == set(RISES_WITH_ABSENCE) & set(model.features)


def test_sex_and_ethnicity_never_change_a_score(run_result, authority) -> None:
    """Swapping every pupil's sex and ethnicity in the roster changes no feature and no
    score or reason."""
    schools, pupils, marks = authority
    swapped = pupils.assign(
        sex=np.where(pupils["sex"] == "F", "M", "F"),
        ethnicity=pupils["ethnicity"].sample(frac=1.0, random_state=1).to_numpy(),
    )
    base = _test_year_features(marks, pupils, schools, AS_OF_WEEKS)
    other = _test_year_features(marks, swapped, schools, AS_OF_WEEKS)
    for key, model in run_result.models.items():
        pd.testing.assert_frame_equal(model.score(other), model.score(base), obj=key)


def test_minimum_functionality_missing_half_the_sessions_is_high_risk(
    run_result, authority
) -> None:
    """A pupil with full attendance who then misses every other day for six weeks is at high
    risk; a pupil present every session so far, and last year, is at low risk."""
    schools, pupils, marks = authority
    week = 12
    base = _test_year_features(marks, pupils, schools, [week])
    present = base[(base["absence_rate_ytd"] == 0) & (base["absence_rate_last_year"] < 0.02)]
    assert len(present) >= 5
    changed = marks.copy()
    recent = _recent_sessions(marks, week, 6) & changed["upn"].isin(present["upn"]).to_numpy()
    recent &= (changed["date"].dt.day_of_week % 2 == 0).to_numpy()  # Mon, Wed, Fri
    codes = changed["code"].astype(object).to_numpy().copy()
    codes[recent & changed["code"].isin(ON_TIME_PRESENT).to_numpy()] = "O"
    changed["code"] = codes
    after = _test_year_features(changed, pupils, schools, [week])
    after = after[after["upn"].isin(present["upn"])]
    model = run_result.registered_model
    assert (model.predict_proba(present) < 0.1).all()
    assert (model.predict_proba(after) > 0.5).all()
    reasons = model.score(after)["reason_1_domain"]
    assert set(reasons) <= {"recent_decline", "absence_so_far", "unauthorised", "day_pattern"}
