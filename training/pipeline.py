"""A training run end to end, without MLflow: split → fit → evaluate → ship.

:func:`train_models` fits the LightGBM models (one per feature set) and the baselines on the
training years; :func:`evaluate` scores the test year with all of them and computes every
metric, the extra lists against the school's own, the fairness audit, reliability tables and
global importance; :func:`ship` refits the registered recipe on every labelled year (the test
year included) for the service. :mod:`training.registry` logs the result; ``ews evaluate``
calls :func:`evaluate` again for a registered model on a year it did not see.
"""

from __future__ import annotations

import datetime as dt
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd

from features.riskmodel import RiskModel, Segment
from features.schema import FEATURE_SCHEMA_VERSION, FEATURE_SETS
from training.baselines import BASELINE_LABELS, BASELINES, PROBABILISTIC, Baselines
from training.config import TrainingConfig
from training.data import (
    AUDIT_PREFIX,
    LABEL,
    DataError,
    YearSplit,
    data_window,
    rows_for,
    split_years,
)
from training.early_warning import (
    HINDSIGHT,
    ListRows,
    extra_list_report,
    hindsight_score,
    leads,
    model_list_score,
    reachable,
    rule_scores,
    surfaced_weeks,
)
from training.fairness import calibration_within_groups, fairness_audit, observed_in
from training.metrics import (
    POOLED,
    EvaluationFrame,
    bootstrap_precision_difference,
    evaluate_scores,
    expected_calibration_error,
    metric_value,
    reliability_table,
)
from training.model import FittedBooster, FittedModel, fit_model, segment_mask

IMPORTANCE_SAMPLE = 20_000
"""Rows of the test year used for global mean |SHAP| importance."""


def model_key(feature_set: str) -> str:
    """Name of a LightGBM model in tables and MLflow metric keys: ``lgbm_attendance``,
    ``lgbm_attendance_context``."""
    return "lgbm_" + feature_set.replace("+", "_")


def model_label(key: str) -> str:
    """Human label of a model or baseline key."""
    if key in BASELINE_LABELS:
        return BASELINE_LABELS[key]
    for feature_set in FEATURE_SETS:
        if model_key(feature_set) == key:
            return f"LightGBM ({feature_set})"
    return key


def git_commit() -> str:
    """The repository's HEAD commit (with ``-dirty`` if the tree has changes), or
    ``unknown``."""
    root = Path(__file__).resolve().parents[1]
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("-dirty" if dirty else "")


@dataclass
class TrainedModels:
    """Everything fitted on the training years."""

    config: TrainingConfig
    split: YearSplit
    window: dict[str, Any]
    fitted: dict[str, FittedModel]  # by model key
    baselines: Baselines
    train_seconds: float

    @property
    def registered_key(self) -> str:
        return model_key(self.config.run.feature_set)


@dataclass
class Evaluation:
    """Every number and table reported for the test year."""

    test_year: str
    metrics: pd.DataFrame
    early_warning: pd.DataFrame  # one row per extra list (models and rules)
    leads: pd.DataFrame  # the registered model's list: per newly-PA enrolment (early_warning.leads)
    fairness: pd.DataFrame  # with a ``model`` column (LightGBM models only)
    group_calibration: pd.DataFrame  # per model, attribute, group, week (1..calibration_weeks)
    reliability: pd.DataFrame  # with a ``model`` column (probabilistic models)
    importance: pd.DataFrame  # ``feature, mean_abs_shap`` for the registered model
    calibration: pd.DataFrame  # per model segment: the out-of-fold choice, test-year ECE
    models: list[str]  # evaluated keys, registered model first
    registered_key: str
    comparisons: pd.DataFrame = field(default_factory=pd.DataFrame)  # see compare_to_baselines
    extra: dict[str, Any] = field(default_factory=dict)


