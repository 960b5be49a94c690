"""The attendance-risk model as the service and training both see it.

A trained model is three plain files, no pickled estimators:

* ``booster.txt`` — the LightGBM booster as text (``Booster.model_to_string``);
* ``calibration.json`` — a monotone map from the booster's probability to a calibrated one,
  as knots applied with :func:`numpy.interp` (isotonic regression fitted by training, or the
  identity);
* ``metadata.json`` — the feature list, the feature-schema version, the label, the training
  window and anything else a reader needs to know what the model is.

:class:`RiskModel` scores a snapshot frame (the columns ``ews features`` writes; extra columns
are ignored), computes TreeSHAP contributions with LightGBM's own ``pred_contrib`` and turns
them into reasons (:mod:`features.explain`). :class:`RiskPyfunc` wraps it as an MLflow
``pyfunc`` so that ``mlflow.pyfunc.load_model("models:/attendance-risk@champion")`` returns, per
row, the probability of ending the year persistently absent. It lives here, in ``features``,
because ``serving`` loads the same model and must never import ``training``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightgbm as lgb
import mlflow.pyfunc
import numpy as np
import pandas as pd
from mlflow.pyfunc import PythonModel, PythonModelContext

from features import explain
from features.modelnames import (  # noqa: F401 (re-exported: training imports them from here)
    CHALLENGER_ALIAS,
    CHAMPION_ALIAS,
    DEFAULT_MODEL_NAME,
    default_tracking_uri,
)
from features.schema import FEATURE_SCHEMA_VERSION

BOOSTER_FILE = "booster.txt"
CALIBRATION_FILE = "calibration.json"
METADATA_FILE = "metadata.json"
HEADING_BOOSTER_FILE = "booster_heading.txt"
HEADING_CALIBRATION_FILE = "calibration_heading.json"
ARTIFACT_KEYS = {
    "booster": BOOSTER_FILE,
    "calibration": CALIBRATION_FILE,
    "metadata": METADATA_FILE,
}
"""Names of the pyfunc artifacts (keys of ``context.artifacts``) and their file names."""
HEADING_ARTIFACT_KEYS = {
    "heading_booster": HEADING_BOOSTER_FILE,
    "heading_calibration": HEADING_CALIBRATION_FILE,
}
"""The heading-there segment's artifacts, for a model with one (:class:`Segment`)."""
EARLY_BOOSTER_FILE = "booster_early.txt"
EARLY_CALIBRATION_FILE = "calibration_early.json"
EARLY_ARTIFACT_KEYS = {
    "early_booster": EARLY_BOOSTER_FILE,
    "early_calibration": EARLY_CALIBRATION_FILE,
}
"""The first-weeks segment's artifacts, for a model with one."""
SEGMENT_ARTIFACT_KEYS = {"heading": HEADING_ARTIFACT_KEYS, "early": EARLY_ARTIFACT_KEYS}

PROBABILITY_COLUMN = "risk_probability"


def tracking_uri(data_dir: Path) -> str:
    """``MLFLOW_TRACKING_URI`` if set, else :func:`default_tracking_uri`."""
    import os

    return os.environ.get("MLFLOW_TRACKING_URI") or default_tracking_uri(data_dir)


# --- calibration ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Calibration:
    """A non-decreasing piecewise-linear map on [0, 1] from raw to calibrated probability.

    ``x`` and ``y`` are knots (``x`` strictly increasing, from 0 to 1). Training makes ``y``
    strictly increasing too, so calibration never ties two pupils the booster ranked apart.
    """

    x: np.ndarray
    y: np.ndarray
    method: str = "identity"

    def __post_init__(self) -> None:
        x, y = np.asarray(self.x, dtype=float), np.asarray(self.y, dtype=float)
        if x.ndim != 1 or x.shape != y.shape or len(x) < 2:
            raise ValueError("calibration needs two equal-length 1-D knot arrays (≥ 2 knots)")
        if np.any(np.diff(x) <= 0):
            raise ValueError("calibration knots x must be strictly increasing")
        if np.any(np.diff(y) < 0):
            raise ValueError("calibration values y must be non-decreasing (a monotone map)")
        object.__setattr__(self, "x", x)
        object.__setattr__(self, "y", y)

    @classmethod
    def identity(cls) -> Calibration:
        """No calibration: probabilities pass through unchanged."""
        return cls(np.array([0.0, 1.0]), np.array([0.0, 1.0]), "identity")

    def apply(self, probability: np.ndarray) -> np.ndarray:
        """Calibrated probabilities (same shape)."""
        return np.interp(np.asarray(probability, dtype=float), self.x, self.y)

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "x": self.x.tolist(), "y": self.y.tolist()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Calibration:
        return cls(np.asarray(data["x"]), np.asarray(data["y"]), str(data.get("method", "")))


