"""The shipped risk model: plain-file artifacts, scoring, TreeSHAP contributions, reasons."""

from __future__ import annotations

import json

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest

from features.riskmodel import ARTIFACT_KEYS, Calibration, RiskModel, Segment
from features.schema import ATTENDANCE_FEATURES, FEATURE_SCHEMA_VERSION

FEATURES = list(ATTENDANCE_FEATURES)


def synthetic_rows(n: int, seed: int = 0) -> pd.DataFrame:
    """Feature rows where year-end PA follows recent and year-to-date absence."""
    rng = np.random.default_rng(seed)
    rows = pd.DataFrame(rng.random((n, len(FEATURES))) * 0.3, columns=FEATURES)
    rows["year_group"] = rng.integers(1, 12, n).astype(float)
    rows.loc[rng.random(n) < 0.1, "absence_rate_last_year"] = np.nan
    logit = -3 + 12 * rows["absence_rate_ytd"] + 6 * rows["absence_rate_4w"]
    rows["pa_year_end"] = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(float)
    return rows


@pytest.fixture(scope="module")
def model() -> RiskModel:
    rows = synthetic_rows(3000)
    booster = lgb.train(
        {"objective": "binary", "num_leaves": 7, "verbosity": -1, "seed": 1, "num_threads": 1},
        lgb.Dataset(rows[FEATURES].to_numpy(), rows["pa_year_end"], feature_name=FEATURES),
        num_boost_round=30,
    )
    calibration = Calibration(np.array([0.0, 0.5, 1.0]), np.array([0.0, 0.4, 1.0]), "isotonic")
    metadata = {
        "features": FEATURES,
        "feature_set": "attendance",
        "feature_schema_version": FEATURE_SCHEMA_VERSION,
    }
    return RiskModel(booster, calibration, metadata)


def test_contributions_plus_base_value_equal_the_raw_score(model: RiskModel) -> None:
    rows = synthetic_rows(200, seed=1)
    contributions = model.contributions(rows)
    assert list(contributions.columns) == [*FEATURES, "base_value"]
    np.testing.assert_allclose(contributions.sum(axis=1), model.raw_score(rows), atol=1e-9)


@pytest.mark.filterwarnings("ignore:LightGBM binary classifier:UserWarning")
def test_contributions_match_shap_tree_explainer(model: RiskModel) -> None:
    shap = pytest.importorskip("shap")
    rows = synthetic_rows(50, seed=2)
    explainer = shap.TreeExplainer(model.booster)
    expected = explainer.shap_values(rows[FEATURES].to_numpy())
    np.testing.assert_allclose(model.contributions(rows)[FEATURES].to_numpy(), expected, atol=1e-6)


def test_probability_is_the_calibrated_sigmoid_of_the_raw_score(model: RiskModel) -> None:
    rows = synthetic_rows(100, seed=3)
    raw = model.raw_score(rows)
    expected = np.interp(1 / (1 + np.exp(-raw)), [0, 0.5, 1], [0, 0.4, 1])
    np.testing.assert_allclose(model.predict_proba(rows), expected)
    scored = model.score(rows)
    np.testing.assert_allclose(scored["risk_probability"], expected)
    np.testing.assert_allclose(scored["risk_raw_score"], raw, atol=1e-9)


def test_extra_columns_are_ignored_and_order_does_not_matter(model: RiskModel) -> None:
    rows = synthetic_rows(20, seed=4)
    shuffled = rows[FEATURES[::-1]].assign(upn="A123456789012", sex="F")
    np.testing.assert_allclose(model.predict_proba(shuffled), model.predict_proba(rows))


def test_integer_and_nullable_columns_are_accepted(model: RiskModel) -> None:
    rows = synthetic_rows(20, seed=5)
    as_ints = rows.copy()
    as_ints["year_group"] = rows["year_group"].astype("Int64")
    as_ints.loc[0, "year_group"] = pd.NA
    expected = rows.copy()
    expected.loc[0, "year_group"] = np.nan
    np.testing.assert_allclose(model.predict_proba(as_ints), model.predict_proba(expected))


def test_missing_or_text_columns_are_clear_errors(model: RiskModel) -> None:
    rows = synthetic_rows(5)
    with pytest.raises(
        ValueError, match="lacks 2 feature column\\(s\\): spells_before_4w, monday_absence_rate"
    ):
        model.predict_proba(rows.drop(columns=["spells_before_4w", "monday_absence_rate"]))
    with pytest.raises(ValueError, match="column 'year_group' must be numeric"):
        model.predict_proba(rows.assign(year_group="Year 7"))


