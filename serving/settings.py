"""Settings of the scoring service, read once from ``EWS_`` environment variables or ``.env``."""

from __future__ import annotations

from functools import cached_property

from pydantic import AliasChoices, Field

from features.modelnames import CHAMPION_ALIAS, DEFAULT_MODEL_NAME, default_tracking_uri
from features.settings import EwsSettings
from serving.pipeline import ScoringConfig


class ServingSettings(EwsSettings):
    """Everything ``ews serve`` can be told. Defaults suit one machine serving a school group or
    a local authority from the data directory."""

    database_url: str | None = None
    """SQLAlchemy URL. Default: SQLite file ``<data_dir>/ews.db``. Production:
    ``postgresql+psycopg://user@host/dbname``."""

    host: str = "127.0.0.1"
    port: int = 8000

    model_name: str = DEFAULT_MODEL_NAME
    model_alias: str = CHAMPION_ALIAS
    model_poll_seconds: float = 30.0
    """How often a background thread checks whether the alias has moved (0 disables it)."""

    mlflow_tracking_uri: str | None = Field(
        default=None,
        validation_alias=AliasChoices("MLFLOW_TRACKING_URI", "EWS_MLFLOW_TRACKING_URI"),
    )
    """MLflow tracking URI; default ``sqlite:///<data_dir>/mlflow.db`` (MLflow's own default
    store, as the training package writes it)."""

    max_upload_bytes: int = 50 * 1024 * 1024
    """A school-year register of 1,500 pupils in long form is ~25 MB; above this: 413."""

    auto_migrate: bool = True
    """Bring the database schema to the latest migration at start-up."""

    sqlite_busy_timeout_ms: int = 15_000
    """How long a SQLite writer waits for another writer before the request gets a 503."""

    high_risk_threshold: float = 0.5
    medium_risk_threshold: float = 0.25
    """Tiers on the calibrated probability of ending the year persistently absent."""

    emerging_below: float = 0.10
    extra_list_share: float = Field(default=0.03, gt=0, le=1)
    """The "heading there" list: this share of the roll (at least one pupil) among pupils not
    yet below 90% (features.lists)."""
    """A pupil is *emerging* while absence so far this year is below the PA threshold."""

    default_page_size: int = 50
    max_page_size: int = 2000

    cookie_secure: bool = False
    """Send the sign-in cookie with ``Secure`` although requests arrive as plain http: set it
    behind a proxy that ends TLS (the cookie is Secure anyway when requests come as https)."""

    session_hours: float = 12.0
    """How long a browser stays signed in (it signs in again with its key after that)."""

    page_cache_bytes: int = 32 * 1024 * 1024
    """Rendered risk-list pages kept in memory, at most this many bytes of JSON (a page of 50
    is ~30 kB, a whole school of 1,500 ~1 MB). CSV exports are never cached."""

    @cached_property
    def resolved_database_url(self) -> str:
        """The database URL in force (the SQLite default lives in the data directory)."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'ews.db').resolve()}"

    @cached_property
    def resolved_tracking_uri(self) -> str:
        """The MLflow tracking URI in force."""
        return self.mlflow_tracking_uri or default_tracking_uri(self.data_dir)

    @cached_property
    def scoring(self) -> ScoringConfig:
        """The thresholds the risk list uses, as scoring takes them."""
        return ScoringConfig(
            high_risk_threshold=self.high_risk_threshold,
            medium_risk_threshold=self.medium_risk_threshold,
            emerging_below=self.emerging_below,
        )

    @property
    def model_uri(self) -> str:
        """``models:/<name>@<alias>``: the registered model the service scores with."""
        return f"models:/{self.model_name}@{self.model_alias}"
