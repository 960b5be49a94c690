"""``ews train``, ``ews evaluate`` and ``ews promote``.

Heavy libraries (pandas, LightGBM, MLflow) are imported inside the commands so that
``ews --help`` stays fast.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from training.config import TrainingConfig
    from training.pipeline import Evaluation

DataOption = Annotated[
    Path | None,
    typer.Option(
        "--data",
        help="Directory written by `ews simulate` (schools.csv, pupils.csv, marks.parquet). "
        "Default: $EWS_DATA_DIR/authority.",
    ),
]
ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config", help="Run configuration (TOML). Default: training/configs/default.toml."
    ),
]
TestYearOption = Annotated[
    str | None,
    typer.Option(
        "--test-year", help="Held-out academic year, e.g. 2023/24. Default: the last labelled."
    ),
]


def _fail(message: str, code: int = 2) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def _config(path: Path | None, test_year: str | None) -> TrainingConfig:
    from features.calendar import parse_academic_year
    from training.config import TrainingConfig, load_config

    config = load_config(path)
    if test_year is not None:
        try:
            parse_academic_year(test_year)
        except ValueError as exc:
            raise ValueError(f"--test-year: {exc}") from exc
        data = config.model_dump()
        data["data"]["test_year"] = test_year
        config = TrainingConfig.model_validate(data)
    return config


def _headline(evaluation: Evaluation, config: TrainingConfig) -> str:
    from training.report import headline_table, markdown_table

    share = f"{round(config.evaluation.operating_share * 100):g}"
    metrics = [
        "roc_auc",
        "average_precision",
        f"precision_at_{share}",
        f"recall_at_{share}",
        "precision_at_caseload",
        "ece",
    ]
    parts = []
    for population in ("all", "emerging"):
        table = headline_table(evaluation, config, population, metrics)
        parts.append(f"{population} pupils, test year {evaluation.test_year}, pooled over weeks:")
        parts.append(markdown_table(table[table["week"] == "pooled"].drop(columns="week")))
    return "\n".join(parts)


def train(
    data: DataOption = None,
    config: ConfigOption = None,
    test_year: TestYearOption = None,
    model_card: Annotated[
        Path | None,
        typer.Option(
            "--model-card", help="Also copy the model card here (e.g. models/model_card.md)."
        ),
    ] = None,
) -> None:
    """Train on earlier years, test on the last, log to MLflow, register as @challenger.

    Builds snapshots from the directory `ews simulate` wrote, fits LightGBM (every feature set
    of the config) and the three baselines, evaluates them on the held-out year and logs the
    report, model card and plots with the run.
    """
    from pydantic import ValidationError

    from training.config import ConfigError
    from training.data import DataError, load_dataset
    from training.pipeline import run
    from training.registry import RegistryError, log_run
    from training.settings import TrainingSettings

    settings = TrainingSettings()
    source = data or settings.authority_dir
    try:
        cfg = _config(config, test_year)
        started = time.perf_counter()
        snapshots = load_dataset(source)
        snapshot_seconds = time.perf_counter() - started
        typer.echo(f"snapshots: {len(snapshots):,} pupil-weeks in {snapshot_seconds:.1f}s")
        result = run(snapshots, cfg)
        typer.echo(
            f"trained {', '.join(result.trained.fitted)} on "
            f"{', '.join(result.trained.split.train_years)} "
            f"in {result.trained.train_seconds:.1f}s; tested on {result.trained.split.test_year}"
        )
        logged = log_run(
            result,
            cfg,
            data_dir=settings.data_dir,
            source_dir=source,
            model_name=settings.model_name,
            extra_metrics={"snapshot_seconds": snapshot_seconds},
        )
    except (ConfigError, DataError, FileNotFoundError, ValidationError, ValueError) as exc:
        _fail(str(exc))
        return
    except RegistryError as exc:
        _fail(str(exc), 1)
        return
    typer.echo(_headline(result.evaluation, cfg))
    typer.echo(
        f"\nregistered {logged.model_name} version {logged.version} as @challenger "
        f"(run {logged.run_id})"
    )
    for gate in logged.gates:
        typer.echo(f"  {'PASS' if gate.passed else 'FAIL'} {gate.name}: {gate.detail}")
    typer.echo(f"report: {logged.report_dir / 'report.md'}")
    if model_card is not None:
        model_card.parent.mkdir(parents=True, exist_ok=True)
        model_card.write_text(
            (logged.report_dir / "model_card.md").read_text(encoding="utf-8"), encoding="utf-8"
        )
        typer.echo(f"model card: {model_card}")


def evaluate(
    model_version: Annotated[
        int | None,
        typer.Option(
            "--model-version",
            help="Registered version. Default: the champion, else the challenger.",
        ),
    ] = None,
    data: DataOption = None,
    test_year: Annotated[
        str | None,
        typer.Option(
            "--test-year", help="Academic year to evaluate on. Default: the version's test year."
        ),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config", help="Evaluation settings. Default: the config logged with the run."
        ),
    ] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Report directory.")] = None,
) -> None:
    """Write the evaluation report of a registered model version.

    Tables per week and pooled (all and emerging pupils), lead time, fairness audit, plots and
    model card, on the version's test year (or --test-year) with the baselines of its run.
    """
    from training.config import ConfigError, load_config
    from training.data import DataError
    from training.registry import RegistryError, configure_mlflow, evaluate_version
    from training.settings import TrainingSettings

    settings = TrainingSettings()
    source = data or settings.authority_dir
    try:
        configure_mlflow(settings.data_dir)
        cfg = load_config(config) if config is not None else None
        evaluation, paths, version, used = evaluate_version(
            settings.model_name,
            None if model_version is None else str(model_version),
            source,
            config=cfg,
            test_year=test_year,
            out_dir=out,
            reports_dir=settings.reports_dir,
        )
    except (ConfigError, DataError, FileNotFoundError, ValueError) as exc:
        _fail(str(exc))
        return
    except RegistryError as exc:
        _fail(str(exc), 1)
        return
    typer.echo(f"{settings.model_name} version {version}")
    typer.echo(_headline(evaluation, used))
    typer.echo(f"report: {paths['report']}")


def promote(
    version: Annotated[
        int | None, typer.Option("--version", help="Version to promote. Default: the challenger.")
    ] = None,
    accept_risk: Annotated[
        str | None,
        typer.Option(
            "--accept-risk",
            help="Promote despite failed gates; the reason is recorded on the version.",
        ),
    ] = None,
    rollback: Annotated[
        bool, typer.Option("--rollback", help="Restore the previous champion.")
    ] = False,
) -> None:
    """Move @champion to a version whose gates pass, or roll it back.

    Gates (stored with the run): beats every baseline on AUC and precision at 10%, calibration
    error within its bound, no fairness ratio flagged. --accept-risk overrides, and is recorded.
    """
    from training.registry import RegistryError, configure_mlflow
    from training.registry import promote as promote_version
    from training.registry import rollback as rollback_champion
    from training.settings import TrainingSettings

    settings = TrainingSettings()
    configure_mlflow(settings.data_dir)
    if rollback and (version is not None or accept_risk is not None):
        _fail("--rollback takes no --version or --accept-risk")
    if accept_risk is not None and not accept_risk.strip():
        _fail('--accept-risk needs a reason, e.g. --accept-risk "fairness reviewed with the DPO"')
    try:
        if rollback:
            outcome = rollback_champion(settings.model_name)
        else:
            outcome = promote_version(
                settings.model_name,
                None if version is None else str(version),
                accept_risk=accept_risk,
            )
    except RegistryError as exc:
        _fail(str(exc), 1)
        return
    for gate in outcome.gates:
        typer.echo(f"  {'PASS' if gate.passed else 'FAIL'} {gate.name}: {gate.detail}")
    typer.echo(outcome.message)
    if not outcome.promoted and outcome.message.startswith("refused"):
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add ``train``, ``evaluate`` and ``promote`` to the ``ews`` app."""
    app.command("train")(train)
    app.command("evaluate")(evaluate)
    app.command("promote")(promote)
