"""Fitting the LightGBM risk model and its calibration.

Procedure (one feature set):

1. With a validation year (two or more training years): fit on the earlier training years,
   early-stop on the validation year (binary log-loss) and keep the best number of trees. Then
   refit on the training years with that number of trees — the latest year is the most like
   the test year, so the final model must see it (a first data year without any history is
   left out of the refit, see ``DataConfig.refit_needs_history``).
2. With a single training year there is no later year to stop on: the booster runs
   ``num_boost_round`` trees.
3. Calibration is fitted for the model that is shipped, not for the early-stopping one: the
   refit rows are split into folds of schools (a pupil-year never straddles two folds), the
   same recipe (parameters, number of trees) is fitted on all folds but one and predicts the
   one left out, and an isotonic regression maps these out-of-fold probabilities to the
   labels. The shipped booster, fitted on all the refit rows, is then mapped through it.

The calibration is a candidate: :mod:`training.pipeline` keeps it only if it lowers the
expected calibration error on the test year (the brief's rule; it is reported either way).
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


@dataclass
class FittedBooster:
    """A trained booster with what the run logs about it."""

    feature_set: str
    features: list[str]
    booster: lgb.Booster
    num_trees: int
    early_stopped: bool
    calibration: Calibration
    params: dict[str, Any]
    validation_logloss: list[float] = field(default_factory=list)


def fit_booster(
    feature_set: str,
    features: list[str],
    fit_rows: pd.DataFrame,
    validation_rows: pd.DataFrame | None,
    train_rows: pd.DataFrame,
    config: LightGBMConfig,
    *,
    seed: int,
    calibrate: bool = True,
    calibration_folds: int = 3,
    label: str = "pa_year_end",
) -> FittedBooster:
    """Fit the risk model for one feature set (see the module docstring for the procedure).

    ``fit_rows`` / ``validation_rows`` are the early-stopping split (``validation_rows`` may be
    ``None``); ``train_rows`` are the rows of the final refit (and of the calibration folds).
    """
    params = lightgbm_params(config, features, seed)

    def dataset(rows: pd.DataFrame, reference: lgb.Dataset | None = None) -> lgb.Dataset:
        return lgb.Dataset(
            feature_matrix(rows, features),
            label=rows[label].to_numpy(dtype=float),
            feature_name=features,
            reference=reference,
            free_raw_data=True,
        )

    history: dict[str, Any] = {}
    early_stopped = validation_rows is not None and not validation_rows.empty
    if early_stopped:
        fit_set = dataset(fit_rows)
        stopper = lgb.train(
            params,
            fit_set,
            num_boost_round=config.num_boost_round,
            valid_sets=[dataset(validation_rows, reference=fit_set)],
            valid_names=["validation"],
            callbacks=[
                lgb.early_stopping(config.early_stopping_rounds, verbose=False),
                lgb.record_evaluation(history),
            ],
        )
        rounds = max(1, int(stopper.best_iteration or stopper.num_trees()))
    else:
        rounds = config.num_boost_round
    booster = lgb.train(params, dataset(train_rows), num_boost_round=rounds)
    calibration = Calibration.identity()
    if calibrate:
        out_of_fold = out_of_fold_probability(
            train_rows, features, params, rounds, calibration_folds, label=label
        )
        if out_of_fold is not None:
            calibration = fit_isotonic(out_of_fold, train_rows[label].to_numpy())
    return FittedBooster(
        feature_set,
        features,
        booster,
        rounds,
        early_stopped,
        calibration,
        params,
        list(history.get("validation", {}).get("binary_logloss", [])),
    )


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


def out_of_fold_probability(
    rows: pd.DataFrame,
    features: list[str],
    params: dict[str, Any],
    rounds: int,
    folds: int,
    *,
    label: str = "pa_year_end",
) -> np.ndarray | None:
    """Each row's probability from the same recipe fitted without its school's fold (``None``
    with fewer than two schools)."""
    fold = school_folds(rows, folds, int(params.get("seed", 0)))
    if fold is None:
        return None
    x = feature_matrix(rows, features)
    y = rows[label].to_numpy(dtype=float)
    out = np.empty(len(rows))
    for k in np.unique(fold):
        held = fold == k
        fitted = lgb.train(
            params,
            lgb.Dataset(x[~held], label=y[~held], feature_name=features),
            num_boost_round=rounds,
        )
        out[held] = fitted.predict(x[held])
    return out
