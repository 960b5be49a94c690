"""The evaluation report and the model card (Markdown), and the files logged beside them.

:func:`write_report` writes into one directory:

* ``report.md`` — the early warning (extra lists against the school's own), headline tables
  (model and baselines per week: all pupils, open outcomes, not yet on the school's list),
  calibration, what context adds, the fairness audit, links to the plots;
* ``model_card.md`` — intended use and misuse, data window, metrics beside baselines,
  fairness, limitations;
* ``metrics.csv`` (tidy: model, population, week (0 = pooled), metric, value),
  ``early_warning.csv``, ``fairness.csv``, ``group_calibration.csv``, ``reliability.csv``,
  ``importance.csv``, ``calibration.csv``, ``summary.json`` (headline numbers and the
  promotion-gate inputs);
* ``plots/*.png``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pandas as pd

from training.config import TrainingConfig
from training.early_warning import HINDSIGHT, RULE_LABELS, rule_label
from training.gates import check_gates, gate_summary
from training.metrics import POOLED, metric_table, metric_value
from training.pipeline import Evaluation, model_label
from training.plots import PLOT_FILES, write_plots

HEADLINE_METRICS = [
    "roc_auc",
    "average_precision",
    "precision_at_5",
    "precision_at_10",
    "precision_at_20",
    "recall_at_10",
    "precision_at_caseload",
    "recall_at_caseload",
    "brier",
    "ece",
]
METRIC_LABELS = {
    "roc_auc": "AUC",
    "average_precision": "AP",
    "precision_at_5": "P@5%",
    "precision_at_10": "P@10%",
    "precision_at_20": "P@20%",
    "recall_at_5": "R@5%",
    "recall_at_10": "R@10%",
    "recall_at_20": "R@20%",
    "precision_at_caseload": "P@caseload",
    "recall_at_caseload": "R@caseload",
    "brier": "Brier",
    "ece": "ECE",
    "prevalence": "PA rate",
}


def _fmt(value: Any, digits: int = 3) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "—"
        return f"{value:.{digits}f}"
    return str(value)


def markdown_table(frame: pd.DataFrame, digits: int = 3) -> str:
    """A GitHub-flavoured Markdown table (NaN shown as —)."""
    header = "| " + " | ".join(str(c) for c in frame.columns) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    body = [
        "| " + " | ".join(_fmt(v, digits) for v in row) + " |"
        for row in frame.itertuples(index=False)
    ]
    return "\n".join([header, rule, *body])


def headline_table(
    evaluation: Evaluation,
    config: TrainingConfig,
    population: str,
    metrics: list[str] | None = None,
) -> pd.DataFrame:
    """Model and baselines per reported week and pooled, one row each, readable labels."""
    metrics = metrics or [m for m in HEADLINE_METRICS if _has(evaluation, m)]
    table = metric_table(
        evaluation.metrics,
        population=population,
        weeks=config.evaluation.report_weeks,
        metric_names=metrics,
        models=evaluation.models,
    )
    table["week"] = table["week"].map(lambda w: "pooled" if w == POOLED else str(w))
    table["model"] = table["model"].map(model_label)
    return table.rename(columns=METRIC_LABELS)


def _has(evaluation: Evaluation, metric: str) -> bool:
    return bool((evaluation.metrics["metric"] == metric).any())


def beats_table(evaluation: Evaluation, config: TrainingConfig, model: str) -> pd.DataFrame:
    """Per population and reported week (and pooled): the model's AUC and precision at the
    operating share beside the best baseline's, the 95% interval of the precision difference,
    and whether the model beats every baseline on both — and, where it does not, why
    (:func:`training.pipeline.compare_to_baselines`)."""
    share = f"{round(config.evaluation.operating_share * 100):g}"
    table = evaluation.comparisons
    if table.empty or model != evaluation.registered_key:
        return pd.DataFrame()
    rows = []
    for (population, week), group in table.groupby(["population", "week"], sort=False):
        auc = group[group["metric"] == "roc_auc"].iloc[0]
        precision = group[group["metric"] == f"precision_at_{share}"].iloc[0]
        failing = [r for r in (auc, precision) if r["difference"] <= 0]
        noisy = [r for r in (auc, precision) if r["verdict"] == "ahead, within noise"]
        rows.append(
            {
                "population": population,
                "week": "pooled" if week == POOLED else str(week),
                "model AUC": auc["model_value"],
                "best baseline AUC": auc["baseline_value"],
                f"model P@{share}%": precision["model_value"],
                f"best baseline P@{share}%": precision["baseline_value"],
                "best baseline": model_label(precision["best_baseline"]),
                "difference (95% interval)": f"{precision['difference']:+.3f} "
                f"({precision['low']:+.3f} to {precision['high']:+.3f})",
                "beats all": failing[-1]["verdict"]
                if failing
                else ("yes, within noise" if noisy else "yes"),
                "why not": " ".join(r["why"] for r in failing or noisy),
            }
        )
    return pd.DataFrame(rows)


def context_table(evaluation: Evaluation) -> pd.DataFrame | None:
    """Pooled metrics of each LightGBM feature set side by side (what context adds): from this
    evaluation, or, for ``ews evaluate`` of a registered model on its own test year, from the
    training run's stored summary (``extra["run_pooled"]``)."""
    stored = evaluation.extra.get("run_pooled")
    if stored:

        def value(key: str, metric: str, population: str) -> float:
            found = stored.get(population, {}).get(key, {}).get(metric)
            return float("nan") if found is None else float(found)

        lgbm = [m for m in stored.get("all", {}) if m.startswith("lgbm_")]
    else:

        def value(key: str, metric: str, population: str) -> float:
            return metric_value(evaluation.metrics, key, metric, population=population)

        lgbm = [m for m in evaluation.models if m.startswith("lgbm_")]
    if len(lgbm) < 2:
        return None
    rows = []
    for population in ("all", "emerging"):
        for metric in ("roc_auc", "average_precision", "precision_at_10", "recall_at_10", "ece"):
            row: dict[str, Any] = {"population": population, "metric": METRIC_LABELS[metric]}
            for key in lgbm:
                row[model_label(key)] = value(key, metric, population)
            row["difference"] = row[model_label(lgbm[1])] - row[model_label(lgbm[0])]
            rows.append(row)
    return pd.DataFrame(rows)


