"""Settings shared by every package: read once from ``EWS_`` environment variables or ``.env``."""

from __future__ import annotations

from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict


class EwsSettings(BaseSettings):
    """Base settings. ``EWS_DATA_DIR`` holds the simulated authority, the embedded database,
    the MLflow store and the model cache."""

    model_config = SettingsConfigDict(env_prefix="EWS_", env_file=".env", extra="ignore")

    data_dir: Path = Path("data")

    @property
    def authority_dir(self) -> Path:
        """Where ``ews demo`` keeps the simulated authority."""
        return self.data_dir / "authority"
