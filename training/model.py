"""Fitting the LightGBM risk model: its segments, trees, calibration and week baselines.

The model answers two questions with one probability of ending the year persistently absent:

* pupils already on the school's list (absence so far ≥ 10%): will they stay there?
* pupils not on it yet: are they *heading there*? This is the early warning, and it gets its
  own booster, trained only on pupil-weeks still below 10% (``segmented = true``; see
  ``docs/modelling.md`` for the evidence that chose it).

With ``early_weeks`` > 0, the first school weeks get a booster of their own for every pupil
(``segment = "early"``), and the two above are fitted only on the weeks after them: with little
attendance to go on, history and context carry a pupil's risk, and a booster whose loss is
dominated by later weeks under-learns them (docs/modelling.md, "The first weeks").

Each segment's booster (one feature set):

1. **Trees.** Early stopping (binary log-loss) on a holdout of schools — one fold of
   :func:`school_folds` — of the fitting years, which all have history features; the best
   number of trees is kept.
2. **Fit.** Refitted on all the fitting rows with that number of trees.
3. **Calibration**, chosen out of fold, never on the test year: the fitting rows are split
   into folds of schools, the same recipe predicts each fold from the others, and an isotonic
   map is fitted to these out-of-fold probabilities. It is kept only if it lowers the expected
   calibration error of *cross-fitted* predictions (each fold mapped by an isotonic fitted on
   the other folds' out-of-fold probabilities) below that of the raw ones.
4. **Week baseline**: the mean TreeSHAP contribution of each feature among the segment's
   fitting rows of each school week, so that reasons are explained against the same week's
   average pupil (``features.riskmodel.RiskModel.week_baseline``).

Monotone constraints make risk non-decreasing in the features listed in the config
(:data:`features.schema.RISES_WITH_ABSENCE`), so more recent absence never lowers a score.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd

from features.riskmodel import Calibration
from training.config import LightGBMConfig

# A tiny slope added to the isotonic map so it is strictly increasing: calibration then never
# ties two pupils the booster ranked apart (changes probabilities by at most 1e-6).
_STRICT_SLOPE = 1e-6


def feature_matrix(rows: pd.DataFrame, features: list[str]) -> np.ndarray:
    """``rows[features]`` as float64 (missing values NaN)."""
    return (
        np.column_stack([rows[f].to_numpy(dtype=np.float64, na_value=np.nan) for f in features])
        if features
        else np.empty((len(rows), 0))
    )


def lightgbm_params(config: LightGBMConfig, features: list[str], seed: int) -> dict[str, Any]:
    """LightGBM parameters for a binary risk model over ``features``."""
    increasing = set(config.monotone_increasing)
    return {
        "objective": "binary",
        "metric": "binary_logloss",
        "learning_rate": config.learning_rate,
        "num_leaves": config.num_leaves,
        "max_depth": config.max_depth,
        "min_data_in_leaf": config.min_child_samples,
        "feature_fraction": config.feature_fraction,
        "bagging_fraction": config.bagging_fraction,
        "bagging_freq": config.bagging_freq,
        "lambda_l2": config.lambda_l2,
        "monotone_constraints": [1 if f in increasing else 0 for f in features],
        "monotone_constraints_method": config.monotone_constraints_method,
        "num_threads": config.num_threads,
        "seed": seed,
        "deterministic": True,
        "force_row_wise": True,
        "verbosity": -1,
    }


def fit_isotonic(probability: np.ndarray, label: np.ndarray) -> Calibration:
    """Isotonic calibration of ``probability`` against 0/1 ``label``, as strictly increasing
    knots on [0, 1]."""
    from sklearn.isotonic import IsotonicRegression

    iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
    iso.fit(np.asarray(probability, dtype=float), np.asarray(label, dtype=float))
    x = np.concatenate([[0.0], iso.X_thresholds_, [1.0]])
    y = np.concatenate([[iso.y_thresholds_[0]], iso.y_thresholds_, [iso.y_thresholds_[-1]]])
    x, first = np.unique(x, return_index=True)
    y = np.maximum.accumulate(y[first])
    y = y * (1 - _STRICT_SLOPE) + _STRICT_SLOPE * x
    return Calibration(x, y, "isotonic")


BASELINE_SAMPLE = 50_000
"""Fitting rows used for a segment's week baseline (a sample when there are more)."""
SEGMENTS = ("all", "school_list", "heading", "early")