def fairness_table(evaluation: Evaluation, model: str) -> pd.DataFrame:
    """The audit of one model, readable: recall within bands of final absence and its ratio
    with the bootstrap interval (``!`` below the gate), burden and precision."""
    audit = evaluation.fairness[evaluation.fairness["model"] == model]
    if audit.empty:
        return pd.DataFrame()
    out = audit[["operating_point", "attribute", "group", "pupils", "positive_pupils"]].copy()
    out["group"] = out["group"] + audit["reference"].map({True: " (ref)", False: ""})
    out["recall (banded)"] = audit["recall"].map(lambda v: _fmt(float(v)))
    out["recall ratio [95%]"] = [
        f"{_fmt(float(r), 2)} [{_fmt(float(lo), 2)}–{_fmt(float(hi), 2)}]{' !' if flag else ''}"
        for r, lo, hi, flag in zip(
            audit["recall_ratio"],
            audit["recall_low"],
            audit["recall_high"],
            audit["recall_flag"],
            strict=True,
        )
    ]
    for metric, label in (("flag_rate", "flag rate"), ("fpr", "FPR")):
        out[label] = audit[metric].map(lambda v: _fmt(float(v)))
        out[f"{label} ratio"] = audit[f"{metric}_ratio"].map(lambda v: _fmt(float(v), 2))
    out["precision"] = audit["precision"].map(lambda v: _fmt(float(v)))
    out["note"] = audit["too_small"].map({True: "too few to judge", False: ""})
    return out


