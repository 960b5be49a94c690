"""Benchmark: a whole training run (snapshots → fit → evaluate) by authority size.

Measures, for the default simulated authority (6,000 pupils) and a 50,000-pupil one, each over
three academic years (train on two, test on the third), with the shipped configuration
(training/configs/default.toml: LightGBM for both feature sets, every snapshot week):

* snapshot features for every week of every year (``training.data.load_dataset``);
* fitting: early stopping on the validation year, refit on both training years, for both
  feature sets, plus the baselines;
* evaluation: calibration choice and every metric, lead time and fairness audit;
* peak resident memory of the run (each size runs in a fresh child process).

MLflow logging is not timed (a few seconds, independent of size).

    .venv/bin/python benchmarks/bench_training.py [--sizes 6000,50000]

Prints a table and writes ``benchmarks/results/training.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

from authorities import simulated_authority

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
CACHE = Path(__file__).resolve().parent / ".cache"
RESULTS = Path(__file__).resolve().parent / "results"
YEARS = "2022/23,2023/24,2024/25"


def ensure_authority(pupils: int, seed: int = 0) -> Path:
    """Simulate (once, cached) a three-year authority with ``ews simulate``."""
    return simulated_authority(f"authority-{pupils}-{seed}-3y", pupils, YEARS, seed)


def child(authority: Path) -> dict[str, object]:
    """Run in a fresh process: time each stage, report peak RSS."""
    from training.config import load_config
    from training.data import load_dataset
    from training.metrics import metric_value
    from training.pipeline import finish, train_models

    config = load_config()
    started = time.perf_counter()
    snapshots = load_dataset(authority)
    snapshot_seconds = time.perf_counter() - started
    started = time.perf_counter()
    trained = train_models(snapshots, config)
    fit_seconds = time.perf_counter() - started
    started = time.perf_counter()
    result = finish(trained, snapshots)
    evaluate_seconds = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    window = trained.window
    return {
        "pupils_per_year": int(window["test"]["pupils"]),
        "train_rows": int(window["train"]["rows"]),
        "test_rows": int(window["test"]["rows"]),
        "trees": {k: f.num_trees for k, f in trained.fitted.items()},
        "snapshot_seconds": round(snapshot_seconds, 1),
        "fit_seconds": round(fit_seconds, 1),
        "evaluate_seconds": round(evaluate_seconds, 1),
        "total_seconds": round(snapshot_seconds + fit_seconds + evaluate_seconds, 1),
        "peak_rss_mb": round(peak_mb),
        "auc_all": metric_value(result.evaluation.metrics, "lgbm_attendance", "roc_auc"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="6000,50000")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(Path(args.child))))
        return

    results = []
    for pupils in (int(s) for s in args.sizes.split(",")):
        authority = ensure_authority(pupils)
        out = subprocess.run(
            [sys.executable, __file__, "--child", str(authority)],
            check=True,
            capture_output=True,
            text=True,
            cwd=ROOT,
        )
        row = {"authority_pupils": pupils, **json.loads(out.stdout.strip().splitlines()[-1])}
        results.append(row)
        print(f"{pupils:,} pupils done: {row['total_seconds']} s", flush=True)

    header = (
        f"{'authority':>10} {'train rows':>11} {'test rows':>10} {'snapshots s':>12} "
        f"{'fit s':>7} {'evaluate s':>11} {'total s':>8} {'peak MB':>8} {'AUC':>6}"
    )
    print(f"\nTraining run (both feature sets, every week), {os.cpu_count()} cores")
    print(header)
    print("-" * len(header))
    for r in results:
        print(
            f"{r['authority_pupils']:>10,} {r['train_rows']:>11,} {r['test_rows']:>10,} "
            f"{r['snapshot_seconds']:>12} {r['fit_seconds']:>7} {r['evaluate_seconds']:>11} "
            f"{r['total_seconds']:>8} {r['peak_rss_mb']:>8,} {r['auc_all']:>6.3f}"
        )
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "training.json").write_text(
        json.dumps(
            {
                "benchmark": "training",
                "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
                "results": results,
            },
            indent=2,
        )
    )
    print(f"\nwrote {RESULTS / 'training.json'}")


if __name__ == "__main__":
    main()
