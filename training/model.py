"""Fitting the LightGBM risk model and its calibration.

Procedure (one feature set):

1. With a validation year (two or more training years): fit on the earlier training years,
   early-stop on the validation year (binary log-loss), keep the best number of trees, and fit
   an isotonic calibration of the validation year's predictions. Then refit on the training
   years with that number of trees — the latest year is the most like the test year, so the
   final model must see it (a first data year without any history is left out of the refit,
   see ``DataConfig.refit_needs_history``).
2. With a single training year there is no later year to stop on: the booster runs
   ``num_boost_round`` trees and the calibration is the identity.

The calibration is a candidate: :mod:`training.pipeline` keeps it only if it lowers the
expected calibration error on the test year (the brief's rule; it is reported either way).
Monotone constraints make risk non-decreasing in the absence-rate features listed in the
config, so more absence never lowers a score.
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
    label: str = "pa_year_end",
) -> FittedBooster:
    """Fit the risk model for one feature set (see the module docstring for the procedure).

    ``fit_rows`` / ``validation_rows`` are the early-stopping split (``validation_rows`` may be
    ``None``); ``train_rows`` are the rows of the final refit.
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

    if validation_rows is None or validation_rows.empty:
        booster = lgb.train(params, dataset(train_rows), num_boost_round=config.num_boost_round)
        return FittedBooster(
            feature_set,
            features,
            booster,
            booster.num_trees(),
            False,
            Calibration.identity(),
            params,
        )

    fit_set = dataset(fit_rows)
    valid_set = dataset(validation_rows, reference=fit_set)
    history: dict[str, Any] = {}
    stopper = lgb.train(
        params,
        fit_set,
        num_boost_round=config.num_boost_round,
        valid_sets=[valid_set],
        valid_names=["validation"],
        callbacks=[
            lgb.early_stopping(config.early_stopping_rounds, verbose=False),
            lgb.record_evaluation(history),
        ],
    )
    best = max(1, int(stopper.best_iteration or stopper.num_trees()))
    calibration = Calibration.identity()
    if calibrate:
        validation_probability = stopper.predict(
            feature_matrix(validation_rows, features), num_iteration=best
        )
        calibration = fit_isotonic(validation_probability, validation_rows[label].to_numpy())
    booster = lgb.train(params, dataset(train_rows), num_boost_round=best)
    return FittedBooster(
        feature_set,
        features,
        booster,
        best,
        True,
        calibration,
        params,
        list(history.get("validation", {}).get("binary_logloss", [])),
    )