# --- the model --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Segment:
    """A booster and its calibration for the rows routed to it: the *heading there* segment
    (pupils not yet on the school's list, absence so far below ``heading_below``) or the
    *first weeks* segment (every pupil in school weeks 1..``early_weeks``)."""

    booster: lgb.Booster
    calibration: Calibration


@dataclass
class RiskModel:
    """A LightGBM booster, its calibration and its metadata; optionally more segments.

    With ``early`` set, every row of school weeks 1..``metadata["early_weeks"]`` is scored by
    that segment (the first weeks, when there is little attendance to go on, are a question of
    their own). With ``heading`` set, the other rows whose absence so far is below
    ``metadata["heading_below"]`` (pupils not on the school's "below 90%" list) are scored by
    that segment's booster and calibration, the rest by the larger of it and the main one
    (:meth:`_heading_rows`): one probability of ending the year persistently absent per pupil,
    never lower after more absence in the same week. ``name`` and ``version`` are the
    registry's (``None`` for a model loaded from a directory).
    """

    booster: lgb.Booster
    calibration: Calibration
    metadata: dict[str, Any]
    name: str | None = None
    version: str | None = None
    heading: Segment | None = None
    early: Segment | None = None
    _features: list[str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._features = list(self.metadata["features"])
        boosters = [self.booster] + [s.booster for s in (self.heading, self.early) if s]
        for booster in boosters:
            if booster.feature_name() != self._features:
                raise ValueError(
                    "model metadata lists different features from the booster: "
                    f"{self._features} vs {booster.feature_name()}"
                )
        if self.heading is not None and "heading_below" not in self.metadata:
            raise ValueError("a model with a heading-there segment needs metadata heading_below")
        if self.early is not None and (
            "early_weeks" not in self.metadata or "weeks_into_year" not in self._features
        ):
            raise ValueError(
                "a model with a first-weeks segment needs metadata early_weeks and the feature "
                "weeks_into_year"
            )

    def _early_rows(self, matrix: np.ndarray) -> np.ndarray:
        """Rows of school weeks 1..``early_weeks``, which the first-weeks segment scores (none
        without one)."""
        if self.early is None:
            return np.zeros(len(matrix), dtype=bool)
        week = np.nan_to_num(matrix[:, self._features.index("weeks_into_year")])
        return week <= float(self.metadata["early_weeks"])

    def _heading_rows(self, matrix: np.ndarray, candidates: np.ndarray) -> np.ndarray:
        """Rows among ``candidates`` the heading-there segment scores (none without one):
        every pupil not on the school's list, and a pupil on it whom the heading-there model
        rates higher.

        The second part keeps the promise that more absence never lowers a score: a pupil who
        crosses 10% moves to the other booster, which could rate them lower than the one they
        left. Each booster is monotone in absence and so is the larger of two, so the score a
        pupil on the list gets is never below what the heading-there model says.
        """
        if self.heading is None:
            return np.zeros(len(matrix), dtype=bool)
        ytd = np.nan_to_num(matrix[:, self._features.index("absence_rate_ytd")])
        heading = candidates & (ytd < float(self.metadata["heading_below"]))
        on_list = np.flatnonzero(candidates & ~heading)
        if len(on_list):
            part = matrix[on_list]
            main = self.calibration.apply(np.asarray(self.booster.predict(part)))
            other = self.heading.calibration.apply(np.asarray(self.heading.booster.predict(part)))
            heading[on_list[other > main]] = True
        return heading

    def _segments(
        self, matrix: np.ndarray
    ) -> list[tuple[np.ndarray, lgb.Booster, Calibration, str]]:
        """(rows, booster, calibration, baseline key) for each segment with rows."""
        early = self._early_rows(matrix)
        heading = self._heading_rows(matrix, ~early)
        parts = [(~heading & ~early, self.booster, self.calibration, "contribution_baseline")]
        if self.early is not None:
            parts.append(
                (early, self.early.booster, self.early.calibration, "early_contribution_baseline")
            )
        if self.heading is not None:
            parts.append(
                (
                    heading,
                    self.heading.booster,
                    self.heading.calibration,
                    "heading_contribution_baseline",
                )
            )
        return [part for part in parts if part[0].any()]

    @staticmethod
    def _rows_of(matrix: np.ndarray, rows: np.ndarray) -> np.ndarray:
        return matrix if rows.all() else matrix[rows]

    # -- description --

    @property
    def features(self) -> list[str]:
        """Input feature names, in the booster's order."""
        return list(self._features)

    @property
    def feature_schema_version(self) -> str:
        return str(self.metadata.get("feature_schema_version", ""))

    @property
    def feature_set(self) -> str:
        return str(self.metadata.get("feature_set", ""))

    # -- scoring --

    def feature_matrix(self, frame: pd.DataFrame) -> np.ndarray:
        """The model's features as a float64 matrix (rows of ``frame``; extra columns ignored).

        Raises ``ValueError`` naming any missing or non-numeric column.
        """
        missing = [c for c in self._features if c not in frame.columns]
        if missing:
            raise ValueError(
                f"model input lacks {len(missing)} feature column(s): {', '.join(missing)}. "
                "Pass the frame `ews features` writes (feature schema version "
                f"{self.feature_schema_version or FEATURE_SCHEMA_VERSION})."
            )
        matrix = np.empty((len(frame), len(self._features)), dtype=np.float64)
        for j, column in enumerate(self._features):
            try:
                matrix[:, j] = frame[column].to_numpy(dtype=np.float64, na_value=np.nan)
            except (TypeError, ValueError) as exc:
                raise ValueError(
                    f"model input column {column!r} must be numeric (got dtype "
                    f"{frame[column].dtype}); missing values as NaN"
                ) from exc
        return matrix

    def raw_score(self, frame: pd.DataFrame) -> np.ndarray:
        """The booster's log-odds per row (before the sigmoid and calibration)."""
        matrix = self.feature_matrix(frame)
        out = np.empty(len(matrix))
        for rows, booster, _, _ in self._segments(matrix):
            out[rows] = booster.predict(self._rows_of(matrix, rows), raw_score=True)
        return out

    def _probability(self, matrix: np.ndarray) -> np.ndarray:
        # LightGBM applies the sigmoid row by row in C++: bit-for-bit the same wherever the
        # model runs (NumPy's vectorised exp can differ in the last bits with memory layout).
        out = np.empty(len(matrix))
        for rows, booster, calibration, _ in self._segments(matrix):
            out[rows] = calibration.apply(np.asarray(booster.predict(self._rows_of(matrix, rows))))
        return out

    def _contributions(self, matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """TreeSHAP contributions (rows × features + base value) from each row's segment, and
        the same week's baseline to explain them against (rows × features)."""
        out = np.empty((len(matrix), len(self._features) + 1))
        baseline = np.zeros((len(matrix), len(self._features)))
        for rows, booster, _, key in self._segments(matrix):
            part = self._rows_of(matrix, rows)
            out[rows] = booster.predict(part, pred_contrib=True)
            baseline[rows] = self._week_baseline(part, key)
        return out, baseline

    def uncalibrated(self, frame: pd.DataFrame) -> np.ndarray:
        """Each row's segment booster's probability, before calibration."""
        matrix = self.feature_matrix(frame)
        out = np.empty(len(matrix))
        for rows, booster, _, _ in self._segments(matrix):
            out[rows] = booster.predict(self._rows_of(matrix, rows))
        return out

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        """Calibrated probability, per row, of ending the year persistently absent."""
        return self._probability(self.feature_matrix(frame))

    def contributions(self, frame: pd.DataFrame) -> pd.DataFrame:
        """TreeSHAP contributions to the raw score (log-odds): one column per feature plus
        ``base_value``; each row sums to :meth:`raw_score`."""
        values, _ = self._contributions(self.feature_matrix(frame))
        return pd.DataFrame(values, columns=[*self._features, "base_value"], index=frame.index)

    def _week_baseline(self, matrix: np.ndarray, key: str) -> np.ndarray:
        """Per row, the mean contribution of each feature over the segment's training rows of
        the same school week (``metadata[key]``; zeros for a model without one).

        Reasons are explained against the same week's average pupil, so the time of year is
        never a reason: early in the year everyone's "absence so far" is uncertain, late in
        the year it decides, and neither is about this pupil.
        """
        baseline = self.metadata.get(key)
        if not baseline or "weeks_into_year" not in self._features:
            return np.zeros((len(matrix), len(self._features)))
        weeks = np.asarray(baseline["weeks"], dtype=float)
        values = np.asarray(baseline["values"], dtype=float)
        week = np.nan_to_num(matrix[:, self._features.index("weeks_into_year")])
        nearest = np.abs(week[:, None] - weeks[None, :]).argmin(axis=1)
        return values[nearest]

    def reasons(self, frame: pd.DataFrame, top: int = 3) -> pd.DataFrame:
        """The top reasons pushing each pupil's risk up (see :func:`features.explain.reasons`)."""
        return self.score(frame, top=top).drop(columns=[PROBABILITY_COLUMN, "risk_raw_score"])

    def score(self, frame: pd.DataFrame, top: int = 3) -> pd.DataFrame:
        """Probability, raw score and top reasons per row (one TreeSHAP pass).

        Columns: ``risk_probability``, ``risk_raw_score``, then for i = 1..top ``reason_i``
        (plain-English text), ``reason_i_domain`` and ``reason_i_contribution`` (log-odds);
        ``None``/NaN where fewer than ``top`` domains push the risk up. Index as ``frame``.
        """
        matrix = self.feature_matrix(frame)
        contributions, baseline = self._contributions(matrix)
        out = explain.reasons(frame, contributions[:, :-1] - baseline, self._features, top=top)
        out.insert(0, "risk_raw_score", contributions.sum(axis=1))
        out.insert(0, PROBABILITY_COLUMN, self._probability(matrix))
        return out

    # -- files --

    def save(self, directory: Path) -> dict[str, str]:
        """Write the artifact files (three, and two per extra segment); returns ``{artifact
        key: path}`` for MLflow."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        paths = {key: str(directory / name) for key, name in ARTIFACT_KEYS.items()}
        Path(paths["booster"]).write_text(self.booster.model_to_string(), encoding="utf-8")
        Path(paths["calibration"]).write_text(
            json.dumps(self.calibration.to_dict()), encoding="utf-8"
        )
        Path(paths["metadata"]).write_text(
            json.dumps(self.metadata, indent=2, sort_keys=True, default=str), encoding="utf-8"
        )
        for name, segment in (("heading", self.heading), ("early", self.early)):
            if segment is not None:
                files = {key: directory / file for key, file in SEGMENT_ARTIFACT_KEYS[name].items()}
                files[f"{name}_booster"].write_text(
                    segment.booster.model_to_string(), encoding="utf-8"
                )
                files[f"{name}_calibration"].write_text(
                    json.dumps(segment.calibration.to_dict()), encoding="utf-8"
                )
                paths |= {key: str(path) for key, path in files.items()}
        return paths

    @classmethod
    def from_artifacts(
        cls, paths: dict[str, str], *, name: str | None = None, version: str | None = None
    ) -> RiskModel:
        """Load from ``{artifact key: path}`` (what MLflow passes as ``context.artifacts``)."""
        booster = lgb.Booster(model_str=Path(paths["booster"]).read_text(encoding="utf-8"))
        calibration = Calibration.from_dict(
            json.loads(Path(paths["calibration"]).read_text(encoding="utf-8"))
        )
        metadata = json.loads(Path(paths["metadata"]).read_text(encoding="utf-8"))
        return cls(
            booster,
            calibration,
            metadata,
            name=name,
            version=version,
            heading=_segment_from(paths, "heading"),
            early=_segment_from(paths, "early"),
        )

    @classmethod
    def from_directory(cls, directory: Path) -> RiskModel:
        """Load the files :meth:`save` wrote."""
        directory = Path(directory)
        names = ARTIFACT_KEYS | HEADING_ARTIFACT_KEYS | EARLY_ARTIFACT_KEYS
        paths = {k: str(directory / n) for k, n in names.items() if (directory / n).is_file()}
        return cls.from_artifacts(paths)


def _segment_from(paths: dict[str, str], name: str) -> Segment | None:
    """The ``name`` segment (``heading``, ``early``) from its artifacts, if the model has it."""
    if f"{name}_booster" not in paths:
        return None
    return Segment(
        lgb.Booster(model_str=Path(paths[f"{name}_booster"]).read_text(encoding="utf-8")),
        Calibration.from_dict(
            json.loads(Path(paths[f"{name}_calibration"]).read_text(encoding="utf-8"))
        ),
    )


class RiskPyfunc(PythonModel):
    """MLflow pyfunc wrapper: ``predict`` returns the calibrated probability per row.

    Logged as code (:data:`PYFUNC_CODE`), not pickled.
    """

    def load_context(self, context: PythonModelContext) -> None:
        self.model = RiskModel.from_artifacts(context.artifacts)

    # MLflow derives no schema from a DataFrame type hint (the logged signature lists the
    # feature columns), and does not wrap or warn about the method.
    def predict(
        self,
        context: PythonModelContext | None,
        model_input: pd.DataFrame,
        params: dict[str, Any] | None = None,
    ) -> np.ndarray:
        """Probability of ending the year persistently absent, per row of ``model_input``."""
        return self.model.predict_proba(pd.DataFrame(model_input))


PYFUNC_CODE_FILE = "attendance_risk_pyfunc.py"
PYFUNC_CODE = '''"""MLflow models-from-code entry point: the attendance-risk pyfunc.

The model class lives in the installed ``features`` package (features.riskmodel), so loading
runs no pickled code: the booster, calibration and metadata are plain-text artifacts.
"""

from mlflow.models import set_model

from features.riskmodel import RiskPyfunc

set_model(RiskPyfunc())
'''


def write_pyfunc_code(directory: Path) -> Path:
    """Write the models-from-code entry point for ``mlflow.pyfunc.log_model(python_model=…)``
    (MLflow 3 refuses to unpickle models by default; this logs none)."""
    path = Path(directory) / PYFUNC_CODE_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(PYFUNC_CODE, encoding="utf-8")
    return path


_ALIAS_URI = re.compile(r"^models:/(?P<name>[^/@]+)@(?P<alias>[^/]+)$")
_VERSION_URI = re.compile(r"^models:/(?P<name>[^/@]+)/(?P<version>\d+)$")


def load_risk_model(model_uri: str) -> RiskModel:
    """Load a registered (or logged) model for scoring and reasons.

    ``model_uri`` is any MLflow model URI, typically ``models:/attendance-risk@champion``.
    For registry URIs the returned model carries its ``name`` and ``version``; the tracking
    and registry store are MLflow's current ones (``MLFLOW_TRACKING_URI``).
    """
    name: str | None = None
    version: str | None = None
    if match := _ALIAS_URI.match(model_uri):
        client = mlflow.MlflowClient()
        name = match["name"]
        version = str(client.get_model_version_by_alias(name, match["alias"]).version)
        model_uri = f"models:/{name}/{version}"  # pin: the alias may move while we load
    elif match := _VERSION_URI.match(model_uri):
        name, version = match["name"], match["version"]
    loaded = mlflow.pyfunc.load_model(model_uri)
    wrapper = loaded.unwrap_python_model()
    if not isinstance(wrapper, RiskPyfunc):
        raise ValueError(f"{model_uri} is not an attendance-risk model (got {type(wrapper)})")
    model = wrapper.model
    model.name, model.version = name, version
    return model


__all__ = [
    "ARTIFACT_KEYS",
    "HEADING_ARTIFACT_KEYS",
    "CHALLENGER_ALIAS",
    "CHAMPION_ALIAS",
    "DEFAULT_MODEL_NAME",
    "PROBABILITY_COLUMN",
    "Calibration",
    "RiskModel",
    "RiskPyfunc",
    "Segment",
    "default_tracking_uri",
    "load_risk_model",
    "tracking_uri",
    "write_pyfunc_code",
]