def group_calibration_table(evaluation: Evaluation, model: str) -> pd.DataFrame:
    """Predicted against observed within each group, the first weeks pooled (``!`` above
    the gate)."""
    table = evaluation.group_calibration
    table = table[(table["model"] == model) & (table["week"] == 0)]
    out = table[["attribute", "group", "pupils"]].copy()
    out["predicted"] = table["predicted"].map(lambda v: _fmt(float(v)))
    out["observed"] = table["observed"].map(lambda v: _fmt(float(v)))
    if "observed_fit" in table:
        out["observed, fitting years"] = table["observed_fit"].map(lambda v: _fmt(float(v)))
    out["gap"] = [
        f"{_fmt(float(g), 3)}{' !' if flag else ''}"
        for g, flag in zip(table["gap"], table["gap_flag"], strict=True)
    ]
    if "gap_low" in table:
        out["gap [95%]"] = [
            "—" if math.isnan(lo) else f"[{_fmt(float(lo), 3)}, {_fmt(float(hi), 3)}]"
            for lo, hi in zip(table["gap_low"], table["gap_high"], strict=True)
        ]
    return out


def early_warning_table(evaluation: Evaluation) -> pd.DataFrame:
    """Every extra list, readable: the registered model first, the rules after."""
    table = evaluation.early_warning.copy()
    if table.empty:
        return table
    order = {key: i for i, key in enumerate(evaluation.models)}
    table["order"] = table["model"].map(lambda k: order.get(k, len(order)))
    table = table.sort_values("order", kind="stable").drop(columns="order")
    table["model"] = table["model"].map(_list_label)
    # Counts are whole pupils: shown as integers, not 750.000.
    for column in ("newly_pa", "surfaced_ahead", "distinct_surfaced"):
        if column in table:
            table[column] = table[column].astype("Int64")
    return table.rename(
        columns={
            "model": "list",
            "newly_pa": "newly PA",
            "surfaced_ahead": "surfaced ≥ 4 wk ahead",
            "surfaced_ahead_share": "share ≥ 4 wk ahead",
            "lead_q25": "lead q25",
            "lead_median": "lead median",
            "lead_q75": "lead q75",
            "distinct_surfaced": "pupils surfaced",
            "surfaced_end_pa": "of them end PA",
        }
    )


def _what_is_possible(evaluation: Evaluation, lead_weeks: int) -> list[str]:
    """The references under the extra-list table: what any list could do at all."""
    reach = evaluation.extra.get("reachable_ahead")
    if not reach or not reach["newly_pa"]:
        return []
    share = reach["reachable"] / reach["newly_pa"]
    return [
        f"*What is possible at all.* {reach['reachable']} of {reach['newly_pa']} newly-PA "
        f"pupils ({share:.0%}) were off the school's list two weeks running at least "
        f"{lead_weeks} weeks before crossing: no list of any size could surface the others "
        f"{lead_weeks} weeks ahead. The *hindsight* row is a list of the same size that knows "
        "who becomes PA and when: what the registers would allow if they foretold everything. "
        "It reads the outcomes, is never a rule and is never gated.",
        "",
    ]


def _list_label(key: str) -> str:
    base = key.split(" (")[0]
    return rule_label(key) if base in RULE_LABELS or key == HINDSIGHT else model_label(key)


def summary(
    evaluation: Evaluation, config: TrainingConfig, window: dict[str, Any]
) -> dict[str, Any]:
    """Headline numbers and gate inputs, JSON-ready (``summary.json``)."""
    model = evaluation.registered_key
    out: dict[str, Any] = {
        "registered_model": model,
        "test_year": evaluation.test_year,
        "data_window": window,
        "gates": _gates(evaluation, config),
        "pooled": {
            population: {
                key: {
                    metric: metric_value(evaluation.metrics, key, metric, population=population)
                    for metric in HEADLINE_METRICS
                }
                for key in evaluation.models
            }
            for population in ("all", "emerging", "open")
        },
        "early_warning": evaluation.early_warning.to_dict(orient="records"),
        "beats_baselines": evaluation.comparisons.to_dict(orient="records"),
        "calibration": evaluation.calibration.to_dict(orient="records"),
    }
    return json.loads(json.dumps(out, default=_json_default, allow_nan=True))


