"""MLflow: logging a run, registering the model, and moving the ``champion`` alias.

* The tracking store is ``MLFLOW_TRACKING_URI`` if set, else a SQLite file in the data
  directory (``sqlite:///<EWS_DATA_DIR>/mlflow.db``), with artifacts beside it
  (``<EWS_DATA_DIR>/mlartifacts``). The registry uses the same store.
* A run logs the config (TOML), flattened parameters, the data window, the feature list and
  feature-schema version, the git commit, every metric, the report, the model card and the
  plots; the model as a pyfunc logged *as code* (:class:`features.riskmodel.RiskPyfunc`;
  booster as text, calibration and metadata as JSON — nothing pickled) with a signature and
  an input example, registered under the model name with alias ``challenger``.
* :func:`promote` moves ``champion`` only when the gates stored with the run pass (or a
  reason to accept the risk is given, and recorded on the version); :func:`rollback`
  restores the previous champion.
"""

from __future__ import annotations

import datetime as dt
import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np
import pandas as pd

from features.riskmodel import (
    CHALLENGER_ALIAS,
    CHAMPION_ALIAS,
    RiskModel,
    tracking_uri,
    write_pyfunc_code,
)
from features.schema import FEATURE_SCHEMA_VERSION
from training.config import TrainingConfig, config_to_toml
from training.gates import GateResult, check_gates
from training.metrics import POOLED
from training.pipeline import RunResult, git_commit
from training.report import write_report

MODEL_ARTIFACT = "model"
EVALUATED_ARTIFACT = "evaluated_model"
"""The run's second pyfunc: the same recipe fitted without the test year, the model the run's
numbers describe (the registered one also learned from the test year)."""
EVALUATION_DIR = "evaluation"
INPUT_EXAMPLE_ROWS = 5


class RegistryError(RuntimeError):
    """A registry operation that cannot proceed; the message says why and what to do."""


def configure_mlflow(data_dir: Path) -> str:
    """Point MLflow (tracking and registry) at the store for ``data_dir``; returns the URI."""
    import os

    import mlflow

    # Command-line runs and tests download small artifacts; MLflow's progress bars are noise.
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    uri = tracking_uri(data_dir)
    if uri.startswith("sqlite:///"):
        Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return uri


def artifact_location(uri: str, data_dir: Path) -> str | None:
    """Where a new experiment stores artifacts: beside a local store (never the current
    directory's ``./mlruns``); a tracking server decides for itself (``None``)."""
    parsed = urlparse(uri)
    if parsed.scheme == "sqlite":
        return (Path(uri.removeprefix("sqlite:///")).parent / "mlartifacts").resolve().as_uri()
    if parsed.scheme in ("", "file"):
        return None  # a file store keeps artifacts inside itself
    if parsed.scheme in ("http", "https", "databricks"):
        return None
    return (Path(data_dir) / "mlartifacts").resolve().as_uri()


def experiment_id(name: str, data_dir: Path) -> str:
    """The experiment's id, creating it (with a local artifact location) if needed."""
    import mlflow

    existing = mlflow.get_experiment_by_name(name)
    if existing is not None:
        return existing.experiment_id
    return mlflow.create_experiment(
        name, artifact_location=artifact_location(mlflow.get_tracking_uri(), data_dir)
    )


def _flatten(prefix: str, value: Any) -> dict[str, str]:
    if isinstance(value, dict):
        out: dict[str, str] = {}
        for key, item in value.items():
            out |= _flatten(f"{prefix}.{key}" if prefix else str(key), item)
        return out
    return {prefix: json.dumps(value) if isinstance(value, (list, dict)) else str(value)}


def metric_key(population: str, week: int, metric: str, model: str) -> str:
    """MLflow metric name, e.g. ``all.pooled.roc_auc.lgbm_attendance``,
    ``emerging.week_06.precision_at_10.ytd_rule``."""
    where = "pooled" if week == POOLED else f"week_{week:02d}"
    return f"{population}.{where}.{metric}.{model}"


