"""``ews features``, ``ews score`` and ``ews figures``: snapshot features, batch scores and
headline figures for a simulated (or exported) authority, on pandas or Spark."""

from __future__ import annotations

import datetime as dt
import time
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer


class Engine(StrEnum):
    """Where ``ews features`` and ``ews score`` compute: one process, or Apache Spark."""

    pandas = "pandas"
    spark = "spark"


def features(
    data: Annotated[
        Path,
        typer.Option(
            "--data",
            help="Directory written by `ews simulate` (schools.csv, pupils.csv, marks.parquet).",
        ),
    ],
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            help="Parquet file to write the snapshots to (with --engine spark: a directory).",
        ),
    ],
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
    engine: Annotated[
        Engine,
        typer.Option(
            "--engine",
            help="pandas (one process, reads marks.parquet) or spark (reads the partitioned "
            "marks of `ews simulate --partitioned`; needs the spark extra and Java 17).",
        ),
    ] = Engine.pandas,
    master: Annotated[
        str, typer.Option("--master", help="Spark master with --engine spark (local[2], ...).")
    ] = "local[2]",
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
    if engine is Engine.spark:
        _features_on_spark(data, out, every=every, as_of=as_of_date, years=year, master=master)
        return
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


def _spark_or_exit(master: str):  # type: ignore[no-untyped-def]
    from features.spark import spark_available, spark_session

    missing = spark_available()
    if missing:
        typer.echo(f"error: --engine spark: {missing}", err=True)
        raise typer.Exit(2)
    return spark_session(master)


def _features_on_spark(
    data: Path,
    out: Path,
    *,
    every: int,
    as_of: dt.date | None,
    years: list[str] | None,
    master: str,
) -> None:
    """``ews features --engine spark``: the same rows, written as a Parquet directory."""
    from features.spark import snapshots_spark

    spark = _spark_or_exit(master)
    started = time.perf_counter()
    try:
        snapshots = snapshots_spark(spark, data, every=every, as_of=as_of, years=years)
    except (FileNotFoundError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    snapshots.write.mode("overwrite").parquet(str(out))
    rows = spark.read.parquet(str(out)).count()
    elapsed = time.perf_counter() - started
    if rows == 0:
        typer.echo(f"error: no snapshot rows: {data} has no marks for the years asked", err=True)
        raise typer.Exit(2)
    typer.echo(f"wrote {rows:,} snapshot rows to {out}/ (Spark, {master}) in {elapsed:.1f} s")


def score(
    model: Annotated[
        str,
        typer.Option("--model", help="MLflow model URI, e.g. models:/attendance-risk@champion."),
    ],
    features_dir: Annotated[
        Path, typer.Option("--features", help="Snapshot features (Parquet file or directory).")
    ],
    out: Annotated[Path, typer.Option("--out", help="Directory to write the scores to.")],
    engine: Annotated[
        Engine, typer.Option("--engine", help="spark (the only engine for batch scoring).")
    ] = Engine.spark,
    master: Annotated[str, typer.Option("--master", help="Spark master.")] = "local[2]",
) -> None:
    """Score snapshot features in bulk: probability (the registered pyfunc through
    mlflow.pyfunc.spark_udf) and the top reasons the service shows, one row per snapshot row."""
    if engine is not Engine.spark:
        typer.echo(
            "error: batch scoring runs on Spark (--engine spark); one school is scored by the "
            "service",
            err=True,
        )
        raise typer.Exit(2)
    if not features_dir.exists():
        typer.echo(f"error: --features {features_dir} does not exist", err=True)
        raise typer.Exit(2)
    from features.spark import read_features, score_spark
    from serving.pipeline import REASONS_SHOWN

    spark = _spark_or_exit(master)
    started = time.perf_counter()
    frame = read_features(spark, features_dir)
    try:
        scored = score_spark(spark, frame, model, top=REASONS_SHOWN)
    except Exception as exc:  # MLflow raises its own types for a missing model or alias
        typer.echo(f"error: cannot load {model}: {exc}", err=True)
        raise typer.Exit(2) from None
    scored.write.mode("overwrite").parquet(str(out))
    rows = spark.read.parquet(str(out)).count()
    typer.echo(
        f"scored {rows:,} rows with {model} to {out}/ (Spark, {master}) in "
        f"{time.perf_counter() - started:.1f} s"
    )


class Cohort(StrEnum):
    """Whose marks ``ews figures`` counts (:data:`features.spark.COHORTS`)."""

    dfe = "dfe"
    all = "all"


def figures(
    data: Annotated[
        Path,
        typer.Option(
            "--data", help="Directory of `ews simulate` or `ews export` (schools, pupils, marks)."
        ),
    ],
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Directory to write school.csv, la.csv and england.csv to."),
    ] = None,
    cohort: Annotated[
        Cohort,
        typer.Option(
            "--cohort",
            help="dfe: the DfE's headline cohort (ages 5-15, from pupils.csv); all: every mark.",
        ),
    ] = Cohort.dfe,
    year: Annotated[
        list[str] | None,
        typer.Option("--year", help="Only these academic years (repeatable), e.g. 2024/25."),
    ] = None,
    engine: Annotated[
        Engine,
        typer.Option(
            "--engine",
            help="pandas (one process, marks.parquet) or spark (the partitioned marks).",
        ),
    ] = Engine.pandas,
    master: Annotated[
        str, typer.Option("--master", help="Spark master with --engine spark (local[2], ...).")
    ] = "local[2]",
) -> None:
    """Headline figures (attendance, persistent and severe absence) per school, local authority
    and overall, per academic year, in the DfE's arithmetic."""
    import pandas as pd

    from features.arithmetic import area_figures
    from features.calendar import parse_academic_year

    try:
        for label in year or []:
            parse_academic_year(label)
        if engine is Engine.spark:
            from features.spark import national_figures

            frames = national_figures(_spark_or_exit(master), data, years=year, cohort=cohort.value)
        else:
            from features.snapshots import load_authority

            schools, pupils, marks = load_authority(data)
            if year:
                from features.calendar import academic_years_of

                marks = marks[academic_years_of(marks["date"]).isin(year).to_numpy()]
            frames = area_figures(marks, schools, pupils if cohort is Cohort.dfe else None)
    except (FileNotFoundError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    if frames["england"].empty:
        typer.echo(
            f"error: {data} has no marks" + (f" for {', '.join(year)}" if year else ""), err=True
        )
        raise typer.Exit(2)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        for level, frame in frames.items():
            frame.sort_values(list(frame.columns[:3])).to_csv(out / f"{level}.csv", index=False)
    areas = pd.concat(
        [frames["la"], frames["england"].assign(la="all areas")], ignore_index=True
    ).sort_values(["academic_year", "la"])
    typer.echo(
        f"{'year':<8} {'area':<24} {'enrolments':>10} {'absence':>8} {'PA':>6} {'severe':>7}"
    )
    for r in areas.itertuples():
        typer.echo(
            f"{r.academic_year:<8} {str(r.la)[:24]:<24} {r.enrolments:>10,} "
            f"{r.absence_rate:>8.1%} {r.persistent_absence_rate:>6.1%} "
            f"{r.severe_absence_rate:>7.2%}"
        )
    where = f"; wrote school.csv, la.csv, england.csv to {out}" if out is not None else ""
    typer.echo(f"cohort: {cohort.value}, engine: {engine.value}{where}")