def test_saved_files_reload_to_identical_scores(model: RiskModel, tmp_path) -> None:
    paths = model.save(tmp_path / "model")
    assert {k: p.rsplit("/", 1)[-1] for k, p in paths.items()} == ARTIFACT_KEYS
    # Plain text, nothing pickled.
    assert json.loads((tmp_path / "model" / "metadata.json").read_text())["features"] == FEATURES
    assert (tmp_path / "model" / "booster.txt").read_text().startswith("tree")
    loaded = RiskModel.from_directory(tmp_path / "model")
    rows = synthetic_rows(100, seed=6)
    np.testing.assert_array_equal(loaded.predict_proba(rows), model.predict_proba(rows))
    pd.testing.assert_frame_equal(loaded.score(rows), model.score(rows))


def _booster(rows: pd.DataFrame, seed: int) -> lgb.Booster:
    params = {"objective": "binary", "num_leaves": 5, "verbosity": -1, "seed": seed}
    return lgb.train(
        params | {"num_threads": 1},
        lgb.Dataset(rows[FEATURES].to_numpy(), rows["pa_year_end"], feature_name=FEATURES),
        num_boost_round=10,
    )


def test_segments_route_rows_and_round_trip_through_files(tmp_path) -> None:
    """First weeks → the early booster for everyone; later, below 10% → heading there; the
    rest → the larger of the main and heading-there boosters. Saved and reloaded, the same."""
    rows = synthetic_rows(600, seed=7)
    rows["weeks_into_year"] = np.random.default_rng(7).integers(1, 39, len(rows)).astype(float)
    main, heading, early = (_booster(rows.sample(400, random_state=s), s) for s in (1, 2, 3))
    identity = Calibration.identity()
    metadata = {"features": FEATURES, "heading_below": 0.10, "early_weeks": 6}
    segmented = RiskModel(
        main,
        identity,
        metadata,
        heading=Segment(heading, identity),
        early=Segment(early, identity),
    )
    matrix = rows[FEATURES].to_numpy()
    first = rows["weeks_into_year"].to_numpy() <= 6
    below = rows["absence_rate_ytd"].to_numpy() < 0.10
    expected = np.where(
        first,
        early.predict(matrix),
        np.where(
            below,
            heading.predict(matrix),
            np.maximum(main.predict(matrix), heading.predict(matrix)),
        ),
    )
    assert first.any() and (~first & below).any() and (~first & ~below).any()
    np.testing.assert_allclose(segmented.predict_proba(rows), expected)
    paths = segmented.save(tmp_path / "segmented")
    assert {"early_booster", "early_calibration", "heading_booster"} <= set(paths)
    loaded = RiskModel.from_directory(tmp_path / "segmented")
    assert loaded.early is not None and loaded.heading is not None
    pd.testing.assert_frame_equal(loaded.score(rows), segmented.score(rows))
    with pytest.raises(ValueError, match="early_weeks"):
        RiskModel(main, identity, {"features": FEATURES}, early=Segment(early, identity))


def test_score_gives_reasons_beside_probabilities(model: RiskModel) -> None:
    rows = synthetic_rows(300, seed=7)
    scored = model.score(rows, top=2)
    assert list(scored.columns) == [
        "risk_probability",
        "risk_raw_score",
        "reason_1",
        "reason_1_domain",
        "reason_1_contribution",
        "reason_2",
        "reason_2_domain",
        "reason_2_contribution",
    ]
    riskiest = scored["risk_probability"].idxmax()
    assert scored.loc[riskiest, "reason_1_domain"] in {"absence_so_far", "recent_decline"}
    assert (scored["reason_1_contribution"].dropna() > 0).all()
    pd.testing.assert_frame_equal(model.reasons(rows, top=2), scored.iloc[:, 2:])


def test_metadata_must_match_the_booster(model: RiskModel) -> None:
    with pytest.raises(ValueError, match="different features"):
        RiskModel(model.booster, Calibration.identity(), {"features": FEATURES[::-1]})


@pytest.mark.parametrize(
    ("x", "y", "message"),
    [
        ([0.0, 0.0, 1.0], [0.0, 0.5, 1.0], "strictly increasing"),
        ([0.0, 0.5, 1.0], [0.0, 0.6, 0.5], "non-decreasing"),
        ([0.0], [0.0], "≥ 2 knots"),
    ],
)
def test_calibration_must_be_a_monotone_map(x, y, message) -> None:
    with pytest.raises(ValueError, match=message):
        Calibration(np.array(x), np.array(y))


def test_calibration_round_trips_through_json() -> None:
    calibration = Calibration(np.array([0.0, 0.2, 1.0]), np.array([0.01, 0.3, 0.9]), "isotonic")
    again = Calibration.from_dict(json.loads(json.dumps(calibration.to_dict())))
    np.testing.assert_array_equal(
        again.apply(np.linspace(0, 1, 11)), calibration.apply(np.linspace(0, 1, 11))
    )
    assert Calibration.identity().apply(np.array([0.3]))[0] == pytest.approx(0.3)