def run_metrics(result: RunResult, config: TrainingConfig) -> dict[str, float]:
    """The metrics logged with a run: every metric of every model for the reported weeks and
    pooled, plus headline keys (``test_*`` for the registered model) and every extra list's
    numbers (``extra_list.<measure>.<list>``)."""
    metrics = result.evaluation.metrics
    weeks = {*config.evaluation.report_weeks, POOLED}
    subset = metrics[metrics["week"].isin(weeks)].dropna(subset=["value"])
    out = {
        metric_key(r.population, int(r.week), r.metric, r.model): float(r.value)
        for r in subset.itertuples(index=False)
    }
    key = result.trained.registered_key
    share = f"{round(config.evaluation.operating_share * 100):g}"
    for name in ("roc_auc", "average_precision", f"precision_at_{share}", "brier", "ece"):
        value = out.get(metric_key("all", POOLED, name, key))
        if value is not None:
            out[f"test_{name}"] = value
    for row in result.evaluation.early_warning.to_dict("records"):
        list_key = str(row.pop("model")).replace(" ", "_").replace("(", "").replace(")", "")
        for name, value in row.items():
            if value == value:
                out[f"extra_list.{name}.{list_key}"] = float(value)
    out["train_seconds"] = result.trained.train_seconds
    for model, fitted in result.trained.fitted.items():
        for booster in fitted.boosters:
            out[f"num_trees.{booster.segment}.{model}"] = float(booster.num_trees)
    audit = result.evaluation.fairness
    if not audit.empty:
        own = audit[audit["model"] == key]
        out["fairness.recall_flags"] = float(own["recall_flag"].sum())
    return out


def signature_and_example(model: RiskModel, rows: pd.DataFrame) -> tuple[Any, pd.DataFrame]:
    """The model signature — every feature a ``double`` column (missing values are NaN, so
    integer-like features are float64 too), output one ``double`` per row — and a small input
    example of real feature rows (no identifiers)."""
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema

    signature = ModelSignature(
        inputs=Schema([ColSpec("double", feature) for feature in model.features]),
        outputs=Schema([ColSpec("double", "risk_probability")]),
    )
    example = (
        rows[model.features].head(INPUT_EXAMPLE_ROWS).astype(np.float64).reset_index(drop=True)
    )
    return signature, example


def _project_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("attendance-ews")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0.1.0"


@dataclass
class LoggedRun:
    """What :func:`log_run` created."""

    run_id: str
    model_name: str
    version: str
    model_uri: str
    report_dir: Path
    gates: list[GateResult] = field(default_factory=list)


