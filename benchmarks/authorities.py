"""The benchmarks' simulated authorities: ``ews simulate`` run once in a child process, its
output kept under ``benchmarks/.cache`` and reused while it is there."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd

CACHE = Path(__file__).resolve().parent / ".cache"
PROJECT = Path(__file__).resolve().parents[1]


def simulated_authority(
    name: str, pupils: int, years: str, seed: int, *options: str, written: str = "marks.parquet"
) -> Path:
    """``CACHE/name``, simulated with ``ews simulate`` (and ``options``) unless ``written``
    is already there."""
    out = CACHE / name
    if not (out / written).exists():
        command = ["simulate", "--out", str(out), "--pupils", str(pupils), "--years", years]
        subprocess.run(
            [sys.executable, "-m", "ews.cli", *command, "--seed", str(seed), *options],
            check=True,
            cwd=PROJECT,
        )
    return out


ROLLING_YEARS = ("2020/21", "2021/22", "2022/23", "2023/24", "2024/25")
"""The early-warning benchmarks' authorities: five years, so that each of the two test years
has at least one fitting year with history before it."""
ROLLING_TEST_YEARS = ("2023/24", "2024/25")


def rolling_origin_authority(seed: int, pupils: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One seed's authority of the early-warning benchmarks, simulated in process:
    ``(snapshots, episodes)`` — the episodes are the simulator's ground truth, for evaluation
    only."""
    from simulator import SimulationConfig, simulate_authority, write_authority
    from training.data import load_dataset

    with tempfile.TemporaryDirectory(prefix="bench-authority-") as tmp:
        authority = simulate_authority(
            SimulationConfig(pupils=pupils, years=ROLLING_YEARS, seed=seed)
        )
        write_authority(authority, Path(tmp))
        return load_dataset(Path(tmp)), pd.read_parquet(Path(tmp) / "episodes.parquet")


def year_lists(snapshots: pd.DataFrame, year: str):
    """One year's labelled rows and the extra-list measures' view of them
    (``training.early_warning.ListRows``), built as the training evaluation builds them."""
    from training.config import load_config
    from training.data import rows_for
    from training.early_warning import ListRows
    from training.metrics import EvaluationFrame

    evaluation = load_config().evaluation
    rows = rows_for(snapshots, [year]).reset_index(drop=True)
    frame = EvaluationFrame.from_rows(
        rows, emerging_below=evaluation.emerging_below, seed=evaluation.tie_break_seed
    )
    return rows, ListRows.from_rows(rows, frame)