def _gates(evaluation: Evaluation, config: TrainingConfig) -> dict[str, Any]:
    return gate_summary(
        evaluation.metrics,
        evaluation.fairness,
        evaluation.group_calibration,
        evaluation.early_warning,
        evaluation.registered_key,
        config,
    )


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    return str(value)


def render_report(
    evaluation: Evaluation,
    config: TrainingConfig,
    window: dict[str, Any],
    *,
    title: str = "Attendance risk model: evaluation",
    run_info: dict[str, str] | None = None,
) -> str:
    """``report.md``."""
    model = evaluation.registered_key
    share = f"{round(config.evaluation.operating_share * 100):g}"
    lines = [f"# {title}", ""]
    for key, value in (run_info or {}).items():
        lines.append(f"- **{key}**: {value}")
    lines += [
        f"- **Test year**: {evaluation.test_year} (held out; every snapshot week)",
        f"- **Training years**: {', '.join(window['train']['years'])}",
        f"- **Registered model**: {model_label(model)} (its recipe refitted on every labelled "
        "year for the service; the numbers here are the recipe fitted without the test year)",
        "",
        "## The early warning: the extra list beside the school's own",
        "",
        "Each week the school's list is every pupil below 90% so far; the extra list is the top "
        f"{config.evaluation.extra_list_share:.0%} of each school's roll among the others. A "
        "pupil is surfaced the first week they are on it two weeks running; for pupils who end "
        "the year persistently absent and were not last year (*newly PA*), the lead is the "
        "week after which they stay on the school's list minus the week they were surfaced. "
        f"*Yield*: newly-PA pupils surfaced ≥ {config.evaluation.lead_weeks} weeks ahead per "
        "pupil surfaced. The model's list puts last year's persistent absentees last (the school "
        "knows them); the rules are shown plain and, as a sceptic would ask, with the same "
        "ordering (*known last*).",
        "",
        markdown_table(early_warning_table(evaluation)),
        "",
        *_what_is_possible(evaluation, config.evaluation.lead_weeks),
        "All numbers are on the held-out test year. Top-k lists are drawn each week "
        "(k = share of pupils that week; caseload = top "
        f"{config.evaluation.caseload} per school); *pooled* sums the weekly lists and pools "
        "rows for AUC/AP/Brier/ECE. *Emerging* pupils have absence below "
        f"{config.evaluation.emerging_below:.0%} so far this year; their lists are drawn among "
        "them. Brier and ECE are not defined for the two ranking rules (—).",
        "",
        "## Does the model beat every baseline?",
        "",
        f"AUC and precision in the top {share}% each week, against the best of the three "
        "baselines at that week. The interval is a 95% pupil-level bootstrap of the precision "
        "difference. Where the model does not beat every baseline, *why not* says whether the "
        "lists are at their ceiling, the gap is within noise, or a baseline is ahead.",
        "",
        markdown_table(beats_table(evaluation, config, model)),
        "",
        "## All pupils",
        "",
        markdown_table(headline_table(evaluation, config, "all")),
        "",
        "## Emerging pupils (absence so far below 10%)",
        "",
        markdown_table(headline_table(evaluation, config, "emerging")),
        "",
        "## Open outcomes (year-end status not yet settled by the year so far)",
        "",
        "Late in the year most pupils' outcome is already arithmetic: a pupil past 10% of the "
        "whole year's sessions is PA whatever happens, one who could miss every remaining "
        "session and stay below is not. Per-week AUC among the rest says whether a score "
        "knows anything the arithmetic does not.",
        "",
        markdown_table(headline_table(evaluation, config, "open")),
        "",
    ]
    if not evaluation.calibration.empty:
        lines += [
            "## Calibration",
            "",
            "Isotonic calibration is fitted on out-of-fold predictions of the recipe over the "
            f"fitting rows ({config.calibration.folds} folds of schools), per segment, and kept "
            "only if it lowers the cross-fitted out-of-fold ECE. The test year's ECE with and "
            "without it is shown, not used.",
            "",
            markdown_table(evaluation.calibration, digits=4),
            "",
        ]
    context = context_table(evaluation)
    if context is not None:
        lines += [
            "## What context (FSM, SEN provision, EAL) adds",
            "",
            "Pooled over the test year. The registered model stays context-free unless context "
            "adds materially (MODELLING.md §2).",
            "",
            markdown_table(context),
            "",
        ]
    lines += [
        f"## Fairness audit ({model_label(model)})",
        "",
        "For an assistive list the harm is a group's lower chance of being found. Recall is "
        "the share of pupil-weeks of pupils who end the year PA that are flagged, within bands "
        f"of final absence ({', '.join(f'{b:.0%}' for b in config.fairness.absence_bands)}+, "
        "weighted like the reference group), with a 95% pupil bootstrap interval of the ratio; "
        f"`!` marks a ratio below {config.fairness.recall_ratio_min} for a group with at least "
        f"{config.fairness.min_group_size} pupils who end PA (gated). Flag rate and FPR are the "
        "burden a flag can bring (conversations that can lead to penalty notices): shown, not "
        "gated. The extra list is judged among pupils not yet on the school's list.",
        "",
        markdown_table(fairness_table(evaluation, model)),
        "",
        f"Calibration within groups, weeks 1–{config.fairness.calibration_weeks} pooled "
        f"(`!`: beyond {config.fairness.calibration_gap_max} with its whole 95% interval, "
        "gated):",
        "",
        markdown_table(group_calibration_table(evaluation, model)),
        "",
        "## Promotion gates",
        "",
    ]
    for gate in check_gates(_gates(evaluation, config)):
        lines.append(f"- {'PASS' if gate.passed else 'FAIL'} — {gate.name}: {gate.detail}")
    lines += [
        "",
        "## Plots",
        "",
        *[f"![{name}](plots/{file})" for name, file in PLOT_FILES.items()],
        "",
        "## Top features (mean |SHAP|, log-odds)",
        "",
        markdown_table(evaluation.importance.head(15), digits=4),
        "",
    ]
    return "\n".join(lines)