def log_run(
    result: RunResult,
    config: TrainingConfig,
    *,
    data_dir: Path,
    source_dir: Path,
    model_name: str,
    report_dir: Path | None = None,
    extra_metrics: dict[str, float] | None = None,
) -> LoggedRun:
    """Log a finished run to MLflow, register its model and point ``challenger`` at it."""
    import lightgbm
    import mlflow
    from mlflow import MlflowClient

    configure_mlflow(data_dir)
    exp_id = experiment_id(config.run.experiment, data_dir)
    model = result.registered_model
    shipped = result.shipped or model
    window = result.trained.window
    commit = git_commit()
    with mlflow.start_run(experiment_id=exp_id) as active:
        run_id = active.info.run_id
        mlflow.set_tags(
            {
                "git_commit": commit,
                "feature_set": config.run.feature_set,
                "feature_schema_version": FEATURE_SCHEMA_VERSION,
                "features": ",".join(model.features),
                "registered_model_key": result.trained.registered_key,
                "test_year": result.trained.split.test_year,
                "train_years": ",".join(result.trained.split.train_years),
                "fit_years": ",".join(result.trained.split.fit_years),
                "early_stopping": "a holdout of schools within the fit years",
                "registered_model": "the recipe refitted on "
                + ",".join(result.trained.split.ship_years),
                "data_source": str(source_dir),
                "trained_on": "simulated authority",
            }
        )
        params = _flatten("", config.model_dump(mode="json"))
        params |= _flatten("window", window)
        mlflow.log_params(params)
        mlflow.log_text(config_to_toml(config), "config.toml")
        mlflow.log_dict(window, "data_window.json")
        mlflow.log_dict(result.trained.baselines.rate_spells.to_dict(), "baselines.json")
        mlflow.log_metrics(run_metrics(result, config) | (extra_metrics or {}))

        signature, example = signature_and_example(model, result.test_rows)
        requirements = [
            # The pyfunc's class lives in this project's ``features`` package.
            f"attendance-ews=={_project_version()}",
            f"mlflow=={mlflow.__version__}",
            f"lightgbm=={lightgbm.__version__}",
            f"numpy=={np.__version__}",
            f"pandas=={pd.__version__}",
        ]
        metadata = {
            "feature_set": config.run.feature_set,
            "feature_schema_version": FEATURE_SCHEMA_VERSION,
        }
        with tempfile.TemporaryDirectory() as tmp:
            code = str(write_pyfunc_code(Path(tmp)))
            info = mlflow.pyfunc.log_model(
                name=MODEL_ARTIFACT,
                python_model=code,
                artifacts=shipped.save(Path(tmp) / "shipped"),
                signature=signature,
                input_example=example,
                registered_model_name=model_name,
                pip_requirements=requirements,
                metadata=metadata,
            )
            if shipped is not model:
                mlflow.pyfunc.log_model(
                    name=EVALUATED_ARTIFACT,
                    python_model=code,
                    artifacts=model.save(Path(tmp) / "evaluated"),
                    signature=signature,
                    input_example=example,
                    pip_requirements=requirements,
                    metadata=metadata,
                )
        version = str(info.registered_model_version)
        if report_dir is None:
            report_dir = Path(data_dir) / "reports" / run_id
        paths = write_report(
            result.evaluation,
            config,
            window,
            report_dir,
            model_metadata=model.metadata,
            name=model_name,
            version=version,
            run_info={"Run": run_id, "Model": f"{model_name} version {version}", "Commit": commit},
        )
        mlflow.log_artifacts(str(report_dir), EVALUATION_DIR)

    client = MlflowClient()
    client.set_registered_model_alias(model_name, CHALLENGER_ALIAS, version)
    summary = json.loads(paths["summary"].read_text(encoding="utf-8"))
    gates = check_gates(summary["gates"])
    client.update_model_version(
        model_name,
        version,
        description=(
            f"LightGBM ({config.run.feature_set}), the recipe evaluated on "
            f"{result.trained.split.test_year} (fitted on "
            f"{', '.join(result.trained.split.fit_years)}), refitted on "
            f"{', '.join(shipped.metadata.get('train_years') or [])}. Trained on simulated data."
        ),
    )
    for key, value in {
        "feature_set": config.run.feature_set,
        "test_year": result.trained.split.test_year,
        "gates_passed": str(all(g.passed for g in gates)).lower(),
        "gates_failed": ",".join(g.name for g in gates if not g.passed),
    }.items():
        client.set_model_version_tag(model_name, version, key, value)
    return LoggedRun(
        run_id, model_name, version, f"models:/{model_name}/{version}", report_dir, gates
    )


# --- promotion --------------------------------------------------------------------------------


def _alias_version(client: Any, name: str, alias: str) -> str | None:
    from mlflow.exceptions import MlflowException

    try:
        return str(client.get_model_version_by_alias(name, alias).version)
    except MlflowException:
        return None


def run_summary(client: Any, name: str, version: str) -> dict[str, Any]:
    """The ``summary.json`` stored with the run that produced ``name`` version ``version``."""
    import mlflow

    mv = client.get_model_version(name, version)
    if not mv.run_id:
        raise RegistryError(f"{name} version {version} has no run: cannot read its gates")
    with tempfile.TemporaryDirectory() as tmp:
        path = mlflow.artifacts.download_artifacts(
            run_id=mv.run_id, artifact_path=f"{EVALUATION_DIR}/summary.json", dst_path=tmp
        )
        return json.loads(Path(path).read_text(encoding="utf-8"))


@dataclass
class PromotionOutcome:
    """What :func:`promote` or :func:`rollback` did."""

    promoted: bool
    version: str
    previous_champion: str | None
    gates: list[GateResult]
    message: str


