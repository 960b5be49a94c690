"""Benchmark: features and scores on Spark local[2] beside the pandas engine (issue 13).

For each size (pupil-years; two academic years, 2023/24 and 2024/25, so last year's outcomes
are in play) it simulates an authority once — above 50,000 pupils a region of authorities of
50,000, one at a time — (cached under benchmarks/.cache, partitioned layout), then, each in a
fresh child process so that peak memory is the step's own:

* ``features/pandas`` — ``snapshots_from_directory`` (marks.parquet, one process), skipped
  above ``--pandas-max`` pupil-years, where its dense arrays would not fit beside the others'
  work on this machine (its projected peak is printed instead);
* ``features/spark`` — ``snapshots_spark`` on ``local[2]``, written to Parquet;
* ``scores/pandas`` and ``scores/spark`` — one as-of week per pupil (the weekly run) scored by
  a small LightGBM model registered in a throw-away MLflow store: ``RiskModel.score`` in one
  process; ``mlflow.pyfunc.spark_udf`` plus the reasons pandas UDF on Spark.

Peak memory: the largest sum of the RSS of the child and every process it started (the JVM
and Spark's Python workers), polled every 0.2 s.

    python benchmarks/bench_spark.py [--sizes 100000,500000,1000000] [--pandas-max 150000]
        [--steps features/pandas]

Results: a table, and benchmarks/results/spark.json (sizes already measured are kept, so the
rest can be run later with --sizes).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

from authorities import simulated_authority

ROOT = Path(__file__).resolve().parent
CACHE = ROOT / ".cache"
RESULTS = ROOT / "results"
YEARS = "2023/24,2024/25"
SCORE_WEEK = 20
MODEL_NAME = "bench-attendance-risk"


PUPILS_PER_AUTHORITY = 50_000
"""Above this many pupils a size is simulated as a region of authorities of this size, one at
a time (``ews simulate --authorities``): one authority in memory at once."""


def ensure_authority(pupil_years: int) -> Path:
    pupils = pupil_years // 2
    authorities = max(1, -(-pupils // PUPILS_PER_AUTHORITY))
    return simulated_authority(
        f"spark-authority-{pupil_years}", pupils, YEARS, 13, "--partitioned",
        "--authorities", str(authorities), written="marks",
    )  # fmt: skip


def _peak_mb() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return (own + children) / 1024


def _mlflow_env(data_dir: Path) -> None:
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{data_dir / 'bench-mlflow.db'}"
    os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = "false"


def ensure_model(data_dir: Path) -> str:
    """A small LightGBM model on a sample of the pandas features, registered (version 1)."""
    import tempfile

    import lightgbm as lgb
    import mlflow
    import mlflow.pyfunc
    import pandas as pd
    from mlflow.models import infer_signature

    from features.riskmodel import Calibration, RiskModel, write_pyfunc_code
    from features.schema import ALL_FEATURES

    _mlflow_env(data_dir)
    uri = f"models:/{MODEL_NAME}/1"
    client = mlflow.MlflowClient()
    if client.search_model_versions(f"name='{MODEL_NAME}'"):
        return uri
    frame = pd.read_parquet(data_dir / "features-spark", filters=[("week", "in", [5, 15, 25, 35])])
    frame = frame.sample(min(60_000, len(frame)), random_state=0)
    frame = frame[frame["pa_year_end"].notna()]
    names = list(ALL_FEATURES)
    booster = lgb.train(
        {"objective": "binary", "num_leaves": 31, "verbose": -1, "num_threads": 2},
        lgb.Dataset(frame[names], frame["pa_year_end"]),
        num_boost_round=100,
    )
    model = RiskModel(booster, Calibration.identity(), {"features": names, "label": "pa"})
    with tempfile.TemporaryDirectory() as tmp:
        mlflow.pyfunc.log_model(
            name="model",
            python_model=str(write_pyfunc_code(Path(tmp))),
            artifacts=model.save(Path(tmp) / "shipped"),
            signature=infer_signature(frame[names], model.predict_proba(frame[names])),
            registered_model_name=MODEL_NAME,
        )
    return uri


def child(step: str, data_dir: Path) -> dict:
    """One measured step, in this (fresh) process."""
    import pandas as pd

    result: dict = {"step": step}
    started = time.perf_counter()
    if step == "features/pandas":
        from features.snapshots import snapshots_from_directory

        snapshots = snapshots_from_directory(data_dir)
        result["rows"] = len(snapshots)
    elif step == "features/spark":
        from features.spark import snapshots_spark, spark_session

        spark = spark_session("local[2]", memory="6g")
        started = time.perf_counter()  # the session's start-up is not the engine's work
        snapshots_spark(spark, data_dir).write.mode("overwrite").parquet(
            str(data_dir / "features-spark")
        )
        result["rows"] = spark.read.parquet(str(data_dir / "features-spark")).count()
        spark.stop()
    elif step == "scores/pandas":
        from features.riskmodel import load_risk_model

        uri = ensure_model(data_dir)
        rows = _week_rows(data_dir)
        started = time.perf_counter()
        scored = load_risk_model(uri).score(rows, top=3)
        result["rows"] = len(scored)
    elif step == "scores/spark":
        from pyspark.sql import functions as F

        from features.spark import score_spark, spark_session

        uri = ensure_model(data_dir)
        spark = spark_session("local[2]", memory="6g")
        started = time.perf_counter()
        frame = spark.read.parquet(str(data_dir / "features-spark")).where(
            F.col("week") == SCORE_WEEK
        )
        score_spark(spark, frame, uri, top=3).write.mode("overwrite").parquet(
            str(data_dir / "scores-spark")
        )
        result["rows"] = spark.read.parquet(str(data_dir / "scores-spark")).count()
        spark.stop()
    result["seconds"] = time.perf_counter() - started
    result["peak_rss_mb"] = _peak_mb()
    del pd
    return result


def _week_rows(data_dir: Path):  # type: ignore[no-untyped-def]
    import pandas as pd

    return pd.read_parquet(data_dir / "features-spark", filters=[("week", "==", SCORE_WEEK)])


def run_step(step: str, data_dir: Path) -> dict:
    """Run a step in a child process; its peak memory is the largest sum of the RSS of the
    child and everything it started (the JVM, Spark's Python workers), polled every 0.2 s."""
    import psutil

    proc = subprocess.Popen(
        [sys.executable, __file__, "--child", step, "--data", str(data_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    parent = psutil.Process(proc.pid)
    peak = 0
    loads: list[float] = []
    while proc.poll() is None:
        loads.append(os.getloadavg()[0])
        try:
            tree = [parent, *parent.children(recursive=True)]
            peak = max(peak, sum(p.memory_info().rss for p in tree if p.is_running()))
        except psutil.Error:
            pass
        time.sleep(0.2)
    stdout = proc.stdout.read() if proc.stdout else ""
    if proc.returncode:
        raise SystemExit(f"{step} on {data_dir} failed (exit {proc.returncode})")
    measured = json.loads(stdout.strip().splitlines()[-1])
    measured["peak_tree_rss_mb"] = peak / 2**20
    # How busy the machine was meanwhile (1-minute load average, polled with the memory): on
    # 2 cores, anything well above 2 means other work slowed the step.
    measured["load_average_mean"] = sum(loads) / len(loads) if loads else os.getloadavg()[0]
    return measured


def count_marks(data_dir: Path) -> int:
    import pyarrow.parquet as pq

    return pq.ParquetFile(data_dir / "marks.parquet").metadata.num_rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,500000,1000000")
    parser.add_argument("--pandas-max", type=int, default=150_000)
    parser.add_argument(
        "--steps", default="", help="Only these steps (comma-separated); the others are kept."
    )
    parser.add_argument("--child")
    parser.add_argument("--data", type=Path)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.data)))
        return
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / "spark.json"
    results = json.loads(path.read_text()) if path.exists() else {"sizes": {}}
    results["machine"] = {"cores": os.cpu_count(), "master": "local[2]"}
    for size in [int(s) for s in args.sizes.split(",")]:
        data_dir = ensure_authority(size)
        marks = count_marks(data_dir)
        entry: dict = {"pupil_years": size, "marks": marks, "steps": {}}
        if args.steps:  # a re-run of some steps keeps the others' figures
            entry = results["sizes"].get(str(size), entry)
        steps = ["features/spark", "scores/spark", "scores/pandas"]
        if size <= args.pandas_max:
            steps.insert(0, "features/pandas")
            entry.pop("features/pandas", None)
        else:
            entry["features/pandas"] = (
                f"not run above {args.pandas_max:,} pupil-years: one process holds the "
                "whole authority's dense arrays"
            )
        if args.steps:
            steps = [s for s in steps if s in args.steps.split(",")]
        for step in steps:
            print(f"{size:>9,} {step} ...", flush=True)
            measured = run_step(step, data_dir)
            rate_of = marks if step.startswith("features") else measured["rows"]
            measured["per_s"] = rate_of / measured["seconds"]
            entry["steps"][step] = measured
            print(f"          {measured}", flush=True)
        results["sizes"][str(size)] = entry
        path.write_text(json.dumps(results, indent=2))
    print()
    print(
        f"{'pupil-years':>11} {'marks':>12} {'step':<16} {'s':>8} {'rate':>14} {'peak MB':>8} "
        f"{'load':>5}"
    )
    for size, entry in sorted(results["sizes"].items(), key=lambda kv: int(kv[0])):
        for step, m in entry["steps"].items():
            unit = "marks/s" if step.startswith("features") else "pupils/s"
            print(
                f"{int(size):>11,} {entry['marks']:>12,} {step:<16} {m['seconds']:>8.1f} "
                f"{m['per_s']:>10,.0f} {unit:<8} {m['peak_tree_rss_mb']:>8,.0f} "
                f"{m.get('load_average_mean', float('nan')):>5.1f}"
            )
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
