"""``ews features``: snapshot features for a simulated (or exported) authority."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import Annotated

import typer


def features(
    data: Annotated[
        Path,
        typer.Option(
            "--data",
            help="Directory written by `ews simulate` (schools.csv, pupils.csv, marks.parquet).",
        ),
    ],
    out: Annotated[Path, typer.Option("--out", help="Parquet file to write the snapshots to.")],
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            help="Features as known on this date (YYYY-MM-DD): its academic year, at the last "
            "school week ending on or before it. Not with --every.",
        ),
    ] = None,
    every: Annotated[
        int, typer.Option("--every", min=1, help="Snapshot every N school weeks (1 = all).")
    ] = 1,
    year: Annotated[
        list[str] | None,
        typer.Option("--year", help="Only these academic years (repeatable), e.g. 2024/25."),
    ] = None,
) -> None:
    """Write snapshot features: one row per pupil per as-of school week, with year-end labels."""
    from features.snapshots import snapshots_from_directory

    as_of_date = None
    if as_of is not None:
        try:
            as_of_date = dt.date.fromisoformat(as_of)
        except ValueError:
            raise typer.BadParameter(
                f"{as_of!r} is not a date like 2024-12-13", param_hint="--as-of"
            ) from None
    started = time.perf_counter()
    try:
        snapshots = snapshots_from_directory(data, every=every, as_of=as_of_date, years=year)
    except (FileNotFoundError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    if snapshots.empty and as_of_date is not None:
        from features.calendar import academic_year_of

        typer.echo(
            f"error: no school week of {data} ends on or before {as_of_date:%d %B %Y} in its "
            f"academic year ({academic_year_of(as_of_date)}, from 1 August): choose a date "
            "after the first school week",
            err=True,
        )
        raise typer.Exit(2)
    if snapshots.empty:
        import pandas as pd

        held = pd.read_csv(data / "pupils.csv", usecols=["academic_year"], dtype=str)
        years_held = ", ".join(sorted(held["academic_year"].unique())) or "no year"
        typer.echo(
            f"error: no snapshot rows: {data} has no marks"
            + (f" for {', '.join(year)}" if year else "")
            + f" (its pupils are in {years_held}); nothing was written",
            err=True,
        )
        raise typer.Exit(2)
    out.parent.mkdir(parents=True, exist_ok=True)
    snapshots.to_parquet(out, index=False)
    elapsed = time.perf_counter() - started
    labelled = snapshots["pa_year_end"].notna()
    typer.echo(
        f"wrote {len(snapshots):,} snapshot rows to {out} in {elapsed:.1f} s: "
        f"{snapshots[['academic_year', 'school_urn', 'upn']].drop_duplicates().shape[0]:,} "
        f"enrolments, {snapshots['week'].nunique()} weeks, "
        f"years {', '.join(sorted(snapshots['academic_year'].unique()))}"
    )
    if labelled.any():
        pa = snapshots.loc[labelled, "pa_year_end"].mean()
        typer.echo(f"labelled rows: {labelled.sum():,} ({pa:.1%} end the year persistently absent)")
    else:
        typer.echo("no labels: no year in the data is complete")
