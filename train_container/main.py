"""Trainer entrypoint: settings → logging → gateway, Kafka, MLflow → `training-data` loop."""

from __future__ import annotations

from flts.contracts import ClaimCheck, Topic
from flts.health import BackgroundServer, build_health_app
from flts.kafka.consumer import ConsumerLoop, Subscription
from flts.kafka.producer import EventProducer
from flts.kafka.topics import ensure_topics
from flts.log import configure_logging
from flts.objectstore import GatewayClient
from flts.settings import load_settings
from flts.tracking import configure_mlflow_client

from .runs import RunStore
from .settings import TrainSettings
from .trainer import TrainingHandler


def main() -> None:
    settings = load_settings(TrainSettings)
    configure_logging(settings.service_name, settings.log_level)
    ensure_topics(settings)
    gateway = GatewayClient.from_settings(settings)
    producer = EventProducer(settings)
    client = configure_mlflow_client(settings.mlflow_tracking_uri, settings.mlflow_timeout_sec)
    runs = RunStore(client, settings.mlflow_experiment, settings.model_type, settings.dup_cache_max)
    handler = TrainingHandler(settings, gateway, producer, runs)
    loop = ConsumerLoop(settings, {Topic.TRAINING_DATA: Subscription(ClaimCheck, handler.handle)}, producer)
    loop.install_signal_handlers()
    checks = {"gateway": gateway.ready, "mlflow": lambda: client.search_experiments(max_results=1)}
    health = BackgroundServer(
        build_health_app(settings.service_name, checks), settings.http_host, settings.port
    )
    health.start()
    try:
        loop.run()
    finally:
        health.stop()
        producer.close()
        gateway.close()


if __name__ == "__main__":
    main()
