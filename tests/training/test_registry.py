"""The MLflow lifecycle through a temporary store: log → register → load by alias → identical
predictions; the gates, promotion with and without accepted risk, and rollback."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from features.riskmodel import load_risk_model
from features.schema import FEATURE_SCHEMA_VERSION
from tests.training.conftest import TEST_MODEL_NAME, small_config


@pytest.fixture(scope="module")
def cli() -> typer.Typer:
    from training.cli import register

    app = typer.Typer()
    register(app)
    return app


def test_round_trip_by_alias_gives_identical_predictions(logged, run_result) -> None:
    import mlflow

    assert logged.version == "1"
    rows = run_result.test_rows.sample(500, random_state=1)
    # The registered version is what serves: the recipe refitted with the test year.
    expected = run_result.shipped.predict_proba(rows)
    by_alias = mlflow.pyfunc.load_model(f"models:/{TEST_MODEL_NAME}@challenger")
    # The pyfunc takes the frame `ews features` writes: keys, labels and audit columns ignored.
    np.testing.assert_array_equal(by_alias.predict(rows), expected)
    model = load_risk_model(f"models:/{TEST_MODEL_NAME}@challenger")
    assert (model.name, model.version) == (TEST_MODEL_NAME, "1")
    np.testing.assert_array_equal(model.predict_proba(rows), expected)
    # Reasons come from the same artifact.
    scored = model.score(rows)
    np.testing.assert_array_equal(scored["risk_probability"], expected)
    assert scored["reason_1"].notna().any()
    # The model the run evaluated is logged beside it.
    from training.registry import evaluated_model

    evaluated = evaluated_model(TEST_MODEL_NAME, "1")
    np.testing.assert_array_equal(
        evaluated.predict_proba(rows), run_result.registered_model.predict_proba(rows)
    )


def test_the_logged_model_has_a_signature_an_example_and_no_pickle(logged) -> None:
    import mlflow

    info = mlflow.models.get_model_info(f"models:/{TEST_MODEL_NAME}/1")
    inputs = info.signature.inputs.to_dict()
    assert [c["name"] for c in inputs] == load_risk_model(f"models:/{TEST_MODEL_NAME}/1").features
    assert {c["type"] for c in inputs} == {"double"}
    assert info.saved_input_example_info is not None
    flavor = info.flavors["python_function"]
    assert "model_code_path" in flavor  # logged as code: nothing to unpickle
    assert "python_model" not in flavor


def test_the_run_records_config_window_features_commit_and_metrics(logged) -> None:
    from mlflow import MlflowClient

    client = MlflowClient()
    run = client.get_run(logged.run_id)
    tags, params, metrics = run.data.tags, run.data.params, run.data.metrics
    assert tags["feature_schema_version"] == FEATURE_SCHEMA_VERSION
    assert tags["features"].split(",")[0] == "possible_sessions_ytd"
    assert tags["git_commit"]
    assert params["lightgbm.num_boost_round"] == "60"
    assert params["window.test.years"] == '["2024/25"]'
    for key in (
        "all.pooled.roc_auc.lgbm_attendance_context",
        "emerging.week_06.precision_at_10.ytd_rule",
        "all.week_30.ece.lgbm_attendance_context",
        "test_roc_auc",
        "extra_list.yield.lgbm_attendance_context",
    ):
        assert key in metrics
    artifacts = {a.path for a in client.list_artifacts(logged.run_id, "evaluation")}
    for name in ("report.md", "model_card.md", "metrics.csv", "fairness.csv", "summary.json"):
        assert f"evaluation/{name}" in artifacts
    plots = {a.path for a in client.list_artifacts(logged.run_id, "evaluation/plots")}
    assert len(plots) == 4
    assert {a.path for a in client.list_artifacts(logged.run_id)} >= {
        "config.toml",
        "data_window.json",
        "baselines.json",
    }
    card = (logged.report_dir / "model_card.md").read_text()
    assert "Trained on simulated data" in card and "version 1" in card
    assert "Boosters: the first weeks (weeks 1–6, every pupil): " in card
    assert "from week 7, pupils heading there (not on it yet): " in card
    assert "hindsight: knows who becomes PA" in card and "*What is possible at all.*" in card
    version = client.get_model_version(TEST_MODEL_NAME, "1")
    assert version.tags["gates_passed"] in {"true", "false"}


def test_promotion_gates_accepted_risk_and_rollback(
    logged, run_result, store, authority_dir, cli
) -> None:
    from mlflow import MlflowClient

    from training.registry import log_run

    client = MlflowClient()
    runner = CliRunner()
    # Version 2: same model, but a calibration bound nothing can meet, so a gate must fail.
    strict = small_config(promotion={"max_ece": 1e-9})
    second = log_run(
        run_result, strict, data_dir=store, source_dir=authority_dir, model_name=TEST_MODEL_NAME
    )
    assert second.version == "2"
    assert str(client.get_model_version_by_alias(TEST_MODEL_NAME, "challenger").version) == "2"

    refused = runner.invoke(cli, ["promote", "--version", "2"])
    assert refused.exit_code == 1
    assert "refused" in refused.output and "calibration" in refused.output
    assert "exceeds 1e-09 by" in refused.output
    with pytest.raises(Exception, match="not found|RESOURCE_DOES_NOT_EXIST"):
        client.get_model_version_by_alias(TEST_MODEL_NAME, "champion")

    # Version 1 becomes champion (accepting risk if its own gates fail on this small LA).
    first_args = ["promote", "--version", "1"]
    if not all(g.passed for g in logged.gates):
        first_args += ["--accept-risk", "small test authority"]
    first = runner.invoke(cli, first_args)
    assert first.exit_code == 0, first.output
    assert str(client.get_model_version_by_alias(TEST_MODEL_NAME, "champion").version) == "1"

    accepted = runner.invoke(cli, ["promote", "--accept-risk", "calibration reviewed by the lead"])
    assert accepted.exit_code == 0, accepted.output
    assert "risk accepted" in accepted.output
    version = client.get_model_version(TEST_MODEL_NAME, "2")
    assert version.tags["accepted_risk"] == "calibration reviewed by the lead"
    assert "calibration" in version.tags["accepted_failed_gates"].split(",")
    assert version.tags["previous_champion"] == "1"
    assert str(client.get_model_version_by_alias(TEST_MODEL_NAME, "champion").version) == "2"

    rolled = runner.invoke(cli, ["promote", "--rollback"])
    assert rolled.exit_code == 0, rolled.output
    assert str(client.get_model_version_by_alias(TEST_MODEL_NAME, "champion").version) == "1"
    assert "rolled_back_at" in client.get_model_version(TEST_MODEL_NAME, "2").tags

    empty_reason = runner.invoke(cli, ["promote", "--version", "2", "--accept-risk", " "])
    assert empty_reason.exit_code == 2 and "needs a reason" in empty_reason.output


def test_evaluate_writes_the_report_for_a_registered_version(
    logged, run_result, authority_dir, tmp_path, cli
) -> None:
    result = CliRunner().invoke(
        cli,
        ["evaluate", "--model-version", "1", "--data", str(authority_dir), "--out", str(tmp_path)],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "summary.json").read_text())
    expected = json.loads((Path(logged.report_dir) / "summary.json").read_text())
    # Same model, same baselines, same test year: the same headline numbers.
    for population in ("all", "emerging"):
        for key in ("lgbm_attendance_context", "ytd_rule", "last_year", "rate_spells"):
            assert summary["pooled"][population][key] == pytest.approx(
                expected["pooled"][population][key], nan_ok=True
            )
    assert (tmp_path / "plots" / "reliability.png").exists()
    report = (tmp_path / "report.md").read_text()
    assert "LightGBM (attendance)" in report
    # The same report as the training run's: calibration, context, the baseline verdicts.
    for section in ("## Calibration", "## What context", "## Does the model beat every baseline"):
        assert section in report

    def verdicts(rows: list[dict]) -> dict:
        return {(r["population"], r["week"], r["metric"]): r["verdict"] for r in rows}

    assert verdicts(summary["beats_baselines"]) == verdicts(expected["beats_baselines"])

    trained_on = CliRunner().invoke(
        cli,
        [
            "evaluate",
            "--model-version",
            "1",
            "--data",
            str(authority_dir),
            "--test-year",
            "2023/24",
        ],
    )
    assert trained_on.exit_code != 0
    assert "was trained on 2023/24" in trained_on.output and "not held out" in trained_on.output


def test_cli_refuses_bad_input_clearly(cli, tmp_path, store) -> None:
    runner = CliRunner()
    missing = runner.invoke(cli, ["train", "--data", str(tmp_path / "nowhere")])
    assert missing.exit_code == 2
    assert "pupils.csv" in missing.output and "ews simulate" in missing.output
    bad = tmp_path / "bad.toml"
    bad.write_text("[lightgbm]\nleaves = 3\n")
    config = runner.invoke(cli, ["train", "--data", str(tmp_path), "--config", str(bad)])
    assert config.exit_code == 2 and "lightgbm.leaves" in config.output
    year = runner.invoke(cli, ["train", "--data", str(tmp_path), "--test-year", "2024"])
    assert year.exit_code == 2 and "YYYY/YY" in year.output
    assert "--test-year:" in year.output and "validation error" not in year.output
    folder = runner.invoke(cli, ["train", "--data", str(tmp_path), "--config", str(tmp_path)])
    assert folder.exit_code == 2 and "cannot be read" in folder.output
    unknown = runner.invoke(cli, ["evaluate", "--model-version", "99"])
    assert unknown.exit_code == 1 and f"{TEST_MODEL_NAME} has no version 99" in unknown.output


def test_train_refuses_report_weeks_the_test_year_lacks_before_training(
    cli, tmp_path, store, authority_dir
) -> None:
    weeks = tmp_path / "weeks.toml"
    weeks.write_text("[evaluation]\nreport_weeks = [2, 45]\n")
    result = CliRunner().invoke(
        cli, ["train", "--data", str(authority_dir), "--config", str(weeks)]
    )
    assert result.exit_code == 2, result.output
    assert "report_weeks [45] are not school weeks of the test year 2024/25" in result.output
    assert "trained" not in result.output


def test_a_logged_config_that_no_longer_validates_names_the_version(logged, monkeypatch) -> None:
    from training import config as config_module
    from training.config import ConfigError
    from training.registry import run_config

    def outdated(path):
        raise ConfigError(f"config file {path}: [fairness.attributes] no longer valid")

    monkeypatch.setattr(config_module, "load_config", outdated)
    with pytest.raises(ConfigError) as info:
        run_config(TEST_MODEL_NAME, logged.version)
    message = str(info.value)
    assert f"config logged with {TEST_MODEL_NAME} version {logged.version}" in message
    assert "[fairness.attributes] no longer valid. Pass --config FILE" in message
    assert "config file" not in message  # not the temporary download's path


def test_the_model_card_has_a_label_for_every_segment() -> None:
    from training.model import SEGMENTS
    from training.report import SEGMENT_LABELS

    assert set(SEGMENT_LABELS) == set(SEGMENTS)
