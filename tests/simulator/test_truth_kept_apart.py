"""The simulator's truth (``episodes.parquet``, ``SimulatedAuthority.truth``) never reaches a
feature, a model input or the service: only the simulator writes it and only evaluation may
read it."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TRUTH = re.compile(
    r"episodes\.parquet|EPISODES_FILE|support_truth\.parquet|SUPPORT_TRUTH_FILE|\.episodes\b|\.truth\b|school_truth"
)
NEVER = ("features", "serving")
# Training may read the truth only where it evaluates (did the model see the onset coming?).
TRAINING_ALLOWED: set[str] = set()


def _python_files(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def test_features_and_serving_never_read_the_truth():
    offenders = [
        f"{path.relative_to(ROOT)}:{number}"
        for package in NEVER
        for path in _python_files(package)
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if TRUTH.search(line)
    ]
    assert not offenders, f"the simulator's truth is read in {offenders}"


def test_training_reads_the_truth_only_where_it_evaluates():
    readers = {
        str(path.relative_to(ROOT))
        for path in _python_files("training")
        if TRUTH.search(path.read_text())
    }
    assert readers <= TRAINING_ALLOWED


def test_nothing_outside_the_simulator_imports_it_but_the_command_line():
    importers = {
        str(path.relative_to(ROOT))
        for package in ("features", "training", "serving")
        for path in _python_files(package)
        if re.search(r"^\s*(from|import) simulator\b", path.read_text(), re.MULTILINE)
    }
    assert not importers
