"""The Spark engine: the same features, scores and headline figures at national scale.

Nothing here re-implements the arithmetic. Each step hands one school's rows to the project's
own pandas functions (``applyInPandas`` grouped by school), and Spark only moves rows between
schools where the pandas code would see the whole authority:

1. **trajectory** — :func:`features.trajectory.build_trajectory` per school (weeks are numbered
   per school and year, so a school is self-contained);
2. **history** — a pupil's earlier years may be at another school: the per-enrolment year
   outcomes (a Spark ``groupBy``/``sum`` of the trajectory, the same sums
   :func:`features.snapshots.year_outcomes` takes) are joined to the schools the pupil is at
   now and handed to :func:`features.snapshots.snapshot_features` as ``history``;
3. **snapshots** — :func:`features.snapshots.snapshot_features` per school, with its roster
   rows and that history (``cogroup``);
4. **scores** — the registered model through ``mlflow.pyfunc.spark_udf`` (the pyfunc's own
   ``predict``) and the top reasons through a pandas UDF calling
   :meth:`features.riskmodel.RiskModel.score`, the code the service explains with;
5. **headline figures** — :func:`features.arithmetic.enrolment_totals` per school, then sums
   to schools, local authorities and England (ratios of sums, as the DfE computes them).

PySpark is an optional extra (``pip install -e '.[spark]'``) and Java 17 comes from the
system; nothing is imported from PySpark at import time.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from features.partitioned import MARKS_DIR, year_label, year_partition
from features.schema import KEY_COLUMNS, SNAPSHOT_COLUMNS
from features.trajectory import COUNTER_COLUMNS, ENROLMENT_KEYS, TRAJECTORY_COLUMNS

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

PUPILS_READ_DTYPES = {"upn": str, "academic_year": str}
"""How ``load_authority`` reads ``pupils.csv``; the Spark engine re-reads each school's rows so."""
_NO_PUPIL = "\x00"
"""UPN of the rows that only say a year is known (no real UPN is empty)."""


def spark_available() -> str | None:
    """``None`` when PySpark and Java are there; otherwise why the Spark engine cannot run."""
    import importlib.util
    import shutil

    if importlib.util.find_spec("pyspark") is None:
        return "PySpark is not installed: pip install -e '.[spark]'"
    if shutil.which("java") is None:
        return "Java is not installed: apt-get install openjdk-17-jre-headless"
    return None


def spark_session(
    master: str = "local[2]", *, memory: str = "4g", shuffle_partitions: int = 2
) -> SparkSession:
    """A SparkSession set up as the engine needs it (UTC, Arrow, timestamps without zone).

    On a cluster, ``spark-submit`` gives the master; ``master`` is then ignored
    (``getOrCreate`` returns the submitted session). ``shuffle_partitions``: how many groups
    of schools a shuffle makes (a few per core: 2 for local[2], hundreds on a cluster).
    """
    import os
    import sys

    from pyspark.sql import SparkSession

    # Python workers run this interpreter (the venv with the project), not the system's.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    return (
        SparkSession.builder.master(master)
        .appName("attendance-ews")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.sql.sources.partitionColumnTypeInference.enabled", "false")
        .config("spark.sql.timestampType", "TIMESTAMP_NTZ")
        .config("spark.sql.shuffle.partitions", str(shuffle_partitions))
        .config("spark.driver.memory", memory)
        .config("spark.ui.enabled", "false")
        .getOrCreate()
    )


# --- schemas ----------------------------------------------------------------------------------


def _trajectory_schema() -> Any:
    from pyspark.sql import types as T

    fields = [
        T.StructField("academic_year", T.StringType()),
        T.StructField("school_urn", T.LongType()),
        T.StructField("upn", T.StringType()),
        T.StructField("week", T.LongType()),
        T.StructField("week_start", T.TimestampNTZType()),
    ]
    fields += [T.StructField(c, T.LongType()) for c in COUNTER_COLUMNS]
    return T.StructType(fields)


def _snapshot_schema() -> Any:
    from pyspark.sql import types as T

    keys = {
        "academic_year": T.StringType(),
        "school_urn": T.LongType(),
        "upn": T.StringType(),
        "as_of": T.TimestampNTZType(),
        "week": T.LongType(),
    }
    return T.StructType([T.StructField(c, keys.get(c, T.DoubleType())) for c in SNAPSHOT_COLUMNS])


# --- features ---------------------------------------------------------------------------------