MODEL_CARD = """# Model card: {name}{version}

## What it is
A LightGBM classifier that gives, for each pupil on roll at the end of a school week, the
probability that the pupil **ends the academic year persistently absent** (absence ≥ 10% of
their own possible sessions, the DfE definition), with the top reasons pushing that risk up.
Feature set: **{feature_set}** ({n_features} features: the pupil's attendance trajectory this
year, last year's attendance and stage; {context_note}). Sex and ethnicity are never inputs.
Boosters: {segments}. Feature schema version {schema_version}.

> **Trained on simulated data.** The default model is trained and tested on a simulated local
> authority (`ews simulate`), not on real pupils. Its numbers say the pipeline works and how
> the model compares with simple rules on data built to resemble national statistics; they
> say nothing yet about any real school. Retrain and re-evaluate on real registers before use.

## Intended use
- Helping attendance staff and family-support practitioners notice pupils whose attendance is
  slipping **before** they cross the 10% line, so that someone starts a conversation early.
- Ranking a school's or an authority's pupils each week to fit a fixed caseload
  (evaluated at the top 5/10/20% and at {caseload} pupils per school).

## Not for (misuse)
- Decisions about a pupil or family without a person reviewing the reasons: the score is a
  prompt for a conversation, not a verdict, a sanction or evidence of neglect.
- Fines, prosecution, exclusion, admissions or any punitive use.
- Judging schools or staff. Measuring the impact of support by before/after comparison
  (referred pupils improve anyway — regression to the mean; `ews impact` and `GET /v1/impact`
  set them beside matched pupils not yet referred).
- Pupils outside the population it was trained on (phases, years, authorities it never saw).

## Data window
{window}

## Metrics beside baselines (test year {test_year}, pooled over snapshot weeks)
{metrics}

Per-week tables (weeks {weeks}), open outcomes and plots are in the evaluation report logged
with this model.

## The early warning: who is heading there, beside the school's own list
{early_warning}

## Where it does not beat every baseline
{not_beaten}

## Fairness (the extra list, top {share}% each week and caseload {caseload} per school)
Recall within bands of final absence as a ratio to the reference group, with a 95% bootstrap
interval; `!` = below {recall_min} for a group large enough to judge. Flag rate and FPR are
burden, not gated.

{fairness}

Calibration within groups, the first weeks pooled (`!`: beyond the bound with its whole 95%
interval). "Observed, fitting years" is the group's rate in the years the model learned from:
where the test year's rate moved away from it, the gap is that year's change as much as the
model's error.

{group_calibration}

Promotion gates on this version:
{gates}

## Limitations
- Simulated training data (above). Real registers have coding habits, data gaps and
  population shifts the simulation does not have.
- Early in the year (weeks 1–4) there is little to go on: the model leans on last year's
  attendance and ranks pupils new to the area poorly.
- Labels use the DfE enrolment definition: a pupil who moves school mid-year is one enrolment
  per school, each labelled on its own possible sessions.
- Reasons come from TreeSHAP on the log-odds: they say what moved *this model's* score, not
  why the pupil is absent. Context and protected characteristics are never shown as reasons.
- Groups with different rates of persistent absence are flagged at different rates; the audit
  shows by how much. Small groups are reported but too noisy to judge.
"""


