"""A really promoted model without running the pipeline: processed data, an MLflow run, pointers.

Uses the same code as the services (preprocess artifacts, a model family, the pyfunc flavour, the
Promotion contract) against the real gateway and MLflow server of the test fixtures.
"""

from __future__ import annotations

import tempfile
import zlib
from datetime import UTC, datetime
from pathlib import Path

from mlflow.tracking import MlflowClient

from flts.contracts import ClaimCheck, Promotion
from flts.features import FeatureConfig
from flts.lineage import SourceFile, build_active_config, config_hash, sha256_bytes
from flts.models import build_model
from flts.models.pyfunc import save_pyfunc_model
from flts.objectstore import GatewayClient
from flts.synthetic import generate_dataset, split_train_test
from preprocess_container.artifacts import build_outputs


def promote_model(
    gateway: GatewayClient, mlflow_url: str, identifier: str, model_type: str = "NAIVE", rows: int = 1500
) -> tuple[Promotion, ClaimCheck]:
    """Process synthetic data, train `model_type`, log it, write the pointers; give promotion, test claim."""
    train, test = split_train_test(generate_dataset(rows, seed=zlib.crc32(identifier.encode()) % 1000))
    train_csv, test_csv = train.to_csv(index=False).encode(), test.to_csv(index=False).encode()
    sources = [
        SourceFile(
            role="train",
            bucket="dataset",
            object_key=f"{identifier}.csv",
            sha256=sha256_bytes(train_csv),
            size=len(train_csv),
        ),
        SourceFile(
            role="test",
            bucket="dataset",
            object_key=f"{identifier}_test.csv",
            sha256=sha256_bytes(test_csv),
            size=len(test_csv),
        ),
    ]
    config = FeatureConfig()
    active = build_active_config(config, sources)
    digest = config_hash(active)
    prefix = f"{identifier}/{digest}/"
    outputs = build_outputs(
        identifier, train_csv, test_csv, config, sources, active, digest, prefix, datetime.now(UTC)
    )
    gateway.upload_bytes("processed-data", outputs.meta.train.object_key, outputs.train_parquet)
    gateway.upload_bytes("processed-data", outputs.meta.test.object_key, outputs.test_parquet)
    gateway.upload_bytes("processed-data", outputs.meta.scaler_key, outputs.scaler_pickle)
    gateway.put_json("processed-data", f"{prefix}meta.json", outputs.meta)

    from flts.features import FittedScaler
    from flts.parquet import read_parquet

    scaler = FittedScaler.from_bytes(outputs.scaler_pickle)
    model = build_model(model_type)
    model.fit(read_parquet(outputs.train_parquet)[0], scaler)
    client = MlflowClient(tracking_uri=mlflow_url)
    experiment = client.get_experiment_by_name("flts")
    experiment_id = experiment.experiment_id if experiment else client.create_experiment("flts")
    run = client.create_run(
        experiment_id, tags={"model_type": model_type, "config_hash": digest, "identifier": identifier}
    )
    with tempfile.TemporaryDirectory() as tmp:
        folder = save_pyfunc_model(model, scaler, Path(tmp) / model_type)
        client.log_artifacts(run.info.run_id, str(folder), model_type)
    client.set_terminated(run.info.run_id, "FINISHED")
    promotion = Promotion(
        identifier=identifier,
        config_hash=digest,
        run_id=run.info.run_id,
        model_type=model_type,
        experiment="flts",
        model_uri=f"runs:/{run.info.run_id}/{model_type}",
        rmse=1.0,
        mae=1.0,
        mse=1.0,
        score=1.0,
        weights={"rmse": 0.5, "mae": 0.3, "mse": 0.2},
        timestamp=datetime.now(UTC),
    )
    gateway.put_json("model-promotion", f"{identifier}/current.json", promotion)
    claim = ClaimCheck(
        bucket="processed-data",
        object_key=outputs.meta.test.object_key,
        config_hash=digest,
        identifier=identifier,
        size=outputs.meta.test.size,
        rows=outputs.meta.test.rows,
        created_at=outputs.meta.created_at,
    )
    return promotion, claim