def _school_trajectory(marks: pd.DataFrame) -> pd.DataFrame:
    """One school's trajectory, typed as :func:`_trajectory_schema`."""
    from features.trajectory import build_trajectory

    marks = marks.drop(columns=["academic_year"], errors="ignore")
    marks["school_urn"] = marks["school_urn"].astype("int64")
    traj = build_trajectory(marks)
    return traj.astype({"week": "int64", **dict.fromkeys(COUNTER_COLUMNS, "int64")})[
        TRAJECTORY_COLUMNS
    ]


def read_marks(spark: SparkSession, data_dir: Path, years: list[str] | None = None) -> DataFrame:
    """The partitioned marks of ``data_dir`` (``ews simulate --partitioned``), only ``years``'
    partitions when given; ``school_urn`` as a long."""
    from pyspark.sql import functions as F

    path = Path(data_dir) / MARKS_DIR
    if not path.is_dir():
        raise FileNotFoundError(
            f"{data_dir} has no partitioned marks ({MARKS_DIR}/academic_year=…/school_urn=…/): "
            f"write them with `ews simulate --partitioned --out {data_dir}`"
        )
    marks = spark.read.parquet(str(path))
    if years is not None:
        marks = marks.where(F.col("academic_year").isin([year_partition(y) for y in years]))
    return marks.withColumn("school_urn", F.col("school_urn").cast("long"))


def trajectory_spark(marks: DataFrame) -> DataFrame:
    """:func:`features.trajectory.build_trajectory`, school by school."""
    return marks.groupBy("school_urn").applyInPandas(_school_trajectory, _trajectory_schema())


def _school_snapshots(
    trajectory: pd.DataFrame,
    side: pd.DataFrame,
    *,
    schools: pd.DataFrame,
    known_years: list[str],
    every: int,
    as_of: dt.date | None,
) -> pd.DataFrame:
    """One school's snapshot features: its trajectory, its roster rows and its pupils'
    outcomes at other schools (``side``, told apart by ``kind``)."""
    from features.snapshots import HISTORY_COLUMNS, snapshot_features

    if trajectory.empty:
        return pd.DataFrame({c: pd.Series(dtype=float) for c in SNAPSHOT_COLUMNS})
    roster_rows = side[side["kind"] == "roster"].drop(
        columns=["kind", "possible_sessions", "absence"]
    )
    # The roster as `load_authority` reads pupils.csv (same parser, same inferred types).
    roster = pd.read_csv(io.StringIO(roster_rows.to_csv(index=False)), dtype=PUPILS_READ_DTYPES)
    elsewhere = side[side["kind"] == "history"][HISTORY_COLUMNS]
    # Every year the whole run holds is known, even where none of this school's pupils was
    # elsewhere that year (a pupil not on roll anywhere then is "not on roll", not unknown).
    known = pd.DataFrame(
        {
            "academic_year": known_years,
            "upn": _NO_PUPIL,
            "possible_sessions": 0.0,
            "absence": 0.0,
        }
    )
    history = pd.concat([elsewhere.astype({"upn": str}), known], ignore_index=True)
    trajectory = trajectory.astype({"school_urn": "int64"})
    snapshots = snapshot_features(
        trajectory, roster, schools, history=history, every=every, as_of=as_of
    )
    return snapshots.astype({"school_urn": "int64", "week": "int64"})[SNAPSHOT_COLUMNS]


