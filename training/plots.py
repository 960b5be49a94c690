"""Evaluation plots (matplotlib, Agg backend — no display needed).

Each function draws one figure from an :class:`training.pipeline.Evaluation` and saves it as
PNG; :func:`write_plots` writes all four and returns their paths.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from training.metrics import POOLED
from training.pipeline import Evaluation, model_label

PLOT_FILES = {
    "reliability": "reliability.png",
    "precision_by_week": "precision_at_10_by_week.png",
    "lead_time": "extra_list_lead_histogram.png",
    "importance": "feature_importance.png",
}


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def reliability_plot(evaluation: Evaluation, path: Path) -> Path:
    """Observed PA rate against mean predicted probability per bin, pooled test year."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 5))
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", label="perfectly calibrated")
    for model, table in evaluation.reliability.groupby("model", sort=False):
        table = table[table["n"] > 0]
        ax.plot(
            table["mean_predicted"], table["observed_rate"], marker="o", label=model_label(model)
        )
    ax.set_xlabel("mean predicted probability (bin)")
    ax.set_ylabel("observed share ending the year PA")
    ax.set_title(f"Reliability, test year {evaluation.test_year} (all weeks)")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def precision_by_week_plot(
    evaluation: Evaluation, path: Path, *, share_name: str = "10", population: str = "all"
) -> Path:
    """Precision in the top ``share_name``% each week, model and baselines (both populations)."""
    plt = _pyplot()
    metrics = evaluation.metrics
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    for ax, population in zip(axes, ("all", "emerging"), strict=True):
        subset = metrics[
            (metrics["metric"] == f"precision_at_{share_name}")
            & (metrics["population"] == population)
            & (metrics["week"] != POOLED)
        ]
        for model in evaluation.models:
            line = subset[subset["model"] == model].sort_values("week")
            style = "-" if model.startswith("lgbm_") else "--"
            ax.plot(line["week"], line["value"], style, label=model_label(model))
        ax.set_title(f"{population} pupils")
        ax.set_xlabel("school week (as of)")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel(f"precision in the top {share_name}%")
    axes[1].legend(fontsize=8)
    fig.suptitle(f"Precision at top {share_name}% by week, test year {evaluation.test_year}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def lead_time_plot(evaluation: Evaluation, path: Path) -> Path:
    """Histogram of the leads of the registered model's extra list: weeks between being
    surfaced and crossing for good, for newly-PA pupils surfaced before they crossed."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.5))
    lead = evaluation.leads["lead"].dropna()
    if len(lead):
        edges = np.arange(np.floor(lead.min()) - 0.5, np.ceil(lead.max()) + 1.5, 1.0)
        ax.hist(lead, bins=edges, color="#4477aa")
        ax.axvline(float(lead.median()), color="black", linestyle="--", label="median")
        ax.axvline(3.5, color="#cc6677", linestyle=":", label="4 weeks")
        ax.legend(frameon=False)
    never = int(evaluation.leads["lead"].isna().sum())
    ax.set_xlabel(f"weeks ahead of the school's list ({never} newly-PA pupils never surfaced)")
    ax.set_ylabel("newly-PA pupils")
    ax.set_title(f"Extra list lead, {model_label(evaluation.registered_key)}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def importance_plot(evaluation: Evaluation, path: Path, *, top: int = 20) -> Path:
    """Global feature importance: mean |SHAP| (log-odds) on the test year."""
    plt = _pyplot()
    table = evaluation.importance.head(top).iloc[::-1]
    fig, ax = plt.subplots(figsize=(6.5, 0.28 * len(table) + 1.2))
    ax.barh(table["feature"], table["mean_abs_shap"], color="#228833")
    ax.set_xlabel("mean |SHAP value| (log-odds)")
    ax.set_title(f"Feature importance, {model_label(evaluation.registered_key)}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_plots(
    evaluation: Evaluation, directory: Path, *, share_name: str = "10"
) -> dict[str, Path]:
    """All four plots into ``directory``; returns ``{plot name: path}``."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    return {
        "reliability": reliability_plot(evaluation, directory / PLOT_FILES["reliability"]),
        "precision_by_week": precision_by_week_plot(
            evaluation, directory / PLOT_FILES["precision_by_week"], share_name=share_name
        ),
        "lead_time": lead_time_plot(evaluation, directory / PLOT_FILES["lead_time"]),
        "importance": importance_plot(evaluation, directory / PLOT_FILES["importance"]),
    }