SEGMENT_LABELS = {
    "early": "the first weeks (weeks 1–{early_weeks}, every pupil)",
    "all": "every pupil",
    "school_list": "pupils on the school's list (below 90% so far)",
    "heading": "pupils heading there (not on it yet)",
}


def describe_segments(metadata: dict[str, Any]) -> str:
    """The model's boosters in a sentence: whom each scores, its trees and calibration."""
    segments = metadata.get("segments") or {
        "all": {"num_trees": metadata.get("num_trees", ""), "calibration": ""}
    }
    early_weeks = metadata.get("early_weeks")
    later = f"from week {int(early_weeks) + 1}, " if "early" in segments and early_weeks else ""
    parts = []
    for name in [n for n in SEGMENT_LABELS if n in segments]:  # training.model.SEGMENTS
        label = SEGMENT_LABELS[name].format(early_weeks=early_weeks)
        if name != "early":
            label = later + label
        calibration = segments[name].get("calibration") or "none"
        parts.append(f"{label}: {segments[name].get('num_trees')} trees, calibration {calibration}")
    return "; ".join(parts)


def render_model_card(
    evaluation: Evaluation,
    config: TrainingConfig,
    window: dict[str, Any],
    *,
    model_metadata: dict[str, Any],
    name: str,
    version: str | None = None,
) -> str:
    """``model_card.md`` for the registered model."""
    model = evaluation.registered_key
    share = f"{round(config.evaluation.operating_share * 100):g}"
    pooled = []
    for population in ("all", "emerging"):
        for key in evaluation.models:
            row = {"population": population, "model": model_label(key)}
            for metric in (
                "roc_auc",
                "average_precision",
                f"precision_at_{share}",
                f"recall_at_{share}",
                "precision_at_caseload",
                "brier",
                "ece",
            ):
                row[METRIC_LABELS.get(metric, metric)] = metric_value(
                    evaluation.metrics, key, metric, population=population
                )
            pooled.append(row)
    window_lines = []
    for part in ("train", "fit", "test"):
        if part in window:
            w = window[part]
            window_lines.append(
                f"- **{part}**: {', '.join(w['years'])} — {w['enrolments']:,} enrolments, "
                f"{w['rows']:,} pupil-weeks, {w['schools']} schools, weeks {w['weeks']}, "
                f"PA rate {w['pa_rate']:.1%}"
            )
    beats = beats_table(evaluation, config, model)
    not_beaten = beats[~beats["beats all"].str.startswith("yes")] if not beats.empty else beats
    not_beaten_text = (
        "\n".join(
            f"- {r['population']} pupils, week {r['week']}: {r['why not']}"
            for _, r in not_beaten.iterrows()
        )
        if len(not_beaten)
        else "It beats every baseline on AUC and precision at every reported week, for all "
        "pupils and for the emerging group."
    )
    gates = check_gates(_gates(evaluation, config))
    features = model_metadata.get("features", [])
    context = {"fsm", "sen_provision", "eal"} & set(features)
    return MODEL_CARD.format(
        name=name,
        version=f" (version {version})" if version else "",
        feature_set=model_metadata.get("feature_set", ""),
        n_features=len(features),
        context_note="plus FSM, SEN provision and EAL"
        if context
        else "no demographic or context features",
        segments=describe_segments(model_metadata),
        schema_version=model_metadata.get("feature_schema_version", ""),
        caseload=config.evaluation.caseload,
        window="\n".join(window_lines),
        test_year=evaluation.test_year,
        metrics=markdown_table(pd.DataFrame(pooled)),
        weeks=", ".join(str(w) for w in config.evaluation.report_weeks),
        share=share,
        early_warning="\n".join(
            [
                markdown_table(early_warning_table(evaluation)),
                "",
                *_what_is_possible(evaluation, config.evaluation.lead_weeks),
            ]
        ).rstrip(),
        not_beaten=not_beaten_text,
        recall_min=config.fairness.recall_ratio_min,
        fairness=markdown_table(fairness_table(evaluation, model)),
        group_calibration=markdown_table(group_calibration_table(evaluation, model)),
        gates="\n".join(
            f"- {'PASS' if g.passed else 'FAIL'} — {g.name}: {g.detail}" for g in gates
        ),
    )


