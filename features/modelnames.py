"""Names the training package and the service share: the registered model, its aliases and
where MLflow keeps them by default. Defined here, once, without importing MLflow (the service's
settings read them at start-up; :mod:`features.riskmodel` re-exports them)."""

from __future__ import annotations

from pathlib import Path

DEFAULT_MODEL_NAME = "attendance-risk"
"""Registered model name (a setting: ``EWS_MODEL_NAME``)."""
CHAMPION_ALIAS = "champion"
"""The alias of the version that serves (``EWS_MODEL_ALIAS``)."""
CHALLENGER_ALIAS = "challenger"
"""The alias training gives a new version."""


def default_tracking_uri(data_dir: Path) -> str:
    """MLflow's embedded store in the data directory: ``sqlite:///<data_dir>/mlflow.db``."""
    return f"sqlite:///{Path(data_dir).resolve() / 'mlflow.db'}"
