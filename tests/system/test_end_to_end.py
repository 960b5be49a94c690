"""End to end with a real model: simulate → train → register → promote → serve → upload →
risk list; then the champion alias moves and the service follows without a restart."""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from serving.app import create_app
from serving.settings import ServingSettings

MODEL_NAME = "attendance-risk-e2e"


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory):
    """A small authority with register files and a champion in a temporary MLflow store."""
    from simulator import SimulationConfig, simulate_authority, write_authority
    from training.config import TrainingConfig
    from training.data import load_dataset
    from training.pipeline import run
    from training.registry import configure_mlflow, log_run, promote

    data_dir = tmp_path_factory.mktemp("e2e")
    authority_dir = data_dir / "authority"
    authority = simulate_authority(
        SimulationConfig(pupils=1200, years=("2022/23", "2023/24", "2024/25"), seed=11)
    )
    write_authority(authority, authority_dir, register_files=True)
    config = TrainingConfig.model_validate(
        {
            "run": {"compare_feature_sets": ["attendance"]},
            "data": {"train_every": 4},
            "lightgbm": {
                "num_boost_round": 40,
                "learning_rate": 0.2,
                "early_stopping_rounds": 10,
                "min_child_samples": 100,
                "num_threads": 2,
            },
            "fairness": {"min_group_size": 30},
        }
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{data_dir / 'mlflow.db'}")
        patch.setenv("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
        configure_mlflow(data_dir)
        result = run(load_dataset(authority_dir), config)
        logged = log_run(
            result, config, data_dir=data_dir, source_dir=authority_dir, model_name=MODEL_NAME
        )
        promote(MODEL_NAME, logged.version, accept_risk="test: small simulated authority")
        yield data_dir, authority_dir, logged


def test_served_risk_list_from_a_real_model_follows_the_champion(trained) -> None:
    import mlflow
    from mlflow import MlflowClient

    data_dir, authority_dir, logged = trained
    uri = f"sqlite:///{data_dir / 'mlflow.db'}"
    settings = ServingSettings(
        data_dir=data_dir,
        database_url=f"sqlite:///{data_dir / 'ews.db'}",
        mlflow_tracking_uri=uri,
        model_name=MODEL_NAME,
        model_poll_seconds=0,
    )
    schools = pd.read_csv(authority_dir / "schools.csv")
    school = schools[schools["phase"] == "secondary"].iloc[0]
    urn = int(school["school_urn"])
    app = create_app(settings)
    with TestClient(app) as client:
        ready = client.get("/ready").json()
        assert ready["ready"] is True and ready["model"]["version"] == logged.version
        # Bootstrap an admin key from the CLI's function, then work over HTTP only.
        from serving.auth import create_key

        with app.state.db.write() as session:
            admin = {"Authorization": f"Bearer {create_key(session, role='admin').key}"}
        body = {"urn": urn, "name": school["name"], "phase": school["phase"], "la": school["la"]}
        assert client.post("/v1/schools", json=body, headers=admin).status_code == 201
        made = client.post("/v1/keys", json={"role": "school", "schools": [urn]}, headers=admin)
        own = {"Authorization": f"Bearer {made.json()['key']}"}
        analyst_key = client.post("/v1/keys", json={"role": "analyst"}, headers=admin).json()
        analyst = {"Authorization": f"Bearer {analyst_key['key']}"}

        folder = authority_dir / "registers" / str(urn)
        files = [folder / "roster.csv", *sorted(folder.glob("????-??-??.csv"))[:6]]
        for path in files:
            kind = "roster" if path.name == "roster.csv" else "registers"
            response = client.post(
                f"/v1/schools/{urn}/{kind}",
                files={"file": (path.name, io.BytesIO(path.read_bytes()), "text/csv")},
                headers=own,
            )
            assert response.status_code == 200, response.text
        assert response.json()["scoring"]["week"] == 6

        risk = client.get(f"/v1/schools/{urn}/risk", params={"limit": 2000}, headers=own).json()
        assert risk["model_name"] == MODEL_NAME and risk["model_version"] == logged.version
        pupils = risk["pupils"]
        assert len(pupils) == risk["total"] > 100
        assert all(0 <= p["risk"] <= 1 for p in pupils)
        assert pupils[0]["risk"] >= pupils[-1]["risk"]
        assert pupils[0]["reasons"] and pupils[0]["reasons"][0]["text"]
        # Demographic and context features never appear as a reason (MODELLING.md §6).
        domains = {r["domain"] for p in pupils for r in p["reasons"]}
        assert not any(d and ("sex" in d or "ethnic" in d) for d in domains)

        page = client.get("/v1/model", headers=analyst).json()
        assert page["version"] == logged.version
        assert page["test_year"] == "2024/25"
        pooled = page["metrics_beside_baselines"]["all"]
        assert {"ytd_rule", "last_year", "rate_spells"} <= set(pooled)
        assert page["fairness"]["bounds"] == {"recall_ratio_min": 0.8, "calibration_gap_max": 0.03}
        assert page["median_lead_weeks"] is None or page["median_lead_weeks"] >= 0

        # A new version becomes champion: the service switches on its next check, re-scores
        # the stored weeks with it, and never restarts.
        mlflow.set_tracking_uri(uri)
        new = mlflow.register_model(f"runs:/{logged.run_id}/model", MODEL_NAME)
        MlflowClient(tracking_uri=uri).set_registered_model_alias(
            MODEL_NAME, "champion", new.version
        )
        assert app.state.holder.refresh() is True
        after = client.get(f"/v1/schools/{urn}/risk", params={"limit": 2000}, headers=own).json()
        assert after["model_version"] == str(new.version) != logged.version
        assert [p["risk"] for p in after["pupils"]] == [p["risk"] for p in pupils]  # same model
    assert Path(data_dir / "ews.db").exists()
