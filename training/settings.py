"""Settings of the training commands, read once from ``EWS_`` environment variables or ``.env``."""

from __future__ import annotations

from pathlib import Path

from features.riskmodel import DEFAULT_MODEL_NAME
from features.settings import EwsSettings


class TrainingSettings(EwsSettings):
    """``EWS_DATA_DIR`` holds the MLflow store (``mlflow.db``, ``mlartifacts/``) and reports;
    ``MLFLOW_TRACKING_URI`` (read by MLflow itself) overrides the store."""

    model_name: str = DEFAULT_MODEL_NAME
    """Registered model name (``EWS_MODEL_NAME``); the service must use the same."""

    @property
    def reports_dir(self) -> Path:
        """Where each run's report is written (and logged from)."""
        return self.data_dir / "reports"