def check_test_rows(test_rows: pd.DataFrame, config: TrainingConfig) -> None:
    """Raise :class:`DataError` if the evaluation settings do not fit the test year's rows: a
    reported week it does not have, or a fairness reference group none of its pupils is in
    (which would silently audit against another group). Checked before training, so a bad
    setting costs seconds, not a whole run."""
    year = ", ".join(sorted(test_rows["academic_year"].astype(str).unique()))
    weeks = set(test_rows["week"].astype(int).unique())
    missing = [w for w in config.evaluation.report_weeks if w not in weeks]
    if missing:
        have = f"weeks {min(weeks)}–{max(weeks)}" if weeks else "no labelled rows"
        raise DataError(
            f"[evaluation] report_weeks {missing} are not school weeks of the test year {year} "
            f"(it has {have}): report weeks within them"
        )
    for attribute, reference in config.fairness.reference.items():
        column = AUDIT_PREFIX + attribute
        if attribute not in config.fairness.attributes or column not in test_rows.columns:
            continue
        groups = sorted(test_rows[column].astype(str).unique())
        if len(groups) > 1 and reference not in groups:
            raise DataError(
                f"[fairness] reference {attribute} = {reference!r} is not a group in the test "
                f"year {year}; its groups: {groups}. Set [fairness] reference to one of them."
            )


def fit_rows_of(snapshots: pd.DataFrame, years: list[str], config: TrainingConfig) -> pd.DataFrame:
    """The labelled rows a model is fitted on (every ``train_every``-th week)."""
    return rows_for(snapshots, years, every=config.data.train_every)


def fit_feature_sets(rows: pd.DataFrame, config: TrainingConfig) -> dict[str, FittedModel]:
    """One model per compared feature set, fitted on ``rows``."""
    return {
        model_key(feature_set): fit_model(
            feature_set,
            list(FEATURE_SETS[feature_set]),
            rows,
            config.lightgbm,
            seed=config.run.seed,
            segmented=config.model.segmented,
            heading_below=config.model.heading_below,
            early_weeks=config.model.early_weeks,
            calibrate=config.calibration.method == "isotonic",
            calibration_folds=config.calibration.folds,
        )
        for feature_set in config.feature_sets
    }


def train_models(snapshots: pd.DataFrame, config: TrainingConfig) -> TrainedModels:
    """Fit the LightGBM models (every compared feature set) and the baselines on the
    training years of ``snapshots``."""
    import time

    split = split_years(snapshots, config.data)
    checked = [c for c in snapshots.columns if c in ("academic_year", "week", LABEL)]
    checked += [c for c in snapshots.columns if c.startswith(AUDIT_PREFIX)]
    check_test_rows(rows_for(snapshots[checked], [split.test_year]), config)
    rows = fit_rows_of(snapshots, split.fit_years, config)
    started = time.perf_counter()
    fitted = fit_feature_sets(rows, config)
    train_rows = rows_for(snapshots, split.train_years, every=config.data.train_every)
    baselines = Baselines().fit(train_rows, train_rows[LABEL].to_numpy())
    return TrainedModels(
        config=config,
        split=split,
        window=data_window(snapshots, split),
        fitted=fitted,
        baselines=baselines,
        train_seconds=time.perf_counter() - started,
    )


def _booster_metadata(fitted: FittedBooster) -> dict[str, Any]:
    return {
        "num_trees": fitted.num_trees,
        "rows": fitted.rows,
        "calibration": fitted.calibration.method,
        "calibration_choice": fitted.calibration_choice,
    }


def risk_model(
    fitted: FittedModel,
    *,
    trained: TrainedModels | None = None,
    years: list[str] | None = None,
    extra: dict[str, Any] | None = None,
) -> RiskModel:
    """Wrap a fitted model as the shipped :class:`RiskModel` (``years``: what it was fitted
    on, recorded in its metadata)."""
    main = fitted.main
    metadata: dict[str, Any] = {
        "label": LABEL,
        "label_definition": "absence ≥ 10% of the enrolment's possible sessions over the "
        "academic year (DfE persistent absence)",
        "feature_set": fitted.feature_set,
        "features": fitted.features,
        "feature_schema_version": FEATURE_SCHEMA_VERSION,
        "monotone_increasing": [
            f
            for f, c in zip(fitted.features, main.params["monotone_constraints"], strict=True)
            if c == 1
        ],
        "num_trees": main.num_trees,
        "calibration": main.calibration.method,
        "segments": {b.segment: _booster_metadata(b) for b in fitted.boosters},
        "contribution_baseline": main.week_baseline,
        "lightgbm_version": lgb.__version__,
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "git_commit": git_commit(),
        "trained_on_simulated_data": True,
    }
    heading = None
    if fitted.heading is not None:
        metadata["heading_below"] = fitted.heading_below
        metadata["heading_contribution_baseline"] = fitted.heading.week_baseline
        heading = Segment(_text_round_trip(fitted.heading.booster), fitted.heading.calibration)
    early = None
    if fitted.early is not None:
        metadata["early_weeks"] = fitted.early_weeks
        metadata["early_contribution_baseline"] = fitted.early.week_baseline
        early = Segment(_text_round_trip(fitted.early.booster), fitted.early.calibration)
    if trained is not None:
        metadata |= {
            "train_years": years or trained.split.fit_years,
            "test_year": trained.split.test_year,
            "config_seed": trained.config.run.seed,
        }
    metadata |= extra or {}
    return RiskModel(
        _text_round_trip(main.booster), main.calibration, metadata, heading=heading, early=early
    )


