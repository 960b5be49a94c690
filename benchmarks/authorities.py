"""The benchmarks' simulated authorities: ``ews simulate`` run once in a child process, its
output kept under ``benchmarks/.cache`` and reused while it is there."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

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
