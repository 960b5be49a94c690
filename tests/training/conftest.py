"""Shared, session-scoped fixtures: one small simulated authority, one training run, one
temporary MLflow store. Everything lives under pytest's temporary directory; ./data and any
MLflow store the developer has are never touched."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from training.config import TrainingConfig

SMALL_PUPILS = 1500
SMALL_YEARS = ("2022/23", "2023/24", "2024/25")
TEST_MODEL_NAME = "attendance-risk-test"


def small_config(**overrides: dict) -> TrainingConfig:
    """Few, shallow trees: fast, still a real LightGBM run with early stopping."""
    data: dict = {
        "lightgbm": {
            "num_boost_round": 60,
            "learning_rate": 0.15,
            "early_stopping_rounds": 10,
            "min_child_samples": 100,
            "num_threads": 2,
        },
        "fairness": {"min_group_size": 30},
    }
    for section, values in overrides.items():
        data[section] = data.get(section, {}) | values
    return TrainingConfig.model_validate(data)


@pytest.fixture(scope="session")
def authority_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small simulated authority (1,500 pupils, three years), as `ews simulate` writes it."""
    from simulator.authority import simulate_authority
    from simulator.config import SimulationConfig
    from simulator.output import write_authority

    out = tmp_path_factory.mktemp("authority")
    authority = simulate_authority(SimulationConfig(pupils=SMALL_PUPILS, years=SMALL_YEARS, seed=7))
    write_authority(authority, out)
    return out


@pytest.fixture(scope="session")
def snapshots(authority_dir: Path) -> pd.DataFrame:
    from training.data import load_dataset

    return load_dataset(authority_dir)


@pytest.fixture(scope="session")
def config() -> TrainingConfig:
    return small_config()


@pytest.fixture(scope="session")
def run_result(snapshots: pd.DataFrame, config: TrainingConfig):
    from training.pipeline import run

    return run(snapshots, config)


@pytest.fixture(scope="session")
def store(tmp_path_factory: pytest.TempPathFactory):
    """A temporary data directory and MLflow store, set in the environment for the session."""
    data_dir = tmp_path_factory.mktemp("ews-data")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("EWS_DATA_DIR", str(data_dir))
        patch.setenv("EWS_MODEL_NAME", TEST_MODEL_NAME)
        patch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{data_dir / 'mlflow.db'}")
        patch.setenv("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
        yield data_dir


@pytest.fixture(scope="session")
def logged(run_result, config: TrainingConfig, store: Path, authority_dir: Path):
    """The run logged and registered: version 1 of the test model, alias challenger."""
    from training.registry import log_run

    return log_run(
        run_result,
        config,
        data_dir=store,
        source_dir=authority_dir,
        model_name=TEST_MODEL_NAME,
    )