def _text_round_trip(booster: lgb.Booster) -> lgb.Booster:
    # The shipped artifact is the booster's text: evaluate exactly what is shipped (a text
    # round trip can move a probability by ~1e-16).
    return lgb.Booster(model_str=booster.model_to_string())


def calibration_table(
    fitted: FittedModel, model: RiskModel, test_rows: pd.DataFrame, key: str, bins: int
) -> list[dict[str, Any]]:
    """Per segment: the out-of-fold choice and, reported only, the test year's ECE with and
    without the calibration (the test year chooses nothing)."""
    out = []
    for booster in fitted.boosters:
        rows = segment_mask(test_rows, booster.segment, fitted.heading_below, fitted.early_weeks)
        part = test_rows.loc[rows]
        y = part[LABEL].to_numpy(dtype=float)
        raw = booster.booster.predict(model.feature_matrix(part)) if len(part) else np.array([])
        calibrated = booster.calibration.apply(raw)
        out.append(
            {
                "model": key,
                "segment": booster.segment,
                "kept": booster.calibration_choice.get("kept"),
                "ece_out_of_fold_raw": booster.calibration_choice.get("ece_out_of_fold_raw"),
                "ece_out_of_fold_isotonic": booster.calibration_choice.get(
                    "ece_out_of_fold_isotonic"
                ),
                "test_ece_raw": expected_calibration_error(y, raw, bins) if len(y) else np.nan,
                "test_ece_shipped": expected_calibration_error(y, calibrated, bins)
                if len(y)
                else np.nan,
            }
        )
    return out