def snapshots_spark(
    spark: SparkSession,
    data_dir: Path,
    *,
    every: int = 1,
    as_of: dt.date | None = None,
    years: list[str] | None = None,
) -> DataFrame:
    """:func:`features.snapshots.snapshots_from_directory` on Spark, from the partitioned
    marks: the same rows and values (``tests/features/test_spark.py``)."""
    from pyspark.sql import functions as F

    from features.calendar import academic_year_of, previous_academic_year

    data_dir = Path(data_dir)
    if as_of is not None and years is None:
        years = [academic_year_of(as_of)]
    read_years = (
        None if years is None else sorted(set(years) | {previous_academic_year(y) for y in years})
    )
    for name in ("schools.csv", "pupils.csv"):
        if not (data_dir / name).exists():
            raise FileNotFoundError(
                f"{data_dir} lacks {name}: create it with `ews simulate --partitioned "
                f"--out {data_dir}`"
            )
    schools = pd.read_csv(data_dir / "schools.csv")
    trajectory = trajectory_spark(read_marks(spark, data_dir, read_years)).cache()
    known_years = sorted(r[0] for r in trajectory.select("academic_year").distinct().collect())

    outcomes = trajectory.groupBy(*ENROLMENT_KEYS).agg(
        F.sum("possible_sessions").cast("double").alias("possible_sessions"),
        F.sum("absence").cast("double").alias("absence"),
    )
    at_school = trajectory.select(F.col("school_urn").alias("at_school"), "upn").distinct()
    history = (
        outcomes.join(at_school, on="upn")
        .where(F.col("school_urn") != F.col("at_school"))
        .select(
            F.col("at_school").alias("school_urn"),
            "academic_year",
            "upn",
            "possible_sessions",
            "absence",
            F.lit("history").alias("kind"),
        )
    )
    pupils = spark.read.csv(str(data_dir / "pupils.csv"), header=True, inferSchema=False)
    if read_years is not None:
        pupils = pupils.where(F.col("academic_year").isin(read_years))
    roster = pupils.withColumn("school_urn", F.col("school_urn").cast("long")).withColumn(
        "kind", F.lit("roster")
    )
    side = roster.unionByName(history, allowMissingColumns=True)
    side = side.withColumn("possible_sessions", F.col("possible_sessions").cast("double"))

    def per_school(traj: pd.DataFrame, school_side: pd.DataFrame) -> pd.DataFrame:
        return _school_snapshots(
            traj, school_side, schools=schools, known_years=known_years, every=every, as_of=as_of
        )

    snapshots = (
        trajectory.groupBy("school_urn")
        .cogroup(side.groupBy("school_urn"))
        .applyInPandas(per_school, _snapshot_schema())
    )
    if years is not None:
        snapshots = snapshots.where(F.col("academic_year").isin(years))
    return snapshots


def read_features(spark: SparkSession, path: Path) -> DataFrame:
    """Snapshot features: a directory ``--engine spark`` wrote, or the single file of
    ``--engine pandas`` (its nanosecond ``as_of`` is a type Spark's Parquet reader refuses, so
    a file, a one-machine size, is read by pandas and handed over)."""
    path = Path(path)
    if path.is_file():
        return spark.createDataFrame(pd.read_parquet(path))
    return spark.read.parquet(str(path))


# --- scores -----------------------------------------------------------------------------------


def _pinned(model_uri: str) -> str:
    """``models:/name@alias`` as ``models:/name/<version>``: every executor loads the same
    version even if the alias moves during the run."""
    import re

    import mlflow

    match = re.match(r"^models:/(?P<name>[^/@]+)@(?P<alias>[^/]+)$", model_uri)
    if not match:
        return model_uri
    version = mlflow.MlflowClient().get_model_version_by_alias(match["name"], match["alias"])
    return f"models:/{match['name']}/{version.version}"


def reason_columns(top: int) -> list[str]:
    """``reason_i, reason_i_domain, reason_i_contribution`` for i = 1..top."""
    return [
        name
        for i in range(1, top + 1)
        for name in (f"reason_{i}", f"reason_{i}_domain", f"reason_{i}_contribution")
    ]