@dataclass
class FittedBooster:
    """One segment's trained booster with what the run logs about it."""

    feature_set: str
    features: list[str]
    booster: lgb.Booster
    num_trees: int
    early_stopped: bool
    calibration: Calibration
    params: dict[str, Any]
    validation_logloss: list[float] = field(default_factory=list)
    segment: str = "all"
    rows: int = 0
    calibration_choice: dict[str, Any] = field(default_factory=dict)
    week_baseline: dict[str, Any] | None = None


@dataclass
class FittedModel:
    """A feature set's model: the booster for pupils on the school's list (or for everyone,
    unsegmented) and, segmented, the booster for pupils heading there."""

    feature_set: str
    features: list[str]
    main: FittedBooster
    heading: FittedBooster | None = None
    heading_below: float = 0.10
    early: FittedBooster | None = None
    early_weeks: int = 0

    @property
    def boosters(self) -> list[FittedBooster]:
        return [b for b in (self.main, self.heading, self.early) if b is not None]


def segment_mask(
    rows: pd.DataFrame, segment: str, heading_below: float, early_weeks: int = 0
) -> np.ndarray:
    """Which of ``rows`` a segment is fitted on (and, in evaluation, asked about): ``early``
    the school weeks 1..``early_weeks``; the others the weeks after them, all of them
    (``all``) or split at ``heading_below`` absence so far."""
    week = rows["weeks_into_year"].to_numpy(dtype=float, na_value=0.0)
    if segment == "early":
        return week <= early_weeks
    later = week > early_weeks
    if segment == "all":
        return later
    below = np.nan_to_num(rows["absence_rate_ytd"].to_numpy(dtype=float, na_value=0.0))
    return later & (below < heading_below if segment == "heading" else below >= heading_below)


def segment_rows(
    rows: pd.DataFrame, segment: str, heading_below: float, early_weeks: int = 0
) -> pd.DataFrame:
    """The rows a segment is fitted on (see :func:`segment_mask`)."""
    keep = segment_mask(rows, segment, heading_below, early_weeks)
    return rows if keep.all() else rows.loc[keep].reset_index(drop=True)


def fit_model(
    feature_set: str,
    features: list[str],
    rows: pd.DataFrame,
    config: LightGBMConfig,
    *,
    seed: int,
    segmented: bool,
    heading_below: float = 0.10,
    early_weeks: int = 0,
    calibrate: bool = True,
    calibration_folds: int = 3,
    label: str = "pa_year_end",
) -> FittedModel:
    """Fit one feature set's model on ``rows`` (one booster, or one per segment)."""

    def fit(segment: str) -> FittedBooster:
        return fit_booster(
            feature_set,
            features,
            segment_rows(rows, segment, heading_below, early_weeks),
            config,
            seed=seed,
            calibrate=calibrate,
            calibration_folds=calibration_folds,
            label=label,
            segment=segment,
        )

    early = fit("early") if early_weeks > 0 else None
    if not segmented:
        return FittedModel(
            feature_set, features, fit("all"), None, heading_below, early, early_weeks
        )
    return FittedModel(
        feature_set,
        features,
        fit("school_list"),
        fit("heading"),
        heading_below,
        early,
        early_weeks,
    )


def fit_booster(
    feature_set: str,
    features: list[str],
    rows: pd.DataFrame,
    config: LightGBMConfig,
    *,
    seed: int,
    calibrate: bool = True,
    calibration_folds: int = 3,
    label: str = "pa_year_end",
    segment: str = "all",
) -> FittedBooster:
    """Fit one booster on ``rows`` (see the module docstring for the procedure)."""
    params = lightgbm_params(config, features, seed)
    x = feature_matrix(rows, features)
    y = rows[label].to_numpy(dtype=float)
    rounds, history = _tree_count(x, y, rows, features, params, config, calibration_folds)
    booster = lgb.train(params, lgb.Dataset(x, label=y, feature_name=features), rounds)
    calibration, choice = Calibration.identity(), {"kept": "none"}
    if calibrate:
        calibration, choice = choose_calibration(
            rows, x, y, features, params, rounds, calibration_folds
        )
    return FittedBooster(
        feature_set,
        features,
        booster,
        rounds,
        bool(history),
        calibration,
        params,
        history,
        segment=segment,
        rows=len(rows),
        calibration_choice=choice,
        week_baseline=week_baseline(booster, x, rows, seed),
    )


