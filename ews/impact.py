"""``ews impact``: the impact of support in an authority's data, against regression to the mean.

Reads the marks, rosters and the support service's referrals of a directory written by
``ews simulate --support-effect`` (or laid out the same way); when the directory also holds the
simulator's truth, adds the true effect of the referrals measured (evaluation only).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

FORMATS = ("json", "text")


def impact_from_directory(data_dir: Path, *, seed: int = 0) -> dict[str, Any]:
    """The report of :func:`features.impact.impact_report` for ``data_dir``, with
    ``true_effect`` when the simulator's truth is there."""
    import pandas as pd

    from features.impact import impact_report, match_referrals
    from simulator.support import true_effect

    data_dir = Path(data_dir)
    for name in ("marks.parquet", "pupils.csv", "referrals.csv"):
        if not (data_dir / name).exists():
            raise FileNotFoundError(
                f"{data_dir / name} is missing: point --data at a directory written by "
                "`ews simulate --out DIR --support-effect PTS`"
            )
    marks = pd.read_parquet(data_dir / "marks.parquet")
    pupils = pd.read_csv(
        data_dir / "pupils.csv",
        usecols=["academic_year", "school_urn", "upn", "year_group"],
        dtype={"upn": str, "academic_year": str},
    )
    referrals = pd.read_csv(data_dir / "referrals.csv", dtype={"upn": str})
    matched = match_referrals(marks, referrals[["school_urn", "upn", "referred_on"]], pupils)
    report = impact_report(
        marks, referrals[["school_urn", "upn", "referred_on"]], pupils, matched=matched, seed=seed
    )
    if "referral_id" in referrals.columns:
        ids = referrals["referral_id"].to_numpy()[matched.referral]
        truth = true_effect(data_dir, ids)
        if truth is not None:
            report["true_effect"] = round(truth, 2)
    return report


def impact(
    data: Annotated[Path, typer.Option("--data", help="Directory of `ews simulate --out`.")],
    format_: Annotated[str, typer.Option("--format", help="json or text.")] = "text",
    seed: Annotated[int, typer.Option("--seed", help="Seed of the bootstrap.")] = 0,
) -> None:
    """The impact of support: naive before/after, and adjusted against pupils alike who were
    not (yet) referred, with a bootstrap interval (percentage points of attendance over the 10
    school weeks after referral)."""
    if format_ not in FORMATS:
        typer.echo(f"error: --format must be one of {', '.join(FORMATS)}", err=True)
        raise typer.Exit(code=2)
    try:
        report = impact_from_directory(data, seed=seed)
    except (FileNotFoundError, KeyError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=2) from None
    if format_ == "json":
        typer.echo(json.dumps(report, indent=2))
        return
    naive, adjusted = report["naive"], report["adjusted"]
    typer.echo(f"Referrals with 10 school weeks of follow-up: {report['referrals']}")
    typer.echo(
        f"Naive (after minus before): {naive['estimate']:+.1f} points; "
        f"{naive['share_improved']:.0%} improved; "
        f"{naive['extra_weeks_in_school']:+.2f} extra weeks in school each"
    )
    typer.echo(
        f"Adjusted: {adjusted['estimate']:+.1f} points "
        f"(95% interval {adjusted['low']:+.1f} to {adjusted['high']:+.1f})"
    )
    if "true_effect" in report:
        typer.echo(f"True effect (simulator): {report['true_effect']:+.1f} points")
    typer.echo(f"Method: {adjusted['method']}")