def score_spark(
    spark: SparkSession, features: DataFrame, model_uri: str, *, top: int = 3
) -> DataFrame:
    """Score snapshot rows: keys, ``risk_probability`` from ``mlflow.pyfunc.spark_udf`` (the
    registered pyfunc's ``predict``), and the top reasons from a pandas UDF running
    :meth:`features.riskmodel.RiskModel.score` — what the service shows."""
    import mlflow
    import mlflow.pyfunc
    from pyspark import SparkFiles
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    from features.riskmodel import PROBABILITY_COLUMN, RiskModel

    uri = _pinned(model_uri)
    local = Path(mlflow.artifacts.download_artifacts(artifact_uri=uri))
    artifacts = local / "artifacts"
    model = RiskModel.from_directory(artifacts)
    names = model.features
    # Ship the model's plain-text files to every executor (a cluster's workers cannot read
    # the driver's disk); they load them once per Python worker.
    spark.sparkContext.addFile(str(artifacts), recursive=True)
    shipped = artifacts.name

    predict = mlflow.pyfunc.spark_udf(spark, uri, result_type="double", env_manager="local")
    keys = [c for c in KEY_COLUMNS if c in features.columns]
    scored = features.withColumn(PROBABILITY_COLUMN, predict(F.struct(*[F.col(c) for c in names])))

    reasons = reason_columns(top)
    out_fields = [f for f in scored.schema.fields if f.name in [*keys, PROBABILITY_COLUMN]]
    out_fields += [
        T.StructField(c, T.DoubleType() if c.endswith("_contribution") else T.StringType())
        for c in reasons
    ]
    schema = T.StructType(out_fields)

    def explain(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        loaded = RiskModel.from_directory(Path(SparkFiles.get(shipped)))
        for batch in batches:
            frame = batch.reset_index(drop=True)
            result = loaded.score(frame, top=top)
            out = frame[[*keys, PROBABILITY_COLUMN]].copy()
            for column in reasons:
                values = result[column]
                out[column] = (
                    values.astype(float)
                    if column.endswith("_contribution")
                    else values.astype(object).where(values.notna(), None)
                )
            yield out

    return scored.mapInPandas(explain, schema)


# --- headline figures -------------------------------------------------------------------------


ENROLMENT_FIELDS = [
    "possible_sessions",
    "attendance_sessions",
    "authorised_absence",
    "unauthorised_absence",
]
COHORTS = ("dfe", "all")
"""Whose marks the national figures count: ``dfe`` — the DfE's headline cohort (compulsory
school age, without the second half of the summer term for pupils aged 15:
:func:`features.arithmetic.dfe_cohort`, from ``pupils.csv``); ``all`` — every mark."""


def _school_enrolments(marks: pd.DataFrame) -> pd.DataFrame:
    """One school-year's :func:`features.arithmetic.enrolment_totals` (one argument: PySpark
    passes the group's key first to a function of two)."""
    return _school_cohort_enrolments(marks, None)


def _school_cohort_enrolments(marks: pd.DataFrame, roster: pd.DataFrame | None) -> pd.DataFrame:
    """One school-year's :func:`features.arithmetic.enrolment_totals`; with ``roster`` (its
    ``pupils.csv`` rows), of the DfE cohort's marks only."""
    from features.arithmetic import dfe_cohort, enrolment_totals

    dtypes = {"academic_year": str, "school_urn": "int64", "upn": str}
    dtypes |= dict.fromkeys(ENROLMENT_FIELDS, "int64")
    dtypes |= {"persistent_absence": bool, "severe_absence": bool}
    columns = list(dtypes)
    marks = marks.astype({"school_urn": "int64"})
    if roster is not None and not marks.empty:
        roster = roster.astype({"school_urn": "int64", "upn": str})
        marks = marks[dfe_cohort(marks, roster)["in_dfe_cohort"].to_numpy()]
    if marks.empty:  # a roster without marks, or no pupil of the cohort
        return pd.DataFrame({c: pd.Series(dtype=t) for c, t in dtypes.items()})
    totals = enrolment_totals(marks, by=["academic_year", "school_urn", "upn"])
    return totals[columns].astype(dict.fromkeys(ENROLMENT_FIELDS, "int64") | {"upn": str})


def _enrolment_schema() -> Any:
    from pyspark.sql import types as T

    return T.StructType(
        [
            T.StructField("academic_year", T.StringType()),
            T.StructField("school_urn", T.LongType()),
            T.StructField("upn", T.StringType()),
            *[T.StructField(c, T.LongType()) for c in ENROLMENT_FIELDS],
            T.StructField("persistent_absence", T.BooleanType()),
            T.StructField("severe_absence", T.BooleanType()),
        ]
    )


def read_roster(spark: SparkSession, data_dir: Path) -> DataFrame:
    """``pupils.csv`` as the cohort needs it: ``academic_year`` as its partition value
    (``2024-25``), ``school_urn`` a long, ``upn``, ``date_of_birth``, ``year_group``."""
    from pyspark.sql import functions as F

    path = Path(data_dir) / "pupils.csv"
    if not path.exists():
        raise FileNotFoundError(
            f"{data_dir} lacks pupils.csv, which places each pupil in the DfE cohort: write it "
            f"with `ews simulate --partitioned` or `ews export`, or count every pupil "
            f"(cohort='all')"
        )
    pupils = spark.read.csv(str(path), header=True, inferSchema=False)
    wanted = ["academic_year", "school_urn", "upn", "date_of_birth", "year_group"]
    missing = [c for c in wanted[:3] if c not in pupils.columns]
    if missing:
        raise ValueError(f"{path} lacks the column(s) {', '.join(missing)}")
    if not {"date_of_birth", "year_group"} & set(pupils.columns):
        raise ValueError(f"{path} has neither date_of_birth nor year_group: no age to count by")
    return pupils.select(
        F.regexp_replace("academic_year", "/", "-").alias("academic_year"),
        F.col("school_urn").cast("long").alias("school_urn"),
        "upn",
        *[c for c in wanted[3:] if c in pupils.columns],
    )


def enrolment_totals_spark(marks: DataFrame, roster: DataFrame | None = None) -> DataFrame:
    """:func:`features.arithmetic.enrolment_totals` per academic year × school × pupil (the
    year from the partition, ``2024-25``); with ``roster`` (:func:`read_roster`), of the DfE
    cohort's marks only, each school-year's marks cogrouped with its roster rows."""
    keys = ["academic_year", "school_urn"]
    if roster is None:
        return marks.groupBy(*keys).applyInPandas(_school_enrolments, _enrolment_schema())
    return (
        marks.groupBy(*keys)
        .cogroup(roster.groupBy(*keys))
        .applyInPandas(_school_cohort_enrolments, _enrolment_schema())
    )


def headline_figures_spark(enrolments: DataFrame, by: list[str]) -> DataFrame:
    """:func:`features.arithmetic.area_totals` in Spark SQL: sums over enrolments with possible
    sessions, rates as ratios of sums, PA and severe as shares of those enrolments."""
    from pyspark.sql import functions as F

    counted = enrolments.where(F.col("possible_sessions") > 0)
    summed = counted.groupBy(*by).agg(
        F.sum("possible_sessions").alias("possible_sessions"),
        F.sum("attendance_sessions").alias("attendance_sessions"),
        F.sum("authorised_absence").alias("authorised_absence"),
        F.sum("unauthorised_absence").alias("unauthorised_absence"),
        F.avg(F.col("persistent_absence").cast("double")).alias("persistent_absence_rate"),
        F.avg(F.col("severe_absence").cast("double")).alias("severe_absence_rate"),
        F.count("upn").alias("enrolments"),
    )
    summed = summed.withColumn(
        "overall_absence", F.col("authorised_absence") + F.col("unauthorised_absence")
    )
    return summed.withColumn("absence_rate", F.col("overall_absence") / F.col("possible_sessions"))


def national_figures(
    spark: SparkSession,
    data_dir: Path,
    years: list[str] | None = None,
    *,
    cohort: str = "dfe",
) -> dict[str, pd.DataFrame]:
    """:func:`features.arithmetic.area_figures` on Spark: headline figures per school, per
    local authority and for the whole data (``england``), per academic year (``2024/25``),
    from the partitioned marks, ``schools.csv`` (for ``la``) and, for the DfE cohort
    (``cohort="dfe"``, the default: :data:`COHORTS`), ``pupils.csv``."""
    from pyspark.sql import functions as F

    from features.arithmetic import FIGURE_LEVELS

    if cohort not in COHORTS:
        raise ValueError(f"cohort must be one of {', '.join(COHORTS)}, not {cohort!r}")
    roster = read_roster(spark, data_dir) if cohort == "dfe" else None
    marks = read_marks(spark, data_dir, years)
    if roster is not None and years is not None:
        roster = roster.where(F.col("academic_year").isin([year_partition(y) for y in years]))
    enrolments = enrolment_totals_spark(marks, roster).cache()
    schools = spark.createDataFrame(
        pd.read_csv(Path(data_dir) / "schools.csv")[["school_urn", "la"]].astype(
            {"school_urn": "int64", "la": str}
        )
    )
    with_la = enrolments.join(F.broadcast(schools), on="school_urn", how="left")
    frames = {}
    for level, by in FIGURE_LEVELS.items():
        frame: pd.DataFrame = headline_figures_spark(with_la, by).toPandas()
        frame["academic_year"] = frame["academic_year"].map(year_label)
        frames[level] = frame
    enrolments.unpersist()
    return frames


def sorted_frame(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Rows in key order, index reset: how two engines' outputs are compared."""
    return frame.sort_values(keys, kind="stable").reset_index(drop=True)


def as_float(values: pd.Series) -> np.ndarray:
    return values.to_numpy(dtype=float)


__all__ = [
    "COHORTS",
    "enrolment_totals_spark",
    "headline_figures_spark",
    "national_figures",
    "read_marks",
    "read_roster",
    "reason_columns",
    "score_spark",
    "snapshots_spark",
    "sorted_frame",
    "spark_available",
    "spark_session",
    "trajectory_spark",
]