def global_importance(model: RiskModel, rows: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Mean |SHAP| (log-odds) per feature over (a sample of) ``rows``, largest first."""
    if len(rows) > IMPORTANCE_SAMPLE:
        rows = rows.sample(IMPORTANCE_SAMPLE, random_state=seed)
    contributions = model.contributions(rows).drop(columns="base_value")
    importance = contributions.abs().mean().sort_values(ascending=False)
    return importance.rename("mean_abs_shap").rename_axis("feature").reset_index()


def evaluate(
    test_rows: pd.DataFrame,
    models: dict[str, RiskModel],
    baselines: Baselines,
    config: TrainingConfig,
    *,
    registered_key: str,
    calibration: pd.DataFrame | None = None,
) -> Evaluation:
    """Score the test rows with every model and baseline and compute every reported number.

    ``models`` maps model keys to shipped models (their calibration already chosen);
    ``test_rows`` are all labelled snapshot rows of one academic year.
    """
    ev = config.evaluation
    years = test_rows["academic_year"].astype(str).unique()
    if len(years) != 1:
        raise ValueError(f"evaluate one academic year at a time, got {sorted(years)}")
    check_test_rows(test_rows, config)
    frame = EvaluationFrame.from_rows(
        test_rows, emerging_below=ev.emerging_below, seed=ev.tie_break_seed
    )
    scores: dict[str, np.ndarray] = {k: m.predict_proba(test_rows) for k, m in models.items()}
    scores |= baselines.scores(test_rows)
    keys = [registered_key, *[k for k in models if k != registered_key], *BASELINES]
    probabilistic = set(models) | PROBABILISTIC

    metrics = evaluate_scores(
        frame,
        scores,
        probabilistic=probabilistic,
        top_shares=ev.top_shares,
        caseload=ev.caseload,
        ece_bins=ev.ece_bins,
    )
    list_rows = ListRows.from_rows(test_rows, frame)
    list_scores = {k: model_list_score(scores[k], test_rows) for k in models}
    references = {HINDSIGHT: hindsight_score(list_rows, ev.lead_weeks)}
    early_warning = extra_list_report(
        list_scores | rule_scores(test_rows) | references,
        list_rows,
        ev.extra_list_share,
        ev.lead_weeks,
    )
    could = reachable(list_rows, ev.lead_weeks)
    registered_leads = leads(
        surfaced_weeks(list_scores[registered_key], list_rows, ev.extra_list_share), list_rows
    )
    fairness = pd.concat(
        [
            fairness_audit(
                frame,
                test_rows,
                scores[key],
                config.fairness,
                share=ev.operating_share,
                caseload=ev.caseload,
                extra_list=(list_rows, list_scores[key], ev.extra_list_share),
            ).assign(model=key)
            for key in models
        ],
        ignore_index=True,
    )
    group_calibration = pd.concat(
        [
            calibration_within_groups(
                frame, test_rows, scores[key], config.fairness, seed=config.run.seed
            ).assign(model=key)
            for key in models
        ],
        ignore_index=True,
    )
    reliability = pd.concat(
        [
            reliability_table(frame.label.astype(float), scores[k], ev.ece_bins).assign(model=k)
            for k in keys
            if k in probabilistic
        ],
        ignore_index=True,
    )
    importance = global_importance(models[registered_key], test_rows, config.run.seed)
    comparisons = compare_to_baselines(frame, scores, metrics, registered_key, config)
    return Evaluation(
        test_year=str(years[0]),
        metrics=metrics,
        early_warning=early_warning,
        leads=registered_leads,
        fairness=fairness,
        group_calibration=group_calibration,
        reliability=reliability,
        importance=importance,
        calibration=calibration if calibration is not None else pd.DataFrame(),
        models=keys,
        registered_key=registered_key,
        comparisons=comparisons,
        extra={"reachable_ahead": {"newly_pa": len(could), "reachable": int(could.sum())}},
    )


VERDICTS = ("beats", "ahead, within noise", "ceiling", "behind, within noise", "behind")
"""How the model compares with the best baseline on one metric, population and week."""
CEILING = 0.95
"""Precision at which both a model's and a baseline's top list are (nearly) all pupils who end
the year persistently absent: neither can be beaten by much, a tie there says nothing."""


def compare_to_baselines(
    frame: EvaluationFrame,
    scores: dict[str, np.ndarray],
    metrics: pd.DataFrame,
    model: str,
    config: TrainingConfig,
) -> pd.DataFrame:
    """Does ``model`` beat every baseline, per population and reported week (and pooled)?

    One row per (population, week, metric) for ROC AUC and precision at the operating share:
    the model's value, the best baseline's, the difference, and for precision a 95% pupil-level
    bootstrap interval of the difference. ``verdict`` (:data:`VERDICTS`) is ``beats`` (ahead, and
    for precision the interval excludes zero), ``ahead, within noise`` (ahead, interval includes
    zero), or where the model is not ahead: ``ceiling`` (both lists nearly all PA pupils),
    ``behind, within noise`` or ``behind``; ``why`` says it in a sentence."""
    ev = config.evaluation
    share_name = f"{round(ev.operating_share * 100):g}"
    precision = f"precision_at_{share_name}"
    rows = []
    for population in ("all", "emerging"):
        for metric in ("roc_auc", precision):
            for week in [*ev.report_weeks, POOLED]:
                values = {
                    k: metric_value(metrics, k, metric, population=population, week=week)
                    for k in [model, *BASELINES]
                }
                best = max(BASELINES, key=lambda b: np.nan_to_num(values[b], nan=-np.inf))
                rows.append(
                    {
                        "population": population,
                        "week": week,
                        "metric": metric,
                        "model_value": values[model],
                        "best_baseline": best,
                        "baseline_value": values[best],
                        "difference": values[model] - values[best],
                    }
                )
    table = pd.DataFrame(rows)
    table["low"] = np.nan
    table["high"] = np.nan
    # One bootstrap per population and best baseline: it covers all weeks (and pooled) at once.
    for (population, best), group in table[table["metric"] == precision].groupby(
        ["population", "best_baseline"], sort=False
    ):
        interval = bootstrap_precision_difference(
            frame,
            scores[model],
            scores[best],
            frame.population(population),
            share=ev.operating_share,
            weeks=[int(w) for w in group["week"] if w != POOLED],
            seed=ev.tie_break_seed,
        ).set_index("week")
        table.loc[group.index, ["low", "high"]] = interval.loc[
            group["week"].astype(int), ["low", "high"]
        ].to_numpy(dtype=float)
    interval_has_zero = (table["low"] <= 0) & (table["high"] >= 0)
    ahead = table["difference"] > 0
    table["verdict"] = np.select(
        [
            ahead & ~interval_has_zero,
            ahead,
            (table["model_value"] >= CEILING) & (table["baseline_value"] >= CEILING),
            interval_has_zero,
        ],
        VERDICTS[:4],
        default=VERDICTS[4],
    )
    table["why"] = [_why(row, share_name) for row in table.itertuples(index=False)]
    return table


def _why(row: Any, share: str) -> str:
    """One sentence on a comparison (empty where the model beats the best baseline)."""
    baseline = model_label(row.best_baseline)
    if row.verdict == "beats":
        return ""
    gap = f"{row.difference:+.3f}"
    if row.verdict == "ceiling":
        return (
            f"Both top-{share}% lists are almost all pupils who end the year persistently absent "
            f"({row.model_value:.3f} vs {baseline} {row.baseline_value:.3f}): by this week the "
            "year-to-date absence of those pupils already marks them, so there is no room left "
            "to beat."
        )
    if row.verdict == "ahead, within noise":
        return (
            f"Ahead of {baseline} by {row.difference:.3f}, but the 95% interval of the "
            f"difference ({row.low:+.3f} to {row.high:+.3f}) includes zero."
        )
    if row.verdict == "behind, within noise":
        return (
            f"{gap} against {baseline}, inside the 95% interval of the difference "
            f"({row.low:+.3f} to {row.high:+.3f}): no real difference on this many pupils."
        )
    interval = "" if np.isnan(row.low) else f" (95% interval {row.low:+.3f} to {row.high:+.3f})"
    return f"{baseline} is ahead by {-row.difference:.3f}{interval}."


@dataclass
class RunResult:
    """A finished training run (before logging)."""

    trained: TrainedModels
    models: dict[str, RiskModel]
    evaluation: Evaluation
    test_rows: pd.DataFrame
    shipped: RiskModel | None = None  # the registered recipe refitted with the test year (ship)

    @property
    def registered_model(self) -> RiskModel:
        """The evaluated model of the registered feature set (fitted without the test year)."""
        return self.models[self.trained.registered_key]


def run(snapshots: pd.DataFrame, config: TrainingConfig, *, shipped: bool = True) -> RunResult:
    """Train on the training years of ``snapshots``, evaluate on the test year and (with
    ``shipped``) refit the registered recipe on every labelled year for the service."""
    result = finish(train_models(snapshots, config), snapshots)
    if shipped:
        result.shipped = ship(result, snapshots)
    return result


def finish(trained: TrainedModels, snapshots: pd.DataFrame) -> RunResult:
    """Evaluate every model on the test year (their calibrations were chosen out of fold)."""
    config = trained.config
    test_rows = rows_for(snapshots, [trained.split.test_year])
    models: dict[str, RiskModel] = {}
    calibration_rows: list[dict[str, Any]] = []
    for key, fitted in trained.fitted.items():
        models[key] = risk_model(fitted, trained=trained)
        calibration_rows += calibration_table(
            fitted, models[key], test_rows, key, config.evaluation.ece_bins
        )
    evaluation = evaluate(
        test_rows,
        models,
        trained.baselines,
        config,
        registered_key=trained.registered_key,
        calibration=pd.DataFrame(calibration_rows),
    )
    fit_rows = rows_for(snapshots, trained.split.fit_years)
    evaluation.group_calibration = evaluation.group_calibration.merge(
        observed_in(fit_rows, config.fairness), on=["attribute", "group"], how="left"
    )
    return RunResult(trained, models, evaluation, test_rows)


def ship(result: RunResult, snapshots: pd.DataFrame) -> RiskModel:
    """The model the service gets: the registered recipe refitted on every labelled year with
    history, the test year included (the number of trees and the calibration chosen the same
    way, out of fold). Its evaluation is the run's: a model cannot be tested on its own
    training year."""
    trained = result.trained
    config = trained.config
    years = trained.split.ship_years
    rows = fit_rows_of(snapshots, years, config)
    only = config.model_copy(
        update={"run": config.run.model_copy(update={"compare_feature_sets": []})}
    )
    fitted = fit_feature_sets(rows, only)[trained.registered_key]
    return risk_model(
        fitted,
        trained=trained,
        years=years,
        extra={"evaluated_as": "the same recipe fitted without the test year"},
    )
