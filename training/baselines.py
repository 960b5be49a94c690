"""The three baselines of MODELLING.md §4, reported beside the model on the same rows and k.

1. ``ytd_rule`` — rank by absence rate so far this year (what MIS "below 90%" lists do).
2. ``last_year`` — rank by last year's absence rate, PA status as the tie-break; pupils with
   no last year rank below everyone with one.
3. ``rate_spells`` — logistic regression on year-to-date absence rate and number of spells
   (the FFT Education Datalab idea), fitted on the training years.

Only the logistic regression gives probabilities; the two rules give ranking scores, so their
calibration metrics (Brier, ECE) are not defined and are reported as missing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

BASELINES = ["ytd_rule", "last_year", "rate_spells"]
BASELINE_LABELS = {
    "ytd_rule": "Year-to-date rule",
    "last_year": "Last year's rate",
    "rate_spells": "Rate + spells (logistic)",
}


def _column(frame: pd.DataFrame, name: str) -> np.ndarray:
    return frame[name].to_numpy(dtype=np.float64, na_value=np.nan)


def ytd_rule_score(frame: pd.DataFrame) -> np.ndarray:
    """Absence rate so far this year (0 where there were no possible sessions yet)."""
    return np.nan_to_num(_column(frame, "absence_rate_ytd"), nan=0.0)


def imputed_last_year(frame: pd.DataFrame) -> np.ndarray:
    """Last year's absence rate; for pupils without one, the median of their school and year
    group's pupils who have one that week (then the school's that week, then everyone's), so
    that having no history ranks a pupil neither first nor last."""
    rate = frame["absence_rate_last_year"].astype(float)
    keys = [frame["school_urn"], frame["week"]]
    by_group = rate.groupby([*keys, frame["year_group"]]).transform("median")
    by_school = rate.groupby(keys).transform("median")
    filled = rate.fillna(by_group).fillna(by_school).fillna(rate.median())
    return filled.fillna(0.0).to_numpy(dtype=float)


def last_year_score(frame: pd.DataFrame) -> np.ndarray:
    """Last year's absence rate (imputed for pupils without one, :func:`imputed_last_year`);
    PA status breaks ties."""
    pa = np.nan_to_num(_column(frame, "pa_last_year"), nan=0.0)
    # The tie-break term is far below any difference between two real rates (sessions per
    # year ≤ 400, so distinct rates differ by ≥ 1/160 000).
    return imputed_last_year(frame) + 1e-7 * pa


@dataclass
class RateSpellsLogit:
    """Logistic regression on ``absence_rate_ytd`` and ``spells_ytd`` (standardised).

    Kept as plain coefficients (no pickled estimator) so it can be logged as numbers.
    """

    C: float = 1.0
    coef_: np.ndarray = field(default_factory=lambda: np.zeros(2))
    intercept_: float = 0.0
    mean_: np.ndarray = field(default_factory=lambda: np.zeros(2))
    scale_: np.ndarray = field(default_factory=lambda: np.ones(2))

    FEATURES = ("absence_rate_ytd", "spells_ytd")

    def _matrix(self, frame: pd.DataFrame) -> np.ndarray:
        return np.column_stack(
            [np.nan_to_num(_column(frame, name), nan=0.0) for name in self.FEATURES]
        )

    def fit(self, frame: pd.DataFrame, label: np.ndarray) -> RateSpellsLogit:
        from sklearn.linear_model import LogisticRegression

        x = self._matrix(frame)
        self.mean_ = x.mean(axis=0)
        self.scale_ = np.where(x.std(axis=0) > 0, x.std(axis=0), 1.0)
        model = LogisticRegression(C=self.C, max_iter=1000)
        model.fit((x - self.mean_) / self.scale_, np.asarray(label, dtype=int))
        self.coef_ = model.coef_[0].copy()
        self.intercept_ = float(model.intercept_[0])
        return self

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        z = ((self._matrix(frame) - self.mean_) / self.scale_) @ self.coef_ + self.intercept_
        return 1.0 / (1.0 + np.exp(-z))

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> RateSpellsLogit:
        """Rebuild from :meth:`to_dict` (the ``baselines.json`` logged with a run)."""
        if list(data["features"]) != list(cls.FEATURES):  # type: ignore[call-overload]
            raise ValueError(f"baseline features {data['features']} are not {cls.FEATURES}")
        return cls(
            coef_=np.asarray(data["coef"], dtype=float),
            intercept_=float(data["intercept"]),  # type: ignore[arg-type]
            mean_=np.asarray(data["mean"], dtype=float),
            scale_=np.asarray(data["scale"], dtype=float),
        )

    def to_dict(self) -> dict[str, object]:
        return {
            "features": list(self.FEATURES),
            "coef": self.coef_.tolist(),
            "intercept": self.intercept_,
            "mean": self.mean_.tolist(),
            "scale": self.scale_.tolist(),
        }


@dataclass
class Baselines:
    """The three baselines, fitted on the training rows."""

    rate_spells: RateSpellsLogit = field(default_factory=RateSpellsLogit)

    def fit(self, train: pd.DataFrame, label: np.ndarray) -> Baselines:
        self.rate_spells.fit(train, label)
        return self

    def scores(self, frame: pd.DataFrame) -> dict[str, np.ndarray]:
        """Score per baseline for each row of ``frame``."""
        return {
            "ytd_rule": ytd_rule_score(frame),
            "last_year": last_year_score(frame),
            "rate_spells": self.rate_spells.predict_proba(frame),
        }


PROBABILISTIC = {"rate_spells"}
"""Baselines whose scores are probabilities (calibration metrics are defined)."""
