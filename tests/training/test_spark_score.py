"""Scores on Spark: the registered pyfunc through mlflow.pyfunc.spark_udf gives the pyfunc's
probabilities, and the pandas UDF gives the reasons the service shows (RiskModel.score).

Uses the session's trained and registered test model (tests/training/conftest.py) and the
session's local[2] SparkSession (tests/conftest.py).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from typer.testing import CliRunner

from tests.training.conftest import TEST_MODEL_NAME


def test_spark_scores_and_reasons_equal_the_pyfunc_and_the_service(
    spark, logged, run_result, tmp_path: Path
) -> None:
    import mlflow

    from ews.cli import app
    from features.riskmodel import load_risk_model
    from features.spark import reason_columns
    from serving.pipeline import REASONS_SHOWN

    uri = f"models:/{TEST_MODEL_NAME}@challenger"
    rows = run_result.test_rows.sample(400, random_state=3).reset_index(drop=True)
    rows.to_parquet(tmp_path / "features.parquet", index=False)
    result = CliRunner().invoke(
        app,
        [
            "score",
            "--engine",
            "spark",
            "--model",
            uri,
            "--features",
            str(tmp_path / "features.parquet"),
            "--out",
            str(tmp_path / "scores"),
        ],
    )
    assert result.exit_code == 0, result.output
    keys = ["academic_year", "school_urn", "upn", "week"]
    got = pd.read_parquet(tmp_path / "scores").sort_values(keys).reset_index(drop=True)
    expected_rows = rows.sort_values(keys).reset_index(drop=True)
    assert len(got) == len(rows)
    pd.testing.assert_frame_equal(
        got[keys].astype({"academic_year": str, "upn": str}),
        expected_rows[keys].astype({"academic_year": str, "upn": str}),
        check_dtype=False,
    )
    pyfunc = mlflow.pyfunc.load_model(uri)
    np.testing.assert_array_equal(got["risk_probability"], pyfunc.predict(expected_rows))
    service = load_risk_model(uri).score(expected_rows, top=REASONS_SHOWN)
    for column in reason_columns(REASONS_SHOWN):
        if column.endswith("_contribution"):
            np.testing.assert_array_equal(
                got[column].to_numpy(float), service[column].to_numpy(float)
            )
        else:
            assert (
                got[column].where(got[column].notna(), None).tolist()
                == service[column].where(service[column].notna(), None).tolist()
            ), column
    assert got["reason_1"].notna().any()