def _tree_count(
    x: np.ndarray,
    y: np.ndarray,
    rows: pd.DataFrame,
    features: list[str],
    params: dict[str, Any],
    config: LightGBMConfig,
    folds: int,
) -> tuple[int, list[float]]:
    """Trees by early stopping on one fold of schools (all trees when there is no second
    school to hold out), and the holdout's log-loss curve."""
    fold = school_folds(rows, folds, int(params.get("seed", 0)))
    if fold is None:
        return config.num_boost_round, []
    held = fold == 0
    history: dict[str, Any] = {}
    fit_set = lgb.Dataset(x[~held], label=y[~held], feature_name=features)
    stopper = lgb.train(
        params,
        fit_set,
        num_boost_round=config.num_boost_round,
        valid_sets=[lgb.Dataset(x[held], label=y[held], reference=fit_set)],
        valid_names=["holdout"],
        callbacks=[
            lgb.early_stopping(config.early_stopping_rounds, verbose=False),
            lgb.record_evaluation(history),
        ],
    )
    rounds = max(1, int(stopper.best_iteration or stopper.num_trees()))
    return rounds, list(history.get("holdout", {}).get("binary_logloss", []))


def choose_calibration(
    rows: pd.DataFrame,
    x: np.ndarray,
    y: np.ndarray,
    features: list[str],
    params: dict[str, Any],
    rounds: int,
    folds: int,
    bins: int = 10,
) -> tuple[Calibration, dict[str, Any]]:
    """Isotonic on out-of-fold probabilities, kept only where it lowers the cross-fitted
    expected calibration error (see the module docstring); with the numbers that chose."""
    from training.metrics import expected_calibration_error

    fold = school_folds(rows, folds, int(params.get("seed", 0)))
    if fold is None:
        return Calibration.identity(), {"kept": "none", "why": "fewer than two schools"}
    oof = _out_of_fold(x, y, fold, features, params, rounds)
    crossed = np.empty(len(oof))
    for k in np.unique(fold):
        held = fold == k
        crossed[held] = fit_isotonic(oof[~held], y[~held]).apply(oof[held])
    ece_raw = expected_calibration_error(y, oof, bins)
    ece_isotonic = expected_calibration_error(y, crossed, bins)
    keep = ece_isotonic < ece_raw
    choice = {
        "kept": "isotonic" if keep else "none",
        "ece_out_of_fold_raw": ece_raw,
        "ece_out_of_fold_isotonic": ece_isotonic,
    }
    return (fit_isotonic(oof, y) if keep else Calibration.identity()), choice


def week_baseline(
    booster: lgb.Booster, x: np.ndarray, rows: pd.DataFrame, seed: int
) -> dict[str, Any] | None:
    """Mean contribution of each feature per school week over (a sample of) the rows:
    ``{"weeks": [...], "values": [[...] per week]}``; ``None`` without a week column."""
    if "weeks_into_year" not in booster.feature_name() or len(rows) == 0:
        return None
    sample = np.arange(len(rows))
    if len(sample) > BASELINE_SAMPLE:
        sample = np.sort(np.random.default_rng(seed).choice(sample, BASELINE_SAMPLE, False))
    contributions = np.asarray(booster.predict(x[sample], pred_contrib=True))[:, :-1]
    week = x[sample, booster.feature_name().index("weeks_into_year")]
    table = pd.DataFrame(contributions).groupby(np.nan_to_num(week)).mean()
    return {"weeks": table.index.tolist(), "values": table.to_numpy().tolist()}


def school_folds(rows: pd.DataFrame, folds: int, seed: int) -> np.ndarray | None:
    """Fold number (0..folds-1) per row, by school: schools shuffled with ``seed`` and dealt
    out in turn. ``None`` with fewer than two schools."""
    schools = np.unique(rows["school_urn"].to_numpy())
    if len(schools) < 2:
        return None
    order = np.random.default_rng(seed).permutation(len(schools))
    fold_of_school = np.empty(len(schools), dtype=np.int64)
    fold_of_school[order] = np.arange(len(schools)) % min(folds, len(schools))
    return fold_of_school[np.searchsorted(schools, rows["school_urn"].to_numpy())]


def _out_of_fold(
    x: np.ndarray,
    y: np.ndarray,
    fold: np.ndarray,
    features: list[str],
    params: dict[str, Any],
    rounds: int,
) -> np.ndarray:
    """Each row's probability from the same recipe fitted without its school's fold."""
    out = np.empty(len(y))
    for k in np.unique(fold):
        held = fold == k
        fitted = lgb.train(
            params,
            lgb.Dataset(x[~held], label=y[~held], feature_name=features),
            num_boost_round=rounds,
        )
        out[held] = fitted.predict(x[held])
    return out
