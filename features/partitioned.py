"""Marks as Parquet partitioned by academic year and school: the layout the Spark engine reads.

``DIR/marks/academic_year=2024-25/school_urn=100001/part-0.parquet`` and so on: one directory
per academic year (``2024-25``: the label ``2024/25`` with ``-`` in place of ``/``, which a
path cannot hold), one per school below it. A reader that wants one year or one school lists
only that directory (partition pruning); a Spark job groups by school without a shuffle of
the whole year. Written with PyArrow alone: writing needs no Spark.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from features.calendar import academic_year_label

MARKS_DIR = "marks"
"""Directory of the partitioned marks, beside ``schools.csv`` and ``pupils.csv``."""
PARTITION_COLUMNS = ["academic_year", "school_urn"]


def year_partition(label: str) -> str:
    """The partition value of an academic-year label: ``2024/25`` → ``2024-25``."""
    return str(label).replace("/", "-")


def year_label(partition: str) -> str:
    """The academic-year label of a partition value: ``2024-25`` → ``2024/25``."""
    return str(partition).replace("-", "/")


def marks_with_partitions(marks: pd.DataFrame) -> pd.DataFrame:
    """``marks`` with the partition columns: ``academic_year`` (partition value, from each
    mark's date; August starts the year) and ``school_urn`` as int64."""
    dates = pd.to_datetime(marks["date"])
    start = dates.dt.year.to_numpy() - (dates.dt.month.to_numpy() < 8)
    labels = {int(y): year_partition(academic_year_label(int(y))) for y in pd.unique(start)}
    out = marks.copy()
    out["academic_year"] = pd.Series(start, index=marks.index).map(labels)
    out["school_urn"] = out["school_urn"].astype("int64")
    return out


def write_partitioned_marks(marks: pd.DataFrame, out_dir: Path, *, replace: bool = True) -> Path:
    """Write ``marks`` (canonical columns) under ``out_dir/marks`` partitioned by academic year
    and school, replacing what an earlier run wrote there (``replace=False``: only the
    partitions of these marks' schools and years, keeping the others — how several
    authorities, or several exports, are written into one tree). Returns the marks
    directory."""
    import shutil

    import pyarrow as pa
    import pyarrow.parquet as pq

    target = Path(out_dir) / MARKS_DIR
    if replace and target.exists():
        shutil.rmtree(target)
    frame = marks_with_partitions(marks)
    for column in ("code", "session", "upn"):
        if column in frame.columns:
            frame[column] = frame[column].astype(str)
    table = pa.Table.from_pandas(frame, preserve_index=False)
    pq.write_to_dataset(
        table,
        root_path=str(target),
        partition_cols=PARTITION_COLUMNS,
        compression="zstd",
        existing_data_behavior="delete_matching",
    )
    return target


def read_partitioned_marks(data_dir: Path, years: list[str] | None = None) -> pd.DataFrame:
    """The canonical marks from ``data_dir/marks`` (all years, or ``years``' labels), without
    the partition columns' string form: ``school_urn`` int64, no ``academic_year``."""
    import pyarrow.dataset as ds

    dataset = ds.dataset(str(Path(data_dir) / MARKS_DIR), format="parquet", partitioning="hive")
    filter_ = None
    if years is not None:
        filter_ = ds.field("academic_year").isin([year_partition(y) for y in years])
    table = dataset.to_table(filter=filter_)
    frame = table.to_pandas()
    frame["school_urn"] = frame["school_urn"].astype("int64")
    return frame.drop(columns=["academic_year"])


__all__ = [
    "MARKS_DIR",
    "PARTITION_COLUMNS",
    "marks_with_partitions",
    "read_partitioned_marks",
    "write_partitioned_marks",
    "year_label",
    "year_partition",
]
