"""Eval entrypoint: settings → logging → gateway, Kafka, MLflow → `model-training` loop + HTTP."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException

from flts.contracts import Topic, TrainingEvent
from flts.health import BackgroundServer, build_health_app
from flts.kafka.consumer import ConsumerLoop, Subscription
from flts.kafka.producer import EventProducer
from flts.kafka.topics import ensure_topics
from flts.log import configure_logging
from flts.objectstore import GatewayClient
from flts.settings import load_settings
from flts.tracking import configure_mlflow_client

from .promotion import PromotionHandler
from .settings import EvalSettings


def scoreboard_router(handler: PromotionHandler) -> APIRouter:
    router = APIRouter()

    @router.get("/scoreboard/{identifier}")
    def scoreboard(identifier: str) -> dict[str, Any]:
        latest = handler.latest(identifier)
        if latest is None:
            raise HTTPException(404, f"no promotion yet for {identifier!r}")
        return latest

    return router


def main() -> None:
    settings = load_settings(EvalSettings)
    configure_logging(settings.service_name, settings.log_level)
    ensure_topics(settings)
    gateway = GatewayClient.from_settings(settings)
    producer = EventProducer(settings)
    client = configure_mlflow_client(settings.mlflow_tracking_uri, settings.mlflow_timeout_sec)
    handler = PromotionHandler(settings, gateway, producer, client)
    loop = ConsumerLoop(
        settings, {Topic.MODEL_TRAINING: Subscription(TrainingEvent, handler.handle)}, producer
    )
    loop.install_signal_handlers()
    checks = {
        "kafka": lambda: _broker_ready(settings.kafka_common_config()),
        "mlflow": lambda: client.search_experiments(max_results=1),
        "gateway": gateway.ready,
    }
    app = build_health_app(settings.service_name, checks, routers=[scoreboard_router(handler)])
    health = BackgroundServer(app, settings.http_host, settings.port).start()
    try:
        loop.run()
    finally:
        health.stop()
        producer.close()
        gateway.close()


def _broker_ready(config: dict[str, Any]) -> None:
    from confluent_kafka.admin import AdminClient

    AdminClient(config).list_topics(timeout=3)


if __name__ == "__main__":
    main()
