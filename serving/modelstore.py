"""The champion model, loaded once and swapped atomically when the registry alias moves.

Requests take ``holder.current`` once and use that object to the end, so a swap never changes
the model under a request in flight; the swap itself is a single reference assignment. MLflow is
called only at start-up and by the background check (every ``model_poll_seconds``), never per
request.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import pandas as pd

from serving.errors import Unavailable

log = logging.getLogger("ews.serving.model")


class RiskModelLike(Protocol):
    """What the service needs from a risk model (features.riskmodel.RiskModel provides it)."""

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray: ...

    def reasons(self, frame: pd.DataFrame, top: int = 3) -> Any: ...


@dataclass(frozen=True)
class LoadedModel:
    """An immutable model reference: the model plus what the service says about it."""

    name: str
    version: str
    model: RiskModelLike
    info: dict[str, Any] = field(default_factory=dict)
    """Training window, metrics beside baselines, fairness summary: read once, at load time."""
    loaded_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))


class ModelSource(Protocol):
    """Where models come from: the MLflow registry in production, a fake in tests."""

    def resolve(self) -> str | None:
        """The version the alias points at now, or ``None`` if there is none."""

    def load(self, version: str) -> LoadedModel:
        """Load one version."""


class ModelHolder:
    """Holds the current model and keeps it in step with the registry alias."""

    def __init__(
        self,
        source: ModelSource | None,
        *,
        poll_seconds: float = 30.0,
        on_swap: Callable[[LoadedModel], None] | None = None,
    ) -> None:
        self.source = source
        self.poll_seconds = poll_seconds
        self.on_swap = on_swap
        self._current: LoadedModel | None = None
        self._reason = "no model source configured" if source is None else "model not loaded yet"
        self._refresh_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.started = False
        """Set once the app has started (re-scoring on a swap waits for it)."""

    @property
    def current(self) -> LoadedModel | None:
        """The model to score with (take it once per request)."""
        return self._current

    @property
    def reason(self) -> str:
        """Why there is no model (empty when there is one)."""
        return "" if self._current is not None else self._reason

    def set(self, model: LoadedModel | None, reason: str = "") -> None:
        """Swap in ``model`` (tests and the demo use this directly)."""
        self._current = model
        if model is None:
            self._reason = reason or "no model"

    def refresh(self) -> bool:
        """Load the version the alias points at if it differs from the current one.

        Returns whether the model changed. Failures keep the current model and say why.
        """
        if self.source is None:
            return False
        with self._refresh_lock:
            try:
                version = self.source.resolve()
            except Exception as exc:  # registry unreachable: keep serving what we have
                # Plain words for /ready: the exception's text (a URL with credentials, a stack
                # of MLflow internals) is for the log, and only its type goes there.
                self._reason = (
                    "the model registry (MLflow) could not be reached to find the champion; "
                    + (
                        f"the service checks again every {self.poll_seconds:g} s"
                        if self.poll_seconds > 0
                        else "restart the service once the registry is back"
                    )
                )
                log.warning("model registry check failed: %s", type(exc).__name__)
                return False
            if version is None:
                if self._current is None:
                    self._reason = (
                        "no model is registered with the champion alias yet: "
                        "train one (ews train) and promote it (ews promote)"
                    )
                return False
            current = self._current
            if current is not None and current.version == version:
                return False
            try:
                loaded = self.source.load(version)
            except Exception as exc:
                from serving.errors import log_failure

                self._reason = (
                    f"version {version} is the champion but could not be loaded (the service "
                    "log says where it failed); the service keeps the model it had, if any"
                )
                log_failure(log, f"model version {version} failed to load", exc)
                return False
            self._current = loaded  # one reference assignment: atomic for readers
            log.info("serving model %s version %s", loaded.name, loaded.version)
        if self.on_swap is not None:
            try:
                self.on_swap(loaded)
            except Exception as exc:  # logged without its message: it may quote pupil data
                from serving.errors import log_failure

                log_failure(log, "re-scoring after the model changed failed", exc)
        return True

    def start(self) -> None:
        """Start the background check (if ``poll_seconds`` > 0)."""
        if self.poll_seconds <= 0 or self.source is None or self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="ews-model-poll", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the background check and wait for it."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.wait(self.poll_seconds):
            self.refresh()


def no_model(holder: ModelHolder) -> Unavailable:
    """The refusal of a request that needs a model while none is loaded (and why not)."""
    return Unavailable("no risk model is loaded", reason=holder.reason)


class MlflowModelSource:
    """The registered model ``<name>@<alias>`` in an MLflow registry."""

    def __init__(self, tracking_uri: str, name: str, alias: str) -> None:
        self.tracking_uri = tracking_uri
        self.name = name
        self.alias = alias

    def _client(self) -> Any:
        from mlflow import MlflowClient

        return MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri)

    def resolve(self) -> str | None:
        """The version behind the alias (``None`` if the model or alias does not exist)."""
        from mlflow.exceptions import MlflowException

        try:
            version = self._client().get_model_version_by_alias(self.name, self.alias)
        except MlflowException as exc:
            if "RESOURCE_DOES_NOT_EXIST" in str(exc.error_code) or "not found" in str(exc):
                return None
            raise
        return str(version.version)

    def load(self, version: str) -> LoadedModel:
        """Load a version with features.riskmodel and read its run's metrics once."""
        import mlflow

        from features.riskmodel import load_risk_model

        mlflow.set_tracking_uri(self.tracking_uri)
        mlflow.set_registry_uri(self.tracking_uri)
        model = load_risk_model(f"models:/{self.name}/{version}")
        return LoadedModel(
            name=self.name, version=version, model=model, info=self._info(version, model)
        )

    def _info(self, version: str, model: Any) -> dict[str, Any]:
        """What ``GET /v1/model`` shows, from the version, its run and the model metadata."""
        client = self._client()
        mv = client.get_model_version(self.name, version)
        info: dict[str, Any] = {
            "description": mv.description,
            "tags": dict(mv.tags or {}),
            "run_id": mv.run_id,
            "created": _ms_to_iso(mv.creation_timestamp),
        }
        metadata = getattr(model, "metadata", None)
        if isinstance(metadata, dict):
            info["metadata"] = metadata
        if mv.run_id:
            run = client.get_run(mv.run_id)
            info["metrics"] = dict(run.data.metrics)
            info["params"] = dict(run.data.params)
            info["run_tags"] = {
                k: v for k, v in run.data.tags.items() if not k.startswith("mlflow.")
            }
            info["summary"] = self._summary(mv.run_id)
        return info

    def _summary(self, run_id: str) -> dict[str, Any] | None:
        """The evaluation summary training stores with the run (metrics of the model beside
        the baselines, data window, fairness breaches), or ``None`` if there is none."""
        import json
        import tempfile
        from pathlib import Path

        import mlflow

        try:
            with tempfile.TemporaryDirectory() as tmp:
                path = mlflow.artifacts.download_artifacts(
                    run_id=run_id,
                    artifact_path="evaluation/summary.json",
                    dst_path=tmp,
                    tracking_uri=self.tracking_uri,
                )
                summary: dict[str, Any] = json.loads(Path(path).read_text(encoding="utf-8"))
                return summary
        except Exception:  # an older run without the summary: the page shows what it can
            log.warning("no evaluation summary for run %s", run_id)
            return None


def _ms_to_iso(ms: int | None) -> str | None:
    if ms is None:
        return None
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).isoformat()