def promote(
    name: str, version: str | None = None, *, accept_risk: str | None = None
) -> PromotionOutcome:
    """Point ``champion`` at ``version`` (default: the ``challenger``) if its gates pass.

    With failing gates the alias does not move, unless ``accept_risk`` gives a reason: then
    it moves and the reason and the failed gates are recorded as tags on the version.
    """
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    client = MlflowClient()
    if version is None:
        version = _alias_version(client, name, CHALLENGER_ALIAS)
        if version is None:
            raise RegistryError(
                f"no {name}@{CHALLENGER_ALIAS} to promote: train one (`ews train`) or pass "
                "--version N"
            )
    try:
        client.get_model_version(name, version)
    except MlflowException as exc:
        raise RegistryError(f"{name} has no version {version}") from exc
    previous = _alias_version(client, name, CHAMPION_ALIAS)
    gates = check_gates(run_summary(client, name, version)["gates"])
    failed = [g for g in gates if not g.passed]
    if previous == version:
        return PromotionOutcome(
            False, version, previous, gates, f"version {version} is already the champion"
        )
    if failed and not accept_risk:
        lines = "\n".join(f"  - {g.name}: {g.detail}" for g in failed)
        return PromotionOutcome(
            False,
            version,
            previous,
            gates,
            f"refused: {len(failed)} gate(s) failed for {name} version {version}:\n{lines}\n"
            'Fix the model, or promote anyway with --accept-risk "reason" (recorded).',
        )
    now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    client.set_registered_model_alias(name, CHAMPION_ALIAS, version)
    client.set_model_version_tag(name, version, "promoted_at", now)
    client.set_model_version_tag(name, version, "previous_champion", previous or "")
    if failed:
        client.set_model_version_tag(name, version, "accepted_risk", accept_risk or "")
        client.set_model_version_tag(
            name, version, "accepted_failed_gates", ",".join(g.name for g in failed)
        )
    how = f" despite {len(failed)} failed gate(s), risk accepted: {accept_risk}" if failed else ""
    return PromotionOutcome(
        True,
        version,
        previous,
        gates,
        f"{name} version {version} is now the champion (was {previous or 'none'}){how}",
    )


def rollback(name: str) -> PromotionOutcome:
    """Point ``champion`` back at the version it replaced (recorded at promotion)."""
    from mlflow import MlflowClient

    client = MlflowClient()
    current = _alias_version(client, name, CHAMPION_ALIAS)
    if current is None:
        raise RegistryError(f"{name} has no champion to roll back")
    previous = client.get_model_version(name, current).tags.get("previous_champion") or None
    if previous is None:
        raise RegistryError(
            f"{name} version {current} replaced no earlier champion: nothing to roll back to"
        )
    client.set_registered_model_alias(name, CHAMPION_ALIAS, previous)
    client.set_model_version_tag(
        name, current, "rolled_back_at", dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    )
    return PromotionOutcome(
        True,
        previous,
        current,
        [],
        f"{name} champion rolled back from version {current} to {previous}",
    )


# --- evaluating a registered model ------------------------------------------------------------


def resolve_version(name: str, version: str | None) -> str:
    """``version`` or, when ``None``, the champion's version, else the challenger's."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    client = MlflowClient()
    if version is not None:
        try:
            client.get_model_version(name, str(version))
        except MlflowException as exc:
            raise RegistryError(f"{name} has no version {version}") from exc
        return str(version)
    for alias in (CHAMPION_ALIAS, CHALLENGER_ALIAS):
        found = _alias_version(client, name, alias)
        if found is not None:
            return found
    raise RegistryError(f"{name} has no champion or challenger: pass --model-version N")


def run_config(name: str, version: str) -> TrainingConfig:
    """The configuration logged with the run that produced a version."""
    import mlflow
    from mlflow import MlflowClient

    from training.config import ConfigError, load_config

    mv = MlflowClient().get_model_version(name, version)
    with tempfile.TemporaryDirectory() as tmp:
        path = mlflow.artifacts.download_artifacts(
            run_id=mv.run_id, artifact_path="config.toml", dst_path=tmp
        )
        try:
            return load_config(Path(path))
        except ConfigError as exc:
            raise ConfigError(
                f"the config logged with {name} version {version} (run {mv.run_id}) is not "
                f"valid now: {str(exc).removeprefix(f'config file {path}: ')}. Pass "
                "--config FILE with valid settings."
            ) from exc


def stored_baselines(name: str, version: str) -> Any:
    """The baselines as fitted in the version's run (coefficients from ``baselines.json``)."""
    import mlflow
    from mlflow import MlflowClient

    from training.baselines import Baselines, RateSpellsLogit

    mv = MlflowClient().get_model_version(name, version)
    with tempfile.TemporaryDirectory() as tmp:
        path = mlflow.artifacts.download_artifacts(
            run_id=mv.run_id, artifact_path="baselines.json", dst_path=tmp
        )
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    return Baselines(RateSpellsLogit.from_dict(data))


