"""Create MLflow runs with chosen metrics and artifacts (for eval tests that need exact scores)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from mlflow.tracking import MlflowClient


def fake_run(
    client: MlflowClient,
    identifier: str,
    config_hash: str,
    model_type: str,
    rmse: float,
    mae: float,
    mse: float,
    with_model: bool = True,
    status: str = "FINISHED",
    experiment: str = "flts",
) -> str:
    experiment_obj = client.get_experiment_by_name(experiment)
    experiment_id = experiment_obj.experiment_id if experiment_obj else client.create_experiment(experiment)
    run = client.create_run(
        experiment_id, tags={"model_type": model_type, "config_hash": config_hash, "identifier": identifier}
    )
    run_id = run.info.run_id
    for name, value in (("test_rmse", rmse), ("test_mae", mae), ("test_mse", mse)):
        client.log_metric(run_id, name, value)
    if with_model:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp) / model_type
            folder.mkdir()
            (folder / "MLmodel").write_text("flavors: {}\n")
            client.log_artifacts(run_id, str(folder), model_type)
    client.set_terminated(run_id, status=status)
    return run_id
