"""Preprocess entrypoint: settings → logging → clients → start-up datasets → `dataset-uploaded` loop."""

from __future__ import annotations

from flts.contracts import DatasetUploaded, Topic
from flts.health import BackgroundServer, build_health_app
from flts.kafka.consumer import ConsumerLoop, Subscription
from flts.kafka.producer import EventProducer
from flts.kafka.topics import ensure_topics
from flts.log import configure_logging
from flts.objectstore import GatewayClient
from flts.settings import load_settings

from .service import PreprocessService
from .settings import PreprocessSettings
from .startup import process_configured, readiness_check


def main() -> None:
    settings = load_settings(PreprocessSettings)
    configure_logging(settings.service_name, settings.log_level)
    ensure_topics(settings)
    gateway = GatewayClient.from_settings(settings)
    producer = EventProducer(settings)
    service = PreprocessService(settings, gateway, producer)
    loop = ConsumerLoop(
        settings, {Topic.DATASET_UPLOADED: Subscription(DatasetUploaded, service.handle_upload)}, producer
    )
    loop.install_signal_handlers()
    app = build_health_app(settings.service_name, {"gateway_and_dataset": readiness_check(gateway, settings)})
    health = BackgroundServer(app, settings.http_host, settings.port).start()
    try:
        if settings.process_on_startup:
            process_configured(service, settings, producer)
        loop.run()
    finally:
        health.stop()
        producer.close()
        gateway.close()


if __name__ == "__main__":
    main()