def stored_window(name: str, version: str) -> dict[str, Any]:
    """The data window logged with the version's run (``data_window.json``)."""
    import mlflow
    from mlflow import MlflowClient

    mv = MlflowClient().get_model_version(name, version)
    with tempfile.TemporaryDirectory() as tmp:
        path = mlflow.artifacts.download_artifacts(
            run_id=mv.run_id, artifact_path="data_window.json", dst_path=tmp
        )
        return json.loads(Path(path).read_text(encoding="utf-8"))


def evaluated_model(name: str, version: str) -> RiskModel | None:
    """The model a version's run evaluated (fitted without the test year), if logged."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    from features.riskmodel import load_risk_model

    run_id = MlflowClient().get_model_version(name, version).run_id
    try:
        return load_risk_model(f"runs:/{run_id}/{EVALUATED_ARTIFACT}")
    except (MlflowException, OSError):
        return None


def calibration_row(model: RiskModel, rows: pd.DataFrame, config: TrainingConfig) -> dict[str, Any]:
    """Test-year ECE of a registered model on ``rows`` before and after its calibration (chosen
    out of fold when it was trained; this only shows what it does here)."""
    from training.data import LABEL
    from training.metrics import expected_calibration_error

    bins = config.evaluation.ece_bins
    y = rows[LABEL].to_numpy(dtype=float)
    segments = model.metadata.get("segments") or {"all": {"calibration": model.calibration.method}}
    return {
        "segment": ", ".join(segments),
        "kept": ", ".join(f"{k}: {v.get('calibration')}" for k, v in segments.items()),
        "test_ece_raw": expected_calibration_error(y, model.uncalibrated(rows), bins),
        "test_ece_shipped": expected_calibration_error(y, model.predict_proba(rows), bins),
    }


def evaluate_version(
    name: str,
    version: str | None,
    source_dir: Path,
    *,
    config: TrainingConfig | None = None,
    test_year: str | None = None,
    out_dir: Path | None = None,
    reports_dir: Path,
) -> tuple[Any, dict[str, Path], str, TrainingConfig]:
    """The full evaluation report of a registered version on ``test_year`` (default: the
    year it was tested on) of the authority in ``source_dir``.

    Baselines are the ones fitted in the version's run; settings are the run's config unless
    ``config`` is given. Returns (evaluation, report paths, version, config used).
    """
    from mlflow import MlflowClient

    from features.riskmodel import load_risk_model
    from training.data import DataError, describe_years, load_dataset, rows_for
    from training.pipeline import evaluate, model_key

    version = resolve_version(name, version)
    model = load_risk_model(f"models:/{name}/{version}")
    cfg = config or run_config(name, version)
    run_test_year = str(model.metadata.get("test_year", ""))
    year = test_year or run_test_year
    if not year:
        raise RegistryError(f"{name} version {version} records no test year: pass --test-year")
    if year == run_test_year and year in (model.metadata.get("train_years") or []):
        # The registered model also learned from its run's test year: what the run measured
        # is the recipe fitted without it, logged beside it.
        model = evaluated_model(name, version) or model
    seen = {str(y) for y in model.metadata.get("train_years") or []}
    if year in seen:
        raise RegistryError(
            f"{name} version {version} was trained on {year} "
            f"(training years {', '.join(sorted(seen - {''}))}): its numbers there are not "
            "held out. Evaluate on a later year (--test-year)."
        )
    snapshots = load_dataset(source_dir, years=[year])
    test_rows = rows_for(snapshots, [year])
    if test_rows.empty:
        raise DataError(f"{source_dir} has no labelled snapshot rows for {year}")
    key = model_key(model.feature_set)
    evaluation = evaluate(
        test_rows,
        {key: model},
        stored_baselines(name, version),
        cfg,
        registered_key=key,
        calibration=pd.DataFrame([{"model": key, **calibration_row(model, test_rows, cfg)}]),
    )
    if year == str(model.metadata.get("test_year", "")):
        # Same year as the training run: its comparison of feature sets still holds.
        evaluation.extra["run_pooled"] = run_summary(MlflowClient(), name, version).get("pooled")
    window = stored_window(name, version)
    window["test"] = describe_years(snapshots, [year])
    out = out_dir or Path(reports_dir) / f"{name}-v{version}-{year.replace('/', '-')}"
    paths = write_report(
        evaluation,
        cfg,
        window,
        out,
        model_metadata=model.metadata,
        name=name,
        version=version,
        run_info={"Model": f"{name} version {version}", "Data": str(source_dir)},
    )
    return evaluation, paths, version, cfg