def write_report(
    evaluation: Evaluation,
    config: TrainingConfig,
    window: dict[str, Any],
    directory: Path,
    *,
    model_metadata: dict[str, Any],
    name: str,
    version: str | None = None,
    run_info: dict[str, str] | None = None,
) -> dict[str, Path]:
    """Write the report, the model card, the tables and the plots into ``directory``."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    share = f"{round(config.evaluation.operating_share * 100):g}"
    paths = {
        "report": directory / "report.md",
        "model_card": directory / "model_card.md",
        "metrics": directory / "metrics.csv",
        "early_warning": directory / "early_warning.csv",
        "fairness": directory / "fairness.csv",
        "group_calibration": directory / "group_calibration.csv",
        "reliability": directory / "reliability.csv",
        "importance": directory / "importance.csv",
        "calibration": directory / "calibration.csv",
        "summary": directory / "summary.json",
    }
    evaluation.metrics.to_csv(paths["metrics"], index=False)
    evaluation.early_warning.to_csv(paths["early_warning"], index=False)
    evaluation.fairness.to_csv(paths["fairness"], index=False)
    evaluation.group_calibration.to_csv(paths["group_calibration"], index=False)
    evaluation.reliability.to_csv(paths["reliability"], index=False)
    evaluation.importance.to_csv(paths["importance"], index=False)
    evaluation.calibration.to_csv(paths["calibration"], index=False)
    paths["summary"].write_text(
        json.dumps(summary(evaluation, config, window), indent=2), encoding="utf-8"
    )
    plots = write_plots(evaluation, directory / "plots", share_name=share)
    paths |= {f"plot_{k}": v for k, v in plots.items()}
    paths["report"].write_text(
        render_report(evaluation, config, window, run_info=run_info), encoding="utf-8"
    )
    paths["model_card"].write_text(
        render_model_card(
            evaluation, config, window, model_metadata=model_metadata, name=name, version=version
        ),
        encoding="utf-8",
    )
    return paths
